package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/vm/node"
	"github.com/flockvm/flock/vm/sys"
	"github.com/spf13/cobra"
)

// The storage commands: the VM's replicated filesystem, as the client's
// user (docs/storage.md, docs/operating.md "Files").

func init() {
	extraCommands = append(extraCommands, newLsCmd, newCatCmd, newPutCmd, newMkdirCmd, newRmCmd, newChmodCmd, newRedundancyCmd)
}

// fileCmd is one storage command: its usage, argument count and what it
// does with a client.
type fileCmd struct {
	use, short, long string
	args             cobra.PositionalArgs
	run              func(ctx context.Context, c *host.Client, args []string) int
	flags            func(cmd *cobra.Command)
}

func (f fileCmd) build(stderr io.Writer) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use: f.use + " --vm NAME@ADDR [flags]", Short: f.short, Long: f.long, Args: f.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.withClient(stderr, func(ctx context.Context, c *host.Client) int { return f.run(ctx, c, args) })
		},
	}
	cf.add(cmd, true)
	if f.flags != nil {
		f.flags(cmd)
	}
	return cmd
}

// fileStatus prints a failed file operation (its text names the path) and
// returns its exit status: 77 permission denied, 69 unavailable, 75 a
// change whose outcome is unknown, 1 any other refusal.
func fileStatus(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "flock: %v\n", err)
	var re *host.RequestError
	switch {
	case errors.Is(err, host.ErrUnknown):
		return exitTempFail
	case !errors.As(err, &re):
		return exitUnavailable
	case re.Code == node.CodeUnknown:
		return exitTempFail
	case re.Code == node.CodeBadRequest:
		return exitUsage
	case re.Code == node.CodeDenied:
		return exitNoPerm
	case re.Code == node.CodeUnavailable:
		return exitUnavailable
	}
	return exitFailed
}

func newLsCmd(stdout, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "ls [DIR]", short: "List a directory of the VM's filesystem (default: the root)",
		long: `flock ls lists the names in DIR, one a line; directories end in '/'.
The user needs read permission on DIR.`,
		args: cobra.MaximumNArgs(1),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			dir := "/"
			if len(args) == 1 {
				dir = args[0]
			}
			data, err := c.File(ctx, node.FileList, dir, nil, "")
			if err != nil {
				return fileStatus(stderr, err)
			}
			_, _ = stdout.Write(data)
			return 0
		},
	}.build(stderr)
}

func newCatCmd(stdout, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "cat FILE", short: "Print a file of the VM's filesystem",
		long: fmt.Sprintf(`flock cat writes FILE's bytes to standard output (at most %d MiB).
The user needs read permission on FILE's directory.`, node.ClientFileBytesMax>>20),
		args: cobra.ExactArgs(1),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			data, err := c.File(ctx, node.FileRead, args[0], nil, "")
			if err != nil {
				return fileStatus(stderr, err)
			}
			_, _ = stdout.Write(data)
			return 0
		},
	}.build(stderr)
}

func newPutCmd(_, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "put LOCAL FILE", short: "Store a local file (- for standard input) as FILE in the VM's filesystem",
		long: fmt.Sprintf(`flock put stores the bytes of LOCAL (- reads standard input) as FILE,
replacing a file there at once: readers see the old file or the new one,
never a mix, and a put that fails leaves the old file. It is durable, with
as many copies as FILE's directory's redundancy, once flock put exits 0.
At most %d MiB. The user needs write permission on FILE's directory.`, node.ClientFileBytesMax>>20),
		args: cobra.ExactArgs(2),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			data, status := readLocal(stderr, args[0])
			if status != 0 {
				return status
			}
			if _, err := c.File(ctx, node.FilePut, args[1], data, ""); err != nil {
				return fileStatus(stderr, err)
			}
			return 0
		},
	}.build(stderr)
}

// readLocal reads a local file (or standard input for "-"), bounded.
func readLocal(stderr io.Writer, name string) ([]byte, int) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "flock: put: %v\n", err)
			return nil, exitNoInput
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, node.ClientFileBytesMax+1))
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "flock: put: reading %s: %v\n", name, err)
		return nil, exitNoInput
	case len(data) > node.ClientFileBytesMax:
		fmt.Fprintf(stderr, "flock: put: %s is larger than %d MiB\n", name, node.ClientFileBytesMax>>20)
		return nil, exitUsage
	}
	return data, 0
}

func newMkdirCmd(_, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "mkdir DIR", short: "Make a directory in the VM's filesystem",
		long: `flock mkdir makes DIR, owned by the user, with its parent's redundancy
and permissions. The user needs write permission on the parent.`,
		args: cobra.ExactArgs(1),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			if _, err := c.File(ctx, node.FileMkdir, args[0], nil, ""); err != nil {
				return fileStatus(stderr, err)
			}
			return 0
		},
	}.build(stderr)
}

func newRmCmd(_, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "rm PATH", short: "Remove a file or an empty directory of the VM's filesystem",
		long: `flock rm removes the file or empty directory PATH. The user needs
write permission on PATH's directory.`,
		args: cobra.ExactArgs(1),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			if _, err := c.File(ctx, node.FileRemove, args[0], nil, ""); err != nil {
				return fileStatus(stderr, err)
			}
			return 0
		},
	}.build(stderr)
}

func newChmodCmd(stdout, stderr io.Writer) *cobra.Command {
	var readers, writers string
	var setReaders, setWriters bool
	cmd := fileCmd{
		use: "chmod DIR", short: "Show or set who may read and write in a directory of the VM's filesystem",
		long: `Permissions belong to directories: its readers may list it and read its
files, its writers may create, write, rename and remove in it. A list is
comma-separated user names, * for everyone, or empty for root alone.
Without --readers or --writers, flock chmod prints DIR's attributes.
Only DIR's owner and root may change them.`,
		args: cobra.ExactArgs(1),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			if !setReaders && !setWriters {
				return printAttrs(ctx, c, stdout, stderr, args[0])
			}
			var change []string
			for _, l := range []struct {
				set        bool
				name, list string
			}{{setReaders, "readers", readers}, {setWriters, "writers", writers}} {
				if !l.set {
					continue
				}
				if _, err := sys.ParseUsers(l.list); err != nil {
					fmt.Fprintf(stderr, "flock: chmod: --%s: %v\n", l.name, err)
					return exitUsage
				}
				change = append(change, l.name+"="+l.list)
			}
			if _, err := c.File(ctx, node.FileSetAttr, args[0], nil, strings.Join(change, "\n")); err != nil {
				return fileStatus(stderr, err)
			}
			return 0
		},
	}.build(stderr)
	cmd.Flags().StringVar(&readers, "readers", "", "who may read: users, comma-separated (* everyone; empty: root only)")
	cmd.Flags().StringVar(&writers, "writers", "", "who may write: users, comma-separated (* everyone; empty: root only)")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) {
		setReaders, setWriters = cmd.Flags().Changed("readers"), cmd.Flags().Changed("writers")
	}
	return cmd
}

func printAttrs(ctx context.Context, c *host.Client, stdout, stderr io.Writer, dir string) int {
	data, err := c.File(ctx, node.FileGetAttr, dir, nil, "")
	if err != nil {
		return fileStatus(stderr, err)
	}
	_, _ = stdout.Write(data)
	return 0
}

func newRedundancyCmd(stdout, stderr io.Writer) *cobra.Command {
	return fileCmd{
		use: "redundancy DIR [N]", short: "Show or set how many machines keep each file of a directory",
		long: fmt.Sprintf(`A directory's redundancy N (1 to %d) is how many machines keep a copy of
each chunk of its files: a file outlives N-1 machines' loss. Raising it
makes the VM copy existing chunks in the background; lowering it drops
extra copies. Without N, flock redundancy prints it. Only DIR's owner and
root may change it.`, sys.RedundancyMax),
		args: cobra.RangeArgs(1, 2),
		run: func(ctx context.Context, c *host.Client, args []string) int {
			if len(args) == 1 {
				data, err := c.File(ctx, node.FileGetAttr, args[0], nil, "")
				if err != nil {
					return fileStatus(stderr, err)
				}
				for _, line := range strings.Split(string(data), "\n") {
					if v, ok := strings.CutPrefix(line, "redundancy="); ok {
						fmt.Fprintln(stdout, v)
					}
				}
				return 0
			}
			if r, err := strconv.ParseUint(args[1], 10, 8); err != nil || r < 1 || r > sys.RedundancyMax {
				fmt.Fprintf(stderr, "flock: redundancy %s: %q: want 1 to %d\n", args[0], args[1], sys.RedundancyMax)
				return exitUsage
			}
			if _, err := c.File(ctx, node.FileSetAttr, args[0], nil, "redundancy="+args[1]); err != nil {
				return fileStatus(stderr, err)
			}
			return 0
		},
	}.build(stderr)
}
