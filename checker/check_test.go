package checker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// staleReadHistory is a history that is not linearizable on key "a" only.
func staleReadHistory() *KVHistory {
	return build([]kvRec{
		{0, put("a", "1"), ok, 0, 10},
		{1, put("b", "1"), ok, 0, 10},
		{0, get("a"), found("1"), 20, 30},
		{1, get("b"), found("1"), 20, 30},
		{2, put("a", "2"), ok, 40, 50},
		{2, get("a"), found("1"), 60, 70},
	})
}

func TestCheckWritesVizOnFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "viz") // must be created
	res := CheckKV(staleReadHistory(), Options{VizDir: dir, VizName: "seed-42"})
	if res.OK {
		t.Fatalf("CheckKV(stale read).OK = true, want false")
	}
	want := filepath.Join(dir, "seed-42.html")
	if res.VizPath != want {
		t.Fatalf("CheckKV().VizPath = %q, want %q (violation: %s)", res.VizPath, want, res.Violation)
	}
	page, err := os.ReadFile(res.VizPath)
	if err != nil {
		t.Fatalf("reading viz: %v", err)
	}
	for _, s := range []string{"<html", `put(\"a\", \"2\")`, "not linearizable"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("viz page lacks %q", s)
		}
	}
}

func TestCheckVizDefaultName(t *testing.T) {
	dir := t.TempDir()
	res := CheckWords(build([]wordRec{{0, rd(8), val(1), 0, 10}}), Options{VizDir: dir})
	if want := filepath.Join(dir, "words.html"); res.VizPath != want {
		t.Errorf("CheckWords().VizPath = %q, want %q", res.VizPath, want)
	}
}

func TestCheckNoVizOnSuccess(t *testing.T) {
	dir := t.TempDir()
	res := CheckKV(build([]kvRec{{0, put("a", "1"), ok, 0, 10}}), Options{VizDir: dir})
	if !res.OK || res.VizPath != "" {
		t.Errorf("CheckKV(legal) = {OK: %v, VizPath: %q}, want {true, \"\"}", res.OK, res.VizPath)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("viz dir has %d entries after a passing check, want 0", len(entries))
	}
}

func TestCheckVizWriteErrorIsReported(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := CheckKV(staleReadHistory(), Options{VizDir: file})
	if res.OK || res.VizPath != "" || !strings.Contains(res.Violation, "visualisation not written") {
		t.Errorf("CheckKV(viz dir is a file) = {OK: %v, VizPath: %q, Violation: %q}, want a failure noting the viz error",
			res.OK, res.VizPath, res.Violation)
	}
}

// The violation text is the seed report's "violation": it must be exact
// and the same on every run.
func TestCheckViolationText(t *testing.T) {
	want := `kv: not linearizable on 1 of 2 partitions: key "a"
key "a": 4 ops; this subset of 2 is already not linearizable:
  client 2 op 4:     [40, 50] put("a", "2")
  client 2 op 5:     [60, 70] get("a") -> "1"
longest legal order found (1 of 2 ops), state after each:
  client 2 op 4:     put("a", "2")  => "2"
then none of the 1 remaining ops can come next; the first of them to return:
  client 2 op 5:     [60, 70] get("a") -> "1"`
	for i := 0; i < 20; i++ {
		if got := CheckKV(staleReadHistory(), Options{}).Violation; got != want {
			t.Fatalf("run %d: CheckKV(stale read).Violation =\n%s\nwant\n%s", i, got, want)
		}
	}
}

// The witness drops reads that do not matter and writes overwritten before
// anyone looked, and keeps what proves the violation.
func TestShrinkKeepsTheProof(t *testing.T) {
	ops := []kvRec{
		{0, put("a", "0"), ok, 0, 5},
		{0, put("a", "1"), ok, 10, 15},
	}
	for i := int64(0); i < 50; i++ { // good reads
		ops = append(ops, kvRec{1, get("a"), found("1"), 20 + 10*i, 25 + 10*i})
	}
	ops = append(ops,
		kvRec{2, get("a"), found("0"), 600, 610}, // the bad read
		kvRec{3, put("a", "9"), ok, 700, 710},    // after every read: irrelevant
		kvRec{4, put("a", "8"), ok, 650, unknownRet},
	)
	res := CheckKV(build(ops), Options{})
	if res.OK {
		t.Fatal("CheckKV().OK = true, want false")
	}
	lines := strings.Split(res.Violation, "\n")
	var witness []string
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "  ") {
			break
		}
		witness = append(witness, strings.TrimSpace(l))
	}
	want := []string{
		`client 0 op 1:     [10, 15] put("a", "1")`,
		`client 2 op 52:    [600, 610] get("a") -> "0"`,
	}
	if strings.Join(witness, "\n") != strings.Join(want, "\n") {
		t.Errorf("witness =\n%s\nwant\n%s\n(violation:\n%s)", strings.Join(witness, "\n"), strings.Join(want, "\n"), res.Violation)
	}
}

func TestResultErr(t *testing.T) {
	if err := (Result{OK: true}).Err(); err != nil {
		t.Errorf("Result{OK: true}.Err() = %v, want nil", err)
	}
	if err := (Result{TimedOut: true, Violation: "timed out"}).Err(); err == nil {
		t.Errorf("Result{TimedOut: true}.Err() = nil, want an error")
	}
}

func TestCheckMaxSteps(t *testing.T) {
	// Key "a" is illegal in a few steps; key "b" is legal but needs 40.
	recs := []kvRec{
		{0, put("a", "1"), ok, 0, 10},
		{0, get("a"), absent, 20, 30},
	}
	for i := int64(0); i < 40; i++ {
		recs = append(recs, kvRec{1, put("b", "x"), ok, 40 + 2*i, 41 + 2*i})
	}
	legalB := recs[2:]
	tests := []struct {
		name         string
		recs         []kvRec
		maxSteps     int64
		ok, timedOut bool
		want         []string
	}{
		{"legal within budget", legalB, 1000, true, false, nil},
		{"legal beyond budget", legalB, 10, false, true, []string{"undecided", "10 steps", `key "b"`}},
		{"illegal and undecided", recs, 10, false, false, []string{`not linearizable on 1 of 2 partitions: key "a"`, `undecided within 10 steps: key "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for run := 0; run < 3; run++ { // deterministic
				res := CheckKV(build(tt.recs), Options{MaxSteps: tt.maxSteps})
				if res.OK != tt.ok || res.TimedOut != tt.timedOut {
					t.Fatalf("CheckKV(MaxSteps %d) = {OK: %v, TimedOut: %v}, want {%v, %v}; violation: %s",
						tt.maxSteps, res.OK, res.TimedOut, tt.ok, tt.timedOut, res.Violation)
				}
				for _, s := range tt.want {
					if !strings.Contains(res.Violation, s) {
						t.Errorf("CheckKV().Violation = %q, want it to contain %q", res.Violation, s)
					}
				}
			}
		})
	}
}

func TestStaticWitness(t *testing.T) {
	tests := []struct {
		name string
		ops  []kvRec
		want []string // witness lines, in order
	}{
		{name: "legal", ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), found("1"), 5, 15},
		}},
		{name: "value nobody writes", ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), found("2"), 20, 30},
		}, want: []string{`get("a") -> "2"`}},
		{name: "cas expecting a value nobody writes swapped", ops: []kvRec{
			{0, cas("a", "7", "1"), swapped, 0, 10},
		}, want: []string{`cas("a", "7" -> "1") -> swapped`}},
		{name: "read before its only writer was called", ops: []kvRec{
			{1, get("a"), found("1"), 0, 10},
			{0, put("a", "1"), ok, 20, unknownRet},
		}, want: []string{`get("a") -> "1"`, `put("a", "1") -> ?`}},
		{name: "two writers: needs a search", ops: []kvRec{
			{1, get("a"), found("1"), 0, 10},
			{0, put("a", "1"), ok, 20, 30},
			{0, put("a", "1"), ok, 40, 50},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := kvSpec.operations(build(tt.ops), nil)
			var got []string
			for _, op := range kvSpec.staticWitness(ops) {
				r := op.Output.(result[KVOutput])
				got = append(got, describeKVOp(op.Input.(KVInput), r.out, r.unknown))
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("staticWitness() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestViolationIsDeterministic(t *testing.T) {
	h := build(staleRead(concurrentKV(3, 1500, 8, 16, 10)))
	first := CheckKV(h, Options{MaxSteps: 5_000_000})
	if first.OK || first.TimedOut {
		t.Fatalf("CheckKV(stale read) = {OK: %v, TimedOut: %v}, want a violation", first.OK, first.TimedOut)
	}
	for run := 1; run < 4; run++ {
		if got := CheckKV(h, Options{MaxSteps: 5_000_000}); got.Violation != first.Violation {
			t.Fatalf("run %d: CheckKV().Violation =\n%s\nwant (run 0)\n%s", run, got.Violation, first.Violation)
		}
	}
}

// A wall-clock timeout may give either verdict "undecided" or "illegal" on
// an illegal history, never "linearizable". (Run under -race: porcupine
// returns before its search goroutine stops.)
func TestCheckTimeoutNeverPasses(t *testing.T) {
	h := build(staleRead(concurrentKV(1, 10000, 16, 16, 10)))
	res := CheckKV(h, Options{Timeout: 20 * time.Millisecond})
	if res.OK {
		t.Fatalf("CheckKV(illegal, Timeout 20ms).OK = true, want false")
	}
	if res.TimedOut && !strings.Contains(res.Violation, "undecided") {
		t.Errorf("CheckKV().Violation = %q, want it to say undecided", res.Violation)
	}
}

func TestListNames(t *testing.T) {
	var names []string
	for i := 0; i < 12; i++ {
		names = append(names, fmt.Sprint(i))
	}
	if got, want := listNames(names), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"; got != want {
		t.Errorf("listNames(12 names) = %q, want %q", got, want)
	}
	if got, want := listNames(names[:2]), "0, 1"; got != want {
		t.Errorf("listNames(2 names) = %q, want %q", got, want)
	}
}
