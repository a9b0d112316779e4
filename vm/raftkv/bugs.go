package raftkv

import (
	"fmt"
	"strings"
)

// Bugs are deliberate defects the simulator switches on (flock-sim -bug
// NAME) to prove its checks can fail. Each lives in the real code path and
// is false in production.
type Bugs struct {
	// AckBeforeCommit: the leader answers a Put or Delete as soon as it
	// proposes it, before the entry commits. A leader that crashes or is
	// deposed then loses an acknowledged write.
	AckBeforeCommit bool
	// SkipWALSync: the WAL never fsyncs. A crash loses entries and votes a
	// server already acknowledged.
	SkipWALSync bool
	// ApplyRetryTwice: the session table is bypassed, so a retried or
	// duplicated request is applied again.
	ApplyRetryTwice bool
	// StaleFollowerRead: a server answers a read (Get, Scan) from its local
	// state at once, skipping the ReadIndex step (no read index confirmed
	// by a quorum, no wait until it is applied). A lagging follower, or a
	// deposed leader, then returns data older than a write that completed
	// before the read began.
	StaleFollowerRead bool
	// SendBeforePersist: a Ready's messages (acknowledgements, votes,
	// appends) are sent before its entries and hard state are written and
	// synced. A crash before the sync completes then leaves peers counting
	// on an ack or a vote that the restarted server no longer remembers.
	SendBeforePersist bool
	// SkipTornTailTruncate: the WAL recognises a torn tail at recovery but
	// leaves its bytes in the file (wal.Options.SkipTornTailTruncate); the
	// next recovery meets them behind newer records and calls the log
	// corrupt.
	SkipTornTailTruncate bool
	// RemoveLiveSegment: compaction after a snapshot also removes the WAL
	// segment holding the first entry still needed
	// (wal.Options.RemoveLiveSegment). A restart then finds a hole between
	// the snapshot and the entries.
	RemoveLiveSegment bool
	// EvictLiveSession: a request of a session the full table evicted is
	// executed as if its session were still live (the table opens it again,
	// remembering none of the sequence numbers it applied) instead of being
	// refused as expired. A retry or a network duplicate of a request
	// applied before the eviction is then applied again.
	EvictLiveSession bool
	// ReadIndexOffByOne: a read is served once the server has applied the
	// entry before its read index, not the read index itself. It shows only
	// when a server applies later than it learns of commits.
	ReadIndexOffByOne bool
}

var bugTable = []struct {
	name string
	flag func(*Bugs) *bool
}{
	{"ack-before-commit", func(b *Bugs) *bool { return &b.AckBeforeCommit }},
	{"apply-retry-twice", func(b *Bugs) *bool { return &b.ApplyRetryTwice }},
	{"evict-live-session", func(b *Bugs) *bool { return &b.EvictLiveSession }},
	{"read-index-off-by-one", func(b *Bugs) *bool { return &b.ReadIndexOffByOne }},
	{"remove-live-segment", func(b *Bugs) *bool { return &b.RemoveLiveSegment }},
	{"send-before-persist", func(b *Bugs) *bool { return &b.SendBeforePersist }},
	{"skip-torn-tail-truncate", func(b *Bugs) *bool { return &b.SkipTornTailTruncate }},
	{"skip-wal-sync", func(b *Bugs) *bool { return &b.SkipWALSync }},
	{"stale-follower-read", func(b *Bugs) *bool { return &b.StaleFollowerRead }},
}

// BugNames lists the kebab-case names of every planted bug, sorted.
func BugNames() []string {
	names := make([]string, len(bugTable))
	for i, b := range bugTable {
		names[i] = b.name
	}
	return names
}

// ParseBug returns the Bugs with only the named one switched on.
func ParseBug(name string) (Bugs, error) {
	var b Bugs
	for _, e := range bugTable {
		if e.name == name {
			*e.flag(&b) = true
			return b, nil
		}
	}
	return Bugs{}, fmt.Errorf("raftkv: unknown bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
}

// Names lists the bugs switched on in b, sorted.
func (b Bugs) Names() []string {
	var names []string
	for _, e := range bugTable {
		if *e.flag(&b) {
			names = append(names, e.name)
		}
	}
	return names
}

// reviveSession is the evict-live-session bug: a request of a session the
// table no longer holds opens it again, as if it had never been evicted,
// with none of the sequence numbers it applied. Every replica does the
// same, so the replicas stay in agreement while at most once breaks.
func (sm *stateMachine) reviveSession(r *request, index uint64) {
	if r.op == OpRegister || r.session == 0 || r.session >= index || sm.sessions[r.session] != nil {
		return
	}
	if len(sm.sessions) >= sm.lim.sessionsMax {
		if oldest, ok := sm.lru.DeleteMin(); ok {
			delete(sm.sessions, oldest.id)
		}
	}
	sm.sessions[r.session] = &session{id: r.session, lastIndex: index}
	sm.lru.ReplaceOrInsert(lruItem{lastIndex: index, id: r.session})
}
