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
}

var bugTable = []struct {
	name string
	flag func(*Bugs) *bool
}{
	{"ack-before-commit", func(b *Bugs) *bool { return &b.AckBeforeCommit }},
	{"apply-retry-twice", func(b *Bugs) *bool { return &b.ApplyRetryTwice }},
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
