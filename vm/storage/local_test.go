package storage

import (
	"testing"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/sys"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", ".", true}, {"/", ".", true}, {"a/b", "a/b", true}, {"/a/b/", "a/b", true},
		{"../x", "", false}, {"a//b", "", false}, {"a/./b", "", false}, {"a/..", "", false},
	}
	for _, tc := range tests {
		got, ok := Clean(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func newLocal(t *testing.T) *Local {
	fsys, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return NewLocal(fsys)
}

func neg(e sys.Errno) uint64 { return e.Neg() }

// TestOperations walks a file through its life, and checks the error each
// misuse returns.
func TestOperations(t *testing.T) {
	s := newLocal(t)
	c := sys.Caller{PID: 1}
	other := sys.Caller{PID: 2}
	steps := []struct {
		name string
		got  func() (sys.Reply, bool)
		want uint64
	}{
		{"open missing", func() (sys.Reply, bool) { return s.Open(c, "f", sys.OpenExisting) }, neg(sys.ENOENT)},
		{"mkdir", func() (sys.Reply, bool) { return s.Mkdir(c, "d") }, 0},
		{"mkdir again", func() (sys.Reply, bool) { return s.Mkdir(c, "d") }, neg(sys.EEXIST)},
		{"mkdir no parent", func() (sys.Reply, bool) { return s.Mkdir(c, "x/y") }, neg(sys.ENOENT)},
		{"create", func() (sys.Reply, bool) { return s.Open(c, "d/f", sys.CreateExclusive) }, 0},
		{"create again", func() (sys.Reply, bool) { return s.Open(c, "d/f", sys.CreateExclusive) }, neg(sys.EEXIST)},
		{"open dir", func() (sys.Reply, bool) { return s.Open(c, "d", sys.OpenExisting) }, neg(sys.EISDIR)},
		{"write", func() (sys.Reply, bool) { return s.Write(c, 0, 2, []byte("abc")) }, 3},
		{"size", func() (sys.Reply, bool) { return s.Size(c, 0) }, 5},
		{"read", func() (sys.Reply, bool) { return s.Read(c, 0, 1, 10) }, 4},
		{"read past end", func() (sys.Reply, bool) { return s.Read(c, 0, 9, 10) }, 0},
		{"other process's fd", func() (sys.Reply, bool) { return s.Size(other, 0) }, neg(sys.EBADF)},
		{"remove non-empty dir", func() (sys.Reply, bool) { return s.Remove(c, "d") }, neg(sys.ENOTEMPTY)},
		{"close", func() (sys.Reply, bool) { return s.Close(c, 0) }, 0},
		{"close again", func() (sys.Reply, bool) { return s.Close(c, 0) }, neg(sys.EBADF)},
		{"bad path", func() (sys.Reply, bool) { return s.Open(c, "../etc/passwd", sys.OpenExisting) }, neg(sys.EINVAL)},
		{"bad mode", func() (sys.Reply, bool) { return s.Open(c, "d/f", 7) }, neg(sys.EINVAL)},
		{"remove file", func() (sys.Reply, bool) { return s.Remove(c, "d/f") }, 0},
		{"remove dir", func() (sys.Reply, bool) { return s.Remove(c, "d") }, 0},
	}
	for _, st := range steps {
		r, now := st.got()
		if !now || r.Val != st.want {
			t.Errorf("%s = %d (now %v), want %d", st.name, int64(r.Val), now, int64(st.want))
		}
	}
}

func TestListAndRelease(t *testing.T) {
	s := newLocal(t)
	c := sys.Caller{PID: 1}
	s.Mkdir(c, "sub")
	s.Open(c, "b.txt", sys.OpenOrCreate)
	s.Open(c, "a.txt", sys.OpenOrCreate)
	r, _ := s.List(c, "/")
	if got := string(r.Data); got != "a.txt\nb.txt\nsub/\n" || r.Val != uint64(len(got)) {
		t.Errorf("List(/) = %q (%d), want a.txt, b.txt, sub/", got, r.Val)
	}
	s.Release(1)
	if r, _ := s.Size(c, 0); r.Val != neg(sys.EBADF) {
		t.Errorf("after Release, Size(fd 0) = %d, want -EBADF", int64(r.Val))
	}
}

func TestRenameAndAttributes(t *testing.T) {
	s := newLocal(t)
	c := sys.Caller{PID: 1}
	s.Mkdir(c, "d")
	s.Mkdir(c, "d/sub")
	s.Open(c, "a", sys.OpenOrCreate)
	s.Open(c, "b", sys.OpenOrCreate)
	steps := []struct {
		name string
		got  func() (sys.Reply, bool)
		want uint64
	}{
		{"rename onto a file replaces it", func() (sys.Reply, bool) { return s.Rename(c, "a", "b") }, 0},
		{"rename of a missing name", func() (sys.Reply, bool) { return s.Rename(c, "a", "c") }, neg(sys.ENOENT)},
		{"rename onto a directory", func() (sys.Reply, bool) { return s.Rename(c, "b", "d") }, neg(sys.EEXIST)},
		{"rename of a directory onto a name", func() (sys.Reply, bool) { return s.Rename(c, "d/sub", "b") }, neg(sys.EEXIST)},
		{"a directory under itself", func() (sys.Reply, bool) { return s.Rename(c, "d", "d/sub/x") }, neg(sys.EINVAL)},
		{"into another directory", func() (sys.Reply, bool) { return s.Rename(c, "b", "d/b") }, 0},
		{"to the same name", func() (sys.Reply, bool) { return s.Rename(c, "d/b", "d/b") }, 0},
		{"of the root", func() (sys.Reply, bool) { return s.Rename(c, "/", "x") }, neg(sys.EINVAL)},
		{"getattr of a file", func() (sys.Reply, bool) { return s.GetAttr(c, "d/b") }, neg(sys.ENOTDIR)},
		{"getattr of nothing", func() (sys.Reply, bool) { return s.GetAttr(c, "zz") }, neg(sys.ENOENT)},
		{"setattr R 1", func() (sys.Reply, bool) { return s.SetAttr(c, "d", sys.AttrChange{Redundancy: 1}) }, 0},
		{"setattr R 2", func() (sys.Reply, bool) { return s.SetAttr(c, "d", sys.AttrChange{Redundancy: 2}) }, neg(sys.EINVAL)},
		{"setattr readers", func() (sys.Reply, bool) {
			return s.SetAttr(c, "d", sys.AttrChange{Readers: []string{"alice"}, SetReaders: true})
		}, neg(sys.EINVAL)},
	}
	for _, st := range steps {
		r, now := st.got()
		if !now || r.Val != st.want {
			t.Errorf("%s = %d (now %v), want %d", st.name, int64(r.Val), now, int64(st.want))
		}
	}
	r, _ := s.GetAttr(c, "/")
	a, err := sys.ParseAttr(r.Data)
	if err != nil || a.Redundancy != 1 || a.Owner != sys.UserRoot || !sys.Allows(a.Readers, "anyone") {
		t.Errorf("GetAttr(/) = %q (%v), want R=1 owner root, everyone", r.Data, err)
	}
	if r, _ := s.List(c, "d"); string(r.Data) != "b\nsub/\n" {
		t.Errorf("List(d) = %q, want b and sub/", r.Data)
	}
}
