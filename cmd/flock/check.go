package main

import (
	"io"

	"github.com/flockvm/flock/vm/asm"
	"github.com/spf13/cobra"
)

func newCheckCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "check prog.fl...",
		Short:   "Report assembly errors only",
		Long:    "Assemble each file and report its errors as file:line:col: message; exit 65 if any has one.",
		Example: "  flock check examples/*.fl",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			worst := 0
			for _, path := range args {
				if _, status := load(path, asm.Options{}, stderr); status != 0 {
					worst = max(worst, status)
				}
			}
			return exitWith(worst)
		},
	}
}
