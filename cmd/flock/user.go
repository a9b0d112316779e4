package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newUserCmd) }

func newUserCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the VM's users",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("want a subcommand: %s add NAME", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newUserAddCmd(stdout, stderr))
	return cmd
}

func newUserAddCmd(stdout, stderr io.Writer) *cobra.Command {
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "add NAME --vm NAME@ADDR [flags]",
		Short: "Make a credential for a user of the VM (admin)",
		Long: `Make a credential for user NAME: a key drawn here (only its public half
travels) and a certificate the VM's certificate authority signs, asked of the
machine at ADDR (any machine, once machine 1 handed the VM's issuer to the
metadata store, as it does as soon as the store answers). The credential file goes to
--out (default NAME.pem), readable by its owner only: hand it to the user, who
runs programs as NAME with flock run --credential FILE.`,
		Example: "  flock user add carol --vm myvm@10.0.0.1:7070 --out carol.pem",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("want the user's name")
			}
			if !identity.ValidUserName(args[0]) {
				return fmt.Errorf("user name %q: lowercase letters, digits, '_', '.', '-', starting with a letter or '_'", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := out
			if path == "" {
				path = args[0] + ".pem"
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				fmt.Fprintf(stderr, "flock: user add: %v\n", err)
				return exitWith(exitFailed)
			}
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int {
				cred, err := c.AddUser(ctx, args[0])
				if err != nil {
					f.Close()
					os.Remove(path)
					return requestStatus(stderr, "user add", err)
				}
				if _, err := f.Write(cred.Encode()); err != nil {
					f.Close()
					os.Remove(path)
					fmt.Fprintf(stderr, "flock: user add: %v\n", err)
					return exitFailed
				}
				if err := f.Close(); err != nil {
					fmt.Fprintf(stderr, "flock: user add: %v\n", err)
					return exitFailed
				}
				fmt.Fprintf(stdout, "wrote the credential of user %s to %s\n", args[0], path)
				return 0
			})
		},
	}
	cf.add(cmd, true)
	cmd.Flags().StringVarP(&out, "out", "o", "", "the credential file to write (default NAME.pem; never overwritten)")
	return cmd
}
