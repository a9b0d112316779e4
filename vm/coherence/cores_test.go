package coherence

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCoresShareFramesUnderRevocation runs three interpreter cores on their
// own goroutines, adding to a global word through n2's Table while the
// agent (on the test's goroutine) has the page taken away and given back
// two hundred times. Every add a core saw succeed must be in the final
// value: a store that landed in a frame after the agent copied it out would
// be lost. Run it with -race: cores and agent share frames only through
// atomics.
func TestCoresShareFramesUnderRevocation(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 2})
	x := h.alloc(1, 64)
	a2 := h.agents[2]
	tab := a2.Table(testPID)
	cores := []*Core{a2.NewCore(), a2.NewCore(), a2.NewCore()}
	var hot, loads atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, c := range cores {
		wg.Add(1)
		go func(c *Core) {
			defer wg.Done()
			for !stop.Load() {
				c.Enter()
				for range 32 {
					if _, ok := tab.FetchAdd(x, 1); ok {
						hot.Add(1)
					} else if _, ok := tab.Load64(x); ok {
						loads.Add(1)
					}
				}
				c.Exit()
				runtime.Gosched()
			}
		}(c)
	}
	slow := int64(0)
	waitDone := func(o *hop) {
		for range 1_000_000 {
			if o.done {
				return
			}
			if i := h.deliverable(); i >= 0 {
				h.deliverAt(i)
				continue
			}
			a2.Poll()
			h.tick()
			runtime.Gosched()
		}
		t.Fatalf("%s on %v not answered", o.desc, o.machine)
	}
	for round := range 200 {
		if round%4 == 3 {
			waitDone(h.load(1, x)) // a downgrade: the cores keep reading
		} else {
			waitDone(h.faa(1, x, 1)) // a recall: the cores lose the page
			slow++
		}
		waitDone(h.faa(2, x, 1)) // n2 takes it back, writable
		slow++
		// Let the cores use it before the next revocation (however
		// loaded the machine is).
		seen := hot.Load()
		for spin := 0; hot.Load() == seen; spin++ {
			if spin > 100_000_000 {
				t.Fatalf("round %d: the cores made no progress", round)
			}
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	final := h.faa(1, x, 0)
	waitDone(final)
	if want := uint64(hot.Load() + slow); final.reply.Val != want {
		t.Fatalf("final value %d, want %d (%d adds on the hot path, %d on the slow path)", final.reply.Val, want, hot.Load(), slow)
	}
	if hot.Load() == 0 {
		t.Fatalf("no add succeeded on the hot path: the test tested nothing")
	}
	t.Logf("%d hot adds, %d hot loads, %d slow adds", hot.Load(), loads.Load(), slow)
}
