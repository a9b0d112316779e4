package cores

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockvm/flock/vm/interp"
)

// startedIdle is a started parallel Set of n cores whose goroutines all
// wait for work.
func startedIdle(t *testing.T, n int) (*Set, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	s := New(machines(n), true, &mu)
	s.Start(nil)
	t.Cleanup(s.Stop)
	s.WaitIdleOr(func() bool { return false })
	return s, &mu
}

// TestParallelRunHereRunsTheParkedCore: work given while wakes are held
// reaches no core's goroutine; RunHere runs it on the caller's goroutine,
// before it returns, in the order given; the core is idle again after.
func TestParallelRunHereRunsTheParkedCore(t *testing.T) {
	s, mu := startedIdle(t, 2)
	var order []int
	mu.Lock()
	s.HoldWakes()
	for i := range 3 {
		s.Do(1, func(*interp.Machine) { order = append(order, i) })
	}
	held := s.Held(nil)
	mu.Unlock()
	if len(held) != 1 || held[0] != 1 {
		t.Fatalf("Held() = %v after work for core 1, want [1]", held)
	}
	if s.Idle() {
		t.Errorf("Idle() = true with work held for core 1, want false")
	}
	s.RunHere(1)
	if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
		t.Fatalf("RunHere(1) returned with the work run as %v, want [0 1 2]", order)
	}
	if !s.Idle() {
		t.Errorf("Idle() = false after RunHere ran everything, want true")
	}
}

// TestParallelRunHereWakesABusyCore: when the core's goroutine is in a
// round (it holds the run lock), RunHere does not wait for it and does not
// run the work itself: it wakes the goroutine, which runs it.
func TestParallelRunHereWakesABusyCore(t *testing.T) {
	s, mu := startedIdle(t, 1)
	inRound, release := make(chan struct{}), make(chan struct{})
	s.Do(0, func(*interp.Machine) {
		close(inRound)
		<-release
	})
	<-inRound
	ran := make(chan bool, 1)
	caller := make(chan struct{})
	mu.Lock()
	s.HoldWakes()
	s.Do(0, func(*interp.Machine) {
		select {
		case <-caller:
			ran <- false // RunHere has returned: the core's goroutine ran it
		default:
			ran <- true
		}
	})
	held := s.Held(nil)
	mu.Unlock()
	for _, i := range held {
		s.RunHere(i)
	}
	close(caller)
	close(release)
	select {
	case here := <-ran:
		if here {
			t.Errorf("work for a busy core ran inside RunHere, want on the core's goroutine after it")
		}
	case <-time.After(time.Minute):
		t.Fatalf("work for a busy core never ran: RunHere did not wake its goroutine")
	}
}

// TestParallelRunHereAfterStop: a stopped Set's work is not run by a
// borrower (it is dropped, as the goroutines drop theirs).
func TestParallelRunHereAfterStop(t *testing.T) {
	var mu sync.Mutex
	s := New(machines(1), true, &mu)
	s.Start(nil)
	s.WaitIdleOr(func() bool { return false })
	s.Stop()
	ran := false
	mu.Lock()
	s.HoldWakes()
	s.Do(0, func(*interp.Machine) { ran = true })
	held := s.Held(nil)
	mu.Unlock()
	for _, i := range held {
		s.RunHere(i)
	}
	if ran {
		t.Errorf("RunHere ran work on a stopped Set")
	}
}

// TestParallelRunHereEveryWorkOnce: goroutines that give cores work with
// their wakes held and run them (RunHere) race the cores' own goroutines
// and goroutines that give work plainly (Do): every work runs exactly
// once, on its own core, one at a time per core. make test runs it under
// -race.
func TestParallelRunHereEveryWorkOnce(t *testing.T) {
	const cores, givers, works = 3, 4, 300
	s, mu := startedIdle(t, cores)
	var ran [givers][works]atomic.Int32
	var inside [cores]atomic.Int32
	work := func(core, g, w int) func(*interp.Machine) {
		return func(*interp.Machine) {
			if inside[core].Add(1) != 1 {
				t.Errorf("two goroutines inside core %d at once", core)
			}
			ran[g][w].Add(1)
			runtime.Gosched() // widen the window another runner would enter
			inside[core].Add(-1)
		}
	}
	var wg sync.WaitGroup
	for g := range givers {
		wg.Go(func() {
			for w := range works {
				core := (g + w) % cores
				if g%2 == 0 {
					s.Do(core, work(core, g, w))
					continue
				}
				mu.Lock()
				s.HoldWakes()
				s.Do(core, work(core, g, w))
				held := s.Held(nil)
				mu.Unlock()
				for _, i := range held {
					s.RunHere(i)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for !s.Idle() && time.Now().Before(deadline) {
		s.WaitIdleOr(func() bool { return time.Now().After(deadline) })
	}
	for g := range givers {
		for w := range works {
			if n := ran[g][w].Load(); n != 1 {
				t.Fatalf("work %d of giver %d ran %d times, want 1", w, g, n)
			}
		}
	}
}

func TestHeldWithoutHoldPanics(t *testing.T) {
	var mu sync.Mutex
	s := New(machines(1), true, &mu)
	defer func() {
		if recover() == nil {
			t.Errorf("Held without HoldWakes did not panic")
		}
	}()
	s.Held(nil)
}
