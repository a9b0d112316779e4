package interp_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// exitKernel records the exit status; the programs here need nothing else.
type exitKernel struct {
	interp.Kernel
	status uint64
	exited bool
}

func (k *exitKernel) Exit(_, _, status uint64) { k.status, k.exited = status, true }

type dropTransport struct{}

func (dropTransport) Send(netmodel.NodeID, []byte) {}

// runOnAgent runs src as process 1 on one machine whose global memory is a
// coherence agent homing everything (every page held here), and returns
// the exit status and the agent.
func runOnAgent(t testing.TB, src string) (uint64, *coherence.Agent) {
	t.Helper()
	prog, err := asm.Assemble("g.fl", []byte(src), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := interp.NewMachine(interp.Config{Machine: 1, Incarnation: 1})
	a, err := coherence.New(coherence.Config{Self: 1, Incarnation: 1, Transport: dropTransport{}, Completer: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddProcess(1, []netmodel.NodeID{1}, coherence.ProcessOptions{HomeIncarnations: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	acct := &mem.Account{}
	k := &exitKernel{}
	if err := m.AddProcess(&interp.Process{PID: 1, Program: prog, Global: a.Global(1), Kernel: k, Account: acct}); err != nil {
		t.Fatal(err)
	}
	local, trap := mem.NewLocal(prog, acct)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	if err := m.AddThread(&interp.ThreadImage{PID: 1, TID: 1, PC: prog.Entry, Local: local}); err != nil {
		t.Fatal(err)
	}
	for m.Step().Ran {
	}
	if !k.exited {
		t.Fatalf("the program did not exit")
	}
	return k.status, a
}

// TestGlobalHotPath: LOAD, STORE, FAA and CAS on global words held here run
// in the dispatch loop, not through sys.Global, and compute what they must.
func TestGlobalHotPath(t *testing.T) {
	const src = `
main:
    ENTER 0, 2
    PUSH 64
    GALLOC
    SET 1
loop:
    GET 0
    PUSH 1000
    LT
    JZ done
    GET 1
    LOAD
    PUSH 2
    ADD
    GET 1
    STORE          ; w0 += 2
    GET 1
    PUSH 8
    ADD
    PUSH 3
    FAA
    DROP           ; w1 += 3
    GET 1
    PUSH 16
    ADD
    GET 0
    GET 0
    PUSH 1
    ADD
    CAS
    DROP           ; w2: i -> i+1
    INCL 0, 1
    JMP loop
done:
    GET 1
    LOAD
    GET 1
    PUSH 8
    ADD
    LOAD
    ADD
    GET 1
    PUSH 16
    ADD
    LOAD
    ADD            ; 2000 + 3000 + 1000
    EXIT
`
	status, a := runOnAgent(t, src)
	if status != 6000 {
		t.Fatalf("exit status %d, want 6000", status)
	}
	// The slow path saw the GALLOC and the first touch of the page at
	// most (the TLB's refill reads the Table, not the agent).
	if s := a.Stats(); s.Hits > 4 {
		t.Errorf("the agent served %d accesses on its slow path, want the 4000 word operations on the hot path", s.Hits)
	}
}

// hitLoop is a loop of n iterations whose body loads the word at block
// (GALLOC or ALLOC) loads times (or, with load false, pushes and drops its
// address as often: the same loop without the LOADs).
func hitLoop(n, loads int, allocOp string, load bool) string {
	step := "    GET 1\n    DROP\n"
	if load {
		step = "    GET 1\n    LOAD\n    DROP\n"
	}
	body := strings.Repeat(step, loads)
	return fmt.Sprintf(`
main:
    ENTER 0, 2
    PUSH 4096
    %s
    SET 1
loop:
    GET 0
    PUSH %d
    LT
    JZ done
%s    INCL 0, 1
    JMP loop
done:
    PUSH 0
    EXIT
`, allocOp, n, body)
}

// BenchmarkHitLoadInterpreter compares, in one run, the marginal cost of a
// LOAD of a global word held here (the dispatch loop's TLB path) with that
// of a thread-local LOAD: the same loop runs with 8 loads per iteration of
// each kind and without them, and the time of the loop without loads is
// subtracted. The fastest of several runs of each is used (robust to a
// loaded machine). Goal: global/local at most 1.5.
func BenchmarkHitLoadInterpreter(b *testing.B) {
	const iters, loads = 200_000, 8
	progs := map[string]string{
		"empty":  hitLoop(iters, loads, "ALLOC", false),
		"local":  hitLoop(iters, loads, "ALLOC", true),
		"global": hitLoop(iters, loads, "GALLOC", true),
	}
	best := map[string]time.Duration{}
	for range b.N {
		for _, name := range []string{"empty", "local", "global"} {
			start := time.Now()
			runOnAgent(b, progs[name])
			d := time.Since(start)
			if old, ok := best[name]; !ok || d < old {
				best[name] = d
			}
		}
	}
	per := func(name string) float64 {
		return float64((best[name] - best["empty"]).Nanoseconds()) / float64(iters*loads)
	}
	b.ReportMetric(per("local"), "ns/local-load")
	b.ReportMetric(per("global"), "ns/global-load")
	b.ReportMetric(per("global")/per("local"), "global/local")
}
