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
// planted bug (measured over seeds 0:500 with flock-sim -scenario vm -bug
// NAME; each at least twice the longest run of seeds without a catch).
var vmBugBudgets = map[string]int{
	"rerun-lost-threads":   100,
	"forget-join-answers":  100,
	"ignore-lost-threads":  100,
	"launch-before-commit": 100,
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
