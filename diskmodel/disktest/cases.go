package disktest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"testing"

	"github.com/flockvm/flock/diskmodel"
)

var openTests = []test{
	{"OpenExistingMissing", func(t *testing.T, fsys diskmodel.FS) {
		_, err := fsys.OpenFile("nope", diskmodel.OpenExisting)
		wantErr(t, `OpenFile("nope", OpenExisting)`, err, fs.ErrNotExist, "nope")
		wantMissing(t, fsys, "nope")
	}},
	{"OpenExistingKeepsContent", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("hello"))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		wantContent(t, fsys, "f", []byte("hello"))
	}},
	{"OpenOrCreateCreatesEmpty", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		if size, err := f.Size(); size != 0 || err != nil {
			t.Fatalf("Size() of new file = %d, %v, want 0, nil", size, err)
		}
		wantContent(t, fsys, "f", []byte{})
	}},
	{"OpenOrCreateKeepsContent", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("hello"))
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		wantContent(t, fsys, "f", []byte("hello"))
	}},
	{"CreateExclusiveNew", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.CreateExclusive)
		defer f.Close()
		if info, err := fsys.Stat("f"); err != nil || info.IsDir || info.Size != 0 {
			t.Fatalf("Stat(%q) = %+v, %v, want an empty file", "f", info, err)
		}
	}},
	{"CreateExclusiveExisting", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("x"))
		_, err := fsys.OpenFile("f", diskmodel.CreateExclusive)
		wantErr(t, `OpenFile("f", CreateExclusive)`, err, fs.ErrExist, "f")
		wantContent(t, fsys, "f", []byte("x"))
	}},
	{"MissingParent", func(t *testing.T, fsys diskmodel.FS) {
		for _, mode := range []diskmodel.OpenMode{diskmodel.OpenExisting, diskmodel.OpenOrCreate, diskmodel.CreateExclusive} {
			_, err := fsys.OpenFile("d/f", mode)
			wantErr(t, `OpenFile("d/f")`, err, fs.ErrNotExist, "d/f")
		}
	}},
	{"ParentIsFile", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", nil)
		_, err := fsys.OpenFile("f/g", diskmodel.OpenOrCreate)
		wantFail(t, `OpenFile("f/g", OpenOrCreate) under a file`, err)
	}},
	{"Directory", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		for _, name := range []string{"d", "."} {
			for _, mode := range []diskmodel.OpenMode{diskmodel.OpenExisting, diskmodel.OpenOrCreate, diskmodel.CreateExclusive} {
				_, err := fsys.OpenFile(name, mode)
				wantFail(t, "OpenFile("+name+") of a directory", err)
			}
		}
	}},
	{"InSubdirectory", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		mkdir(t, fsys, "d/e")
		create(t, fsys, "d/e/f", []byte("deep"))
		wantContent(t, fsys, "d/e/f", []byte("deep"))
	}},
	{"TwoHandlesShareContent", func(t *testing.T, fsys diskmodel.FS) {
		a := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer a.Close()
		b := open(t, fsys, "f", diskmodel.OpenExisting)
		defer b.Close()
		if _, err := a.WriteAt([]byte("shared"), 0); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		buf := make([]byte, 6)
		if n, err := b.ReadAt(buf, 0); n != 6 || err != nil || string(buf) != "shared" {
			t.Fatalf("ReadAt on second handle = %d, %v, %q, want 6, nil, %q", n, err, buf, "shared")
		}
	}},
}

var readWriteTests = []test{
	{"WriteThenRead", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		data := pattern(3000, 1)
		if n, err := f.WriteAt(data, 0); n != len(data) || err != nil {
			t.Fatalf("WriteAt = %d, %v, want %d, nil", n, err, len(data))
		}
		got := make([]byte, len(data))
		if n, err := f.ReadAt(got, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadAt = %d, %v, want %d, nil and the written bytes", n, err, len(data))
		}
	}},
	{"OffsetsAndHoles", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		writes := []struct {
			off  int64
			data string
		}{{10, "abc"}, {1000, "xyz"}, {11, "Q"}, {0, "0"}}
		want := make([]byte, 1003)
		for _, w := range writes {
			if n, err := f.WriteAt([]byte(w.data), w.off); n != len(w.data) || err != nil {
				t.Fatalf("WriteAt(%q, %d) = %d, %v", w.data, w.off, n, err)
			}
			copy(want[w.off:], w.data)
		}
		if size, err := f.Size(); size != 1003 || err != nil {
			t.Fatalf("Size() = %d, %v, want 1003, nil", size, err)
		}
		wantContent(t, fsys, "f", want)
	}},
	{"OverwriteMiddleKeepsSize", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("0123456789"))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		if _, err := f.WriteAt([]byte("ab"), 4); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		wantContent(t, fsys, "f", []byte("0123ab6789"))
	}},
	{"ReadPastEOF", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("0123456789"))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		cases := []struct {
			off   int64
			len   int
			wantN int
			want  string
		}{{6, 10, 4, "6789"}, {10, 5, 0, ""}, {50, 5, 0, ""}}
		for _, c := range cases {
			buf := make([]byte, c.len)
			n, err := f.ReadAt(buf, c.off)
			if n != c.wantN || !errors.Is(err, io.EOF) || string(buf[:n]) != c.want {
				t.Errorf("ReadAt(len %d, %d) = %d, %v, %q, want %d, io.EOF, %q", c.len, c.off, n, err, buf[:n], c.wantN, c.want)
			}
		}
		buf := make([]byte, 10)
		if n, err := f.ReadAt(buf, 0); n != 10 || err != nil {
			t.Errorf("ReadAt(len 10, 0) of a 10-byte file = %d, %v, want 10, nil", n, err)
		}
	}},
	{"NegativeOffset", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		_, err := f.WriteAt([]byte("x"), -1)
		wantFail(t, "WriteAt(x, -1)", err)
		_, err = f.ReadAt(make([]byte, 1), -1)
		wantFail(t, "ReadAt(1, -1)", err)
	}},
	{"EmptyWriteDoesNotExtend", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		if n, err := f.WriteAt(nil, 100); n != 0 || err != nil {
			t.Fatalf("WriteAt(nil, 100) = %d, %v, want 0, nil", n, err)
		}
		if size, err := f.Size(); size != 0 || err != nil {
			t.Fatalf("Size() after empty write = %d, %v, want 0, nil", size, err)
		}
	}},
	{"SyncKeepsContent", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		data := pattern(1500, 9)
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("Sync() = %v, want nil", err)
		}
		if _, err := f.WriteAt([]byte("tail"), 1500); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("Sync() = %v, want nil", err)
		}
		wantContent(t, fsys, "f", append(data, "tail"...))
	}},
	{"LargeUnaligned", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		data := pattern(3*diskmodel.SectorSize+17, 3)
		if _, err := f.WriteAt(data, diskmodel.SectorSize-5); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		want := append(make([]byte, diskmodel.SectorSize-5), data...)
		wantContent(t, fsys, "f", want)
	}},
}

var truncateTests = []test{
	{"GrowZeroFills", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("abc"))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		if err := f.Truncate(10); err != nil {
			t.Fatalf("Truncate(10) = %v", err)
		}
		wantContent(t, fsys, "f", append([]byte("abc"), make([]byte, 7)...))
	}},
	{"ShrinkThenRegrowReadsZeros", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("0123456789"))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		if err := f.Truncate(4); err != nil {
			t.Fatalf("Truncate(4) = %v", err)
		}
		if size, err := f.Size(); size != 4 || err != nil {
			t.Fatalf("Size() = %d, %v, want 4, nil", size, err)
		}
		wantContent(t, fsys, "f", []byte("0123"))
		if err := f.Truncate(8); err != nil {
			t.Fatalf("Truncate(8) = %v", err)
		}
		wantContent(t, fsys, "f", []byte("0123\x00\x00\x00\x00"))
	}},
	{"ToZero", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", pattern(2000, 1))
		f := open(t, fsys, "f", diskmodel.OpenExisting)
		defer f.Close()
		if err := f.Truncate(0); err != nil {
			t.Fatalf("Truncate(0) = %v", err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("Sync() = %v", err)
		}
		wantContent(t, fsys, "f", []byte{})
	}},
	{"Negative", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		wantFail(t, "Truncate(-1)", f.Truncate(-1))
	}},
}

var statTests = []test{
	{"File", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		create(t, fsys, "d/f", pattern(77, 0))
		info, err := fsys.Stat("d/f")
		if want := (diskmodel.FileInfo{Name: "f", Size: 77}); err != nil || info != want {
			t.Fatalf("Stat(%q) = %+v, %v, want %+v, nil", "d/f", info, err, want)
		}
	}},
	{"Directory", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		info, err := fsys.Stat("d")
		if err != nil || !info.IsDir || info.Name != "d" {
			t.Fatalf("Stat(%q) = %+v, %v, want directory d", "d", info, err)
		}
	}},
	{"Root", func(t *testing.T, fsys diskmodel.FS) {
		info, err := fsys.Stat(".")
		if err != nil || !info.IsDir {
			t.Fatalf("Stat(.) = %+v, %v, want a directory", info, err)
		}
	}},
	{"Missing", func(t *testing.T, fsys diskmodel.FS) {
		_, err := fsys.Stat("d/f")
		wantErr(t, `Stat("d/f")`, err, fs.ErrNotExist, "d/f")
	}},
}

var readDirTests = []test{
	{"SortedWithKinds", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "top")
		for _, name := range []string{"zeta", "alpha", "Mid", "beta2", "beta10"} {
			create(t, fsys, "top/"+name, pattern(len(name), 0))
		}
		mkdir(t, fsys, "top/dir")
		create(t, fsys, "top/dir/hidden", nil)
		got, err := fsys.ReadDir("top")
		want := []diskmodel.FileInfo{
			{Name: "Mid", Size: 3}, {Name: "alpha", Size: 5}, {Name: "beta10", Size: 6},
			{Name: "beta2", Size: 5}, {Name: "dir", IsDir: true}, {Name: "zeta", Size: 4},
		}
		if err != nil || !equalInfos(got, want) {
			t.Fatalf("ReadDir(top) = %+v, %v, want %+v, nil", got, err, want)
		}
	}},
	{"Root", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "b", nil)
		mkdir(t, fsys, "a")
		got, err := fsys.ReadDir(".")
		want := []diskmodel.FileInfo{{Name: "a", IsDir: true}, {Name: "b"}}
		if err != nil || !equalInfos(got, want) {
			t.Fatalf("ReadDir(.) = %+v, %v, want %+v, nil", got, err, want)
		}
	}},
	{"Empty", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		got, err := fsys.ReadDir("d")
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadDir(d) = %+v, %v, want empty, nil", got, err)
		}
	}},
	{"Missing", func(t *testing.T, fsys diskmodel.FS) {
		_, err := fsys.ReadDir("nope")
		wantErr(t, `ReadDir("nope")`, err, fs.ErrNotExist, "nope")
	}},
	{"OfFile", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", nil)
		_, err := fsys.ReadDir("f")
		wantFail(t, "ReadDir of a file", err)
	}},
}

func equalInfos(a, b []diskmodel.FileInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var mkdirTests = []test{
	{"Nested", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "a")
		mkdir(t, fsys, "a/b")
		if info, err := fsys.Stat("a/b"); err != nil || !info.IsDir {
			t.Fatalf("Stat(a/b) = %+v, %v, want a directory", info, err)
		}
	}},
	{"Existing", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "a")
		wantErr(t, "Mkdir(a) twice", fsys.Mkdir("a"), fs.ErrExist, "a")
		create(t, fsys, "f", nil)
		wantErr(t, "Mkdir(f) over a file", fsys.Mkdir("f"), fs.ErrExist, "f")
	}},
	{"MissingParent", func(t *testing.T, fsys diskmodel.FS) {
		wantErr(t, "Mkdir(a/b)", fsys.Mkdir("a/b"), fs.ErrNotExist, "a/b")
	}},
}

var removeTests = []test{
	{"File", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("x"))
		if err := fsys.Remove("f"); err != nil {
			t.Fatalf("Remove(f) = %v", err)
		}
		wantMissing(t, fsys, "f")
	}},
	{"EmptyDir", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		if err := fsys.Remove("d"); err != nil {
			t.Fatalf("Remove(d) = %v", err)
		}
		wantMissing(t, fsys, "d")
	}},
	{"NonEmptyDirFails", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		create(t, fsys, "d/f", []byte("keep"))
		wantFail(t, "Remove(d) of a non-empty directory", fsys.Remove("d"))
		wantContent(t, fsys, "d/f", []byte("keep"))
	}},
	{"Missing", func(t *testing.T, fsys diskmodel.FS) {
		wantErr(t, "Remove(nope)", fsys.Remove("nope"), fs.ErrNotExist, "nope")
	}},
	{"Root", func(t *testing.T, fsys diskmodel.FS) {
		wantFail(t, "Remove(.)", fsys.Remove("."))
	}},
	{"OpenFileKeepsWorking", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		defer f.Close()
		if _, err := f.WriteAt([]byte("abc"), 0); err != nil {
			t.Fatalf("WriteAt = %v", err)
		}
		if err := fsys.Remove("f"); err != nil {
			t.Fatalf("Remove(f) = %v", err)
		}
		buf := make([]byte, 3)
		if n, err := f.ReadAt(buf, 0); n != 3 || err != nil || string(buf) != "abc" {
			t.Fatalf("ReadAt after Remove = %d, %v, %q, want 3, nil, abc", n, err, buf)
		}
		wantMissing(t, fsys, "f")
	}},
	{"NameReusable", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", []byte("old"))
		if err := fsys.Remove("f"); err != nil {
			t.Fatalf("Remove(f) = %v", err)
		}
		create(t, fsys, "f", []byte("new!"))
		wantContent(t, fsys, "f", []byte("new!"))
	}},
}

var renameTests = []test{
	{"Simple", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("A"))
		if err := fsys.Rename("a", "b"); err != nil {
			t.Fatalf("Rename(a, b) = %v", err)
		}
		wantMissing(t, fsys, "a")
		wantContent(t, fsys, "b", []byte("A"))
	}},
	{"ReplacesFile", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("new"))
		create(t, fsys, "b", []byte("old content"))
		if err := fsys.Rename("a", "b"); err != nil {
			t.Fatalf("Rename(a, b) = %v", err)
		}
		wantMissing(t, fsys, "a")
		wantContent(t, fsys, "b", []byte("new"))
	}},
	{"AcrossDirectories", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d1")
		mkdir(t, fsys, "d2")
		create(t, fsys, "d1/f", []byte("moving"))
		if err := fsys.Rename("d1/f", "d2/g"); err != nil {
			t.Fatalf("Rename(d1/f, d2/g) = %v", err)
		}
		wantMissing(t, fsys, "d1/f")
		wantContent(t, fsys, "d2/g", []byte("moving"))
	}},
	{"Directory", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		create(t, fsys, "d/f", []byte("child"))
		if err := fsys.Rename("d", "e"); err != nil {
			t.Fatalf("Rename(d, e) = %v", err)
		}
		wantMissing(t, fsys, "d")
		wantContent(t, fsys, "e/f", []byte("child"))
	}},
	{"ToItself", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("same"))
		if err := fsys.Rename("a", "a"); err != nil {
			t.Fatalf("Rename(a, a) = %v, want nil", err)
		}
		wantContent(t, fsys, "a", []byte("same"))
	}},
	{"MissingSource", func(t *testing.T, fsys diskmodel.FS) {
		wantErr(t, "Rename(nope, x)", fsys.Rename("nope", "x"), fs.ErrNotExist, "nope")
	}},
	{"MissingTargetDir", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("A"))
		wantErr(t, "Rename(a, d/a)", fsys.Rename("a", "d/a"), fs.ErrNotExist, "d/a")
		wantContent(t, fsys, "a", []byte("A"))
	}},
	{"FileOverDirectoryFails", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("A"))
		mkdir(t, fsys, "d")
		wantFail(t, "Rename(a, d) over a directory", fsys.Rename("a", "d"))
		wantContent(t, fsys, "a", []byte("A"))
	}},
	{"DirectoryOverFileFails", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "a", []byte("A"))
		mkdir(t, fsys, "d")
		wantFail(t, "Rename(d, a) over a file", fsys.Rename("d", "a"))
		wantContent(t, fsys, "a", []byte("A"))
	}},
	{"DirectoryIntoItselfFails", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		mkdir(t, fsys, "d/e")
		wantFail(t, "Rename(d, d/e/d)", fsys.Rename("d", "d/e/d"))
		if info, err := fsys.Stat("d/e"); err != nil || !info.IsDir {
			t.Fatalf("Stat(d/e) = %+v, %v, want a directory", info, err)
		}
	}},
	{"Root", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		wantFail(t, "Rename(., d/x)", fsys.Rename(".", "d/x"))
	}},
	{"OpenFileFollows", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "a", diskmodel.OpenOrCreate)
		defer f.Close()
		if err := fsys.Rename("a", "b"); err != nil {
			t.Fatalf("Rename(a, b) = %v", err)
		}
		if _, err := f.WriteAt([]byte("late"), 0); err != nil {
			t.Fatalf("WriteAt after Rename = %v", err)
		}
		wantContent(t, fsys, "b", []byte("late"))
	}},
}

var syncDirTests = []test{
	{"RootAndSubdir", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		create(t, fsys, "d/f", []byte("x"))
		for _, dir := range []string{".", "d"} {
			if err := fsys.SyncDir(dir); err != nil {
				t.Fatalf("SyncDir(%q) = %v, want nil", dir, err)
			}
		}
		wantContent(t, fsys, "d/f", []byte("x"))
	}},
	{"Missing", func(t *testing.T, fsys diskmodel.FS) {
		wantErr(t, "SyncDir(nope)", fsys.SyncDir("nope"), fs.ErrNotExist, "nope")
	}},
	{"OfFile", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", nil)
		wantFail(t, "SyncDir of a file", fsys.SyncDir("f"))
	}},
}

var closedTests = []test{
	{"UseAfterClose", func(t *testing.T, fsys diskmodel.FS) {
		f := open(t, fsys, "f", diskmodel.OpenOrCreate)
		if err := f.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
		calls := []struct {
			name string
			err  func() error
		}{
			{"ReadAt", func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err }},
			{"WriteAt", func() error { _, err := f.WriteAt([]byte("x"), 0); return err }},
			{"Size", func() error { _, err := f.Size(); return err }},
			{"Truncate", func() error { return f.Truncate(1) }},
			{"Sync", func() error { return f.Sync() }},
			{"Close", func() error { return f.Close() }},
		}
		for _, c := range calls {
			wantErr(t, c.name+" after Close", c.err(), diskmodel.ErrClosed, "f")
		}
		wantContent(t, fsys, "f", []byte{})
	}},
}

// invalidNames are rejected by every method with ErrInvalidName.
var invalidNames = []string{"", "/abs", "a/../b", "..", "./a", "a/", "a//b", "a/./b", "../escape"}

var invalidNameTests = []test{
	{"EveryMethod", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "a")
		for _, name := range invalidNames {
			calls := []struct {
				name string
				err  func() error
			}{
				{"OpenFile", func() error { _, err := fsys.OpenFile(name, diskmodel.OpenOrCreate); return err }},
				{"Stat", func() error { _, err := fsys.Stat(name); return err }},
				{"ReadDir", func() error { _, err := fsys.ReadDir(name); return err }},
				{"Mkdir", func() error { return fsys.Mkdir(name) }},
				{"Remove", func() error { return fsys.Remove(name) }},
				{"RenameFrom", func() error { return fsys.Rename(name, "x") }},
				{"RenameTo", func() error { return fsys.Rename("a", name) }},
				{"SyncDir", func() error { return fsys.SyncDir(name) }},
				{"MkdirAll", func() error { return diskmodel.MkdirAll(fsys, name) }},
			}
			for _, c := range calls {
				if err := c.err(); !errors.Is(err, diskmodel.ErrInvalidName) {
					t.Errorf("%s(%q) = %v, want ErrInvalidName", c.name, name, err)
				}
			}
		}
		if info, err := fsys.Stat("a"); err != nil || !info.IsDir {
			t.Fatalf("Stat(a) after invalid calls = %+v, %v, want the directory intact", info, err)
		}
	}},
}

var helperTests = []test{
	{"MkdirAll", func(t *testing.T, fsys diskmodel.FS) {
		for i := 0; i < 2; i++ { // the second call finds everything there
			if err := diskmodel.MkdirAll(fsys, "a/b/c"); err != nil {
				t.Fatalf("MkdirAll(a/b/c) call %d = %v", i, err)
			}
		}
		for _, dir := range []string{"a", "a/b", "a/b/c"} {
			if info, err := fsys.Stat(dir); err != nil || !info.IsDir {
				t.Fatalf("Stat(%q) = %+v, %v, want a directory", dir, info, err)
			}
		}
		if err := diskmodel.MkdirAll(fsys, "."); err != nil {
			t.Fatalf("MkdirAll(.) = %v, want nil", err)
		}
	}},
	{"MkdirAllOverFile", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", nil)
		if err := diskmodel.MkdirAll(fsys, "f"); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("MkdirAll(f) over a file = %v, want fs.ErrExist", err)
		}
		wantFail(t, "MkdirAll(f/g) under a file", diskmodel.MkdirAll(fsys, "f/g"))
	}},
	{"WriteFileAtomic", func(t *testing.T, fsys diskmodel.FS) {
		mkdir(t, fsys, "d")
		for _, data := range [][]byte{[]byte("first version"), []byte("2"), {}, pattern(5000, 4)} {
			if err := diskmodel.WriteFileAtomic(fsys, "d/f", data); err != nil {
				t.Fatalf("WriteFileAtomic(d/f, %d bytes) = %v", len(data), err)
			}
			wantContent(t, fsys, "d/f", data)
		}
		got, err := fsys.ReadDir("d")
		if want := []diskmodel.FileInfo{{Name: "f", Size: 5000}}; err != nil || !equalInfos(got, want) {
			t.Fatalf("ReadDir(d) = %+v, %v, want %+v (no temporary left)", got, err, want)
		}
	}},
	{"ReadFileMissing", func(t *testing.T, fsys diskmodel.FS) {
		_, err := diskmodel.ReadFile(fsys, "nope")
		wantErr(t, "ReadFile(nope)", err, fs.ErrNotExist, "nope")
	}},
	{"ReadFileEmpty", func(t *testing.T, fsys diskmodel.FS) {
		create(t, fsys, "f", nil)
		wantContent(t, fsys, "f", []byte{})
	}},
}
