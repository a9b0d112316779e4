package scenarios

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/flockvm/flock/probe"
)

// sweepSeeds is how many seeds TestSeedSweep runs of sc; FLOCK_SWEEP_SEEDS
// overrides it (CI runs the scenario's own SweepSeeds).
func sweepSeeds(t *testing.T, sc Scenario) uint64 {
	if s := os.Getenv("FLOCK_SWEEP_SEEDS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FLOCK_SWEEP_SEEDS=%q: %v", s, err)
		}
		return n
	}
	if testing.Short() {
		return uint64(min(20, sc.SweepSeeds))
	}
	return uint64(sc.SweepSeeds)
}

// TestSeedSweep: every seed of every scenario's sweep passes, faults and
// all. A full sweep (SweepSeeds seeds or more) must also hit every mark
// the scenario requires, and every fault kind switched on in some seed
// must have produced its outcome (SilentFaults): a sweep that passes
// because it stopped reaching what it tests fails here.
func TestSeedSweep(t *testing.T) {
	for _, sc := range All() {
		t.Run(sc.Name, func(t *testing.T) {
			n := sweepSeeds(t, sc)
			probe.Start()
			defer probe.Stop()
			var mu sync.Mutex
			var reports []Report
			seeds := slices.Collect(func(yield func(uint64) bool) {
				for seed := range n {
					if !yield(seed) {
						return
					}
				}
			})
			if !testing.Short() {
				seeds = append(seeds, sc.RegressionSeeds...)
			}
			t.Run("seeds", func(t *testing.T) {
				for _, seed := range seeds {
					t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
						t.Parallel()
						r := mustRun(t, sc.Name, Options{Seed: seed})
						if r.Result != ResultPass {
							t.Errorf("%s seed %d: %s (%s): %s\nrepro: flock-sim -scenario %s -seed %d", sc.Name, seed, r.Result, r.Failure, r.Violation, sc.Name, seed)
						}
						mu.Lock()
						reports = append(reports, r)
						mu.Unlock()
					})
				}
			})
			counts := probe.Counts()
			if n < uint64(sc.SweepSeeds) {
				t.Logf("%d of %d seeds: required marks and fault outcomes not checked", n, sc.SweepSeeds)
				return
			}
			for _, name := range MissingMarks(sc, counts) {
				t.Errorf("%s: required mark %s was hit by no seed of 0:%d (flock-sim -scenario %s -seeds 0:%d -coverage)", sc.Name, name, n, sc.Name, n)
			}
			for _, silent := range SilentFaults(reports) {
				t.Errorf("%s: fault kind %s (seeds 0:%d)", sc.Name, silent, n)
			}
		})
	}
}

// TestPlantedBugsCaught: every planted bug is caught (a safety or liveness
// failure) within its stated seed budget. Together with TestSeedSweep, which
// passes the same seeds without the bug, this shows the checks fail because
// of the bug.
func TestPlantedBugsCaught(t *testing.T) {
	bugs := Bugs()
	if len(bugs) < 4 {
		t.Fatalf("Bugs() lists %d planted bugs, want at least 4", len(bugs))
	}
	for _, bug := range bugs {
		t.Run(bug.Name, func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(bug.Seeds) {
				r := mustRun(t, bug.Scenario, Options{Seed: seed, Bug: bug.Name})
				if r.Result == ResultFail {
					if r.Failure != FailureSafety && r.Failure != FailureLiveness {
						t.Errorf("bug %s seed %d: failure kind %q, want safety or liveness", bug.Name, seed, r.Failure)
					}
					t.Logf("bug %s caught at seed %d (%s): %.200s", bug.Name, seed, r.Failure, r.Violation)
					return
				}
			}
			t.Errorf("bug %s not caught within its budget of %d seeds", bug.Name, bug.Seeds)
		})
	}
}
