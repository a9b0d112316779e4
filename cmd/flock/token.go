package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flockvm/flock/host"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newTokenCmd) }

func newTokenCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage join tokens",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("want a subcommand: %s create", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newTokenCreateCmd(stdout, stderr))
	return cmd
}

func newTokenCreateCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	var uses int
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --vm NAME@ADDR [flags]",
		Short: "Make a join token (admin)",
		Long: `Make a join token and print the flock join command that uses it. Any
machine of the VM makes one once machine 1 (the one flock new made) has
handed the VM's issuer over to the metadata store, which it does as soon as
the store answers; the printed command joins through the machine asked.`,
		Example: "  flock token create --uses 3 --ttl 1h --vm myvm@10.0.0.1:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return errors.New("token create takes no arguments")
			}
			if uses < 1 || ttl < time.Second {
				return fmt.Errorf("--uses %d --ttl %v: want at least 1 use and 1s", uses, ttl)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				tok, err := c.CreateToken(ctx, uses, ttl)
				if err != nil {
					return requestStatus(stderr, "token create", err)
				}
				fmt.Fprintf(stdout, "flock join %s --token %s\n", quoteArg(cf.vm), tok)
				return 0
			})
		},
	}
	cf.add(cmd, true)
	cmd.Flags().IntVar(&uses, "uses", 1, "machines the token admits")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	return cmd
}
