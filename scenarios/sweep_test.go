package scenarios

import (
	"fmt"
	"os"
	"strconv"
	"testing"
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

// TestSeedSweep: every seed of every scenario's sweep passes, faults and all.
func TestSeedSweep(t *testing.T) {
	for _, sc := range All() {
		n := sweepSeeds(t, sc)
		for seed := range n {
			t.Run(fmt.Sprintf("%s/seed=%d", sc.Name, seed), func(t *testing.T) {
				t.Parallel()
				r := mustRun(t, sc.Name, Options{Seed: seed})
				if r.Result != ResultPass {
					t.Errorf("%s seed %d: %s (%s): %s\nrepro: flock-sim -scenario %s -seed %d", sc.Name, seed, r.Result, r.Failure, r.Violation, sc.Name, seed)
				}
			})
		}
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
