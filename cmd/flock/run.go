package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/lang/gen"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
	"github.com/spf13/cobra"
)

// runFlags are the flags of flock run.
type runFlags struct {
	root    string
	memMax  uint64
	threads int
	budget  int64
	stack   int
	calls   int
	noOpt   bool
	cpus    int
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	var remote clientFlags // --vm: run on a VM (run_vm.go)
	cmd := &cobra.Command{
		Use:   "run [flags] prog.fl|prog.flasm|prog.flb [args...]",
		Short: "Run a program on an embedded local VM, or on a VM with --vm",
		Long: `Run a program on an embedded local VM: a .fl program (the Flock language)
is compiled, a .flasm program (assembly) assembled, .flb bytecode decoded.
Arguments after the program file are the program's; flags must come before
it. The VM's storage (files, and the programs PSTART starts) is the
program's directory unless --root names another.

Exit status: the program's exit code (its low 8 bits); 65 the program does
not compile; 66 the program file cannot be read; 70 the program trapped.`,
		Example: "  flock run examples/fib.fl 30\n  flock run examples/procs.fl\n  flock run --root /tmp/scratch examples/files.fl",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("missing program file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if status, ok := runRemote(&remote, proc.LoadOptions{NoOptimize: f.noOpt}, args, stdout, stderr); ok {
				return exitWith(status)
			}
			return exitWith(runProgram(f, args, stdout, stderr))
		},
	}
	// Everything after the program file belongs to the program.
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&f.root, "root", "", "directory that holds the VM's storage, created if missing (default: the program's directory)")
	fl.Uint64Var(&f.memMax, "mem", proc.DefaultConfig.MemoryBytesMax, "memory per process in bytes")
	fl.IntVar(&f.threads, "threads", proc.DefaultConfig.ThreadsMax, "threads per process")
	fl.Int64Var(&f.budget, "budget", 0, "instruction budget per process in ticks (0: none)")
	fl.IntVar(&f.stack, "stack", interp.DefaultConfig.StackWordsMax, "stack depth per thread in words")
	fl.IntVar(&f.calls, "calls", interp.DefaultConfig.CallDepthMax, "call depth per thread")
	fl.BoolVar(&f.noOpt, "no-opt", false, "compile without superinstructions")
	fl.IntVar(&f.cpus, "cpus", runtime.NumCPU(), "interpreter cores, each on an OS thread of its own (1: one core, deterministic)")
	remote.add(cmd, false)
	return cmd
}

// runProgram runs args[0] with the arguments args[1:] and returns the exit
// status.
func runProgram(f runFlags, args []string, stdout, stderr io.Writer) int {
	prog, status := load(args[0], proc.LoadOptions{NoOptimize: f.noOpt}, stderr)
	if prog == nil {
		return status
	}
	root := f.root
	if root == "" {
		root = filepath.Dir(args[0])
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		fmt.Fprintf(stderr, "flock: storage root: %v\n", err)
		return exitNoInput
	}
	disk, err := osdisk.Open(root)
	if err != nil {
		fmt.Fprintf(stderr, "flock: storage root: %v\n", err)
		return exitNoInput
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	if f.cpus < 1 || f.cpus > 4096 {
		fmt.Fprintf(stderr, "flock: --cpus %d: want 1 to 4096\n", f.cpus)
		return exitUsage
	}
	cfg := proc.Config{
		Cores:          f.cpus,
		Parallel:       f.cpus > 1,
		Machine:        interp.Config{StackWordsMax: f.stack, CallDepthMax: f.calls},
		MemoryBytesMax: f.memMax,
		ThreadsMax:     f.threads,
		BudgetTicks:    f.budget,
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	vm := proc.New(cfg, st, proc.LoadFile(st.ReadFile), stderr)
	pid, err := vm.Start(prog, args[1:], out)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitTrap
	}
	vm.Run()
	out.Flush()
	s, _ := vm.Status(pid)
	if s.Trap != nil {
		if s.Trap.PC >= 0 {
			// Name the file the instruction came from (a program may span
			// several: its imports, the standard library).
			s.Trap.Where = gen.Where(prog, s.Trap.PC)
		}
		fmt.Fprintf(stderr, "flock: %v\n", s.Trap)
		return exitTrap
	}
	return int(s.Code & 0xff)
}
