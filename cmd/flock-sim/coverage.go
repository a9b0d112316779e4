package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/scenarios"
)

// markTally is what a sweep saw of one probe mark.
type markTally struct {
	seeds int   // seeds that hit it at least once
	hits  int64 // hits over all seeds
}

// tallyMarks counts, per declared mark, the seeds that hit it.
func tallyMarks(reports []scenarios.Report) map[string]markTally {
	out := map[string]markTally{}
	for _, info := range probe.All() {
		out[info.Name] = markTally{}
	}
	for _, r := range reports {
		for name, n := range r.Marks {
			t := out[name]
			t.seeds++
			t.hits += n
			out[name] = t
		}
	}
	return out
}

// printCoverage prints, per mark, how many seeds of the sweep hit it, the
// scenario's required marks flagged, and returns the required marks no seed
// hit.
func printCoverage(w io.Writer, scenario string, reports []scenarios.Report) []string {
	sc, _ := scenarios.Lookup(scenario)
	tally := tallyMarks(reports)
	names := make([]string, 0, len(tally))
	for name := range tally {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "coverage over %d seeds (* = required by scenario %s):\n", len(reports), scenario)
	var missing []string
	for _, name := range names {
		t := tally[name]
		req := " "
		if slices.Contains(sc.RequiredMarks, name) {
			req = "*"
			if t.seeds == 0 {
				missing = append(missing, name)
			}
		}
		fmt.Fprintf(w, " %s %-40s %5d seeds %8d hits  %s\n", req, name, t.seeds, t.hits, docOf(name))
	}
	for _, name := range sc.RequiredMarks {
		if _, ok := tally[name]; !ok {
			missing = append(missing, name+" (not declared)")
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "required marks hit by no seed: %s\n", strings.Join(missing, ", "))
	}
	return missing
}

func docOf(name string) string {
	if m, ok := probe.Lookup(name); ok {
		return m.Doc()
	}
	return ""
}

// formatMarks lists one seed's marks as name=hits, sorted.
func formatMarks(marks map[string]int64) string {
	if len(marks) == 0 {
		return "none"
	}
	return formatFaults(marks)
}
