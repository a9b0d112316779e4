package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newNewCmd) }

// newFlags are the flags of flock new beyond a machine's.
type newFlags struct {
	machineFlags
	voters    int
	tokenUses int
	tokenTTL  time.Duration
}

func newNewCmd(stdout, stderr io.Writer) *cobra.Command {
	var f newFlags
	cmd := &cobra.Command{
		Use:   "new NAME [flags]",
		Short: "Make a VM: its certificate authority and first machine, then serve as that machine",
		Long: `Make a VM named NAME: its certificate authority, its first machine (machine 1,
which admits the first others, then hands the VM's issuer to the metadata store
so that every machine admits) and the admin user's credential, all in the data dir;
then serve as that machine until interrupted. It prints the command that adds
a machine (flock join, with a join token) and the one that runs a program on
the VM (flock run --vm), each on a line of its own.

The VM's metadata store is replicated on its first --voters machines (1 to 5,
fixed for the VM's life): with 3, the VM serves once two of machines 1-3 run,
and survives the loss of any one of them; with 1, it serves at once and
depends on machine 1.

Run again with the same --data, it restarts the machine as a new incarnation.`,
		Example: "  flock new myvm --listen 10.0.0.1:7070 --data ~/.flock_data --voters 3\n  flock new try --listen 127.0.0.1:7070 --data /tmp/try",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("want the VM's name")
			}
			if !identity.ValidVMName(args[0]) {
				return fmt.Errorf("VM name %q: lowercase letters, digits, '_', '.', '-', starting with a letter or digit", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.voters < 1 || f.voters > 5 {
				return fmt.Errorf("--voters %d: a VM has 1 to 5 metadata voters", f.voters)
			}
			return exitWith(runNew(&f, args[0], stdout, stderr))
		},
	}
	f.add(cmd, ":7070")
	fl := cmd.Flags()
	fl.IntVar(&f.voters, "voters", 1, "metadata voters: the VM's first machines (1 to 5; 3 survives a machine's loss)")
	fl.IntVar(&f.tokenUses, "token-uses", 16, "machines the printed join token admits")
	fl.DurationVar(&f.tokenTTL, "token-ttl", 24*time.Hour, "how long the printed join token is valid")
	return cmd
}

func runNew(f *newFlags, name string, stdout, stderr io.Writer) int {
	m, status := openMachine(&f.machineFlags, stderr)
	if m == nil {
		return status
	}
	defer m.close()
	state, status := m.inspect(name)
	if status != 0 {
		return status
	}
	provide, status := m.provide()
	if status != 0 {
		return status
	}
	advertise, status := m.advertised("")
	if status != 0 {
		return status
	}
	var created *host.Created
	if state == host.DirEmpty {
		c, err := host.CreateVM(m.disk, host.CreateConfig{VM: name, Voters: f.voters, TokenUses: f.tokenUses, TokenTTL: f.tokenTTL})
		if err != nil {
			fmt.Fprintf(stderr, "flock: making VM %s: %v\n", name, err)
			return exitFailed
		}
		created = &c
	}
	admin := filepath.Join(m.dir, identity.AdminFile)
	return m.serve(provide, advertise, func(addr string) {
		vmAt := quoteArg(name + "@" + advertise)
		if created == nil {
			fmt.Fprintf(stdout, "Machine 1 of VM %s restarted on %s (data dir %s).\n", name, addr, m.dir)
			fmt.Fprintf(stdout, "To make a join token: flock token create --vm %s --credential %s\n", vmAt, quoteArg(admin))
		} else {
			fmt.Fprintf(stdout, "Made VM %s (id %s): machine 1 serves on %s (data dir %s).\n", name, created.VM.ID, addr, m.dir)
			if f.voters > 1 {
				fmt.Fprintf(stdout, "Its metadata voters are machines 1 to %d: the VM serves once %d of them run.\n", f.voters, f.voters/2+1)
			}
			fmt.Fprintf(stdout, "To add a machine (the token admits %d, for %v), run on it:\n", f.tokenUses, f.tokenTTL)
			fmt.Fprintf(stdout, "flock join %s --token %s\n", vmAt, created.Token)
		}
		fmt.Fprintf(stdout, "To run a program on the VM:\n")
		fmt.Fprintf(stdout, "flock run prog.fl --vm %s --credential %s\n", vmAt, quoteArg(admin))
	})
}
