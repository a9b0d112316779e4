package osdisk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flockvm/flock/diskmodel"
)

func openTemp(t *testing.T) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	fsys, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dir, err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys, dir
}

func TestOpenMissingRoot(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Open(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(%q) = %v, want fs.ErrNotExist", missing, err)
	}
}

func TestSymlinkCannotEscape(t *testing.T) {
	fsys, dir := openTemp(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "lnk")); err != nil {
		t.Skipf("symlinks unsupported: %v", err)
	}
	if _, err := fsys.OpenFile("lnk/x", diskmodel.OpenOrCreate); err == nil {
		t.Fatalf("OpenFile(lnk/x) through a symlink leaving the root = nil, want an error")
	}
	if err := fsys.Mkdir("lnk/d"); err == nil {
		t.Fatalf("Mkdir(lnk/d) through a symlink leaving the root = nil, want an error")
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 0 {
		t.Fatalf("ReadDir(outside) = %v, %v, want nothing created outside the root", entries, err)
	}
}

func TestErrorsNameRelativePath(t *testing.T) {
	fsys, dir := openTemp(t)
	if err := fsys.Mkdir("d"); err != nil {
		t.Fatalf("Mkdir(d) = %v", err)
	}
	f, err := fsys.OpenFile("d/f", diskmodel.CreateExclusive)
	if err != nil {
		t.Fatalf("OpenFile(d/f) = %v", err)
	}
	f.Close()
	_, closedErr := f.ReadAt(make([]byte, 1), 0)
	_, statErr := fsys.Stat("d/missing")
	_, readDirErr := fsys.ReadDir("d/f")
	tests := []struct {
		name     string
		err      error
		wantPath string
	}{
		{"Stat", statErr, "d/missing"},
		{"ReadDir of a file", readDirErr, "d/f"},
		{"ReadAt after Close", closedErr, "d/f"},
		{"Rename", fsys.Rename("d/missing", "d/g"), "d/missing -> d/g"},
		{"Remove", fsys.Remove("d"), "d"},
	}
	for _, tc := range tests {
		var pe *fs.PathError
		if !errors.As(tc.err, &pe) || pe.Path != tc.wantPath {
			t.Errorf("%s error = %#v, want an *fs.PathError with Path %q", tc.name, tc.err, tc.wantPath)
		}
		if tc.err != nil && strings.Contains(tc.err.Error(), dir) {
			t.Errorf("%s error = %q, names the root %q", tc.name, tc.err, dir)
		}
	}
}

func TestErrnoMapping(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{&fs.PathError{Op: "write", Path: "/abs/f", Err: syscall.ENOSPC}, diskmodel.ErrNoSpace},
		{&fs.PathError{Op: "write", Path: "/abs/f", Err: syscall.EDQUOT}, diskmodel.ErrNoSpace},
		{&fs.PathError{Op: "read", Path: "/abs/f", Err: syscall.EIO}, diskmodel.ErrIO},
		{&os.LinkError{Op: "rename", Old: "/a", New: "/b", Err: syscall.ENOENT}, fs.ErrNotExist},
		{os.NewSyscallError("fsync", syscall.EIO), diskmodel.ErrIO},
		{&fs.PathError{Op: "open", Path: "/abs/f", Err: syscall.EEXIST}, fs.ErrExist},
	}
	for _, tc := range tests {
		err := wrap("op", "f", tc.in)
		var pe *fs.PathError
		if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Path != "f" {
			t.Errorf("wrap(op, f, %v) = %#v, want an *fs.PathError on f matching %v", tc.in, err, tc.want)
		}
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	fsys, dir := openTemp(t)
	if err := diskmodel.MkdirAll(fsys, "wal"); err != nil {
		t.Fatalf("MkdirAll(wal) = %v", err)
	}
	if err := diskmodel.WriteFileAtomic(fsys, "wal/meta", []byte("term=3")); err != nil {
		t.Fatalf("WriteFileAtomic = %v", err)
	}
	fsys.Close()
	again, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%q) again = %v", dir, err)
	}
	defer again.Close()
	got, err := diskmodel.ReadFile(again, "wal/meta")
	if err != nil || string(got) != "term=3" {
		t.Fatalf("ReadFile(wal/meta) after reopen = %q, %v, want %q, nil", got, err, "term=3")
	}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "osdisk-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	fsys, err := Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fsys.Close()

	// A durable append: write, fsync the file, fsync the directory that
	// names it (needed once, after creating it).
	f, err := fsys.OpenFile("log", diskmodel.CreateExclusive)
	if err != nil {
		fmt.Println(err)
		return
	}
	f.WriteAt([]byte("record 1\n"), 0)
	f.Sync()
	fsys.SyncDir(".")
	f.Close()

	data, _ := diskmodel.ReadFile(fsys, "log")
	fmt.Printf("%q\n", data)
	_, err = fsys.OpenFile("../escape", diskmodel.OpenOrCreate)
	fmt.Println(errors.Is(err, diskmodel.ErrInvalidName))
	// Output:
	// "record 1\n"
	// true
}

// BenchmarkWriteSync appends small records with an fsync after each: the
// path a raft WAL takes.
func BenchmarkWriteSync(b *testing.B) {
	fsys, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer fsys.Close()
	f, err := fsys.OpenFile("wal", diskmodel.CreateExclusive)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	record := make([]byte, 128)
	b.SetBytes(int64(len(record)))
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		if _, err := f.WriteAt(record, off); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		off += int64(len(record))
	}
}
