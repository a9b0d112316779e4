package sim

import (
	"slices"
	"strings"
	"testing"
)

func TestDrawLimitsDistribution(t *testing.T) {
	const seeds = 2000
	defaults, small := 0, 0
	for seed := range uint64(seeds) {
		l := DrawLimits(seed, "test.limits", nil)
		v := l.Int64("segment", 256, 1<<20, 4<<20)
		switch {
		case v == 4<<20:
			defaults++
		case v < 256 || v > 1<<20:
			t.Fatalf("seed %d: segment = %d, want the default or a value in [256, 1MiB]", seed, v)
		case v <= 4096:
			small++
		}
	}
	if frac := float64(defaults) / seeds; frac < 0.2 || frac > 0.3 {
		t.Errorf("default kept in %.1f%% of seeds, want about 25%%", 100*frac)
	}
	// log-uniform over [256, 1MiB]: [256, 4KiB] is a third of the range.
	if frac := float64(small) / seeds; frac < 0.2 || frac > 0.3 {
		t.Errorf("a value <= 4KiB drawn in %.1f%% of seeds, want about 25%% (a third of 75%%)", 100*frac)
	}
}

func TestDrawLimitsIsAFunctionOfTheSeed(t *testing.T) {
	draw := func(seed uint64, pins map[string]int64) []LimitDraw {
		l := DrawLimits(seed, "test.limits", pins)
		l.Int("a", 1, 100, 1000)
		l.Int("b", 1, 100, 1000)
		l.Int("c", 1, 100, 1000)
		return l.Draws()
	}
	if a, b := draw(3, nil), draw(3, nil); !slices.Equal(a, b) {
		t.Errorf("seed 3 drew %v then %v, want the same", a, b)
	}
	plain, pinned := draw(3, nil), draw(3, map[string]int64{"b": 7})
	if pinned[1].Value != 7 || !pinned[1].Pinned || pinned[0] != plain[0] || pinned[2] != plain[2] {
		t.Errorf("pinning b: %v, unpinned %v; want b=7 and a, c unchanged", pinned, plain)
	}
}

func TestLimitsStringAndUnknownPins(t *testing.T) {
	l := DrawLimits(1, "test.limits", map[string]int64{"kept": 5, "typo": 1})
	l.Int("kept", 1, 10, 5)
	l.Int("other", 1, 10, 1000)
	if got := l.UnknownPins(); !slices.Equal(got, []string{"typo"}) {
		t.Errorf("UnknownPins() = %v, want [typo]", got)
	}
	s := l.String()
	if !strings.HasPrefix(s, "limits: kept=5!") {
		t.Errorf("String() = %q, want the pinned limit first, marked with !", s)
	}
}

func TestDrawLimitsRejectsScenarioBugs(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"reserved label", func() { DrawLimits(1, "sim.limits", nil) }},
		{"empty range", func() { DrawLimits(1, "x", nil).Int("a", 5, 4, 4) }},
		{"zero bound", func() { DrawLimits(1, "x", nil).Int("a", 0, 4, 4) }},
		{"drawn twice", func() { l := DrawLimits(1, "x", nil); l.Int("a", 1, 4, 4); l.Int("a", 1, 4, 4) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic, want one", tt.name)
				}
			}()
			tt.f()
		}()
	}
}

func TestOutcomesCountReordering(t *testing.T) {
	fc := NoFaults()
	fc.LatencyJitter = 5 * fc.LatencyBase // jitter far above the gap between sends
	w := NewWorld(Config{Seed: 9, Faults: fc})
	var got []byte
	w.AddMachine(2, func(m *Machine) Receiver {
		return ReceiverFunc(func(_ NodeID, p []byte) { got = append(got, p[0]) })
	})
	m1 := w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	m1.After(0, "send", func() {
		for i := range 50 {
			m1.Send(2, []byte{byte(i)})
		}
	})
	w.RunFor(100 * fc.LatencyBase)
	inversions := int64(0) // deliveries below the highest delivered before them
	high := -1
	for _, b := range got {
		if int(b) < high {
			inversions++
		}
		high = max(high, int(b))
	}
	out := w.Outcomes()
	if inversions == 0 || out["msgs_reordered"] != inversions {
		t.Errorf("Outcomes()[msgs_reordered] = %d, counted %d late deliveries in %v; want them equal and > 0",
			out["msgs_reordered"], inversions, got)
	}
	for _, key := range []string{"writes_torn", "writes_lost", "dirops_undone", "syncs_cut", "crashes_in_io",
		"reads_failed", "bits_rotted", "msgs_dropped", "msgs_duplicated", "msgs_garbled"} {
		if _, ok := out[key]; !ok {
			t.Errorf("Outcomes() lacks key %q (every key is present, zeros included)", key)
		}
	}
}
