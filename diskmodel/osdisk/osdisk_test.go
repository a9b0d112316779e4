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

// create makes name (its directory must exist) and closes it.
func create(t *testing.T, fsys *FS, name string) {
	t.Helper()
	f, err := fsys.OpenFile(name, diskmodel.CreateExclusive)
	if err != nil {
		t.Fatalf("OpenFile(%s, CreateExclusive) = %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close(%s) = %v", name, err)
	}
}

// A directory's cached handle never outlives the directory: a file made
// after the directory was removed and made again lands in the new one, and
// a renamed directory is found only under its new name.
func TestDirHandlesFollowRemoveAndRename(t *testing.T) {
	fsys, dir := openTemp(t)
	for _, d := range []string{"a", "a/b"} {
		if err := fsys.Mkdir(d); err != nil {
			t.Fatalf("Mkdir(%s) = %v", d, err)
		}
	}
	create(t, fsys, "a/b/1") // caches a/b
	for _, name := range []string{"a/b/1", "a/b"} {
		if err := fsys.Remove(name); err != nil {
			t.Fatalf("Remove(%s) = %v", name, err)
		}
	}
	if err := fsys.Mkdir("a/b"); err != nil {
		t.Fatalf("Mkdir(a/b) again = %v", err)
	}
	create(t, fsys, "a/b/2")
	if _, err := os.Stat(filepath.Join(dir, "a", "b", "2")); err != nil {
		t.Fatalf("a/b/2 made after a/b was made again is not in it: %v", err)
	}

	create(t, fsys, "a/b/3") // a/b is cached again
	if err := fsys.Rename("a", "z"); err != nil {
		t.Fatalf("Rename(a, z) = %v", err)
	}
	if _, err := fsys.OpenFile("a/b/3", diskmodel.OpenExisting); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenFile(a/b/3) after renaming a = %v, want fs.ErrNotExist", err)
	}
	if err := fsys.Mkdir("a"); err != nil {
		t.Fatalf("Mkdir(a) after the rename = %v", err)
	}
	if _, err := fsys.OpenFile("a/b/4", diskmodel.OpenOrCreate); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenFile(a/b/4) in the new a, which has no b = %v, want fs.ErrNotExist", err)
	}
	f, err := fsys.OpenFile("z/b/3", diskmodel.OpenExisting)
	if err != nil {
		t.Fatalf("OpenFile(z/b/3) = %v", err)
	}
	f.Close()
}

// More directories than the cache holds all keep working, and the cache
// stays within its bound.
func TestDirHandlesBounded(t *testing.T) {
	fsys, _ := openTemp(t)
	for i := range dirsMax + 10 {
		d := fmt.Sprintf("d%03d", i)
		if err := fsys.Mkdir(d); err != nil {
			t.Fatalf("Mkdir(%s) = %v", d, err)
		}
		create(t, fsys, d+"/f")
		if n := len(fsys.dirs); n > dirsMax {
			t.Fatalf("after %d directories the cache holds %d handles, want at most %d", i+1, n, dirsMax)
		}
	}
	for i := range dirsMax + 10 {
		name := fmt.Sprintf("d%03d/f", i)
		f, err := fsys.OpenFile(name, diskmodel.OpenExisting)
		if err != nil {
			t.Fatalf("OpenFile(%s) = %v", name, err)
		}
		f.Close()
	}
}

// Opens from many goroutines share the cache (run with -race).
func TestDirHandlesConcurrent(t *testing.T) {
	fsys, _ := openTemp(t)
	for _, d := range []string{"x", "y"} {
		if err := fsys.Mkdir(d); err != nil {
			t.Fatalf("Mkdir(%s) = %v", d, err)
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				name := fmt.Sprintf("%s/g%d-%d", []string{"x", "y"}[i%2], g, i)
				var f diskmodel.File
				if f, err = fsys.OpenFile(name, diskmodel.CreateExclusive); err == nil {
					f.Close()
					err = fsys.Remove(name)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open and remove: %v", err)
		}
	}
}
