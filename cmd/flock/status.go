package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/vm/node"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newStatusCmd) }

// tickPeriod is a machine's tick, to show lease ages in time.
const tickPeriod = host.TickPeriodDefault

func newStatusCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --vm NAME@ADDR [flags]",
		Short: "Show the VM's machines: incarnations, health, resources, the metadata leader",
		Long: `Show the VM's machines as the machine at ADDR sees them (its membership view,
from the metadata store) with what each machine says of itself: its state and
incarnation, its health (how old its lease is, whether it answered), what it
provides, its cores, threads and processes, and its raft role if it is a
metadata voter; and which machine leads the metadata store.`,
		Example: "  flock status --vm myvm@10.0.0.1:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return errors.New("status takes no arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				st, err := c.Status(ctx)
				if err != nil {
					return requestStatus(stderr, "status", err)
				}
				if asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					if err := enc.Encode(st); err != nil {
						fmt.Fprintf(stderr, "flock: status: %v\n", err)
						return exitFailed
					}
					return 0
				}
				printStatus(stdout, st)
				return 0
			})
		},
	}
	cf.add(cmd, true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON (host.Status)")
	return cmd
}

func printStatus(w io.Writer, st host.Status) {
	leader := "none (no quorum of the voters)"
	if st.Leader != 0 {
		leader = fmt.Sprintf("machine %d", st.Leader)
	}
	voters := make([]string, len(st.Voters))
	for i, v := range st.Voters {
		voters[i] = fmt.Sprint(uint64(v))
	}
	fmt.Fprintf(w, "asked machine %d; metadata voters %s; leader %s\n", st.Via, strings.Join(voters, ","), leader)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tSTATE\tINCARNATION\tHEALTH\tADDRESS\tPROVIDES\tCORES\tTHREADS\tPROCESSES\tMEMORY\tRAFT")
	for _, m := range st.Machines {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", m.ID, orDash(m.State), m.Incarnation, health(m),
			orDash(m.Address), orDash(m.Provide.String()), m.Cores, m.Threads, m.Processes, sizeText(m.MemoryBytes),
			raftText(m, slices.Contains(st.Voters, m.ID)))
	}
	tw.Flush()
	if st.Silent != "" {
		fmt.Fprintf(w, "%s\n", st.Silent)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// health sums up a machine: its failure, whether it answered, how fresh
// its lease is.
func health(m node.MachineStatus) string {
	age := time.Duration(m.LeaseAgeTicks) * tickPeriod
	switch {
	case m.Failure != "":
		return "failed: " + m.Failure
	case m.State == "dead" || m.State == "left":
		return "-"
	case !m.Reported:
		return fmt.Sprintf("not answering (lease %v old)", age.Round(100*time.Millisecond))
	case !m.Joined:
		return "joining"
	case m.MetaFailure != "":
		return "metadata replica failed: " + m.MetaFailure
	case age > 2*time.Second:
		return fmt.Sprintf("lease %v old", age.Round(100*time.Millisecond))
	}
	return "ok"
}

func raftText(m node.MachineStatus, voter bool) string {
	switch {
	case !voter:
		return "-"
	case !m.Reported:
		return "voter (not answering)"
	case m.Raft.State == "":
		return "voter (replica down)"
	}
	return fmt.Sprintf("%s term %d commit %d", m.Raft.State, m.Raft.Term, m.Raft.Commit)
}

// sizeText is a byte count in the largest binary unit that keeps it at or
// above 1.
func sizeText(b uint64) string {
	for _, u := range []struct {
		name string
		size uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b >= u.size {
			return fmt.Sprintf("%.1f%s", float64(b)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%dB", b)
}
