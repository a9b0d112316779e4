package scenarios

import (
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/asm"
)

// A user's program that is correct behaves the same on a simulated VM as
// on one machine.
func TestRunProgramAgreesWithReference(t *testing.T) {
	p := vmFinalProgram()
	ref, err := ReferenceRun(p.program, nil, t.TempDir())
	if err != nil || ref.Output != p.want {
		t.Fatalf("ReferenceRun = %+v, %v; want output %q", ref, err, p.want)
	}
	for seed := uint64(0); seed < 3; seed++ {
		rep := RunProgram(Options{Seed: seed}, "counter_faa", p.program, nil, ref, 3)
		if rep.Result != ResultPass {
			t.Errorf("RunProgram seed %d = %s: %s", seed, rep.Result, rep.Violation)
		}
	}
}

// A racy program (unsynchronised read-modify-write of a shared counter from
// threads on several machines) does not: the check can fail.
func TestRunProgramCatchesARace(t *testing.T) {
	faa := "    PUSH 1\n    FAA                     ; ( addr delta -- old )\n    DROP\n"
	rmw := "    DUP\n    LOAD\n    PUSH 1\n    ADD\n    SWAP\n    STORE\n" // ( addr -- ), not atomic
	src := string(vmProgramSource(t, "counter_faa"))
	if !strings.Contains(src, faa) {
		t.Fatalf("counter_faa no longer has the fetch-add this test replaces")
	}
	src = strings.Replace(src, faa, rmw, 1)
	prog, err := asm.Assemble("racy.flasm", []byte(src), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ReferenceRun(prog, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(0); seed < 10; seed++ {
		if rep := RunProgram(Options{Seed: seed}, "racy", prog, nil, ref, 4); rep.Result == ResultFail {
			t.Logf("seed %d caught the race: %.200s", seed, rep.Violation)
			return
		}
	}
	t.Errorf("a racy counter gave the one-machine answer %q on 10 seeds of a 4-machine VM", ref.Output)
}
