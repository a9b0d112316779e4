package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/spf13/cobra"
)

func newAsmCmd(stderr io.Writer) *cobra.Command {
	var outPath string
	var noOpt bool
	cmd := &cobra.Command{
		Use:     "asm [-o out.flb] prog.fl|prog.flasm",
		Aliases: []string{"build"},
		Short:   "Compile or assemble a program to bytecode",
		Long:    "Compile (.fl) or assemble (.flasm) a program to bytecode, by default the input with .flb; flock run accepts it. flock build is the same command.",
		Example: "  flock build examples/hello.fl\n  flock asm -o /tmp/hello.flb examples/hello.flasm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(assemble(args[0], outPath, noOpt, stderr))
		},
	}
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "output file (default: the input with .flb)")
	cmd.Flags().BoolVar(&noOpt, "no-opt", false, "compile without superinstructions")
	return cmd
}

func assemble(in, outPath string, noOpt bool, stderr io.Writer) int {
	prog, status := load(in, proc.LoadOptions{NoOptimize: noOpt}, stderr)
	if prog == nil {
		return status
	}
	if outPath == "" {
		outPath = strings.TrimSuffix(in, filepath.Ext(in)) + ".flb"
	}
	if err := os.WriteFile(outPath, isa.Encode(prog), 0o644); err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitNoInput
	}
	return 0
}
