package sim

import (
	"slices"
	"testing"
	"time"
)

func TestKindsOn(t *testing.T) {
	quiet := NoFaults()
	quiet.LatencyJitter = 0
	crashy := quiet
	crashy.CrashEvery, crashy.DiskLoseUnsyncedProb, crashy.DiskTornWrites = time.Second, 0.5, true
	noCrash := quiet
	noCrash.DiskLoseUnsyncedProb, noCrash.DiskTornWrites = 0.5, true
	tests := []struct {
		name string
		f    FaultConfig
		want []string
	}{
		{"nothing", quiet, nil},
		{"crashes with loss and tearing", crashy, []string{"crash", "disk-lose-unsynced", "disk-undo-dirops", "disk-torn"}},
		// Without crashes loss and tearing never act: they are not on.
		{"loss and tearing without crashes", noCrash, nil},
	}
	for _, tt := range tests {
		if got := tt.f.KindsOn(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: KindsOn() = %v, want %v", tt.name, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for _, k := range FaultKinds {
		if seen[k.Name] || k.Outcome == "" {
			t.Errorf("FaultKinds: %q twice or without an outcome", k.Name)
		}
		seen[k.Name] = true
	}
}
