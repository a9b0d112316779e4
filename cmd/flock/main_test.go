package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// example is one run of a program in examples/ whose output is checked
// against examples/golden/<golden>.
type example struct {
	prog   string
	args   []string
	root   string // storage root: "" a fresh temporary directory
	golden string
}

var examples = []example{
	{prog: "hello.fl", golden: "hello.out"},
	{prog: "loop.fl", args: []string{"1000"}, golden: "loop_1000.out"},
	{prog: "fib.fl", args: []string{"20"}, golden: "fib_20.out"},
	{prog: "parsum.fl", golden: "parsum.out"},
	{prog: "counter_cas.fl", golden: "counter_cas.out"},
	{prog: "counter_faa.fl", golden: "counter_faa.out"},
	{prog: "spinlock.fl", golden: "spinlock.out"},
	{prog: "prodcons.fl", golden: "prodcons.out"},
	{prog: "files.fl", golden: "files.out"},
	{prog: "procs.fl", root: "../../examples", golden: "procs.out"},
	{prog: "child.fl", args: []string{"7"}, golden: "child_7.out"},
}

// TestExamples runs every example through `flock run` and compares its
// output with the golden file; FLOCK_UPDATE_GOLDEN=1 rewrites them.
func TestExamples(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.golden, func(t *testing.T) {
			root := ex.root
			if root == "" {
				root = t.TempDir()
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"run", "--root", root, filepath.Join("../../examples", ex.prog)}, ex.args...)
			status := run(args, &stdout, &stderr)
			want := expectedExit(ex)
			if status != want {
				t.Fatalf("flock %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), status, want, stderr.String())
			}
			golden := filepath.Join("../../examples/golden", ex.golden)
			if os.Getenv("FLOCK_UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantOut, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got := stdout.String(); got != string(wantOut) {
				t.Errorf("flock %s: output\n%s\nwant\n%s", strings.Join(args, " "), got, wantOut)
			}
		})
	}
}

func expectedExit(ex example) int {
	if ex.prog == "child.fl" {
		return 7
	}
	return 0
}

// TestExitStatuses checks the documented exit statuses and that errors
// name where they happened.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.fl", "main:\n    PUSH 1\n    FROB\n")
	div := write("div.fl", "main:\n    PUSH 1\n    PUSH 0\n    DIV\n")
	code := write("code.fl", "main:\n    PUSH 300\n    EXIT\n")
	spin := write("spin.fl", "main:\n    JMP main\n")
	tests := []struct {
		args       []string
		want       int
		wantStderr string
	}{
		{[]string{}, exitUsage, "usage"},
		{[]string{"frob"}, exitUsage, "unknown command"},
		{[]string{"run"}, exitUsage, "missing program"},
		{[]string{"run", filepath.Join(dir, "missing.fl")}, exitNoInput, "no such file"},
		{[]string{"run", bad}, exitAsm, "bad.fl:3:5: unknown instruction \"FROB\""},
		{[]string{"check", bad}, exitAsm, "bad.fl:3:5"},
		{[]string{"run", div}, exitTrap, "div.fl:4:5: trap: division by zero: thread 1 of process 1 at pc 2 (DIV)"},
		{[]string{"run", code}, 300 & 0xff, ""},
		{[]string{"run", "--budget", "100000", spin}, exitTrap, "instruction budget exhausted"},
		{[]string{"check", div}, 0, ""},
		{[]string{"check"}, exitUsage, "requires at least 1 arg"},
		{[]string{"asm"}, exitUsage, "accepts 1 arg"},
		{[]string{"disasm", bad, div}, exitUsage, "accepts 1 arg"},
		{[]string{"run", "--frob", code}, exitUsage, "unknown flag: --frob"},
		{[]string{"run", "--budget", "many", code}, exitUsage, "invalid argument \"many\""},
		{[]string{"disasm", filepath.Join(dir, "missing.fl")}, exitNoInput, "no such file"},
		{[]string{"asm", bad}, exitAsm, "bad.fl:3:5"},
		// Flags after the program file are the program's, not flock's.
		{[]string{"run", code, "--frob"}, 300 & 0xff, ""},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		got := run(tc.args, &stdout, &stderr)
		if got != tc.want {
			t.Errorf("flock %v = exit %d, want %d (stderr %q)", tc.args, got, tc.want, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.wantStderr) {
			t.Errorf("flock %v: stderr %q, want it to contain %q", tc.args, stderr.String(), tc.wantStderr)
		}
	}
}

// TestHelp checks that help goes to stdout with status 0 and names every
// command and flag.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"run", "asm", "disasm", "check"}},
		{[]string{"help"}, []string{"run", "asm", "disasm", "check"}},
		{[]string{"-h"}, []string{"run", "asm", "disasm", "check"}},
		{[]string{"run", "--help"}, []string{"--root", "--mem", "--threads", "--budget", "--stack", "--calls", "--no-opt"}},
		{[]string{"asm", "--help"}, []string{"-o, --output", "--no-opt"}},
		{[]string{"help", "disasm"}, []string{"--no-opt"}},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		if got := run(tc.args, &stdout, &stderr); got != 0 {
			t.Errorf("flock %v = exit %d, want 0 (stderr %q)", tc.args, got, stderr.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("flock %v: stdout lacks %q:\n%s", tc.args, w, stdout.String())
			}
		}
	}
}

// TestAsmDisasm assembles to bytecode, runs the bytecode and disassembles it.
func TestAsmDisasm(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hello.flb")
	var stdout, stderr bytes.Buffer
	if got := run([]string{"asm", "-o", out, "../../examples/hello.fl"}, &stdout, &stderr); got != 0 {
		t.Fatalf("flock asm = %d, stderr %s", got, stderr.String())
	}
	if got := run([]string{"run", out}, &stdout, &stderr); got != 0 || stdout.String() != "Hello, world!\n" {
		t.Fatalf("flock run hello.flb = %d, output %q, stderr %s", got, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if got := run([]string{"disasm", out}, &stdout, &stderr); got != 0 {
		t.Fatalf("flock disasm = %d", got)
	}
	for _, want := range []string{"PRINTS", "hello.fl:7:5", "main:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("disassembly lacks %q:\n%s", want, stdout.String())
		}
	}
}
