package main

import (
	"io"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/spf13/cobra"
)

func newDisasmCmd(stdout, stderr io.Writer) *cobra.Command {
	var noOpt bool
	cmd := &cobra.Command{
		Use:     "disasm prog.fl|prog.flasm|prog.flb",
		Short:   "Print a program's instructions",
		Long:    "Print a program's instructions, each with the source line it came from.",
		Example: "  flock disasm examples/fib.fl",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prog, status := load(args[0], proc.LoadOptions{NoOptimize: noOpt}, stderr)
			if prog == nil {
				return exitWith(status)
			}
			io.WriteString(stdout, isa.Disassemble(prog))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noOpt, "no-opt", false, "compile without superinstructions")
	return cmd
}
