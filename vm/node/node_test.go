package node

import (
	"os"
	"strings"
	"testing"
)

func readCounterProgram(t testing.TB, threads, adds int) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/counter_faa.flasm")
	if err != nil {
		src, err = os.ReadFile("../../examples/counter_faa.fl")
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), ".const T 8", ".const T "+itoa(threads), 1)
	return strings.Replace(s, ".const K 1000", ".const K "+itoa(adds), 1)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestProgramAcrossMachines: a counter program whose threads spread over
// three machines gives the exact answer, and no thread runs twice.
func TestProgramAcrossMachines(t *testing.T) {
	c := newCluster(t, 3, 3, 1)
	if !c.runUntil(c.allJoined, 20000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, readCounterProgram(t, 30, 50))
	if !c.runUntil(func() bool { return r.ended }, 200000) {
		t.Fatalf("program did not end: started=%v err=%v out=%q", r.started, r.err, r.out.String())
	}
	if r.err != nil || r.status.Err() != nil || r.status.Code != 0 {
		t.Fatalf("program: start err %v, status %+v (%v)", r.err, r.status, r.status.Err())
	}
	if got := r.out.String(); got != "1500\n" {
		t.Errorf("output %q, want 1500", got)
	}
	if twice := c.threadsRanTwice(); len(twice) > 0 {
		t.Errorf("threads ran twice: %v", twice)
	}
	remote := int64(0)
	for _, n := range c.nodes {
		remote += n.Stats().ThreadsPlacedRemote
	}
	if remote == 0 {
		t.Errorf("no thread was placed on another machine")
	}
}

// TestProgramUnderMessageFaults: drops and duplicates everywhere; the answer
// is the same and no thread runs twice (requests retransmit and apply at
// most once).
func TestProgramUnderMessageFaults(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		c := newCluster(t, 4, 3, seed)
		if !c.runUntil(c.allJoined, 40000) {
			t.Fatalf("seed %d: nodes did not join", seed)
		}
		c.dropProb, c.dupProb = 0.05, 0.05
		r := c.start(2, readCounterProgram(t, 24, 20))
		if !c.runUntil(func() bool { return r.ended }, 400000) {
			t.Fatalf("seed %d: program did not end: started=%v err=%v out=%q\n%s", seed, r.started, r.err, r.out.String(), c.dump())
		}
		if r.status.Err() != nil || r.out.String() != "480\n" {
			t.Errorf("seed %d: status %v output %q, want exit 0 and 480", seed, r.status.Err(), r.out.String())
		}
		if twice := c.threadsRanTwice(); len(twice) > 0 {
			t.Errorf("seed %d: threads ran twice: %v", seed, twice)
		}
	}
}

// TestMachineLossEndsOnlyTheProcessesItTouched: a machine running threads
// of a process dies; that process ends with the error naming the machine,
// and nothing is re-run.
func TestMachineLossEndsTheProcessNamingTheMachine(t *testing.T) {
	c := newCluster(t, 4, 3, 7)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, readCounterProgram(t, 40, 2000))
	// Let threads spread, then kill a machine that runs some.
	var victim uint64
	c.runUntil(func() bool {
		for _, id := range []uint64{4, 3} {
			if n := c.nodes[nodeID(id)]; n != nil && n.Threads() > 0 {
				victim = id
				return true
			}
		}
		return false
	}, 100000)
	if victim == 0 {
		t.Fatalf("no thread reached machines 3 or 4")
	}
	c.crash(nodeID(victim))
	if !c.runUntil(func() bool { return r.ended }, 2000000) {
		t.Fatalf("process did not end after machine %d died", victim)
	}
	lost := r.status.Lost
	if lost == nil || lost.Machine != victim {
		t.Fatalf("status %+v (%v), want lost with machine %d", r.status, r.status.Err(), victim)
	}
	if twice := c.threadsRanTwice(); len(twice) > 0 {
		t.Errorf("threads ran twice: %v", twice)
	}
	// The VM goes on: a new process on the survivors runs to the end.
	r2 := c.start(1, readCounterProgram(t, 8, 10))
	if !c.runUntil(func() bool { return r2.ended }, 400000) || r2.out.String() != "80\n" {
		t.Fatalf("after the loss: ended=%v status=%v output %q, want 80", r2.ended, r2.status.Err(), r2.out.String())
	}
}
