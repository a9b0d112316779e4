package raftkv

import "errors"

// Errors of the Server's lifecycle.
var (
	// ErrCorrupt: the persisted state holds what a crash cannot explain.
	// The machine must fail-stop (as etcd does) rather than serve from it.
	// Errors from the WAL also wrap wal.ErrCorrupt.
	ErrCorrupt = errors.New("raftkv: persisted state is corrupt")
	// ErrFailed: the Server stopped after a disk error (Server.Err says
	// which). It must be discarded and reopened.
	ErrFailed = errors.New("raftkv: server failed")
)

// Errors a Client operation completes with (Result.Err) or returns.
var (
	// ErrBusy: the Client already has an operation outstanding.
	ErrBusy = errors.New("raftkv: client busy with another operation")
	// ErrInvalid: the operation is malformed (a key or value over its limit,
	// an empty key, a bad scan limit). It was not applied.
	ErrInvalid = errors.New("raftkv: invalid operation")
	// ErrUnknownOutcome: every attempt went unanswered; the operation may or
	// may not have been applied (and may still be applied later: a retry
	// in flight can commit). It is never applied after a later operation of
	// the same session (the Client sends the next read through the log to
	// make sure).
	ErrUnknownOutcome = errors.New("raftkv: outcome unknown")
	// ErrUnavailable: no server accepted the operation within AttemptsMax
	// attempts (each was refused: no leader, overloaded). It was not applied.
	// A read without a session also ends with it when no server answered:
	// a read has no effect, so its outcome is never unknown.
	ErrUnavailable = errors.New("raftkv: no leader accepted the operation")
	// ErrSessionExpired: the session was evicted from the replicated session
	// table, so the operation was not applied now; the Client registers a
	// new session for its next operation. If the operation had been sent
	// before, the error also wraps ErrUnknownOutcome.
	ErrSessionExpired = errors.New("raftkv: session expired")
	// ErrStaleRequest: a server had already seen a later request of this
	// session. A correct Client never sees it; two Clients sharing a session
	// would.
	ErrStaleRequest = errors.New("raftkv: request older than the session's last")
	// ErrStateFull: the store holds Config.StateSizeMax bytes; the write was
	// rejected, not applied.
	ErrStateFull = errors.New("raftkv: store is full")
	// ErrConfChangePending: the leader refused a configuration change
	// because an earlier one is not applied yet (or the configuration is
	// joint); it was not applied. Try again later.
	ErrConfChangePending = errors.New("raftkv: a configuration change is in progress")
	// ErrConfChangeRefused: raft's rules refuse the change in the current
	// configuration (it would remove every voter, change two voters
	// without a joint configuration, ...). It was not applied.
	ErrConfChangeRefused = errors.New("raftkv: configuration change refused")
	// ErrMembersChanged: the change was made against a configuration
	// (ChangeMembers' ifIndex) that another change replaced. It was not
	// applied.
	ErrMembersChanged = errors.New("raftkv: the configuration changed since")
)
