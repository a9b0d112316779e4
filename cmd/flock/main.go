package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
)

// Exit statuses (sysexits.h).
const (
	exitUsage   = 64
	exitAsm     = 65
	exitNoInput = 66
	exitTrap    = 70
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  flock run [flags] prog.fl [args...]   run a program on an embedded local VM
  flock asm [-o out.flb] prog.fl        assemble to bytecode
  flock disasm prog.fl|prog.flb         print the instructions
  flock check prog.fl...                report assembly errors only
run 'flock run -h' for the flags of run`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "asm":
		return cmdAsm(args[1:], stderr)
	case "disasm":
		return cmdDisasm(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "flock: unknown command %q\n%s\n", args[0], usage)
	return exitUsage
}

// load reads and assembles (or decodes) a program file; on failure it
// prints why and returns the exit status.
func load(path string, opt asm.Options, stderr io.Writer) (*isa.Program, int) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return nil, exitNoInput
	}
	if isa.IsBytecode(src) {
		p, err := isa.Decode(src)
		if err != nil {
			fmt.Fprintf(stderr, "flock: %s: %v\n", path, err)
			return nil, exitAsm
		}
		return p, 0
	}
	p, err := asm.Assemble(path, src, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitAsm
	}
	return p, 0
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flock run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "directory that holds the VM's storage")
	memMax := fs.Uint64("mem", proc.DefaultConfig.MemoryBytesMax, "memory per process in bytes")
	threads := fs.Int("threads", proc.DefaultConfig.ThreadsMax, "threads per process")
	budget := fs.Int64("budget", 0, "instruction budget per process in ticks (0: none)")
	stack := fs.Int("stack", interp.DefaultConfig.StackWordsMax, "stack depth per thread in words")
	calls := fs.Int("calls", interp.DefaultConfig.CallDepthMax, "call depth per thread")
	noOpt := fs.Bool("no-opt", false, "assemble without superinstructions")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "flock run: missing program file")
		return exitUsage
	}
	prog, status := load(fs.Arg(0), asm.Options{NoOptimize: *noOpt}, stderr)
	if prog == nil {
		return status
	}
	disk, err := osdisk.Open(*root)
	if err != nil {
		fmt.Fprintf(stderr, "flock: storage root: %v\n", err)
		return exitNoInput
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	cfg := proc.Config{
		Machine:        interp.Config{StackWordsMax: *stack, CallDepthMax: *calls},
		MemoryBytesMax: *memMax,
		ThreadsMax:     *threads,
		BudgetTicks:    *budget,
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	vm := proc.New(cfg, st, proc.LoadFile(st.ReadFile), stderr)
	pid, err := vm.Start(prog, fs.Args()[1:], out)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitTrap
	}
	vm.Run()
	out.Flush()
	s, _ := vm.Status(pid)
	if s.Trap != nil {
		fmt.Fprintf(stderr, "flock: %v\n", s.Trap)
		return exitTrap
	}
	return int(s.Code & 0xff)
}

func cmdAsm(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("flock asm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	outPath := fs.String("o", "", "output file (default: the input with .flb)")
	noOpt := fs.Bool("no-opt", false, "assemble without superinstructions")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: flock asm [-o out.flb] prog.fl")
		return exitUsage
	}
	in := fs.Arg(0)
	prog, status := load(in, asm.Options{NoOptimize: *noOpt}, stderr)
	if prog == nil {
		return status
	}
	if *outPath == "" {
		*outPath = strings.TrimSuffix(in, filepath.Ext(in)) + ".flb"
	}
	if err := os.WriteFile(*outPath, isa.Encode(prog), 0o644); err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitNoInput
	}
	return 0
}

func cmdDisasm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flock disasm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noOpt := fs.Bool("no-opt", false, "assemble without superinstructions")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: flock disasm prog.fl|prog.flb")
		return exitUsage
	}
	prog, status := load(fs.Arg(0), asm.Options{NoOptimize: *noOpt}, stderr)
	if prog == nil {
		return status
	}
	io.WriteString(stdout, isa.Disassemble(prog))
	return 0
}

func cmdCheck(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: flock check prog.fl...")
		return exitUsage
	}
	worst := 0
	for _, path := range args {
		if _, status := load(path, asm.Options{}, stderr); status != 0 {
			worst = max(worst, status)
		}
	}
	return worst
}
