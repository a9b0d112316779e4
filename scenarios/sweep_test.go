package scenarios

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// sweepSeeds is how many seeds TestSeedSweep runs; FLOCK_SWEEP_SEEDS
// overrides it (CI runs the default).
func sweepSeeds(t *testing.T) uint64 {
	if s := os.Getenv("FLOCK_SWEEP_SEEDS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FLOCK_SWEEP_SEEDS=%q: %v", s, err)
		}
		return n
	}
	if testing.Short() {
		return 20
	}
	return 1000
}

// TestSeedSweep: every seed of the sweep passes, faults and all.
func TestSeedSweep(t *testing.T) {
	n := sweepSeeds(t)
	for seed := range n {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			r := mustRun(t, "kv", Options{Seed: seed})
			if r.Result != ResultPass {
				t.Errorf("kv seed %d: %s (%s): %s\nrepro: flock-sim -seed %d", seed, r.Result, r.Failure, r.Violation, seed)
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
