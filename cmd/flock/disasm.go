package main

import (
	"io"
	"regexp"
	"strconv"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/gen"
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
			io.WriteString(stdout, namePositions(isa.Disassemble(prog), prog))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noOpt, "no-opt", false, "compile without superinstructions")
	return cmd
}

// unknownPos is the position the disassembler gives an instruction from a
// file other than the program's main one (isa.Pos has no file).
var unknownPos = regexp.MustCompile(`; pc (\d+)  \S+:\?`)

// namePositions names the file and line of such instructions, from the
// positions the compiler keeps in the symbol table.
func namePositions(text string, p *isa.Program) string {
	return unknownPos.ReplaceAllStringFunc(text, func(m string) string {
		sub := unknownPos.FindStringSubmatch(m)
		pc, err := strconv.Atoi(sub[1])
		if err != nil {
			return m
		}
		return "; pc " + sub[1] + "  " + gen.Where(p, pc)
	})
}
