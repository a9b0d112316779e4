package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/vm/node"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newKVCmd) }

func newKVCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write the user's keys in the VM's metadata store",
		Long: `Every user of the VM has a key-value namespace of its own in the VM's
replicated metadata store: linearizable, durable once acknowledged, values up
to 60 KiB. It holds what an operator keeps beside the programs (a job's
settings, a lock, a counter). Keys are the user's: no user sees another's.

An operation whose outcome the store could not tell exits 75: it may or may
not have happened.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("want a subcommand: get, put, delete, cas or list")
		},
	}
	for _, sub := range []struct {
		use, short string
		args       int
		op         node.KVOp
	}{
		{"get KEY", "Print the value of KEY", 1, node.KVGet},
		{"put KEY VALUE", "Set KEY to VALUE", 2, node.KVPut},
		{"delete KEY", "Remove KEY", 1, node.KVDelete},
		{"cas KEY OLD NEW", "Set KEY to NEW if it holds OLD (with --absent: KEY NEW, if KEY is absent)", 3, node.KVCAS},
		{"list [PREFIX]", "List the keys starting with PREFIX, with their values", -1, node.KVList},
	} {
		cmd.AddCommand(newKVSubCmd(sub.use, sub.short, sub.args, sub.op, stdout, stderr))
	}
	return cmd
}

// exitTempFail: the outcome of a write is unknown (sysexits EX_TEMPFAIL).
const exitTempFail = 75

func newKVSubCmd(use, short string, nargs int, op node.KVOp, stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	var absent bool
	cmd := &cobra.Command{
		Use:   use + " --vm NAME@ADDR [flags]",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			want := nargs
			if op == node.KVCAS && absent {
				want = 2
			}
			switch {
			case want < 0 && len(args) > 1:
				return errors.New("want at most a prefix")
			case want >= 0 && len(args) != want:
				return fmt.Errorf("want %d arguments: %s", want, use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value, expect := "", "", ""
			if len(args) > 0 {
				key = args[0]
			}
			switch {
			case op == node.KVPut:
				value = args[1]
			case op == node.KVCAS && absent:
				value = args[1]
			case op == node.KVCAS:
				expect, value = args[1], args[2]
			}
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				res, err := c.KV(ctx, op, key, value, expect, absent)
				if err != nil {
					var re *host.RequestError
					if errors.Is(err, host.ErrUnknown) || errors.As(err, &re) && re.Code == node.CodeUnknown {
						fmt.Fprintf(stderr, "flock: kv %v: %v\n", op, err)
						return exitTempFail
					}
					return requestStatus(stderr, "kv "+op.String(), err)
				}
				return printKV(stdout, stderr, op, key, res)
			})
		},
	}
	cf.add(cmd, true)
	if op == node.KVCAS {
		cmd.Flags().BoolVar(&absent, "absent", false, "set the key only if it is absent")
	}
	return cmd
}

func printKV(stdout, stderr io.Writer, op node.KVOp, key string, res host.KVResult) int {
	switch op {
	case node.KVGet:
		if !res.Found {
			fmt.Fprintf(stderr, "flock: kv get: no key %q\n", key)
			return exitFailed
		}
		fmt.Fprintln(stdout, res.Value)
	case node.KVDelete:
		if !res.Found {
			fmt.Fprintf(stderr, "flock: kv delete: no key %q\n", key)
			return exitFailed
		}
	case node.KVCAS:
		if !res.Swapped {
			fmt.Fprintf(stderr, "flock: kv cas: %q does not hold the expected value\n", key)
			return exitFailed
		}
	case node.KVList:
		for i, k := range res.Keys {
			fmt.Fprintf(stdout, "%s\t%s\n", k, res.Values[i])
		}
		if res.Found {
			fmt.Fprintf(stderr, "flock: kv list: more keys than listed; give a longer prefix\n")
		}
	}
	return 0
}
