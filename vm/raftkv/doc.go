// Package raftkv is a raft-replicated key-value store: the place a Flock VM
// keeps its cluster metadata (membership, directories, placement).
//
// A Server is one replica, a Client is one session of a user of the store.
// Both are pure state machines in the style of etcd raft's RawNode: the
// driver (the simulator, or later a thin loop over sockets, timers and OS
// disks) feeds them ticks and received messages; they answer by sending
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
// Every operation, reads included, goes through the raft log, so results
// are linearizable. Each request carries a (session, sequence) id; a
// replicated session table answers a retried or duplicated request with the
// result of its first application, so nothing is applied twice. Sessions are
// assigned by the log (a session's id is the index of its registration
// entry), which is what lets a server tell an evicted session from a new one.
//
// Persistence is a write-ahead log (package wal) plus checksummed snapshot
// files under Config.Dir; Open recovers from them and fails with an error
// wrapping ErrCorrupt, never a panic, when they hold what a crash cannot
// explain. Broken internal invariants panic with context.
//
// Bugs holds deliberate defects for the simulator's -bug flag; all are off in
// production.
package raftkv
