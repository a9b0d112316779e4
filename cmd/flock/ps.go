package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newPSCmd) }

func newPSCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "ps --vm NAME@ADDR [flags]",
		Short: "List the VM's processes",
		Long: `List the processes running on the VM, gathered from every machine: pid, home
machine, user, live threads, state and program. --all adds the ended
processes the machines still remember, with how they ended.`,
		Example: "  flock ps --vm myvm@10.0.0.1:7070\n  flock ps --all --vm myvm@10.0.0.1:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return errors.New("ps takes no arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				procs, silent, err := c.PS(ctx, all)
				if err != nil {
					return requestStatus(stderr, "ps", err)
				}
				w := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(w, "PID\tHOME\tUSER\tTHREADS\tSTATE\tPROGRAM")
				for _, p := range procs {
					fmt.Fprintf(w, "%d\t%d\t%s\t%d\t%s\t%s\n", p.PID, p.Home, p.User, p.Threads, processState(p.Done, p.Status), p.Program)
				}
				w.Flush()
				if silent != "" {
					fmt.Fprintf(stderr, "flock: ps: %s (their processes are not listed)\n", silent)
				}
				return 0
			})
		},
	}
	cf.add(cmd, true)
	cmd.Flags().BoolVarP(&all, "all", "a", false, "list ended processes too")
	return cmd
}

// processState is how ps shows a process's state.
func processState(done bool, st kernel.Status) string {
	switch {
	case !done:
		return "running"
	case st.Trap != nil:
		return "trapped: " + st.Trap.Kind.String()
	case st.Lost != nil:
		return fmt.Sprintf("lost with machine %d", st.Lost.Machine)
	}
	return fmt.Sprintf("exited %d", st.Code)
}
