package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const sample = `package sample

import "fmt"

type cfg struct{ Bugs struct{ X bool } }

func f(c cfg, a, b int, w interface{ Sync() error }) (int, error) {
	if a < b && !c.Bugs.X {
		a++
	}
	if c.Bugs.X && a > b { // a planted bug's switch: not mutated
		return 0, nil
	}
	if err := w.Sync(); err != nil {
		return 0, fmt.Errorf("sync %d: %w", a+b, err)
	}
	panic(fmt.Sprint(a == b))
}
`

func TestMutantsOfFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "sample.go")
	if err := os.WriteFile(name, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := mutantsOfFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.what)
		if string([]byte(sample)[m.offset:m.offset+len(m.old)]) != m.old {
			t.Errorf("mutant %v: %q is not at byte %d", m, m.old, m.offset)
		}
	}
	// Line 8 is skipped whole (it names Bugs.), as are the arguments of
	// fmt.Errorf and panic; the sync and its error check are mutated.
	want := []string{"++ -> --", "skip Sync", "!= -> =="}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mutantsOfFile(sample) = %q, want %q", got, want)
	}
}
