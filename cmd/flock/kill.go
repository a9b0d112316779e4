package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/flockvm/flock/host"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newKillCmd) }

func newKillCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "kill PID --vm NAME@ADDR [flags]",
		Short: "End a process of the VM",
		Long: `End process PID wherever its threads run: whoever waits for it sees it killed.
A user may kill its own processes; the admin, any.`,
		Example: "  flock kill 1004 --vm myvm@10.0.0.1:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("want one PID")
			}
			if pid, err := strconv.ParseUint(args[0], 10, 64); err != nil || pid == 0 {
				return fmt.Errorf("PID %q: want a process id (flock ps lists them)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, _ := strconv.ParseUint(args[0], 10, 64)
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				if err := c.Kill(ctx, pid); err != nil {
					return requestStatus(stderr, "kill "+args[0], err)
				}
				fmt.Fprintf(stdout, "killed process %d\n", pid)
				return 0
			})
		},
	}
	cf.add(cmd, true)
	return cmd
}
