package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// example is one run of a program in examples/ whose output is checked
// against examples/golden/<golden>: the language version (.fl) and the
// assembly version (.flasm) where there is one, which print the same.
type example struct {
	prog   string // without extension
	args   []string
	root   string // storage root: "" a fresh temporary directory; "-" no --root (the program's directory)
	golden string
	exit   int
	// unordered: the program's processes print concurrently, so on parallel
	// cores (flock run's default) their lines may come in any order.
	unordered bool
}

var examples = []example{
	{prog: "hello", golden: "hello.out"},
	{prog: "loop", args: []string{"1000"}, golden: "loop_1000.out"},
	{prog: "fib", args: []string{"20"}, golden: "fib_20.out"},
	{prog: "parsum", golden: "parsum.out"},
	{prog: "counter_cas", golden: "counter_cas.out"},
	{prog: "counter_faa", golden: "counter_faa.out"},
	{prog: "spinlock", golden: "spinlock.out"},
	{prog: "mutex", golden: "mutex.out"},
	{prog: "prodcons", golden: "prodcons.out"},
	{prog: "files", golden: "files.out"},
	{prog: "procs", root: "-", golden: "procs.out", unordered: true},
	{prog: "child", args: []string{"7"}, golden: "child_7.out", exit: 7},
	{prog: "kv", golden: "kv.out"},
	{prog: "acid", golden: "acid.out"},
	{prog: "wordcount", root: "-", golden: "wordcount.out"},
}

// TestExamples runs every example through `flock run` and compares its
// output with the golden file; FLOCK_UPDATE_GOLDEN=1 rewrites them (from
// the .fl version).
func TestExamples(t *testing.T) {
	for _, ex := range examples {
		for _, ext := range []string{".fl", ".flasm"} {
			file := filepath.Join("../../examples", ex.prog+ext)
			if _, err := os.Stat(file); err != nil {
				if ext == ".fl" {
					t.Errorf("example %s has no language version", ex.prog)
				}
				continue
			}
			t.Run(ex.prog+ext, func(t *testing.T) {
				args := []string{"run"}
				switch ex.root {
				case "":
					args = append(args, "--root", t.TempDir())
				case "-":
				default:
					args = append(args, "--root", ex.root)
				}
				args = append(append(args, file), ex.args...)
				var stdout, stderr bytes.Buffer
				status := run(args, &stdout, &stderr)
				if status != ex.exit {
					t.Fatalf("flock %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), status, ex.exit, stderr.String())
				}
				golden := filepath.Join("../../examples/golden", ex.golden)
				if os.Getenv("FLOCK_UPDATE_GOLDEN") == "1" && ext == ".fl" {
					if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				wantOut, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				got, want := stdout.String(), string(wantOut)
				if ex.unordered {
					got, want = sortedLines(got), sortedLines(want)
				}
				if got != want {
					t.Errorf("flock %s: output\n%s\nwant\n%s", strings.Join(args, " "), got, wantOut)
				}
			})
		}
	}
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
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
	bad := write("bad.flasm", "main:\n    PUSH 1\n    FROB\n")
	div := write("div.flasm", "main:\n    PUSH 1\n    PUSH 0\n    DIV\n")
	code := write("code.flasm", "main:\n    PUSH 300\n    EXIT\n")
	spin := write("spin.flasm", "main:\n    JMP main\n")
	flBad := write("bad.fl", "fn main() {\n    x := 1 +\n}\n\nfn f( {\n}\n")
	flType := write("type.fl", "fn main() {\n    var s string = 5\n    println(s + 1)\n}\n")
	flAsm := write("asm.fl", "main:\n    PUSH 0\n    EXIT\n")
	flDiv := write("div.fl", "fn div(a int, b int) int {\n    return a / b\n}\n\nfn main() {\n    println(div(1, 0))\n}\n")
	flIndex := write("index.fl", "fn main() {\n    var a [3]int\n    i := 5\n    a[i] = 1\n}\n")
	flCode := write("code.fl", "fn main() int {\n    return 300\n}\n")
	txt := write("prog.txt", "fn main() {}\n")
	tests := []struct {
		args       []string
		want       int
		wantStderr string
	}{
		{[]string{}, exitUsage, "usage"},
		{[]string{"frob"}, exitUsage, "unknown command"},
		{[]string{"run"}, exitUsage, "missing program"},
		{[]string{"run", filepath.Join(dir, "missing.fl")}, exitNoInput, "no such file"},
		{[]string{"run", bad}, exitAsm, "bad.flasm:3:5: unknown instruction \"FROB\""},
		{[]string{"check", bad}, exitAsm, "bad.flasm:3:5"},
		{[]string{"run", div}, exitTrap, "div.flasm:4:5: trap: division by zero: thread 1 of process 1 at pc 2 (DIV)"},
		{[]string{"run", flBad}, exitAsm, "bad.fl:3:1: expected an expression, found \"}\"\n    }\n    ^"},
		{[]string{"check", flBad}, exitAsm, "bad.fl:5:7: expected a name, found \"{\"\n    fn f( {\n          ^"},
		{[]string{"check", flType}, exitAsm, "type.fl:2:20: cannot use an integer constant as string in the declaration of s"},
		{[]string{"check", flType}, exitAsm, "type.fl:3:17: cannot use an integer constant as string in the operation +"},
		{[]string{"run", flAsm}, exitAsm, "asm.fl: this is Flock assembly, not the Flock language; assembly files are named .flasm"},
		{[]string{"run", flDiv}, exitTrap, "div.fl:2:14: trap: division by zero: thread 1 of process 1"},
		{[]string{"run", flIndex}, exitTrap, "index.fl:4:6: trap: unmapped address"},
		{[]string{"run", flCode}, 300 & 0xff, ""},
		{[]string{"run", txt}, exitAsm, "prog.txt: a program file is .fl (the Flock language), .flasm (assembly) or .flb (bytecode), not \"txt\""},
		{[]string{"run", code}, 300 & 0xff, ""},
		{[]string{"run", "--budget", "100000", spin}, exitTrap, "instruction budget exhausted"},
		{[]string{"check", div}, 0, ""},
		{[]string{"check"}, exitUsage, "requires at least 1 arg"},
		{[]string{"asm"}, exitUsage, "accepts 1 arg"},
		{[]string{"disasm", bad, div}, exitUsage, "accepts 1 arg"},
		{[]string{"run", "--frob", code}, exitUsage, "unknown flag: --frob"},
		{[]string{"run", "--budget", "many", code}, exitUsage, "invalid argument \"many\""},
		{[]string{"disasm", filepath.Join(dir, "missing.fl")}, exitNoInput, "no such file"},
		{[]string{"asm", bad}, exitAsm, "bad.flasm:3:5"},
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

// TestAsmDisasm compiles (.fl) and assembles (.flasm) to bytecode, runs
// the bytecode and disassembles it.
func TestAsmDisasm(t *testing.T) {
	for _, tc := range []struct {
		cmd, src string
		want     []string
	}{
		{"asm", "hello.flasm", []string{"PRINTS", "hello.flasm:7:5", "main:"}},
		{"build", "hello.fl", []string{"PRINTS", "hello.fl:4:5", "main:", "__start:"}},
		{"build", "fib.fl", []string{"CALL fib", "fib.fl:", "std/strconv.fl:", "std/os.fl:", "strconv.parse_int:"}},
	} {
		out := filepath.Join(t.TempDir(), "hello.flb")
		var stdout, stderr bytes.Buffer
		if got := run([]string{tc.cmd, "-o", out, "../../examples/" + tc.src}, &stdout, &stderr); got != 0 {
			t.Fatalf("flock %s %s = %d, stderr %s", tc.cmd, tc.src, got, stderr.String())
		}
		want := "Hello, world!\n"
		if tc.src == "fib.fl" {
			want = "832040\n"
		}
		if got := run([]string{"run", out}, &stdout, &stderr); got != 0 || stdout.String() != want {
			t.Fatalf("flock run (bytecode from %s) = %d, output %q, stderr %s", tc.src, got, stdout.String(), stderr.String())
		}
		stdout.Reset()
		if got := run([]string{"disasm", out}, &stdout, &stderr); got != 0 {
			t.Fatalf("flock disasm = %d", got)
		}
		for _, want := range tc.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("disassembly of %s lacks %q:\n%s", tc.src, want, stdout.String())
			}
		}
	}
}

// TestFmt: flock fmt prints the canonical layout, -l lists files that
// differ, -w rewrites them, and every example is already canonical.
func TestFmt(t *testing.T) {
	dir := t.TempDir()
	messy := filepath.Join(dir, "messy.fl")
	if err := os.WriteFile(messy, []byte("fn main()  {\n  x:=1+2 // three\n\n\n  println( x )}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "fn main() {\n    x := 1 + 2 // three\n\n    println(x)\n}\n"
	var stdout, stderr bytes.Buffer
	if got := run([]string{"fmt", messy}, &stdout, &stderr); got != 0 || stdout.String() != want {
		t.Fatalf("flock fmt = %d, output %q, want %q; stderr %s", got, stdout.String(), want, stderr.String())
	}
	stdout.Reset()
	if got := run([]string{"fmt", "-l", messy}, &stdout, &stderr); got != 0 || stdout.String() != messy+"\n" {
		t.Errorf("flock fmt -l = %d, output %q, want the file's name", got, stdout.String())
	}
	if got := run([]string{"fmt", "-w", messy}, &stdout, &stderr); got != 0 {
		t.Fatalf("flock fmt -w = %d, stderr %s", got, stderr.String())
	}
	if b, _ := os.ReadFile(messy); string(b) != want {
		t.Errorf("after flock fmt -w the file holds %q, want %q", b, want)
	}
	stdout.Reset()
	if got := run([]string{"fmt", "-l", "../../examples"}, &stdout, &stderr); got != 0 || stdout.String() != "" {
		t.Errorf("flock fmt -l examples = %d, lists %q: every example must be in the canonical layout", got, stdout.String())
	}
	bad := filepath.Join(dir, "bad.fl")
	if err := os.WriteFile(bad, []byte("fn main( {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if got := run([]string{"fmt", bad}, &stdout, &stderr); got != exitAsm || !strings.Contains(stderr.String(), "bad.fl:1:") {
		t.Errorf("flock fmt of a broken file = %d, stderr %q; want 65 and the error", got, stderr.String())
	}
}

// TestStorageRoot: --root is created if missing; without it the storage is
// the program's directory (procs finds child.fl from anywhere).
func TestStorageRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "new", "root")
	var stdout, stderr bytes.Buffer
	if got := run([]string{"run", "--root", root, "../../examples/files.fl"}, &stdout, &stderr); got != 0 {
		t.Fatalf("flock run --root (missing) = %d, stderr %s", got, stderr.String())
	}
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		t.Errorf("--root %s was not created: %v", root, err)
	}
	abs, err := filepath.Abs("../../examples/procs.fl")
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if got := run([]string{"run", abs}, &stdout, &stderr); got != 0 || !strings.Contains(stdout.String(), "statuses: 10 20 30") {
		t.Errorf("flock run %s = %d, output %q, stderr %s", abs, got, stdout.String(), stderr.String())
	}
}
