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
