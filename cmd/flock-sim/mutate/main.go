// Command mutate measures what the simulator's sweep catches: it makes
// small mutants of the code under test (a comparison's boundary moved, a
// condition negated, && for ||, + for -, ++ for --, a sync skipped), one
// at a time, builds flock-sim with each (through go build -overlay, so the
// working tree is never touched) and runs a sweep of every scenario
// against it. A mutant the sweep fails on is killed; one that passes every
// seed survived. It prints the kill share and every survivor with its
// place, which is where the sweep is blind (or the mutant is equivalent).
//
//	go run ./cmd/flock-sim/mutate -seeds 0:200 ./vm/wal ./vm/raftkv
//
// Lines that switch planted bugs on are skipped (mutating them plants the
// bug), as are arguments of panic and of error and message formatting.
// Not for CI: each mutant costs a build and a sweep.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// mutant is one small change to one file.
type mutant struct {
	file     string // absolute path
	line     int
	col      int
	offset   int // byte offset of the replaced text
	old, new string
	what     string
}

func (m mutant) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", relPath(m.file), m.line, m.col, m.what)
}

// outcome of one mutant.
type outcome int

const (
	notViable outcome = iota // does not build
	killed
	timedOut // counted as killed
	survived
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	seeds     string
	jobs      int
	scenarios []string
	overlay   string
	limit     int
	every     int
	timeout   time.Duration
	dirs      []string
	jsonOut   string
	dry       bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var scen string
	fs.StringVar(&o.seeds, "seeds", "0:200", "the sweep each mutant must pass, `A:B`")
	fs.IntVar(&o.jobs, "j", 2, "flock-sim worker processes")
	fs.StringVar(&scen, "scenarios", "", "comma-separated scenarios to sweep (default: every registered one)")
	fs.StringVar(&o.overlay, "overlay", "", "a go build -overlay file to merge (for files that must be hidden or replaced)")
	fs.IntVar(&o.limit, "max", 0, "stop after this many viable mutants (0: all)")
	fs.IntVar(&o.every, "every", 1, "test every n-th mutant only (a sample)")
	fs.DurationVar(&o.timeout, "timeout", 0, "a sweep slower than this counts as killed (default: 10x the clean sweep, at least 1m)")
	fs.StringVar(&o.jsonOut, "json", "", "write every mutant's outcome to this file as JSON lines")
	fs.BoolVar(&o.dry, "dry", false, "list the mutants, run nothing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.dirs = fs.Args()
	if len(o.dirs) == 0 || o.every < 1 {
		fmt.Fprintln(stderr, "usage: mutate [flags] PKGDIR...")
		return 2
	}
	if scen != "" {
		o.scenarios = strings.Split(scen, ",")
	}
	if err := mutateAll(o, stdout); err != nil {
		fmt.Fprintf(stderr, "mutate: %v\n", err)
		return 1
	}
	return 0
}

func mutateAll(o options, stdout io.Writer) error {
	work, err := os.MkdirTemp("", "flock-mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	base, err := readOverlay(o.overlay)
	if err != nil {
		return err
	}
	var ms []mutant
	for _, dir := range o.dirs {
		found, err := mutantsOf(dir)
		if err != nil {
			return err
		}
		ms = append(ms, found...)
	}
	if o.dry {
		for _, m := range ms {
			fmt.Fprintln(stdout, m)
		}
		fmt.Fprintf(stdout, "%d mutants\n", len(ms))
		return nil
	}
	bin := filepath.Join(work, "flock-sim")
	if err := build(work, bin, base, nil); err != nil {
		return fmt.Errorf("the unmutated code does not build: %w", err)
	}
	if len(o.scenarios) == 0 {
		if o.scenarios, err = listScenarios(bin); err != nil {
			return err
		}
	}
	start := time.Now()
	if ok, err := sweep(bin, o, 0); err != nil || !ok {
		return fmt.Errorf("the unmutated code fails its own sweep %s (%v): fix that first", o.seeds, err)
	}
	if o.timeout == 0 {
		o.timeout = max(time.Minute, 10*time.Since(start))
	}
	fmt.Fprintf(stdout, "%d mutants in %s; sweep %s of %s (clean sweep %s)\n", len(ms), strings.Join(o.dirs, " "),
		o.seeds, strings.Join(o.scenarios, ","), time.Since(start).Round(time.Second))
	var log io.Writer = io.Discard
	if o.jsonOut != "" {
		f, err := os.Create(o.jsonOut)
		if err != nil {
			return err
		}
		defer f.Close()
		log = f
	}
	return tally(o, ms, work, bin, base, stdout, log)
}

// tally runs every selected mutant and prints the result.
func tally(o options, ms []mutant, work, bin string, base map[string]string, stdout, log io.Writer) error {
	counts := map[outcome]int{}
	var survivors []mutant
	viable := 0
	// An interrupt ends the run after the mutant at hand, with the tally so far.
	stop, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	for i, m := range ms {
		if stop.Err() != nil {
			fmt.Fprintf(stdout, "interrupted after %d of %d mutants\n", i, len(ms))
			break
		}
		if i%o.every != 0 || o.limit > 0 && viable >= o.limit {
			continue
		}
		res, err := try(m, o, work, bin, base)
		if err != nil {
			return err
		}
		counts[res]++
		if res != notViable {
			viable++
		}
		if res == survived {
			survivors = append(survivors, m)
		}
		name := [...]string{"not viable", "killed", "timed out", "SURVIVED"}[res]
		fmt.Fprintf(stdout, "[%d/%d] %-10s %s\n", i+1, len(ms), name, m)
		line, _ := json.Marshal(map[string]any{"file": relPath(m.file), "line": m.line, "col": m.col, "mutation": m.what, "outcome": name})
		fmt.Fprintf(log, "%s\n", line)
	}
	dead := counts[killed] + counts[timedOut]
	share := 0.0
	if dead+counts[survived] > 0 {
		share = 100 * float64(dead) / float64(dead+counts[survived])
	}
	fmt.Fprintf(stdout, "\n%d viable mutants: %d killed (%d by timeout), %d survived: %.1f%% killed; %d did not build\n",
		dead+counts[survived], dead, counts[timedOut], counts[survived], share, counts[notViable])
	for _, m := range survivors {
		fmt.Fprintf(stdout, "survived: %s\n", m)
	}
	return nil
}

// try builds and sweeps one mutant.
func try(m mutant, o options, work, bin string, base map[string]string) (outcome, error) {
	src, err := os.ReadFile(m.file)
	if err != nil {
		return 0, err
	}
	if string(src[m.offset:m.offset+len(m.old)]) != m.old {
		return 0, fmt.Errorf("%s changed while mutating (expected %q at byte %d)", m.file, m.old, m.offset)
	}
	mutated := append(append(append([]byte(nil), src[:m.offset]...), m.new...), src[m.offset+len(m.old):]...)
	path := filepath.Join(work, "mutant.go")
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return 0, err
	}
	mbin := bin + ".mutant"
	if err := build(work, mbin, base, map[string]string{m.file: path}); err != nil {
		return notViable, nil
	}
	ok, err := sweep(mbin, o, o.timeout)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return timedOut, nil
	case ok:
		return survived, nil
	}
	return killed, nil
}

func readOverlay(path string) (map[string]string, error) {
	if path == "" {
		return map[string]string{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ov struct{ Replace map[string]string }
	if err := json.Unmarshal(b, &ov); err != nil {
		return nil, fmt.Errorf("overlay %s: %w", path, err)
	}
	return ov.Replace, nil
}

// build builds flock-sim with the base overlay and the given replacements.
func build(work, out string, base, extra map[string]string) error {
	replace := map[string]string{}
	for k, v := range base {
		replace[k] = v
	}
	for k, v := range extra {
		replace[k] = v
	}
	ov, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return err
	}
	ovPath := filepath.Join(work, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-overlay", ovPath, "-o", out, "./cmd/flock-sim")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, firstLines(stderr.String(), 5))
	}
	return nil
}

// relPath names a file relative to the working directory (the module
// root), as go vet and the compiler do.
func relPath(abs string) string {
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	if rel, err := filepath.Rel(wd, abs); err == nil {
		return rel
	}
	return abs
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func listScenarios(bin string) ([]string, error) {
	out, err := exec.Command(bin, "-list", "-json").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -list -json: %w", bin, err)
	}
	var l struct{ Scenarios []string }
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, err
	}
	return l.Scenarios, nil
}

// sweep runs the sweep of every scenario, stopping at the first failure;
// it reports whether every seed passed.
func sweep(bin string, o options, timeout time.Duration) (bool, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for _, sc := range o.scenarios {
		cmd := exec.CommandContext(ctx, bin, "-scenario", sc, "-seeds", o.seeds, "-j", fmt.Sprint(o.jobs), "-failfast")
		err := cmd.Run()
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			return false, nil
		}
	}
	return true, nil
}

// mutantsOf lists the mutants of every non-test Go file in dir.
func mutantsOf(dir string) ([]mutant, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(abs, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []mutant
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		ms, err := mutantsOfFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// swaps are the operator mutations.
var swaps = map[token.Token]token.Token{
	token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR,
	token.EQL: token.NEQ, token.NEQ: token.EQL,
	token.LAND: token.LOR, token.LOR: token.LAND,
	token.ADD: token.SUB, token.SUB: token.ADD,
	token.INC: token.DEC, token.DEC: token.INC,
}

func mutantsOfFile(name string) ([]mutant, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(src), "\n")
	var out []mutant
	add := func(pos token.Pos, old, new, what string) {
		p := fset.Position(pos)
		if skipLine(lines[p.Line-1]) {
			return
		}
		out = append(out, mutant{file: name, line: p.Line, col: p.Column, offset: p.Offset, old: old, new: new, what: what})
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(c ast.Node) bool {
			if call, ok := c.(*ast.CallExpr); ok && isMessage(call) {
				return false // its arguments only build a message
			}
			if c != nil {
				mutateNode(c, src, fset, add)
			}
			return true
		})
	}
	return out, nil
}

// mutateNode adds the mutants of one node.
func mutateNode(c ast.Node, src []byte, fset *token.FileSet, add func(token.Pos, string, string, string)) {
	switch x := c.(type) {
	case *ast.BinaryExpr:
		if to, ok := swaps[x.Op]; ok && !isStringConcat(x) {
			add(x.OpPos, x.Op.String(), to.String(), fmt.Sprintf("%s -> %s", x.Op, to))
		}
	case *ast.IncDecStmt:
		add(x.TokPos, x.Tok.String(), swaps[x.Tok].String(), fmt.Sprintf("%s -> %s", x.Tok, swaps[x.Tok]))
	case *ast.UnaryExpr:
		if x.Op == token.NOT {
			add(x.OpPos, "!", " ", "drop !")
		}
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Sync" || sel.Sel.Name == "SyncDir") {
			start, end := fset.Position(x.Pos()).Offset, fset.Position(x.End()).Offset
			add(x.Pos(), string(src[start:end]), "error(nil)", "skip "+sel.Sel.Name)
		}
	}
}

// isMessage reports whether a call only builds a message (panic, error
// and text formatting, the corrupt helper), whose arguments are not
// behaviour worth mutating.
func isMessage(call *ast.CallExpr) bool {
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		return fun.Name == "panic" || fun.Name == "corrupt"
	case *ast.SelectorExpr:
		if pkg, ok := fun.X.(*ast.Ident); ok && pkg.Name == "fmt" {
			return true
		}
		return fun.Sel.Name == "Record" || fun.Sel.Name == "logf"
	}
	return false
}

// isStringConcat: s + "x" has no - counterpart.
func isStringConcat(x *ast.BinaryExpr) bool {
	if x.Op != token.ADD {
		return false
	}
	for _, e := range []ast.Expr{x.X, x.Y} {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			return true
		}
	}
	return false
}

// skipLine: lines that switch planted bugs on, and loop bounds of the
// mutation-safety checks themselves, are not mutated.
func skipLine(line string) bool {
	for _, s := range []string{"Bugs.", "// BUG", "opts.SkipSync", "opts.SkipTornTailTruncate", "opts.RemoveLiveSegment", "buggify("} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}
