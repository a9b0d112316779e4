package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/sys"
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

// TestGlobalTrapsOnEveryPath: what the global memory's direct path cannot
// do (a misaligned word, an address past every mapped page) traps as the
// slow path says, with one core and with parallel cores.
func TestGlobalTrapsOnEveryPath(t *testing.T) {
	for _, tc := range []struct {
		name, ops string
		want      sys.Trap
	}{
		{"misaligned LOAD", "PUSH 1\n ADD\n LOAD", sys.TrapMisaligned},
		{"misaligned STORE", "PUSH 1\n ADD\n PUSH 5\n SWAP\n STORE", sys.TrapMisaligned},
		{"unmapped LOAD", "PUSH 1073741824\n ADD\n LOAD", sys.TrapUnmapped},
		{"unmapped STORE", "PUSH 1073741824\n ADD\n PUSH 5\n SWAP\n STORE", sys.TrapUnmapped},
		{"unmapped FAA", "PUSH 1073741824\n ADD\n PUSH 1\n FAA", sys.TrapUnmapped},
		{"misaligned CAS", "PUSH 4\n ADD\n PUSH 0\n PUSH 1\n CAS", sys.TrapMisaligned},
	} {
		src := "main:\n PUSH 64\n GALLOC\n " + tc.ops + "\n PUSH 0\n EXIT\n"
		for _, cfg := range []Config{{}, {Cores: 2, Parallel: true}} {
			r := runProgram(t, "trap.flasm", []byte(src), runOpts{cfg: cfg})
			if r.status.Trap == nil || r.status.Trap.Kind != tc.want {
				t.Errorf("%s on %d cores (parallel %v): status %+v, want trap %v", tc.name, max(cfg.Cores, 1), cfg.Parallel, r.status, tc.want)
			}
		}
	}
}
