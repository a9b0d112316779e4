package checker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// staleRead is a history that is not linearizable on key "a" only.
func staleRead() *KVHistory {
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
	res := CheckKV(staleRead(), Options{VizDir: dir, VizName: "seed-42"})
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
	res := CheckKV(staleRead(), Options{VizDir: file})
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
longest legal order (1 of 2 ops), state after each:
  client 2 op 4:     put("a", "2")  => "2"
then none of the 1 remaining ops can come next`
	for i := 0; i < 20; i++ {
		if got := CheckKV(staleRead(), Options{}).Violation; got != want {
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
