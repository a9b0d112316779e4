package scenarios

import (
	"fmt"

	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/node"
)

// vmBugSet is a planted bug of the vm scenario: in the node, or in the
// memory agent under real programs.
type vmBugSet struct {
	node   node.Bugs
	memory coherence.Config // only Bugs is set
}

// vmBugBudgets: the seeds within which the vm scenario must catch each
// planted bug, each at least twice the longest run of seeds without a
// catch, measured over seeds 0:400 (flock-sim -scenario vm -seeds 0:400
// -bug NAME -json; caught in how many seeds, the first, the longest gap):
//
//	rerun-lost-threads    30, first 3, gap 57
//	forget-join-answers   23, first 3, gap 47
//	ignore-lost-threads   17, first 80, gap 91
//	launch-before-commit 135, first 0, gap 11
//
// and over seeds 0:500:
//
//	release-pin-at-spawn  48, first 5, gap 34
var vmBugBudgets = map[string]int{
	"rerun-lost-threads":   120,
	"forget-join-answers":  100,
	"ignore-lost-threads":  190,
	"launch-before-commit": 30,
	"release-pin-at-spawn": 70,
}

func vmBugs() []Bug {
	var bugs []Bug
	for _, name := range node.BugNames() {
		budget, ok := vmBugBudgets[name]
		if !ok {
			panic(fmt.Sprintf("scenarios: node bug %q has no seed budget", name))
		}
		if budget > 0 {
			bugs = append(bugs, Bug{Name: name, Seeds: budget})
		}
	}
	return bugs
}

func parseVMBug(name string) vmBugSet {
	b, err := node.ParseBug(name)
	if err != nil {
		panic(fmt.Sprintf("scenarios: %v", err))
	}
	return vmBugSet{node: b}
}
