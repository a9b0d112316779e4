package raftkv

import (
	"fmt"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/wal"
	"go.etcd.io/raft/v3"
)

// Result is the outcome of a Client operation, and of an applied entry as
// ApplyEvent reports it.
type Result struct {
	// Err is nil on success, else one of ErrUnknownOutcome, ErrUnavailable,
	// ErrSessionExpired (possibly wrapped with ErrUnknownOutcome),
	// ErrStateFull, ErrInvalid, ErrStaleRequest: test with errors.Is.
	Err     error
	Found   bool   // Get: the key exists. Delete: it existed. Put, CAS: it existed before.
	Value   string // Get: the value
	Swapped bool   // CAS: the value was set. Txn: every compare held and Then ran
	Pairs   []KV   // Scan: matching pairs in key order. Ranges: every range's pairs, in order
	More    bool   // Scan, Ranges: more pairs match than were returned
	Index   uint64 // the log index the operation applied at; 0 if unknown. A read without a session: the applied index whose state it read
	Session uint64 // the session the operation ran in; 0 for a read served by ReadIndex
	Seq     uint64 // its sequence number in the session
	// Members: the configuration, for Members and ChangeMembers (after the
	// change; for a change refused, or a retry answered from the session
	// table, the configuration then).
	Members Membership
}

func resultFromReply(r *reply) Result {
	res := Result{
		Found: r.found, Value: r.value, Swapped: r.swapped, Pairs: r.pairs, More: r.more,
		Index: r.index, Session: r.session, Seq: r.seq,
	}
	if r.members != nil {
		res.Members = *r.members
	}
	switch r.status {
	case statusOK:
	case statusSessionExpired:
		res.Err = ErrSessionExpired
	case statusStale:
		res.Err = ErrStaleRequest
	case statusInvalid:
		res.Err = ErrInvalid
	case statusStateFull:
		res.Err = ErrStateFull
	case statusConfRefused:
		res.Err = ErrConfChangeRefused
	case statusMembersChanged:
		res.Err = ErrMembersChanged
	case statusConfPending:
		res.Err = ErrConfChangePending
	default:
		panic(fmt.Sprintf("raftkv: no result for reply status %d", r.status))
	}
	return res
}

// ApplyEvent describes one committed entry as a server applies it, for
// observers (Config.OnApply): the simulator's at-most-once and log
// agreement checks. Replicas must report the same Index, Term and Digest;
// a request's (Session, Seq) must be ApplyExecuted at most once per server.
type ApplyEvent struct {
	Node   netmodel.NodeID
	Index  uint64
	Term   uint64
	Digest uint64 // FNV-1a of the entry's term and data
	Kind   ApplyKind
	Op     Op // 0 for ApplyNoop and ApplySnapshot
	// Session and Seq identify the request. For OpRegister, Session is 0,
	// Seq the client's nonce and Result.Index the new session's id.
	Session uint64
	Seq     uint64
	Client  netmodel.NodeID // where the request came from
	// The request's arguments, enough to replay the log in a model.
	Key           string // Scan: the prefix
	Value         string // Put, CAS: the new value. Txn, Ranges: the encoded txn or ranges (ApplyEvent.Txn decodes a txn)
	Expected      string // CAS
	ExpectedFound bool   // CAS
	Limit         int    // Scan
	Result        Result // what the client is told
	// LeaveJoint: raft's own entry leaving a joint configuration (Op 0;
	// ApplyNoop, or ApplyRejected if there was none to leave);
	// Result.Members is the configuration after it.
	LeaveJoint bool
}

// State is a server's raft role.
type State uint8

// The raft roles.
const (
	StateFollower State = iota
	StatePreCandidate
	StateCandidate
	StateLeader
)

var stateNames = [...]string{"follower", "pre-candidate", "candidate", "leader"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

func stateOf(t raft.StateType) State {
	switch t {
	case raft.StateFollower:
		return StateFollower
	case raft.StatePreCandidate:
		return StatePreCandidate
	case raft.StateCandidate:
		return StateCandidate
	case raft.StateLeader:
		return StateLeader
	}
	panic(fmt.Sprintf("raftkv: unknown raft state %d", t))
}

// Status is a server's view of the cluster.
type Status struct {
	ID            netmodel.NodeID
	State         State
	Term          uint64
	Leader        netmodel.NodeID // 0 if unknown
	Commit        uint64          // highest index known committed
	Applied       uint64          // highest index applied to the state machine
	LastIndex     uint64          // last index in the log
	SnapshotIndex uint64          // index of the latest persisted snapshot
	Err           error           // non-nil once the server failed (see Server.Err)
	// Members is the configuration this replica has applied (a new
	// member's is empty until the leader's snapshot arrives).
	Members Membership
	// Progress is a leader's view of every member's log; nil elsewhere.
	Progress []MemberProgress
}

// Stats counts what a server did since Open.
type Stats struct {
	MessagesReceived    uint64
	MessagesSent        uint64
	Garbage             uint64 // undecodable or refused messages
	FromNonMembers      uint64 // raft messages from outside the applied configuration (removed, or added since)
	DroppedWhileFailed  uint64
	RaftStepErrors      uint64 // messages raft refused (stale peers, ...)
	VotesIgnoredInLease uint64 // (pre-)votes ignored while a leader is heard
	Campaigns           uint64
	CheckQuorumLosses   uint64 // times this leader stepped down for lack of a quorum

	Requests         uint64 // client requests received
	Proposals        uint64
	RepliesSent      uint64
	NotLeaderReplies uint64
	Overloaded       uint64 // requests refused: too many pending
	PendingExpired   uint64 // requests forgotten unanswered
	PendingHighWater int    // most requests pending at once

	// Reads served without a log entry (ReadIndex).
	Reads             uint64 // reads received
	ReadsServed       uint64
	ReadsRefused      uint64 // not served here: no leader heard, or leadership lost while confirming
	ReadsExpired      uint64 // refused after ReadTimeoutTicks
	ReadsHighWater    int    // most reads pending at once
	ReadIndexRequests uint64 // ReadIndex calls, each covering every read waiting then
	ReadRoundsTrimmed uint64 // heartbeats of read rounds not sent: the quorum chosen did not need them (read_rounds.go)
	ReadIndexRetries  uint64 // of them, repeats after a lost answer or a change of leader
	ReadStatesIgnored uint64 // read indexes for contexts not of this incarnation
	ReadIndexDropped  uint64 // peers' read index requests refused (not leader, too many held)

	EntriesApplied     uint64
	Duplicates         uint64 // requests answered from the session table
	BadEntries         uint64 // committed entries that did not decode
	SnapshotsTaken     uint64
	SnapshotsInstalled uint64
	SnapshotsSent      uint64
	Readys             uint64 // Readys handled (each at most one WAL append and one sync)
	SentBeforeSync     uint64 // a leader's appends and heartbeats sent while its own entries were being synced
	ReadyLoops         uint64 // times the Ready loop hit its bound
	SyncsAsync         uint64 // WAL fsyncs run elsewhere (Config.SyncAsync)
	ConfChanges        uint64 // configuration changes applied
	ConfChangesPending uint64 // changes refused as a leader: an earlier one was not applied yet

	WAL wal.Stats
}
