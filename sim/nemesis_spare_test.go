package sim

import (
	"testing"
	"time"
)

// TestSparedMachinesNeverTakenDown: a spared machine is never crashed,
// paused, isolated or rotted, while the others are.
func TestSparedMachinesNeverTakenDown(t *testing.T) {
	fc := NoFaults()
	fc.CrashEvery, fc.RestartDelayMax = 10*time.Millisecond, 50*time.Millisecond
	fc.PauseEvery, fc.PauseMax = 10*time.Millisecond, 50*time.Millisecond
	fc.PartitionEvery, fc.PartitionMax, fc.PartitionIsolate = 10*time.Millisecond, 50*time.Millisecond, true
	fc.BitRotEvery, fc.BitRotFlipsMax, fc.MaxRotMachines = 10*time.Millisecond, 4, 5
	fc.MaxDown = 4
	w := pingWorld(3, fc, nil)
	spared := w.Machine(2)
	spared.SpareFromNemesis()
	incarnation := spared.Incarnation()
	for w.Now() < Time(2*time.Second) && w.Step() {
		if !spared.Up() || spared.Paused() || spared.isolated > 0 || spared.rotted {
			t.Fatalf("at %v spared machine up=%v paused=%v isolated=%d rotted=%v, want untouched",
				w.Now(), spared.Up(), spared.Paused(), spared.isolated, spared.rotted)
		}
	}
	if spared.Incarnation() != incarnation {
		t.Errorf("spared machine Incarnation() = %d, want %d", spared.Incarnation(), incarnation)
	}
	rotted := 0
	for _, m := range w.Machines() {
		if m.Rotted() {
			rotted++
		}
	}
	if spared.Rotted() || rotted == 0 {
		t.Errorf("spared.Rotted() = %v with %d machines rotted, want false and at least one", spared.Rotted(), rotted)
	}
	counts := w.FaultCounts()
	if counts["crash"] == 0 || counts["pause"] == 0 || counts["bitrot"] == 0 {
		t.Errorf("FaultCounts() = %v, want crashes, pauses and bit rot on the other machines", counts)
	}
}
