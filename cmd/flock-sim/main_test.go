package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flockvm/flock/scenarios"
)

// TestMain lets the test binary stand in for flock-sim: a sweep re-executes
// its own executable as worker processes, and with FLOCK_SIM_AS_MAIN set
// that executable runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("FLOCK_SIM_AS_MAIN") == "1" {
		main()
		return
	}
	os.Setenv("FLOCK_SIM_AS_MAIN", "1") // inherited by worker processes only
	code := m.Run()
	os.Exit(code)
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), status
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "give -seed N or -seeds A:B"},
		{[]string{"-seed", "x"}, "not an unsigned integer"},
		{[]string{"-seeds", "5:3"}, "B must be greater than A"},
		{[]string{"-seeds", "5"}, "want A:B"},
		{[]string{"-seed", "1", "-seeds", "1:2"}, "exclusive"},
		{[]string{"-seed", "1", "-scenario", "nope"}, `-scenario "nope": unknown`},
		{[]string{"-seed", "1", "-bug", "nope"}, `-bug "nope"`},
		{[]string{"-seed", "1", "-fault-net-drop=2"}, "fault flags"},
		{[]string{"-seeds", "0:3", "-trace"}, "-trace needs a single -seed"},
		{[]string{"-seed", "1", "extra"}, `unexpected argument "extra"`},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
		{[]string{"-seed", "1", "-limit", "sessions"}, "want name=value"},
		{[]string{"-seed", "1", "-limit", "sessions=0"}, "positive integer"},
		{[]string{"-seed", "1", "-limit", "nosuch=3"}, "-limit nosuch: scenario kv draws no such limit"},
		{[]string{"-seed", "1", "-machines", "3"}, "-machines needs -program"},
		{[]string{"-seed", "1", "-program", "p.fl", "-bug", "x"}, "-bug does not apply"},
		{[]string{"-seed", "1", "-program", "p.fl", "-machines", "2"}, "-machines 2: want 3..16"},
		{[]string{"-seed", "1", "-program", "no-such-file.fl"}, "no-such-file.fl: no such file"},
	}
	for _, tt := range tests {
		_, stderr, status := runCLI(t, tt.args...)
		if status != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("flock-sim %v = status %d, stderr %q; want status %d and stderr containing %q",
				tt.args, status, stderr, exitUsage, tt.want)
		}
	}
}

func TestListJSON(t *testing.T) {
	stdout, _, status := runCLI(t, "-list", "-json")
	if status != exitPass {
		t.Fatalf("flock-sim -list -json status = %d, want 0", status)
	}
	var got struct {
		Scenarios []string `json:"scenarios"`
		Bugs      []struct {
			Name     string `json:"name"`
			Scenario string `json:"scenario"`
			Seeds    int    `json:"seeds"`
		} `json:"bugs"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("flock-sim -list -json printed %q: %v", stdout, err)
	}
	if len(got.Scenarios) == 0 || len(got.Bugs) < 4 {
		t.Fatalf("flock-sim -list -json = %+v, want scenarios and at least 4 bugs", got)
	}
	for _, b := range got.Bugs {
		if b.Name == "" || b.Seeds <= 0 {
			t.Errorf("bug %+v: want a name and a positive seed budget", b)
		}
		if _, ok := scenarios.Lookup(b.Scenario); !ok {
			t.Errorf("bug %s names scenario %q, which -list does not know", b.Name, b.Scenario)
		}
	}
}

// TestSingleSeedJSON checks the DESIGN §6 fields of one seed's report.
func TestSingleSeedJSON(t *testing.T) {
	stdout, stderr, status := runCLI(t, "-seed", "3", "-json")
	if status != exitPass {
		t.Fatalf("flock-sim -seed 3 -json status = %d, want 0\nstdout: %s\nstderr: %s", status, stdout, stderr)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", stdout, err)
	}
	for _, f := range []string{"seed", "scenario", "result", "violation", "trace_hash", "events", "sim_ns", "wall_ns", "faults", "outcomes", "ops", "repro"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("JSON report lacks field %q: %s", f, stdout)
		}
	}
	if fields["result"] != "pass" || fields["seed"] != float64(3) || fields["repro"] != "flock-sim -seed 3 -scenario kv" {
		t.Errorf("JSON report = %s, want result pass, seed 3, repro 'flock-sim -seed 3 -scenario kv'", stdout)
	}
}

// firstFailingSeed finds the first seed at which a planted bug is caught.
func firstFailingSeed(t *testing.T, bugName string) uint64 {
	t.Helper()
	for _, b := range scenarios.Bugs() {
		if b.Name != bugName {
			continue
		}
		for seed := range uint64(b.Seeds) {
			r, err := scenarios.Run(b.Scenario, scenarios.Options{Seed: seed, Bug: b.Name})
			if err != nil {
				t.Fatal(err)
			}
			if r.Result == scenarios.ResultFail {
				return seed
			}
		}
	}
	t.Fatalf("bug %s is not caught within its budget", bugName)
	return 0
}

// TestFailureReport: the first line names the seed, the exit status says
// safety, and the last line is the command that reproduces the run; -viz
// writes the HTML history of a failed linearizability check.
func TestFailureReport(t *testing.T) {
	seed := firstFailingSeed(t, "stale-follower-read")
	viz := t.TempDir()
	seedArg := uintString(seed)
	stdout, _, status := runCLI(t, "-seed", seedArg, "-bug", "stale-follower-read", "-viz", viz)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if status != exitSafety {
		t.Errorf("status = %d, want %d\n%s", status, exitSafety, stdout)
	}
	if want := "seed " + seedArg + ":"; !strings.HasPrefix(lines[0], want) {
		t.Errorf("first line = %q, want it to start with %q", lines[0], want)
	}
	wantRepro := "  repro: flock-sim -seed " + seedArg + " -scenario kv -bug stale-follower-read"
	if last := lines[len(lines)-1]; last != wantRepro {
		t.Errorf("last line = %q, want %q", last, wantRepro)
	}
	if strings.Contains(stdout, "linearizability") {
		pages, _ := filepath.Glob(filepath.Join(viz, "*.html"))
		if len(pages) != 1 || !strings.Contains(stdout, pages[0]) {
			t.Errorf("-viz %s holds %v, want one HTML page named in the report", viz, pages)
		}
	}
}

func TestTrace(t *testing.T) {
	stdout, _, status := runCLI(t, "-seed", "2", "-trace")
	if status != exitPass {
		t.Fatalf("status = %d, want 0", status)
	}
	steps := 0
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "step ") {
			steps++
		}
	}
	if steps < 1000 {
		t.Errorf("-trace printed %d step lines, want the whole event log", steps)
	}
}

// TestSweepInWorkers runs a sweep through worker processes: reports arrive
// in seed order, and each worker's trace hash equals this process's run of
// the same seed (determinism across processes).
func TestSweepInWorkers(t *testing.T) {
	stdout, stderr, status := runCLI(t, "-seeds", "0:6", "-j", "2", "-json")
	if status != exitPass {
		t.Fatalf("sweep status = %d, want 0\n%s\n%s", status, stdout, stderr)
	}
	var reports []scenarios.Report
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r scenarios.Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		reports = append(reports, r)
	}
	if len(reports) != 6 {
		t.Fatalf("sweep printed %d reports, want 6", len(reports))
	}
	for i, r := range reports {
		if r.Seed != uint64(i) {
			t.Errorf("report %d is of seed %d, want seeds in order", i, r.Seed)
		}
		local, err := scenarios.Run("kv", scenarios.Options{Seed: r.Seed})
		if err != nil {
			t.Fatal(err)
		}
		if local.TraceHash != r.TraceHash || local.Events != r.Events {
			t.Errorf("seed %d: worker process hash %s (%d events), this process %s (%d events), want equal",
				r.Seed, r.TraceHash, r.Events, local.TraceHash, local.Events)
		}
	}
	if !strings.Contains(stderr, "6 seeds (0:6)") {
		t.Errorf("sweep summary missing from stderr: %q", stderr)
	}
}

func TestSweepExitStatusOnBug(t *testing.T) {
	seed := firstFailingSeed(t, "apply-retry-twice")
	stdout, _, status := runCLI(t, "-seeds", "0:"+uintString(seed+1), "-j", "2", "-bug", "apply-retry-twice")
	if status != exitSafety && status != exitLiveness {
		t.Errorf("sweep with a planted bug: status = %d, want %d or %d\n%s", status, exitSafety, exitLiveness, stdout)
	}
	if !strings.Contains(stdout, "failing seeds:") {
		t.Errorf("sweep output lacks the failing seeds:\n%s", stdout)
	}
}

func TestDeterminismFlag(t *testing.T) {
	stdout, _, status := runCLI(t, "-seed", "5", "-determinism")
	if status != exitPass {
		t.Errorf("flock-sim -seed 5 -determinism status = %d, want 0\n%s", status, stdout)
	}
}

func TestExitStatusPrecedence(t *testing.T) {
	pass := scenarios.Report{Result: scenarios.ResultPass}
	safety := scenarios.Report{Result: scenarios.ResultFail, Failure: scenarios.FailureSafety}
	liveness := scenarios.Report{Result: scenarios.ResultFail, Failure: scenarios.FailureLiveness}
	nondet := scenarios.Report{Result: scenarios.ResultFail, Failure: failureNondeterminism}
	tests := []struct {
		reports []scenarios.Report
		want    int
	}{
		{nil, exitPass},
		{[]scenarios.Report{pass, pass}, exitPass},
		{[]scenarios.Report{pass, liveness}, exitLiveness},
		{[]scenarios.Report{liveness, safety}, exitSafety},
		{[]scenarios.Report{safety, nondet, liveness}, exitNondeterminism},
	}
	for _, tt := range tests {
		if got := exitStatus(tt.reports); got != tt.want {
			t.Errorf("exitStatus(%d reports) = %d, want %d", len(tt.reports), got, tt.want)
		}
	}
}

func uintString(v uint64) string { return strconv.FormatUint(v, 10) }

// TestCoverageSweep: -coverage gives each report its marks and prints, per
// mark, how many seeds hit it, the scenario's required marks flagged.
func TestCoverageSweep(t *testing.T) {
	stdout, stderr, status := runCLI(t, "-seeds", "0:4", "-j", "2", "-coverage")
	if status != exitPass {
		t.Fatalf("flock-sim -seeds 0:4 -coverage status = %d, want 0\n%s\n%s", status, stdout, stderr)
	}
	if !strings.Contains(stdout, "coverage over 4 seeds") {
		t.Fatalf("output lacks the coverage table:\n%s", stdout)
	}
	var follower string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "raftkv/read-served-by-follower") {
			follower = line
		}
	}
	if fields := strings.Fields(follower); len(fields) < 3 || fields[0] != "*" || fields[2] == "0" {
		t.Errorf("coverage line %q: want the required mark flagged with * and hit by some seeds", follower)
	}
	stdout, _, _ = runCLI(t, "-seed", "1", "-coverage", "-json")
	var r scenarios.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("-seed 1 -coverage -json printed %q: %v", stdout, err)
	}
	if len(r.Marks) == 0 || len(r.Outcomes) == 0 || len(r.FaultsOn) == 0 {
		t.Errorf("report marks %v, outcomes %v, faults on %v; want all three filled", r.Marks, r.Outcomes, r.FaultsOn)
	}
}

// TestLimitPins: -limit fixes a drawn limit, shows in the configuration
// line (marked !) and in the repro command.
func TestLimitPins(t *testing.T) {
	stdout, _, status := runCLI(t, "-seed", "2", "-limit", "sessions=3", "-limit", "wal-segment-bytes=700", "-json")
	if status != exitPass {
		t.Fatalf("status = %d, want 0\n%s", status, stdout)
	}
	var r scenarios.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Config, "wal-segment-bytes=700!") || !strings.Contains(r.Config, "sessions=3!") {
		t.Errorf("config %q: want the pinned limits marked with !", r.Config)
	}
	if want := "flock-sim -seed 2 -scenario kv -limit sessions=3 -limit wal-segment-bytes=700"; r.Repro != want {
		t.Errorf("repro = %q, want %q", r.Repro, want)
	}
}

// writeProgram writes a program (and a child it starts) in a directory of
// its own and returns the program's path.
func writeProgram(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "main.fl")
}

// TestProgramSweep runs a user's program that starts a child from its own
// directory, with an argument, on simulated VMs in worker processes: every
// seed must give the one-machine answer, and the repro command names the
// program, the machines and the argument.
func TestProgramSweep(t *testing.T) {
	path := writeProgram(t, map[string]string{
		"main.fl": `import "os"
import "proc"

fn main() int {
    a, _ := os.argument(0)
    var args [1]string
    args[0] = a
    var pids [1]int
    pids[0] = proc.start("child.fl", args[:])
    proc.wait(pids[:])
    println(pids[0])
    return 0
}
`,
		"child.fl": `import "os"

fn main() int {
    a, _ := os.argument(0)
    print("child ", a, "\n")
    return 7
}
`,
	})
	stdout, stderr, status := runCLI(t, "-program", path, "-machines", "3", "-seeds", "0:4", "-j", "2", "-json", "--", "hi")
	if status != exitPass {
		t.Fatalf("flock-sim -program = status %d, stderr %q, stdout %q; want %d", status, stderr, stdout, exitPass)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("flock-sim -program -seeds 0:4 printed %d reports, want 4:\n%s", len(lines), stdout)
	}
	var r scenarios.Report
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Scenario != "program:main.fl" || !strings.Contains(r.Config, "machines=3") {
		t.Errorf("report scenario %q config %q; want program:main.fl on machines=3", r.Scenario, r.Config)
	}
	wantRepro := "flock-sim -seed 0 -program " + path + " -machines 3 -- hi"
	if r.Repro != wantRepro {
		t.Errorf("repro = %q, want %q", r.Repro, wantRepro)
	}
}

// TestProgramDifferentAnswer: a program whose answer depends on which
// thread wins a race gives the one-machine answer on one machine and
// another on some seed of a simulated VM; flock-sim says so (exit 1).
func TestProgramDifferentAnswer(t *testing.T) {
	path := writeProgram(t, map[string]string{"main.fl": `const T = 4
const K = 200

global var counter int

fn bump() {
    for _ in 0..K {
        v := counter
        counter = v + 1
    }
}

fn main() {
    var tids [T]thread
    for k in 0..T {
        tids[k] = spawn bump()
    }
    for _, t in tids {
        join(t)
    }
    println(counter)
}
`})
	stdout, stderr, status := runCLI(t, "-program", path, "-machines", "4", "-seeds", "0:10", "-j", "2")
	if status != exitSafety {
		t.Fatalf("flock-sim -program (a racy counter) = status %d, stderr %q, stdout %q; want %d", status, stderr, stdout, exitSafety)
	}
}
