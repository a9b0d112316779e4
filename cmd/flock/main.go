package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
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

// exitError ends a command with a status; what went wrong was already
// printed by the command itself.
type exitError struct{ status int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.status) }

// exitWith returns nil for status 0, else an *exitError carrying it.
func exitWith(status int) error {
	if status == 0 {
		return nil
	}
	return &exitError{status: status}
}

// run executes the command line args and returns the exit status. Every
// error a command returns is an *exitError; any other error comes from
// cobra itself (an unknown command or flag, a missing argument) and is a
// usage error.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.status
	}
	cmd := root
	if c, _, ferr := root.Find(args); ferr == nil && c != nil {
		cmd = c
	}
	fmt.Fprintf(stderr, "flock: %v\nrun '%s --help' for usage\n", err, cmd.CommandPath())
	return exitUsage
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "flock",
		Short: "Run Flock programs, locally or on a VM of many machines, and work with their bytecode",
		Long: `flock runs Flock programs and works with their bytecode: on an embedded
local VM (flock run prog.fl), or on a VM of many machines (flock new, flock
join, flock run --vm; see docs/operating.md).

Exit statuses: the program's exit code (its low 8 bits) for run; 64 usage
error; 65 the program does not compile; 66 a file cannot be read; 70 the program trapped
(or deadlocked, or ran out of budget).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// With no command, print the usage and fail as a usage error.
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(stderr, "flock: usage: flock COMMAND [flags] [args...]\n\n%s", cmd.UsageString())
			return exitWith(exitUsage)
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newRunCmd(stdout, stderr),
		newAsmCmd(stderr),
		newDisasmCmd(stdout, stderr),
		newCheckCmd(stderr),
	)
	for _, add := range extraCommands {
		root.AddCommand(add(stdout, stderr))
	}
	return root
}

// extraCommands are the constructors of commands defined in files of their
// own (the cluster commands), registered in init.
var extraCommands []func(stdout, stderr io.Writer) *cobra.Command
