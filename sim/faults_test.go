package sim

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// TestSwarmDistribution checks over 1000 seeds that every fault kind is on
// in some seeds and off in others, that most seeds are mild, and that every
// drawn configuration is valid.
func TestSwarmDistribution(t *testing.T) {
	kinds := []struct {
		name       string
		on         func(f FaultConfig) bool
		minOn, max float64 // bounds on the fraction of seeds with the kind on
	}{
		{"tail", func(f FaultConfig) bool { return f.TailProb > 0 }, 0.1, 0.6},
		{"drop", func(f FaultConfig) bool { return f.DropProb > 0 }, 0.1, 0.6},
		{"dup", func(f FaultConfig) bool { return f.DupProb > 0 }, 0.1, 0.6},
		{"garble", func(f FaultConfig) bool { return f.GarbleProb > 0 }, 0.1, 0.6},
		{"partition", func(f FaultConfig) bool { return f.PartitionEvery > 0 }, 0.1, 0.6},
		{"partition sym", func(f FaultConfig) bool { return f.PartitionEvery > 0 && f.PartitionSymmetric }, 0.05, 0.6},
		{"partition oneway", func(f FaultConfig) bool { return f.PartitionEvery > 0 && f.PartitionOneWay }, 0.05, 0.6},
		{"partition isolate", func(f FaultConfig) bool { return f.PartitionEvery > 0 && f.PartitionIsolate }, 0.05, 0.6},
		{"clog", func(f FaultConfig) bool { return f.ClogEvery > 0 }, 0.1, 0.6},
		{"crash", func(f FaultConfig) bool { return f.CrashEvery > 0 }, 0.1, 0.6},
		{"pause", func(f FaultConfig) bool { return f.PauseEvery > 0 }, 0.1, 0.6},
		{"drift", func(f FaultConfig) bool { return f.ClockDriftPPMMax > 0 }, 0.1, 0.6},
		{"lose unsynced", func(f FaultConfig) bool { return f.DiskLoseUnsyncedProb > 0 }, 0.5, 0.9},
		{"torn", func(f FaultConfig) bool { return f.DiskTornWrites }, 0.5, 0.9},
		{"read errors", func(f FaultConfig) bool { return f.DiskReadErrorProb > 0 }, 0.1, 0.6},
		{"write errors", func(f FaultConfig) bool { return f.DiskWriteErrorProb > 0 }, 0.1, 0.6},
		{"disk full", func(f FaultConfig) bool { return f.DiskCapacityBytes > 0 }, 0.1, 0.6},
		{"bit rot", func(f FaultConfig) bool { return f.BitRotEvery > 0 }, 0.1, 0.6},
		{"buggify", func(f FaultConfig) bool { return f.Buggify }, 0.5, 0.9},
		{"crash in I/O", func(f FaultConfig) bool { return f.CrashIOEvery > 0 }, 0.5, 0.9},
	}
	const seeds = 1000
	onCount := make([]int, len(kinds))
	mild := 0 // seeds with at most 3 of the 14 aggression-driven kinds on
	for seed := uint64(0); seed < seeds; seed++ {
		f := Swarm(seed, 5)
		if err := f.Validate(); err != nil {
			t.Fatalf("Swarm(%d, 5) = %v: %v", seed, f, err)
		}
		if f.MaxDown != 2 || f.MaxRotMachines != 1 {
			t.Fatalf("Swarm(%d, 5) MaxDown=%d MaxRotMachines=%d, want 2 and 1", seed, f.MaxDown, f.MaxRotMachines)
		}
		n := 0
		for i, k := range kinds {
			if k.on(f) {
				onCount[i]++
				if k.minOn < 0.5 && !strings.HasPrefix(k.name, "partition ") {
					n++
				}
			}
		}
		if n <= 3 {
			mild++
		}
	}
	for i, k := range kinds {
		frac := float64(onCount[i]) / seeds
		if frac < k.minOn || frac > k.max {
			t.Errorf("Swarm: %s on in %.1f%% of %d seeds, want %.0f%%..%.0f%%", k.name, 100*frac, seeds, 100*k.minOn, 100*k.max)
		}
	}
	if mild < seeds/2 || mild == seeds {
		t.Errorf("Swarm: %d of %d seeds mild (<= 3 faults on), want a majority but not all", mild, seeds)
	}
}

func TestSwarmLimitsBySize(t *testing.T) {
	tests := []struct{ machines, maxDown, maxRot int }{
		{1, 1, 0}, {2, 1, 0}, {3, 1, 1}, {5, 2, 1}, {7, 3, 1},
	}
	for _, tt := range tests {
		for seed := uint64(0); seed < 200; seed++ {
			f := Swarm(seed, tt.machines)
			if f.MaxDown != tt.maxDown || f.MaxRotMachines != tt.maxRot || (tt.maxRot == 0 && f.BitRotEvery > 0) {
				t.Fatalf("Swarm(%d, %d): MaxDown=%d MaxRotMachines=%d BitRotEvery=%v, want %d, %d",
					seed, tt.machines, f.MaxDown, f.MaxRotMachines, f.BitRotEvery, tt.maxDown, tt.maxRot)
			}
		}
	}
}

func TestSwarmIsAFunctionOfTheSeed(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		if a, b := Swarm(seed, 5), Swarm(seed, 5); a != b {
			t.Fatalf("Swarm(%d, 5) twice: %v and %v", seed, a, b)
		}
	}
	if Swarm(1, 5) == Swarm(2, 5) {
		t.Errorf("Swarm(1, 5) == Swarm(2, 5) = %v, want different draws", Swarm(1, 5))
	}
}

func TestRegisterFlagsPinsOnlySetKnobs(t *testing.T) {
	var pins FaultConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	apply := pins.RegisterFlags(fs)
	err := fs.Parse([]string{"-fault-net-drop=0.25", "-fault-crash-every=2s", "-fault-buggify=false", "-fault-max-down=0"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	base := Swarm(3, 5)
	base.Buggify = true
	got := base
	apply(&got)
	want := base
	want.DropProb, want.CrashEvery, want.Buggify, want.MaxDown = 0.25, 2*time.Second, false, 0
	if got != want {
		t.Errorf("apply(Swarm) =\n%v\nwant\n%v", got, want)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n != len(knobs) {
		t.Errorf("RegisterFlags defined %d flags, want %d (one per knob)", n, len(knobs))
	}
}

func TestFaultConfigString(t *testing.T) {
	tests := []struct {
		f    FaultConfig
		want []string
		not  []string
	}{
		{NoFaults(), []string{"lat=200µs+100µs", "disk=5µs-20µs/50µs-200µs", "maxdown=0"}, []string{"drop", "crash", "buggify"}},
		{func() FaultConfig {
			f := NoFaults()
			f.DropProb, f.CrashEvery, f.RestartDelayMax, f.Buggify = 0.02, 3*time.Second, time.Second, true
			f.PartitionEvery, f.PartitionMax, f.PartitionIsolate = time.Second, 300*time.Millisecond, true
			return f
		}(), []string{"drop=2%", "crash=3s/1s", "buggify", "part=1s/300ms[iso]"}, []string{"dup"}},
	}
	for _, tt := range tests {
		s := tt.f.String()
		if strings.Contains(s, "\n") {
			t.Errorf("String() = %q spans lines", s)
		}
		for _, w := range tt.want {
			if !strings.Contains(s, w) {
				t.Errorf("String() = %q, want it to contain %q", s, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(s, w) {
				t.Errorf("String() = %q, want no %q", s, w)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *FaultConfig)
		ok     bool
	}{
		{"no faults", func(f *FaultConfig) {}, true},
		{"drop above 1", func(f *FaultConfig) { f.DropProb = 1.5 }, false},
		{"negative latency", func(f *FaultConfig) { f.LatencyBase = -1 }, false},
		{"negative max down", func(f *FaultConfig) { f.MaxDown = -1 }, false},
		{"clog factor 0", func(f *FaultConfig) { f.ClogEvery = time.Second }, false},
	}
	for _, tt := range tests {
		f := NoFaults()
		tt.mutate(&f)
		if err := f.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
