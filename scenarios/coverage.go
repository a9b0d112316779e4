package scenarios

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/sim"
)

// What a sweep must show besides passing: that the rare paths it is there
// to exercise ran (coverage marks), and that every fault kind it switched
// on did something (outcome counters). A simulator change that stopped
// tearing writes, or a limit no longer drawn small, passes every seed and
// fails these.

// MissingMarks lists the required marks of sc that counts (hits per mark
// over a sweep, as probe.Counts returns them) shows no seed hit, and those
// not declared at all, sorted.
func MissingMarks(sc Scenario, counts map[string]int64) []string {
	var out []string
	for _, name := range sc.RequiredMarks {
		if _, ok := probe.Lookup(name); !ok {
			out = append(out, name+" (not declared)")
			continue
		}
		if counts[name] == 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// SilentFaults lists the fault kinds that were on in some seed of reports
// and never produced their outcome in any of them (sim.FaultKinds), as
// "kind: on in N seeds, outcome O never counted".
func SilentFaults(reports []Report) []string {
	var out []string
	for _, k := range sim.FaultKinds {
		seeds, total := 0, int64(0)
		for _, r := range reports {
			if !slices.Contains(r.FaultsOn, k.Name) {
				continue
			}
			seeds++
			total += r.Outcomes[k.Outcome] + r.Faults[k.Outcome]
		}
		if seeds > 0 && total == 0 {
			out = append(out, fmt.Sprintf("%s: on in %d seeds, outcome %s never counted", k.Name, seeds, k.Outcome))
		}
	}
	return out
}
