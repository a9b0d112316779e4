package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flockvm/flock/scenarios"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
)

// machinesMax bounds -machines (the vm scenario draws 3 to 7).
const machinesMax = 16

// userProgram is a program of the user's, run with -program: compiled
// once, run once on one machine without faults for the answer every seed
// must give.
type userProgram struct {
	path string
	prog *isa.Program
	args []string
	ref  scenarios.ProgramRef
}

// loadUserProgram compiles path (.fl, .flasm or .flb) and runs it on the
// embedded VM with its directory as storage.
func loadUserProgram(path string, args []string) (*userProgram, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	prog, err := proc.Compile(path, src, os.ReadFile, proc.LoadOptions{})
	if err != nil {
		return nil, err
	}
	ref, err := scenarios.ReferenceRun(prog, args, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &userProgram{path: path, prog: prog, args: args, ref: ref}, nil
}

// parseProgramFlags checks -program and -machines and takes what follows
// the flags as the program's arguments; without -program nothing may follow.
func parseProgramFlags(cfg *config, fs *flag.FlagSet) error {
	if cfg.programPath == "" {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		if cfg.machines != 0 {
			return errors.New("-machines needs -program")
		}
		return nil
	}
	cfg.programArgs = fs.Args()
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "scenario" || f.Name == "bug" || f.Name == "limit" || f.Name == "list" {
			clash = append(clash, "-"+f.Name)
		}
	})
	if len(clash) > 0 {
		return fmt.Errorf("-program runs your program on the vm scenario's world: %s does not apply", strings.Join(clash, ", "))
	}
	if cfg.machines != 0 && (cfg.machines < 3 || cfg.machines > machinesMax) {
		return fmt.Errorf("-machines %d: want 3..%d (0: drawn)", cfg.machines, machinesMax)
	}
	return nil
}

// runProgramSeed runs one seed of the user's program.
func runProgramSeed(cfg config, opts scenarios.Options) scenarios.Report {
	return scenarios.RunProgram(opts, cfg.program.path, cfg.program.prog, cfg.program.args, cfg.program.ref, cfg.machines)
}

// programArgs are the flags and arguments that select the user's program,
// for a worker and for a repro command.
func programArgs(cfg config) []string {
	if cfg.program == nil {
		return nil
	}
	args := []string{"-program", cfg.program.path}
	if cfg.machines > 0 {
		args = append(args, "-machines", strconv.Itoa(cfg.machines))
	}
	return args
}

// programTail are the program's own arguments, which end a command line.
func programTail(cfg config) []string {
	if cfg.program == nil || len(cfg.program.args) == 0 {
		return nil
	}
	return append([]string{"--"}, cfg.program.args...)
}
