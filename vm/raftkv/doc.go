// Package raftkv is a raft-replicated key-value store: the place a Flock VM
// keeps its cluster metadata (membership, directories, placement).
//
// A Server is one replica, a Client is one session of a user of the store.
// Both are pure state machines in the style of etcd raft's RawNode: the
// driver (the simulator, or the production host over sockets, timers and
// OS disks) feeds them ticks and received messages; they answer by sending
// through the netmodel.Transport they were given and, for a Server, by
// persisting through the diskmodel.FS they were given. Nothing here starts a
// goroutine, reads a clock or draws randomness other than from the
// *rand.Rand handed in, so a seeded run replays byte for byte.
//
// Consensus is go.etcd.io/raft/v3 (RawNode) with raft's own election timer
// disabled (LIBRARIES.md fix B): each Server campaigns from its own seeded
// timer, ignores (pre-)votes while it hears from a leader, and steps a
// leader down that cannot hear from a quorum (emulated CheckQuorum).
//
// Every write goes through the raft log. Each write carries a (session,
// sequence) id; a replicated session table answers a retried or duplicated
// request with the result of its first application, so nothing is applied
// twice. Sessions are assigned by the log (a session's id is the index of
// its registration entry), which is what lets a server tell an evicted
// session from a new one.
//
// Membership changes go through the log (Client.ChangeMembers, raft's
// ConfChangeV2, members.go): learners first, promotion, removal, joint
// changes of several steps, each conditional on the configuration index;
// the configuration is in snapshots and recovered at Open.
//
// Reads (Get, Scan) take no log entry and need no session: any replica,
// leader or follower, serves them by raft's ReadIndex with ReadOnlySafe
// (see reads.go). The serving server asks the leader for its commit index,
// which the leader releases only after a heartbeat round shows a quorum
// still follows it, and only once it has committed an entry of its own
// term; the server then waits until it has applied that index and answers
// from its state machine. This relies on no clock or lease (CheckQuorum
// stays off), so a deposed leader that does not know it yet cannot answer:
// its read waits and is refused. Results are linearizable. One ReadIndex
// request is in flight per server and covers every read waiting when it
// was made. Its heartbeat round goes to a quorum and a spare of the
// followers, not all (read_rounds.go). ClientConfig.ReadFrom sends a
// client's reads to one replica first, typically the one on its own
// machine.
//
// Persistence is a write-ahead log (package wal) plus checksummed snapshot
// files under Config.Dir; Open recovers from them and fails with an error
// wrapping ErrCorrupt, never a panic, when they hold what a crash cannot
// explain. Broken internal invariants panic with context.
//
// # Driving a Server
//
// Open(cfg) recovers (or bootstraps) a replica; the driver then calls Tick
// at a fixed period (ElectionTicks ticks make an election timeout) and
// Receive for every message that arrives. Every output leaves through
// cfg.Transport, inside those calls. A crash is: drop the Server (Close
// releases its files), crash the disk, Open again on the same Dir. If Open
// fails with ErrCorrupt the machine must stay down. If Err() turns non-nil
// (a disk error) the Server ignores all input; Close and Open it again.
//
// Receive is Step (take the message) then Flush (handle raft's Ready:
// persist, send, apply). A driver that Steps every message of a burst and
// Flushes once makes one WAL append and one fsync cover all of them: group
// commit, what the production host does; the requests among them go to
// raft as one proposal (one append per follower). Within a Ready, a leader's
// appends and heartbeats leave before its own fsync (raft counts the
// leader's entries only once they are durable, so the followers' fsyncs
// overlap the leader's, as in etcd); acknowledgements and votes leave only
// after it; entries committed and already durable are applied, and their
// clients answered, before the fsync of the new ones. Config.SyncUnlocked
// lets a driver that guards the Server with a lock release it during the
// fsync; the Server then takes inputs meanwhile and handles them after.
// Config.SyncAsync runs the fsync on another goroutine altogether: the
// driver goes on with its other inputs, and the Ready is finished when the
// fsync's done comes back as an input.
//
// # Driving a Client
//
// NewClient, then one operation at a time (Get, Put, Delete, CAS, Scan);
// call Tick at the same period and Receive for replies. The done function
// runs exactly once, inside Tick or Receive. Result.Err tells a definite
// failure (ErrUnavailable, ErrStateFull, ErrInvalid: not applied) from an
// unknown outcome (ErrUnknownOutcome: may apply later, but never after the
// session's next operation; to keep that promise the read right after an
// unknown outcome goes through the log). A read never has an unknown
// outcome: it has no effect, so a read no server answered ends with
// ErrUnavailable.
//
// # Observing
//
// Config.OnApply reports every applied entry (index, term, digest, request
// id, arguments, result) so a checker can verify that replicas agree index by
// index and that no write applied twice; reads served by ReadIndex are not
// entries and are not reported (Result.Index of such a read is the applied
// index it read). Status and Stats report progress and counters.
//
// # Not yet
//
// Lease reads (reads cost a heartbeat round to a quorum), stale-but-bounded reads,
// proposal batching across requests beyond what raft does, leadership
// transfer, and snapshots streamed in chunks (a snapshot is one message,
// which bounds the state to StateSizeMaxLimit).
//
// Bugs holds deliberate defects for the simulator's -bug flag; all are off in
// production.
package raftkv
