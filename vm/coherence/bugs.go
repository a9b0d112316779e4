package coherence

import (
	"fmt"
	"strings"
)

// Bugs are deliberate defects the simulator switches on (flock-sim -bug
// NAME) to prove its checks can fail. Each lives in the real code path and
// is false in production.
type Bugs struct {
	// SkipInvalidation: a write transaction sends no Inv to the last sharer
	// and counts it as acknowledged, so that machine keeps reading a stale
	// copy.
	SkipInvalidation bool
	// GrantBeforeAcks: the home grants write access as soon as it has sent
	// the invalidations, before the sharers acknowledge them.
	GrantBeforeAcks bool
	// ApplyRetryTwice: the home forgets which delegated operations it
	// executed, so a retransmitted or duplicated one is applied again.
	ApplyRetryTwice bool
	// AcceptStaleData: a requester installs page data without checking its
	// epoch or that it answers its outstanding request.
	AcceptStaleData bool
	// EvictWithoutWriteback: a modified page evicted from the cache is
	// dropped instead of written back to its home.
	EvictWithoutWriteback bool
	// ResurrectLostPage: a home whose page's owner died serves its stale
	// master copy instead of reporting the page lost.
	ResurrectLostPage bool
}

var bugTable = []struct {
	name string
	flag func(*Bugs) *bool
}{
	{"accept-stale-data", func(b *Bugs) *bool { return &b.AcceptStaleData }},
	{"apply-retried-op-twice", func(b *Bugs) *bool { return &b.ApplyRetryTwice }},
	{"evict-without-writeback", func(b *Bugs) *bool { return &b.EvictWithoutWriteback }},
	{"grant-before-acks", func(b *Bugs) *bool { return &b.GrantBeforeAcks }},
	{"resurrect-lost-page", func(b *Bugs) *bool { return &b.ResurrectLostPage }},
	{"skip-invalidation", func(b *Bugs) *bool { return &b.SkipInvalidation }},
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
	return Bugs{}, fmt.Errorf("coherence: unknown bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
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
