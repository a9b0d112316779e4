package lang_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/eval"
	"github.com/flockvm/flock/vm/lang/format"
	"github.com/flockvm/flock/vm/lang/gen"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
	"github.com/flockvm/flock/vm/sys"
)

// update rewrites golden files: FLOCK_UPDATE_GOLDEN=1 go test ./vm/lang/
var update = os.Getenv("FLOCK_UPDATE_GOLDEN") == "1"

// outcome is how a program run ended, as the golden files record it: its
// output, then a last line "exit N" or "trap: ...".
type outcome struct {
	out    string
	status string
}

func (o outcome) String() string { return o.out + "--\n" + o.status + "\n" }

// runVM compiles and runs a program on the embedded VM with its storage in
// a fresh directory.
func runVM(t testing.TB, file string, src []byte, args []string, opt lang.Options) outcome {
	t.Helper()
	p, err := lang.Compile(file, src, os.ReadFile, opt)
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	return runProgram(t, p, args)
}

func runProgram(t testing.TB, p *isa.Program, args []string) outcome {
	t.Helper()
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	o, err := runOn(p, args, st, proc.LoadFile(st.ReadFile))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// scratchStorage is VM storage in a fresh directory.
func scratchStorage(t testing.TB) (sys.Storage, func()) {
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storage.NewLocal(disk), func() { disk.Close() }
}

// runOn runs a program on an embedded VM over the given storage.
func runOn(p *isa.Program, args []string, st sys.Storage, load proc.Loader) (outcome, error) {
	var out bytes.Buffer
	vm := proc.New(proc.Config{BudgetTicks: 1 << 32}, st, load, io.Discard)
	pid, err := vm.Start(p, args, &out)
	if err != nil {
		return outcome{}, err
	}
	vm.Run()
	s, _ := vm.Status(pid)
	o := outcome{out: out.String(), status: fmt.Sprintf("exit %d", s.Code)}
	if s.Trap != nil {
		where := ""
		if s.Trap.PC >= 0 {
			where = gen.Where(p, s.Trap.PC) + ": "
		}
		o.status = "trap: " + where + s.Trap.Kind.String()
	}
	return o, nil
}

// golden is the content of a golden file, first rewritten with got when
// updating.
func golden(t *testing.T, file, got string) string {
	t.Helper()
	if update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(want)
}

// goldenPrograms are the programs of testdata/run, sorted.
func goldenPrograms(t *testing.T) []string {
	files, err := filepath.Glob("testdata/run/*.fl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden programs: %v", err)
	}
	sort.Strings(files)
	return files
}

// header reads "// args: a b" from the first lines of a program.
func header(src []byte, key string) (string, bool) {
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "//") {
			break
		}
		if v, ok := strings.CutPrefix(line, "// "+key+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// TestGoldenPrograms compiles and runs every program of testdata/run on
// the VM, with and without the peephole pass, and compares the output and
// exit status (or trap) with NAME.out.
func TestGoldenPrograms(t *testing.T) {
	for _, file := range goldenPrograms(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".fl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			if a, ok := header(src, "args"); ok {
				args = strings.Fields(a)
			}
			got := runVM(t, file, src, args, lang.Options{}).String()
			if want := golden(t, strings.TrimSuffix(file, ".fl")+".out", got); got != want {
				t.Errorf("%s printed\n%s\nwant\n%s", file, got, want)
			}
			if plain := runVM(t, file, src, args, lang.Options{NoOptimize: true}).String(); plain != got {
				t.Errorf("%s without the peephole pass printed\n%s\nwith it\n%s", file, plain, got)
			}
		})
	}
}

// TestGoldenProgramsEvaluated runs the golden programs in the reference
// evaluator: where it can run them, the output and status must be the
// VM's (the golden file).
func TestGoldenProgramsEvaluated(t *testing.T) {
	ran := 0
	for _, file := range goldenPrograms(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		if a, ok := header(src, "args"); ok {
			args = strings.Fields(a)
		}
		p, err := lang.Check(file, src, os.ReadFile)
		if err != nil {
			t.Fatalf("check %s: %v", file, err)
		}
		res, err := eval.Run(p, args, eval.Limits{})
		if errors.Is(err, eval.ErrUnsupported) {
			continue
		}
		if err != nil {
			t.Fatalf("evaluate %s: %v", file, err)
		}
		ran++
		want, err := os.ReadFile(strings.TrimSuffix(file, ".fl") + ".out")
		if err != nil {
			t.Fatal(err)
		}
		got := outcome{out: res.Output, status: fmt.Sprintf("exit %d", res.Exit)}
		wantO := parseOutcome(string(want))
		if res.Trap != "" {
			// The evaluator says why in its own words; it must trap where
			// the VM does, with the same output.
			got.status = "trap"
			wantO.status = strings.SplitN(wantO.status, ":", 2)[0]
		}
		if got.String() != wantO.String() {
			t.Errorf("evaluating %s gave\n%s\nthe VM\n%s", file, got, wantO)
		}
	}
	if ran < 10 {
		t.Errorf("the evaluator ran only %d golden programs", ran)
	}
}

func parseOutcome(s string) outcome {
	i := strings.LastIndex(s, "--\n")
	if i < 0 {
		return outcome{out: s}
	}
	return outcome{out: s[:i], status: strings.TrimSuffix(s[i+3:], "\n")}
}

// TestGoldenProgramsFormatted: every golden program is in the canonical
// layout, and formatting is idempotent.
func TestGoldenProgramsFormatted(t *testing.T) {
	files := goldenPrograms(t)
	errFiles, _ := filepath.Glob("testdata/errors/*.fl")
	for _, file := range append(files, errFiles...) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(file, src)
		if err != nil {
			continue // an error golden file with syntax errors
		}
		if !bytes.Equal(out, src) && strings.Contains(file, "/run/") {
			t.Errorf("%s is not in the canonical layout; flock fmt gives\n%s", file, out)
		}
		again, err := format.Source(file, out)
		if err != nil {
			t.Fatalf("%s: the formatted program does not parse: %v", file, err)
		}
		if !bytes.Equal(again, out) {
			t.Errorf("formatting %s twice differs:\n%s\nthen\n%s", file, out, again)
		}
	}
}

// TestGoldenErrors compiles every program of testdata/errors and compares
// the errors (rendered with their source lines) with NAME.err.
func TestGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.fl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden error programs: %v", err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, cerr := lang.Compile(file, src, os.ReadFile, lang.Options{})
		if cerr == nil {
			t.Errorf("%s compiled; it must fail", file)
			continue
		}
		got := cerr.Error() + "\n"
		if want := golden(t, strings.TrimSuffix(file, ".fl")+".err", got); got != want {
			t.Errorf("%s: errors\n%s\nwant\n%s", file, got, want)
		}
	}
}
