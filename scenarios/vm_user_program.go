package scenarios

import (
	"bytes"
	"fmt"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
)

// A user's own program on a simulated VM (flock-sim -program FILE): the
// program is first run on the embedded one-machine VM, without faults, for
// its reference output; then each seed runs it on a simulated VM of several
// machines with that seed's faults and reports whether it behaved the same
// (same output and exit status, or the documented error naming a machine
// the seed killed).

// ProgramRef is what a program does on one machine without faults.
type ProgramRef struct {
	Output string
	Code   uint64
}

// programRefBudgetTicks bounds the reference run, so that a program that
// never ends is reported rather than run forever.
const programRefBudgetTicks = 1 << 34

// ReferenceRun runs prog on the embedded VM, with storage rooted at root
// (the directory PSTART and file operations see), and returns its output
// and exit status; a trap is an error naming where it happened.
func ReferenceRun(prog *isa.Program, args []string, root string) (ProgramRef, error) {
	disk, err := osdisk.Open(root)
	if err != nil {
		return ProgramRef{}, err
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	var out, diag bytes.Buffer
	cfg := proc.DefaultConfig
	cfg.BudgetTicks = programRefBudgetTicks
	vm := proc.New(cfg, st, proc.LoadFile(st.ReadFile), &diag)
	pid, err := vm.Start(prog, args, &out)
	if err != nil {
		return ProgramRef{}, err
	}
	vm.Run()
	status, _ := vm.Status(pid)
	if err := status.Err(); err != nil {
		return ProgramRef{Output: out.String()}, fmt.Errorf("%w (on one machine, without faults)", err)
	}
	return ProgramRef{Output: out.String(), Code: status.Code}, nil
}

// RunProgram runs one seed of a user's program on a simulated VM of
// machines machines (0: drawn) and checks it against ref.
func RunProgram(opts Options, name string, prog *isa.Program, args []string, ref ProgramRef, machines int) Report {
	p := &vmProgram{name: name, program: prog, args: args, want: ref.Output, code: ref.Code}
	rep := runVMShape(opts, []*vmProgram{p}, machines)
	rep.Scenario = "program:" + name
	return rep
}
