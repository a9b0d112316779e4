package dfs

import (
	"fmt"
	"strings"
)

// Bugs are deliberate defects the simulator switches on (flock-sim -bug
// NAME) to prove the fs scenario's checks can fail. Each lives in the real
// code path and is false in production.
type Bugs struct {
	// AckBeforeSync: a chunk server acknowledges a chunk write without
	// syncing it, so the write is acknowledged before R copies are
	// durable; a crash then loses an acknowledged write.
	AckBeforeSync bool
	// SkipReadChecksum: neither the replica nor the reader verifies a
	// chunk's checksum, so bit rot is served.
	SkipReadChecksum bool
	// RepairStale: repair commits the chunk record it read at the start of
	// its pass, with the new replica list, without comparing: a write that
	// committed meanwhile is undone and its copies orphaned, the stale
	// generation re-replicated.
	RepairStale bool
	// SkipListPermission: LIST does not check that the user may read the
	// directory.
	SkipListPermission bool
}

var bugTable = []struct {
	name string
	flag func(*Bugs) *bool
}{
	{"fs-ack-before-sync", func(b *Bugs) *bool { return &b.AckBeforeSync }},
	{"fs-repair-stale", func(b *Bugs) *bool { return &b.RepairStale }},
	{"fs-skip-checksum", func(b *Bugs) *bool { return &b.SkipReadChecksum }},
	{"fs-skip-list-permission", func(b *Bugs) *bool { return &b.SkipListPermission }},
}

// BugNames lists the names of every planted bug, sorted.
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
	return Bugs{}, fmt.Errorf("dfs: unknown bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
}
