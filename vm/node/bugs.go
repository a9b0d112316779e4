package node

import (
	"fmt"
	"strings"
)

// Bugs are defects planted on purpose (flock-sim -bug NAME): each must be
// caught by the vm scenario's checks within its seed budget. Each lives in
// the real code path; all are false in production.
type Bugs struct {
	// IgnoreLostThreads: a machine's death ends nothing; the home counts
	// the threads that were there as finished with value 0.
	IgnoreLostThreads bool
	// LaunchBeforeCommit: a process's main thread starts as soon as the
	// commits of its span are sent, before the members have installed it.
	LaunchBeforeCommit bool
	// ForgetJoinAnswers: the home keeps no answer of a JOIN it answered, so
	// a retransmitted JOIN is applied again (and finds the thread already
	// joined).
	ForgetJoinAnswers bool
	// RerunLostThreads: a node keeps the image of every thread it started
	// on another machine, and when that machine dies it starts the thread
	// again elsewhere (and the home does not end the process): a thread
	// that had already run there runs twice.
	RerunLostThreads bool
	// ReleasePinAtSpawn: the source of a lazy local memory lets its pinned
	// snapshot go as soon as the thread started elsewhere, before the
	// thread fetched the pages it needs: its first fetch is refused, and
	// the process ends blaming a machine that is alive.
	ReleasePinAtSpawn bool
}

var bugTable = []struct {
	name string
	flag func(*Bugs) *bool
}{
	{"rerun-lost-threads", func(b *Bugs) *bool { return &b.RerunLostThreads }},
	{"forget-join-answers", func(b *Bugs) *bool { return &b.ForgetJoinAnswers }},
	{"ignore-lost-threads", func(b *Bugs) *bool { return &b.IgnoreLostThreads }},
	{"launch-before-commit", func(b *Bugs) *bool { return &b.LaunchBeforeCommit }},
	{"release-pin-at-spawn", func(b *Bugs) *bool { return &b.ReleasePinAtSpawn }},
}

// BugNames lists the planted bugs by name, sorted.
func BugNames() []string {
	names := make([]string, len(bugTable))
	for i, b := range bugTable {
		names[i] = b.name
	}
	return names
}

// ParseBug returns the Bugs with only the named one on.
func ParseBug(name string) (Bugs, error) {
	var b Bugs
	for _, e := range bugTable {
		if e.name == name {
			*e.flag(&b) = true
			return b, nil
		}
	}
	return Bugs{}, fmt.Errorf("node: unknown bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
}
