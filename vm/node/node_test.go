package node

import (
	"os"
	"strings"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
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

// A parent starts three children with PSTART (their program read from the
// home's storage) and waits for them with PWAIT; each child prints from a
// thread spawned onto whichever machine placement picks.
const parentProgram = `
.const P 3
.string prog "kid.flasm"
.string args "10\x0020\x0030"
.zero pids P*8
.zero st P*8
main:
    ENTER 0, 1
    PUSH 0
    SET 0
start:
    GET 0
    PUSH P
    LT
    JZ started
    PUSH prog
    PUSH len(prog)
    PUSH args
    GET 0
    PUSH 3
    MUL
    ADD
    PUSH 2
    PSTART
    GET 0
    PUSH 8
    MUL
    PUSH pids
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP start
started:
    PUSH pids
    PUSH P
    PWAIT
    PUSH 0
    SET 0
show:
    GET 0
    PUSH P
    LT
    JZ shown
    GET 0
    PUSH 8
    MUL
    PUSH pids
    ADD
    LOAD
    PRINT
    PUSH ' '
    PUTC
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP show
shown:
    PUSH 0
    EXIT
`

const kidProgram = `
.zero buf 8
main:
    PUSH 0
    SPAWN talk
    JOIN
    EXIT
talk:
    PUSH 0
    PUSH buf
    PUSH 8
    ARG
    DROP
    PUSH buf
    PUSH 2
    ATOI
    DROP
    TEXIT
`

func TestChildProcessesAcrossMachines(t *testing.T) {
	c := newCluster(t, 3, 3, 3)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	c.putFile(2, "root", "kid.flasm", kidProgram)
	r := c.start(1, parentProgram)
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("parent did not end\n%s", c.dump())
	}
	if r.status.Err() != nil {
		t.Fatalf("parent: %v", r.status.Err())
	}
	// PWAIT writes each child's exit status over its pid.
	if got := r.out.String(); got != "10 20 30 " {
		t.Errorf("parent printed %q, want the children's statuses 10 20 30", got)
	}
}

// Workers placed on other machines spawn and join their own helpers and
// print: SPAWN, JOIN and output from threads away from the home.
const nestedProgram = `
.const T 12
.zero tids T*8
main:
    ENTER 0, 1
    PUSH 0
    SET 0
spawn:
    GET 0
    PUSH T
    LT
    JZ spawned
    GET 0
    SPAWN worker
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP spawn
spawned:
    PUSH 0
    SET 0
join:
    GET 0
    PUSH T
    LT
    JZ joined
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    LOAD
    JOIN
    PRINT
    PUSH ' '
    PUTC
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP join
joined:
    PUSH 0
    EXIT
worker:
    SPAWN helper
    JOIN
    PUSH '.'
    PUTC
    TEXIT
helper:
    PUSH 2
    MUL
    TEXIT
`

func TestNestedThreadsAwayFromHome(t *testing.T) {
	c := newCluster(t, 3, 3, 5)
	c.cores = 1
	c.ids, c.nodes = c.ids[:0], map[netmodel.NodeID]*Node{}
	for i := 1; i <= 3; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
		c.boot(netmodel.NodeID(i))
	}
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	c.dropProb, c.dupProb = 0.02, 0.02
	r := c.start(1, nestedProgram)
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("program did not end\n%s", c.dump())
	}
	out := r.out.String()
	if r.status.Err() != nil || strings.Count(out, ".") != 12 {
		t.Fatalf("status %v output %q, want 12 dots", r.status.Err(), out)
	}
	if got, want := strings.ReplaceAll(out, ".", ""), "0 2 4 6 8 10 12 14 16 18 20 22 "; got != want {
		t.Errorf("joined values %q, want %q", got, want)
	}
	remote := int64(0)
	for _, n := range c.nodes {
		remote += n.Stats().ThreadsPlacedRemote
	}
	if remote == 0 {
		t.Errorf("no thread was placed away from its spawner")
	}
	if twice := c.threadsRanTwice(); len(twice) > 0 {
		t.Errorf("threads ran twice: %v", twice)
	}
}

func TestKill(t *testing.T) {
	c := newCluster(t, 3, 3, 9)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, "main:\n PUSH 0\n SPAWN spin\n JOIN\n EXIT\nspin:\n JMP spin\n")
	c.runUntil(func() bool { return r.started && c.nodes[1].isRunning(r.pid) }, 100000)
	c.run(200, 4)
	if err := c.nodes[1].Kill(r.pid); err != nil {
		t.Fatalf("Kill(%d) = %v", r.pid, err)
	}
	if !c.runUntil(func() bool { return r.ended }, 10000) {
		t.Fatalf("killed process did not end")
	}
	if r.status.Trap == nil || r.status.Trap.Kind != sys.TrapKilled {
		t.Errorf("status %v, want killed", r.status.Err())
	}
	if !c.runUntil(func() bool { return c.totalThreads() == 0 }, 10000) {
		t.Errorf("threads still run after the kill: %d", c.totalThreads())
	}
	if err := c.nodes[1].Kill(r.pid); err == nil {
		t.Errorf("second Kill = nil error, want no such process")
	}
	ps := c.nodes[1].Processes()
	if len(ps) != 1 || ps[0].PID != r.pid || !ps[0].Done {
		t.Errorf("Processes() = %+v, want the one ended process", ps)
	}
}
