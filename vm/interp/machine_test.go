package interp_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// world is a test driver: one process, its kernel and global memory, any
// number of machines. With later set, every answer is held until the
// driver releases it.
type world struct {
	machines []*interp.Machine
	home     map[uint64]*interp.Machine // where each thread runs
	prog     *isa.Program
	global   *mem.LocalGlobal
	acct     *mem.Account
	out      strings.Builder
	later    bool
	held     []heldReply
	nextTID  uint64
	exited   map[uint64]uint64
	joiners  map[uint64][]sys.Caller
	done     bool
	status   uint64
	trap     *interp.TrapError
	// lazy: spawned threads get their local memory lazily from pins
	// (local_fault_test.go); sourceLost: every fetch answers TrapLost.
	lazy, sourceLost bool
	pins             []*mem.Local
	fetches          int
}

type heldReply struct {
	c sys.Caller
	r sys.Reply
}

func newWorld(t *testing.T, src string, machines int, later bool) *world {
	t.Helper()
	prog, err := asm.Assemble("w.fl", []byte(src), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{prog: prog, acct: &mem.Account{}, later: later, nextTID: 2, home: map[uint64]*interp.Machine{},
		exited: map[uint64]uint64{}, joiners: map[uint64][]sys.Caller{}}
	w.global = mem.NewLocalGlobal(w.acct, w)
	for i := range machines {
		m := interp.NewMachine(interp.Config{QuantumTicks: 5, Machine: uint64(i + 1), Incarnation: 1})
		p := &interp.Process{PID: 1, Program: prog, Global: &laterGlobal{w.global, w}, Kernel: w, Account: w.acct}
		if err := m.AddProcess(p); err != nil {
			t.Fatal(err)
		}
		w.machines = append(w.machines, m)
	}
	local, trap := mem.NewLocal(prog, w.acct)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	w.add(&interp.ThreadImage{PID: 1, TID: 1, PC: prog.Entry, Local: local}, w.machines[0])
	return w
}

func (w *world) add(img *interp.ThreadImage, m *interp.Machine) {
	if err := m.AddThread(img); err != nil {
		panic(err)
	}
	w.home[img.TID] = m
}

// answer replies now, or holds the reply when the world answers later.
func (w *world) answer(c sys.Caller, r sys.Reply) (sys.Reply, bool) {
	if !w.later {
		return r, true
	}
	w.held = append(w.held, heldReply{c, r})
	return sys.Reply{}, false
}

// Complete is the completer of the global memory (woken waiters).
func (w *world) Complete(id sys.ReqID, r sys.Reply) {
	for _, m := range w.machines {
		m.Complete(id, r)
	}
}

// run drives the machines round-robin, releasing one held answer whenever
// nothing can run, until the process ends.
func (w *world) run(t *testing.T) {
	for steps := 0; !w.done; steps++ {
		if steps > 1_000_000 {
			t.Fatal("the world did not finish")
		}
		ran := false
		for _, m := range w.machines {
			if m.Step().Ran {
				ran = true
			}
		}
		if ran {
			continue
		}
		if len(w.held) == 0 {
			t.Fatalf("nothing runnable and nothing held: parked %+v", w.machines[0].Parked())
		}
		h := w.held[0]
		w.held = w.held[1:]
		w.home[h.c.TID].Complete(h.c.Req, h.r)
	}
}

func (w *world) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	img.TID = w.nextTID
	w.nextTID++
	if w.lazy {
		w.makeLazy(img)
	}
	// New threads go to the machines in turn: placement is the kernel's.
	w.add(img, w.machines[int(img.TID)%len(w.machines)])
	return w.answer(c, sys.Reply{Val: img.TID})
}

func (w *world) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	if v, ok := w.exited[tid]; ok {
		return w.answer(c, sys.Reply{Val: v})
	}
	w.joiners[tid] = append(w.joiners[tid], c)
	return sys.Reply{}, false
}

func (w *world) StartProcess(c sys.Caller, _ string, _ []string) (sys.Reply, bool) {
	return w.answer(c, sys.ErrReply(sys.ENOEXEC))
}

func (w *world) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	return w.answer(c, sys.Reply{Data: make([]byte, 8*len(pids))})
}

func (w *world) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	w.out.Write(data)
	return w.answer(c, sys.Reply{})
}

func (w *world) ThreadExited(_, tid, value uint64) {
	if tid == 1 {
		w.end(value)
		return
	}
	w.exited[tid] = value
	for _, c := range w.joiners[tid] {
		w.held = append(w.held, heldReply{c, sys.Reply{Val: value}})
	}
	delete(w.joiners, tid)
}

func (w *world) Exit(_, _, status uint64) { w.end(status) }

func (w *world) Trapped(_ uint64, trap *interp.TrapError) {
	w.trap = trap
	w.end(0)
}

func (w *world) end(status uint64) {
	w.done, w.status = true, status
	for _, m := range w.machines {
		m.RemoveProcess(1)
	}
}

// laterGlobal answers through the world, so global memory may answer later.
type laterGlobal struct {
	*mem.LocalGlobal
	w *world
}

func (g *laterGlobal) Load(c sys.Caller, a uint64, width uint8) (sys.Reply, bool) {
	r, _ := g.LocalGlobal.Load(c, a, width)
	return g.w.answer(c, r)
}

func (g *laterGlobal) Store(c sys.Caller, a uint64, width uint8, v uint64) (sys.Reply, bool) {
	r, _ := g.LocalGlobal.Store(c, a, width, v)
	return g.w.answer(c, r)
}

func (g *laterGlobal) FetchAdd(c sys.Caller, a, d uint64) (sys.Reply, bool) {
	r, _ := g.LocalGlobal.FetchAdd(c, a, d)
	return g.w.answer(c, r)
}

func (g *laterGlobal) Alloc(c sys.Caller, n uint64) (sys.Reply, bool) {
	r, _ := g.LocalGlobal.Alloc(c, n)
	return g.w.answer(c, r)
}

// sumThreads spawns 4 threads that each add 1..100 into a global counter
// with FAA, joins them and prints the counter.
const sumThreads = `
.zero counter 8
main:
    ENTER 0, 2
    PUSH 8
    GALLOC
    PUSH counter
    STORE
spawn:
    GET 0
    PUSH 4
    LT
    JZ joinall
    PUSH 0
    SPAWN worker
    DROP
    INCL 0, 1
    JMP spawn
joinall:
    PUSH 2
    SET 1
join:
    GET 1
    PUSH 6
    LT
    JZ show
    GET 1
    JOIN
    DROP
    INCL 1, 1
    JMP join
show:
    PUSH counter
    LOAD
    LOAD
    PRINT
    PUSH 0
    EXIT
worker:
    ENTER 1, 1
    PUSH 1
    SET 1
next:
    GET 1
    PUSH 100
    GT
    JNZ done
    PUSH counter
    LOAD
    GET 1
    FAA
    DROP
    INCL 1, 1
    JMP next
done:
    PUSH 0
    RET
`

// TestStepAPI drives machines from one goroutine through Step and Complete,
// with every answer coming later, on one and on three machines.
func TestStepAPI(t *testing.T) {
	for _, tc := range []struct {
		machines int
		later    bool
	}{{1, false}, {1, true}, {3, true}} {
		w := newWorld(t, sumThreads, tc.machines, tc.later)
		w.run(t)
		if w.trap != nil || w.out.String() != "20200" {
			t.Errorf("%d machines, later %v: output %q trap %v, want 20200", tc.machines, tc.later, w.out.String(), w.trap)
		}
	}
}

func TestParkedReportsTheWait(t *testing.T) {
	w := newWorld(t, "main:\n PUSH 8\n GALLOC\n LOAD\n PRINT\n PUSH 0\n EXIT\n", 1, true)
	m := w.machines[0]
	if r := m.Step(); !r.Ran || r.TID != 1 {
		t.Fatalf("Step() = %+v, want thread 1 to run", r)
	}
	p := m.Parked()
	if len(p) != 1 || p[0].Op != isa.GALLOC || p[0].PC != 1 {
		t.Fatalf("Parked() = %+v, want thread 1 in GALLOC at pc 1", p)
	}
	if m.Runnable() || m.Step().Ran {
		t.Fatalf("a parked thread ran")
	}
	w.run(t)
	if w.out.String() != "0" {
		t.Errorf("output %q, want 0", w.out.String())
	}
}

// TestDetachMovesAThread moves the running main thread to another machine
// in the middle of a loop: the result is the same.
func TestDetachMovesAThread(t *testing.T) {
	src := "main:\n ENTER 0, 2\nl: GET 0\n PUSH 1000\n LT\n JZ d\n ADDLL 1, 0\n INCL 0, 1\n JMP l\nd: GET 1\n PRINT\n PUSH 0\n EXIT\n"
	w := newWorld(t, src, 2, false)
	a, b := w.machines[0], w.machines[1]
	a.Step()
	img, err := a.Detach(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Threads() != 0 {
		t.Fatalf("after Detach machine A has %d threads", a.Threads())
	}
	w.add(img, b)
	w.run(t)
	if w.out.String() != "499500" {
		t.Errorf("output %q, want 499500", w.out.String())
	}
}

// TestHoldStopsAfterTheAnswer: a thread parked on an operation cannot be
// detached; held, it finishes that operation when its answer comes, runs
// no further instruction (its next PRINT is not reached) and can then be
// detached; Unhold instead lets it run on.
func TestHoldStopsAfterTheAnswer(t *testing.T) {
	src := "main:\n PUSH 6\n PRINT\n PUSH 7\n PRINT\n PUSH 0\n EXIT\n"
	for _, detach := range []bool{true, false} {
		prog, err := asm.Assemble("hold.flasm", []byte(src), asm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		k := &printKernel{}
		m := interp.NewMachine(interp.Config{})
		acct := &mem.Account{}
		m.AddProcess(&interp.Process{PID: 1, Program: prog, Global: mem.NewLocalGlobal(acct, m), Kernel: k, Account: acct})
		local, _ := mem.NewLocal(prog, acct)
		m.AddThread(&interp.ThreadImage{PID: 1, TID: 1, PC: prog.Entry, Local: local})
		m.Step() // parks on the first PRINT
		if _, err := m.Detach(1, 1); err == nil {
			t.Fatal("Detach of a parked thread succeeded")
		}
		if err := m.Hold(1, 1); err != nil {
			t.Fatal(err)
		}
		m.Complete(k.pending, sys.Reply{})
		m.Step()
		if k.out != "6" || m.Runnable() {
			t.Fatalf("held thread after its answer: output %q, runnable %v; want \"6\", false", k.out, m.Runnable())
		}
		if !detach {
			m.Unhold(1, 1)
			m.Step() // the second PRINT parks
			if p := m.Parked(); len(p) != 1 || p[0].Op != isa.PRINT || k.out != "67" {
				t.Fatalf("after Unhold: parked %+v, want the second PRINT", m.Parked())
			}
			continue
		}
		img, err := m.Detach(1, 1)
		if err != nil {
			t.Fatalf("Detach of a held thread after its answer: %v", err)
		}
		if m.Threads() != 0 || len(img.Stack) != 0 {
			t.Errorf("after Detach: %d threads, stack %v; want 0 threads, empty stack", m.Threads(), img.Stack)
		}
		img.Local.Release()
	}
	if err := interp.NewMachine(interp.Config{}).Hold(1, 1); err == nil {
		t.Error("Hold of a thread not on the machine succeeded")
	}
}

// ExampleMachine drives a machine by hand: Step runs a quantum; an
// operation that answers later parks its thread until Complete.
func ExampleMachine() {
	prog, _ := asm.Assemble("ex.fl", []byte("main:\n PUSH 6\n PUSH 7\n MUL\n PRINT\n PUSH 0\n EXIT\n"), asm.Options{})
	k := &printKernel{}
	m := interp.NewMachine(interp.Config{})
	acct := &mem.Account{}
	m.AddProcess(&interp.Process{PID: 1, Program: prog, Global: mem.NewLocalGlobal(acct, m), Kernel: k, Account: acct})
	local, _ := mem.NewLocal(prog, acct)
	m.AddThread(&interp.ThreadImage{PID: 1, TID: 1, PC: prog.Entry, Local: local})

	m.Step() // runs until PRINT asks the kernel, which answers later
	fmt.Printf("parked: %s\n", m.Parked()[0].Op)
	m.Complete(k.pending, sys.Reply{})
	m.Step() // resumes after PRINT and exits
	fmt.Printf("output %q, exit %d, threads %d\n", k.out, k.status, m.Threads())
	// Output:
	// parked: PRINT
	// output "42", exit 0, threads 0
}

// printKernel answers Output later and records the exit status.
type printKernel struct {
	interp.Kernel
	out     string
	pending sys.ReqID
	status  uint64
}

func (k *printKernel) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	k.out += string(data)
	k.pending = c.Req
	return sys.Reply{}, false
}

func (k *printKernel) Exit(_, _, status uint64) { k.status = status }

// TestMigrateAsBytes moves a thread mid-loop through EncodeImage and
// DecodeImage, as a distributed VM would ship it.
func TestMigrateAsBytes(t *testing.T) {
	src := "main:\n ENTER 0, 2\n PUSH 64\n ALLOC\n SET 1\nl: GET 0\n PUSH 300\n LT\n JZ d\n GET 1\n LOAD\n GET 0\n ADD\n GET 1\n STORE\n INCL 0, 1\n CALL f\n JMP l\nf: RET\nd: GET 1\n LOAD\n PRINT\n PUSH 0\n EXIT\n"
	w := newWorld(t, src, 2, false)
	a, b := w.machines[0], w.machines[1]
	a.Step()
	img, err := a.Detach(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := interp.DecodeImage(interp.EncodeImage(img), w.acct)
	img.Local.Release()
	if err != nil {
		t.Fatal(err)
	}
	w.add(moved, b)
	w.run(t)
	if w.out.String() != "44850" {
		t.Errorf("output %q, want 44850", w.out.String())
	}
}

func FuzzDecodeImage(f *testing.F) {
	prog, _ := asm.Assemble("f.fl", []byte("main: NOP\n"), asm.Options{})
	acct := &mem.Account{}
	local, _ := mem.NewLocal(prog, acct)
	f.Add(interp.EncodeImage(&interp.ThreadImage{PID: 1, TID: 2, PC: 0, Stack: []uint64{1, 2}, Frames: []interp.Frame{{Ret: 0}}, Local: local}))
	f.Fuzz(func(t *testing.T, data []byte) {
		acct := &mem.Account{LimitBytes: 16 << 20}
		img, err := interp.DecodeImage(data, acct)
		if err != nil {
			return
		}
		m := interp.NewMachine(interp.Config{StackWordsMax: 1 << 16, CallDepthMax: 1 << 10})
		m.AddProcess(&interp.Process{PID: img.PID, Program: prog, Kernel: &printKernel{}, Account: acct})
		if m.AddThread(img) == nil {
			m.Run(1000)
		}
	})
}

func (k *printKernel) Trapped(uint64, *interp.TrapError) {}

func (k *printKernel) ThreadExited(uint64, uint64, uint64) {}
