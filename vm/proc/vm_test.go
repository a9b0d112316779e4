package proc

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/storage"
	"github.com/flockvm/flock/vm/sys"
)

// runOpts says how to run a program in a test.
type runOpts struct {
	args     []string
	root     string // storage root; "" a temporary directory
	noOpt    bool
	quantum  int
	cfg      Config
	delayed  bool // every answer comes later, after a random delay
	seed     uint64
	delayMax int
}

type result struct {
	out      string
	diag     string
	status   Status
	answered int // answers that came later
}

func runProgram(t testing.TB, file string, src []byte, o runOpts) result {
	t.Helper()
	read := func(path string) ([]byte, error) { return os.ReadFile(filepath.Join("../../examples", path)) }
	prog, err := Compile(file, src, read, LoadOptions{NoOptimize: o.noOpt})
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	root := o.root
	if root == "" {
		root = t.TempDir()
	}
	disk, err := osdisk.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	cfg := o.cfg
	cfg.Machine.QuantumTicks = o.quantum
	var out, diag bytes.Buffer
	vm := New(cfg, st, LoadFile(st.ReadFile), &diag)
	var d *delayer
	if o.delayed {
		d = newDelayer(vm.Machine(), o.seed, max(o.delayMax, 1))
		vm.SetCompleter(d)
		vm.WrapProcess = d.wrap
	}
	pid, err := vm.Start(prog, o.args, &out)
	if err != nil {
		t.Fatal(err)
	}
	if d != nil {
		vm.Drive(7, d.tick)
	} else {
		vm.Run()
	}
	s, ok := vm.Status(pid)
	if !ok {
		t.Fatalf("%s: process %d still running after Run", file, pid)
	}
	r := result{out: out.String(), diag: diag.String(), status: s}
	if d != nil {
		r.answered = d.answered
	}
	return r
}

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// laterExamples are the examples and arguments run with every answer
// delayed; their output must equal the golden output.
var laterExamples = []struct {
	prog, golden string
	args         []string
}{
	{"hello.flasm", "hello.out", nil},
	{"loop.flasm", "loop_1000.out", []string{"1000"}},
	{"fib.flasm", "fib_20.out", []string{"20"}},
	{"counter_cas.flasm", "counter_cas.out", nil},
	{"counter_faa.flasm", "counter_faa.out", nil},
	{"spinlock.flasm", "spinlock.out", nil},
	{"prodcons.flasm", "prodcons.out", nil},
	{"files.flasm", "files.out", nil},
	{"procs.flasm", "procs.out", nil},
	{"hello.fl", "hello.out", nil},
	{"loop.fl", "loop_1000.out", []string{"1000"}},
	{"fib.fl", "fib_20.out", []string{"20"}},
	{"counter_cas.fl", "counter_cas.out", nil},
	{"counter_faa.fl", "counter_faa.out", nil},
	{"spinlock.fl", "spinlock.out", nil},
	{"mutex.fl", "mutex.out", nil},
	{"prodcons.fl", "prodcons.out", nil},
	{"parsum.fl", "parsum.out", nil},
	{"files.fl", "files.out", nil},
	{"procs.fl", "procs.out", nil},
	{"kv.fl", "kv.out", nil},
	{"acid.fl", "acid.out", nil},
	{"wordcount.fl", "wordcount.out", nil},
}

// TestExamplesAnswerLater runs the examples with a fake backend that
// answers every global-memory, storage, spawn, join, wait, output and
// process operation later, after a seeded random delay: output must be
// exactly the golden output, for several seeds and quanta.
func TestExamplesAnswerLater(t *testing.T) {
	for _, ex := range laterExamples {
		want, err := os.ReadFile(filepath.Join("../../examples/golden", ex.golden))
		if err != nil {
			t.Fatal(err)
		}
		for seed := uint64(1); seed <= 3; seed++ {
			o := runOpts{args: ex.args, delayed: true, seed: seed, delayMax: 5, quantum: int(seed * 3)}
			if strings.HasPrefix(ex.prog, "procs.") || ex.prog == "wordcount.fl" {
				o.root = "../../examples"
			}
			r := runProgram(t, ex.prog, readExample(t, ex.prog), o)
			if r.status.Trap != nil {
				t.Fatalf("%s seed %d: trap %v", ex.prog, seed, r.status.Trap)
			}
			got, wantOut := r.out, string(want)
			if strings.HasPrefix(ex.prog, "procs.") {
				// Concurrent children print their lines in the order the
				// delays pick.
				got, wantOut = sortLines(got), sortLines(wantOut)
			}
			if got != wantOut {
				t.Errorf("%s seed %d: output %q, want %q", ex.prog, seed, got, wantOut)
			}
			if r.answered == 0 {
				t.Errorf("%s seed %d: no answer came later; the test does not test the later path", ex.prog, seed)
			}
		}
	}
}

func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestDelayedRunsAreDeterministic: the same seed gives the same run.
func TestDelayedRunsAreDeterministic(t *testing.T) {
	src := readExample(t, "counter_cas.flasm")
	a := runProgram(t, "c.flasm", src, runOpts{delayed: true, seed: 9, delayMax: 4, quantum: 2})
	b := runProgram(t, "c.flasm", src, runOpts{delayed: true, seed: 9, delayMax: 4, quantum: 2})
	if a.out != b.out || a.answered != b.answered {
		t.Errorf("two runs of seed 9: %q/%d and %q/%d", a.out, a.answered, b.out, b.answered)
	}
}

// racyCounter increments a global counter with plain LOAD/ADD/STORE from
// many threads: with delays, updates are lost. It shows the interleavings
// the atomicity tests rely on really happen.
const racyCounter = `
.const T 8
.const K 200
.zero counter 8
.zero tids T*8
main:
    ENTER 0, 1
    PUSH 8
    GALLOC
    PUSH counter
    STORE
spawn:
    GET 0
    PUSH T
    LT
    JZ spawned
    PUSH 0
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
    DROP
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP join
joined:
    PUSH counter
    LOAD
    LOAD
    PRINT
    PUSH 0
    EXIT
worker:
    ENTER 1, 1
next:
    GET 1
    PUSH K
    LT
    JZ done
    PUSH counter
    LOAD
    LOAD
    PUSH 1
    ADD
    PUSH counter
    LOAD
    STORE
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP next
done:
    PUSH 0
    TEXIT
`

// TestAtomicityUnderManyThreads: with delays the plain counter loses
// updates, while CAS, fetch-and-add and the spinlock never do.
func TestAtomicityUnderManyThreads(t *testing.T) {
	racy := runProgram(t, "racy.flasm", []byte(racyCounter), runOpts{delayed: true, seed: 5, delayMax: 6, quantum: 1})
	if racy.out == "1600" {
		t.Errorf("racy counter = %s with delays: no lost update, so interleavings are not exercised", racy.out)
	}
	for _, ex := range []struct{ prog, want string }{
		{"counter_cas.flasm", "8000\n"}, {"counter_faa.flasm", "8000\n"}, {"spinlock.flasm", "4000\n"},
	} {
		for seed := uint64(10); seed < 14; seed++ {
			r := runProgram(t, ex.prog, readExample(t, ex.prog), runOpts{delayed: true, seed: seed, delayMax: 6, quantum: 1})
			if r.out != ex.want {
				t.Errorf("%s seed %d = %q, want %q", ex.prog, seed, r.out, ex.want)
			}
		}
	}
}

func TestDeadlockIsReported(t *testing.T) {
	src := `
main:
    PUSH 8
    GALLOC
    PUSH 0
    WAIT
    PUSH 0
    EXIT
`
	r := runProgram(t, "dead.flasm", []byte(src), runOpts{})
	if r.status.Trap == nil || r.status.Trap.Kind != sys.TrapDeadlock {
		t.Fatalf("status = %+v, want a deadlock trap", r.status)
	}
	if msg := r.status.Trap.Error(); !strings.Contains(msg, "thread 1 in WAIT at dead.flasm:6:5") {
		t.Errorf("deadlock message %q does not name the waiting thread", msg)
	}
}

// TestLimits: each configurable limit is enforced with its trap.
func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		src  string
		cfg  Config
		want sys.Trap
	}{
		{"threads", "main:\n PUSH 0\n SPAWN idle\n DROP\n JMP main\nidle:\n YIELD\n JMP idle\n", Config{ThreadsMax: 50}, sys.TrapThreadLimit},
		{"memory", "main:\n PUSH 4096\n ALLOC\n DROP\n JMP main\n", Config{MemoryBytesMax: 1 << 20}, sys.TrapOutOfMemory},
		{"global memory", "main:\n PUSH 4096\n GALLOC\n DROP\n JMP main\n", Config{MemoryBytesMax: 1 << 20}, sys.TrapOutOfMemory},
		{"stack", "main:\n PUSH 1\n JMP main\n", Config{Machine: interp.Config{StackWordsMax: 1000}}, sys.TrapStackOverflow},
		{"calls", "main:\n CALL main\n", Config{Machine: interp.Config{CallDepthMax: 100}}, sys.TrapStackOverflow},
		{"budget", "main:\n JMP main\n", Config{BudgetTicks: 5000}, sys.TrapBudget},
	}
	for _, tc := range tests {
		r := runProgram(t, tc.name+".flasm", []byte(tc.src), runOpts{cfg: tc.cfg})
		if r.status.Trap == nil || r.status.Trap.Kind != tc.want {
			t.Errorf("%s: status %+v, want trap %q", tc.name, r.status, tc.want)
		}
	}
}

// TestTrapEndsOnlyItsProcess: a child that traps reports -1 to its parent,
// which goes on.
func TestTrapEndsOnlyItsProcess(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bad.flasm"), []byte("main:\n PUSH 1\n PUSH 0\n DIV\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
.string path "bad.flasm"
.zero pids 8
main:
    PUSH path
    PUSH len(path)
    PUSH 0
    PUSH 0
    PSTART
    PUSH pids
    STORE
    PUSH pids
    PUSH 1
    PWAIT
    PUSH pids
    LOAD
    PRINT
    PUSH 0
    EXIT
`
	r := runProgram(t, "parent.flasm", []byte(src), runOpts{root: root})
	if r.status.Trap != nil || r.out != "-1" {
		t.Errorf("parent: status %+v output %q, want exit 0 and -1", r.status, r.out)
	}
}

// TestThousandsOfThreads: 1000 threads each add to one global word with
// FAA and with a CAS loop, all answers delayed; no increment is lost.
func TestThousandsOfThreads(t *testing.T) {
	for _, ex := range []string{"counter_faa.flasm", "counter_cas.flasm"} {
		src := strings.Replace(string(readExample(t, ex)), ".const T 8", ".const T 1000", 1)
		src = strings.Replace(src, ".const K 1000", ".const K 4", 1)
		r := runProgram(t, ex, []byte(src), runOpts{delayed: true, seed: 77, delayMax: 4, quantum: 1})
		if r.status.Trap != nil || r.out != "4000\n" {
			t.Errorf("%s with 1000 threads: output %q trap %v, want 4000", ex, r.out, r.status.Trap)
		}
	}
}

// TestStacksCountAsMemory: threads that grow deep stacks hit the memory
// limit, not the host's memory.
func TestStacksCountAsMemory(t *testing.T) {
	src := `
main:
    PUSH 0
    SPAWN deep
    DROP
    YIELD
    JMP main
deep:
    PUSH 1
    JMP deep
`
	cfg := Config{MemoryBytesMax: 16 << 20, ThreadsMax: 1000, Machine: interp.Config{StackWordsMax: 1 << 20}}
	r := runProgram(t, "deep.flasm", []byte(src), runOpts{cfg: cfg})
	if r.status.Trap == nil || r.status.Trap.Kind != sys.TrapOutOfMemory {
		t.Errorf("status %+v, want out of memory", r.status)
	}
}
