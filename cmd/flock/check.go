package main

import (
	"io"

	"github.com/flockvm/flock/vm/proc"
	"github.com/spf13/cobra"
)

func newCheckCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "check prog.fl|prog.flasm...",
		Short:   "Report compile errors only",
		Long:    "Compile (.fl) or assemble (.flasm) each file and report its errors as file:line:col: message (with the source line for .fl); exit 65 if any has one.",
		Example: "  flock check examples/*.fl examples/*.flasm",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			worst := 0
			for _, path := range args {
				if _, status := load(path, proc.LoadOptions{}, stderr); status != 0 {
					worst = max(worst, status)
				}
			}
			return exitWith(worst)
		},
	}
}
