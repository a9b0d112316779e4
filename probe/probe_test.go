package probe

import (
	"strings"
	"testing"
)

var testMark = Declare("probe/test-mark", "used by the package's own tests")

func TestHitCountsOnlyWhileCounting(t *testing.T) {
	Stop()
	testMark.Hit()
	Start()
	testMark.Hit()
	testMark.Hit()
	Stop()
	testMark.Hit()
	if got := Counts()["probe/test-mark"]; got != 2 {
		t.Errorf("Counts()[probe/test-mark] = %d, want 2 (hits while counting only)", got)
	}
	Start()
	if got := Counts()["probe/test-mark"]; got != 0 {
		t.Errorf("after Start, Counts()[probe/test-mark] = %d, want 0", got)
	}
	Stop()
}

func TestDeclareRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "nopackage", "Probe/upper", "probe/", "probe/under_score", "probe/trailing-"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Declare(%q) did not panic, want a panic for a malformed name", name)
				}
			}()
			Declare(name, "bad")
		}()
	}
}

func TestDeclareRejectsDuplicates(t *testing.T) {
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "declared twice") {
			t.Errorf("second Declare(probe/test-mark) recovered %v, want a declared-twice panic", p)
		}
	}()
	Declare("probe/test-mark", "again")
}

func TestAllAndLookup(t *testing.T) {
	found := false
	for _, info := range All() {
		if info.Name == "probe/test-mark" && info.Doc != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("All() lacks probe/test-mark")
	}
	if m, ok := Lookup("probe/test-mark"); !ok || m != testMark {
		t.Errorf("Lookup(probe/test-mark) = %v, %v; want the declared mark", m, ok)
	}
	if _, ok := Lookup("probe/none"); ok {
		t.Errorf("Lookup(probe/none) found a mark that was never declared")
	}
}

func BenchmarkHitNotCounting(b *testing.B) {
	Stop()
	for b.Loop() {
		testMark.Hit()
	}
}
