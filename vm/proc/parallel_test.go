package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesOnParallelCores runs the examples with several cores on
// goroutines of their own: the output is the golden output, as with one
// core. (CI runs this under -race.)
func TestExamplesOnParallelCores(t *testing.T) {
	for _, ex := range laterExamples {
		want, err := os.ReadFile(filepath.Join("../../examples/golden", ex.golden))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 4} {
			o := runOpts{args: ex.args, cfg: Config{Cores: n, Parallel: true}}
			if strings.HasPrefix(ex.prog, "procs.") || ex.prog == "wordcount.fl" {
				o.root = "../../examples"
			}
			r := runProgram(t, ex.prog, readExample(t, ex.prog), o)
			if r.status.Trap != nil {
				t.Fatalf("%s on %d cores: trap %v", ex.prog, n, r.status.Trap)
			}
			got, wantOut := r.out, string(want)
			if strings.HasPrefix(ex.prog, "procs.") {
				got, wantOut = sortLines(got), sortLines(wantOut)
			}
			if got != wantOut {
				t.Errorf("%s on %d parallel cores: output %q, want %q", ex.prog, n, got, wantOut)
			}
		}
	}
}

// TestParallelDeadlockIsBroken: with every thread waiting on several
// parallel cores, the VM still ends the process with a deadlock trap.
func TestParallelDeadlockIsBroken(t *testing.T) {
	src := "main:\n PUSH 8\n GALLOC\n PUSH 0\n WAIT\n EXIT\n"
	r := runProgram(t, "stuck.flasm", []byte(src), runOpts{cfg: Config{Cores: 2, Parallel: true}})
	if r.status.Trap == nil || r.status.Trap.Kind.String() != "deadlock: every thread is waiting" {
		t.Errorf("status %+v, want a deadlock trap", r.status)
	}
}

// TestParallelSumsMatchOneCore runs the benchmark's workloads, scaled
// down, on 1, 2 and 4 cores: threads on different cores fill and sum
// disjoint slices of one global array through the lock-free page store,
// and every count prints the same sum. (CI runs this under -race.)
func TestParallelSumsMatchOneCore(t *testing.T) {
	const n, threads = 20000, 6
	prog := compileSource(t, "parsum.fl", fmt.Sprintf(bigParsum, n, threads))
	want := fmt.Sprintf("%d\n", uint64(n)*(n+1)/2)
	for _, cores := range []int{1, 2, 4} {
		if got := runOnCores(t, prog, cores); got != want {
			t.Errorf("parallel sum on %d cores printed %q, want %q", cores, got, want)
		}
	}
}
