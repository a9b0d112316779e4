package cores

import (
	"sync"
	"testing"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/sys"
)

func machines(n int) []*interp.Machine {
	var ms []*interp.Machine
	for i := range n {
		ms = append(ms, interp.NewMachine(interp.Config{Machine: 1, Incarnation: 1, Core: uint32(i)}))
	}
	return ms
}

// In sequential mode Do runs at once, on the named core.
func TestSequentialDoRunsAtOnce(t *testing.T) {
	ms := machines(3)
	s := New(ms, false, nil)
	var got *interp.Machine
	s.Do(2, func(m *interp.Machine) { got = m })
	if got != ms[2] {
		t.Errorf("Do(2) ran on %p, want core 2 (%p)", got, ms[2])
	}
	if s.Runnable() || s.Threads() != 0 || s.Run(100) != 0 {
		t.Errorf("an empty Set: Runnable %v Threads %d Run %d; want false, 0, 0", s.Runnable(), s.Threads(), s.Run(100))
	}
	// Answers for ids of no core here are dropped, not a panic.
	s.Complete(sys.ReqID{Machine: 1, Incarnation: 1, Core: 9, Seq: 1}, sys.Reply{})
}

// In parallel mode Do runs on the core's goroutine, in the order asked.
func TestParallelDoRunsOnTheCoreInOrder(t *testing.T) {
	ms := machines(2)
	var mu sync.Mutex
	s := New(ms, true, &mu)
	s.Start(nil)
	defer s.Stop()
	done := make(chan []int, 1)
	var order []int
	for i := range 100 {
		s.Do(1, func(m *interp.Machine) {
			if m != ms[1] {
				t.Errorf("Do(1) ran on the wrong core")
			}
			order = append(order, i)
			if i == 99 {
				done <- order
			}
		})
	}
	got := <-done
	for i, v := range got {
		if v != i {
			t.Fatalf("Do order %v, want 0..99 in order", got)
		}
	}
	s.WaitIdleOr(func() bool { return false })
	if !s.Idle() {
		t.Errorf("Idle() = false after WaitIdleOr with nothing to run")
	}
}

func TestStartTwicePanics(t *testing.T) {
	var mu sync.Mutex
	s := New(machines(1), true, &mu)
	s.Start(nil)
	defer s.Stop()
	defer func() {
		if recover() == nil {
			t.Errorf("second Start did not panic")
		}
	}()
	s.Start(nil)
}

// TestParallelPlaceSpreadsABurst: threads placed before their cores have
// run (a burst of spawns) go round the cores, not all to the one whose
// published count is lowest; once the cores have run the additions, the
// counts are what the cores hold.
func TestParallelPlaceSpreadsABurst(t *testing.T) {
	ms := machines(3)
	var mu sync.Mutex
	s := New(ms, true, &mu)
	var got []int
	for range 7 {
		got = append(got, s.Place(func(*interp.Machine) {}))
	}
	want := []int{0, 1, 2, 0, 1, 2, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Place x7 chose cores %v, want %v", got, want)
		}
	}
	if n := s.Threads(); n != 7 {
		t.Errorf("Threads() = %d with 7 placements queued, want 7", n)
	}
	s.Start(nil)
	defer s.Stop()
	s.WaitIdleOr(func() bool { return false })
	if n := s.Threads(); n != 0 {
		t.Errorf("Threads() = %d after additions that added nothing ran, want 0", n)
	}
}

// In sequential mode Place runs at once on the least loaded core.
func TestSequentialPlaceRunsAtOnce(t *testing.T) {
	ms := machines(2)
	s := New(ms, false, nil)
	var ran *interp.Machine
	if i := s.Place(func(m *interp.Machine) { ran = m }); i != 0 || ran != ms[0] {
		t.Errorf("Place on an empty Set chose core %d (ran on %p), want 0 (%p)", i, ran, ms[0])
	}
}
