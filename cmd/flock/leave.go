package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/flockvm/flock/host"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newLeaveCmd) }

func newLeaveCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "leave --vm NAME@ADDR [flags]",
		Short: "Take the machine at ADDR out of the VM (admin)",
		Long: `Take the machine at ADDR out of the VM: its membership record says it left, the
other machines stop using it, and it stops for good (its data dir must not
serve again; join with a new one). A metadata voter is replaced first (a
learner is promoted, then the voter removed from the group), which takes a
few membership polls; the group's only member cannot leave, nor a machine
that runs threads or is home to running processes: kill them first.`,
		Example: "  flock leave --vm myvm@10.0.0.4:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return errors.New("leave takes no arguments: it takes out the machine at the address of --vm")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				text, err := c.Leave(ctx)
				if err != nil {
					return requestStatus(stderr, "leave", err)
				}
				fmt.Fprintln(stdout, text)
				return 0
			})
		},
	}
	cf.add(cmd, true)
	return cmd
}
