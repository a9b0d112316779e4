package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flockvm/flock/vm/lang/format"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newFmtCmd) }

func newFmtCmd(stdout, stderr io.Writer) *cobra.Command {
	var write, list bool
	cmd := &cobra.Command{
		Use:   "fmt [-w|-l] prog.fl...",
		Short: "Print Flock programs in their canonical layout",
		Long: `Print each .fl file in its one canonical layout (four-space indentation,
one statement per line, spaces around binary operators; comments and single
blank lines kept). With -w the files are rewritten in place; with -l only
the names of the files whose layout differs are printed. A directory stands
for every .fl file below it (listed as with -l unless -w is given).
Formatting a formatted file changes nothing.

Exit status: 0; 65 a file has syntax errors (it is left as it is); 66 a
file cannot be read or written.`,
		Example: "  flock fmt examples/fib.fl\n  flock fmt -w examples/*.fl\n  flock fmt -l .",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if write && list {
				fmt.Fprintln(stderr, "flock fmt: -w and -l exclude each other")
				return exitWith(exitUsage)
			}
			worst := 0
			for _, path := range args {
				worst = max(worst, formatFile(path, write, list, stdout, stderr))
			}
			return exitWith(worst)
		},
	}
	cmd.Flags().BoolVarP(&write, "write", "w", false, "rewrite the files in place")
	cmd.Flags().BoolVarP(&list, "list", "l", false, "list the files whose layout differs")
	return cmd
}

// formatFile formats one file (or every .fl file under a directory) and
// returns its exit status.
func formatFile(path string, write, list bool, stdout, stderr io.Writer) int {
	info, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitNoInput
	}
	if info.IsDir() {
		worst := 0
		err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && filepath.Ext(p) == ".fl" {
				worst = max(worst, formatFile(p, write, list || !write, stdout, stderr))
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(stderr, "flock: %v\n", err)
			return exitNoInput
		}
		return worst
	}
	if filepath.Ext(path) != ".fl" {
		fmt.Fprintf(stderr, "flock fmt: %s: only .fl files (the Flock language) have a canonical layout\n", path)
		return exitUsage
	}
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitNoInput
	}
	out, err := format.Source(path, src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitAsm
	}
	switch {
	case list:
		if !bytes.Equal(src, out) {
			fmt.Fprintln(stdout, path)
		}
	case write:
		if bytes.Equal(src, out) {
			return 0
		}
		if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
			fmt.Fprintf(stderr, "flock: %v\n", err)
			return exitNoInput
		}
	default:
		stdout.Write(out)
	}
	return 0
}
