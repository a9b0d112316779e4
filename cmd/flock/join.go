package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/vm/node"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newJoinCmd) }

// joinTimeout bounds the join exchange.
const joinTimeout = 30 * time.Second

func newJoinCmd(stdout, stderr io.Writer) *cobra.Command {
	var f machineFlags
	var token string
	cmd := &cobra.Command{
		Use:   "join NAME@ADDR --token TOKEN [flags]",
		Short: "Add this machine to a VM, then serve as that machine",
		Long: `Add this machine to the VM NAME through its machine at ADDR (the one flock new
made, or any machine once it has handed the VM's issuer to the metadata store):
prove the join token, receive the machine's certificate, and serve as the new
machine until interrupted. A machine that cannot admit yet is asked again for
up to 30 s.

Run again with the same --data, it restarts the machine as a new incarnation
(the token is not needed, nor spent, again). A refused join (no, wrong,
expired or used-up token; a machine of another VM at ADDR) leaves nothing
behind.`,
		Example: "  flock join myvm@10.0.0.1:7070 --token flk1-... --provide cpu:3,disk:32GiB,ram:95%\n" +
			"  flock join try@127.0.0.1:7070 --token flk1-... --data /tmp/try2 --listen 127.0.0.2:7070",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("want NAME@ADDR: the VM and the address of its first machine")
			}
			_, _, err := splitVM(args[0])
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(runJoin(&f, token, args[0], stdout, stderr))
		},
	}
	f.add(cmd, ":7070")
	cmd.Flags().StringVar(&token, "token", "", "the join token (flock new printed one; flock token create makes more)")
	return cmd
}

func runJoin(f *machineFlags, token, vmAt string, stdout, stderr io.Writer) int {
	name, addr, _ := splitVM(vmAt)
	m, status := openMachine(f, stderr)
	if m == nil {
		return status
	}
	state, status := m.inspect(name)
	if status == 0 && state == host.DirEmpty && token == "" {
		fmt.Fprintf(stderr, "flock: --token is needed to join (flock new printed one; flock token create makes more)\n")
		status = exitUsage
	}
	var tok identity.Token
	if status == 0 && state == host.DirEmpty {
		var err error
		if tok, err = identity.ParseToken(token); err != nil {
			fmt.Fprintf(stderr, "flock: --token: %v\n", err)
			status = exitUsage
		}
	}
	provide, advertise := node.Resources{}, ""
	if status == 0 {
		provide, status = m.provide()
	}
	if status == 0 {
		advertise, status = m.advertised(addr)
	}
	if status != 0 {
		if state == host.DirEmpty {
			m.undo()
		} else {
			m.close()
		}
		return status
	}
	defer m.close()
	joined := false
	if state == host.DirEmpty {
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		_, err := host.JoinVM(ctx, m.disk, host.JoinConfig{VM: name, Addr: addr, Token: tok, Advertise: advertise, Provide: provide})
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "flock: joining %s: %v\n", vmAt, err)
			m.undo()
			if errors.Is(err, host.ErrRefused) {
				return exitNoPerm
			}
			return exitUnavailable
		}
		joined = true
	}
	return m.serve(provide, advertise, func(listen string) {
		if joined {
			fmt.Fprintf(stdout, "Joined VM %s through %s: this machine serves on %s (data dir %s).\n", name, addr, listen, m.dir)
		} else {
			fmt.Fprintf(stdout, "Restarted this machine of VM %s on %s (data dir %s).\n", name, listen, m.dir)
		}
	})
}
