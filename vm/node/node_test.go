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
