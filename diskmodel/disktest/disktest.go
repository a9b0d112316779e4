package disktest

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel"
)

// TestFS runs the contract suite. newFS must return a fresh, empty FS each
// time it is called.
func TestFS(t *testing.T, newFS func(t *testing.T) diskmodel.FS) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"OpenFile", openTests},
		{"ReadWrite", readWriteTests},
		{"Truncate", truncateTests},
		{"Stat", statTests},
		{"ReadDir", readDirTests},
		{"Mkdir", mkdirTests},
		{"Remove", removeTests},
		{"Rename", renameTests},
		{"SyncDir", syncDirTests},
		{"Closed", closedTests},
		{"InvalidName", invalidNameTests},
		{"Helpers", helperTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newFS(t))
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, fsys diskmodel.FS)
}

// create makes a file holding data, failing the test on error.
func create(t *testing.T, fsys diskmodel.FS, name string, data []byte) {
	t.Helper()
	f := open(t, fsys, name, diskmodel.CreateExclusive)
	if len(data) > 0 {
		if n, err := f.WriteAt(data, 0); n != len(data) || err != nil {
			t.Fatalf("WriteAt(%d bytes, 0) on %q = %d, %v, want %d, nil", len(data), name, n, err, len(data))
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close(%q) = %v, want nil", name, err)
	}
}

func open(t *testing.T, fsys diskmodel.FS, name string, mode diskmodel.OpenMode) diskmodel.File {
	t.Helper()
	f, err := fsys.OpenFile(name, mode)
	if err != nil {
		t.Fatalf("OpenFile(%q, %v) = %v, want nil error", name, mode, err)
	}
	return f
}

func mkdir(t *testing.T, fsys diskmodel.FS, dir string) {
	t.Helper()
	if err := fsys.Mkdir(dir); err != nil {
		t.Fatalf("Mkdir(%q) = %v, want nil", dir, err)
	}
}

// wantContent checks the named file holds exactly want.
func wantContent(t *testing.T, fsys diskmodel.FS, name string, want []byte) {
	t.Helper()
	got, err := diskmodel.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("ReadFile(%q) = %v, want nil error", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadFile(%q) = %q, want %q", name, clip(got), clip(want))
	}
}

func wantMissing(t *testing.T, fsys diskmodel.FS, name string) {
	t.Helper()
	if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
	}
}

// wantErr checks err matches target and is an *fs.PathError naming name.
func wantErr(t *testing.T, call string, err, target error, name string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s = %v, want %v", call, err, target)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || !strings.Contains(pe.Path, name) {
		t.Fatalf("%s = %#v, want an *fs.PathError naming %q", call, err, name)
	}
}

func wantFail(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil, want an error", call)
	}
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// pattern returns n recognizable bytes starting from seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}
