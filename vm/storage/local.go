package storage

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/vm/sys"
)

// FilesPerProcessMax bounds the files one process may hold open.
const FilesPerProcessMax = 1024

// Local is sys.Storage over one diskmodel.FS. It answers every operation at
// once.
type Local struct {
	fsys  diskmodel.FS
	files map[uint64]*fdTable // by pid
}

type fdTable struct {
	next  uint64
	open  map[uint64]*openFile
	count int
}

type openFile struct {
	name string
	f    diskmodel.File
}

var _ sys.Storage = (*Local)(nil)

// NewLocal serves the tree of fsys.
func NewLocal(fsys diskmodel.FS) *Local {
	return &Local{fsys: fsys, files: map[uint64]*fdTable{}}
}

// Clean turns a program's path into a diskmodel name: a leading "/" is the
// root; "" and "/" name the root itself. ok is false for names that leave
// the tree or are not clean.
func Clean(p string) (string, bool) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return ".", true
	}
	p = strings.TrimSuffix(p, "/")
	if !diskmodel.ValidName(p) {
		return "", false
	}
	return p, true
}

// Errno maps a diskmodel error to the code a program sees.
func Errno(err error) sys.Errno {
	// Check errno values first: Go reports ENOTEMPTY as fs.ErrExist too.
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOTEMPTY:
			return sys.ENOTEMPTY
		case syscall.ENOTDIR:
			return sys.ENOTDIR
		case syscall.EISDIR:
			return sys.EISDIR
		case syscall.ENAMETOOLONG:
			return sys.ENAMETOOLONG
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sys.ENOENT
	case errors.Is(err, fs.ErrExist):
		return sys.EEXIST
	case errors.Is(err, diskmodel.ErrNoSpace):
		return sys.ENOSPC
	case errors.Is(err, diskmodel.ErrInvalidName), errors.Is(err, fs.ErrInvalid):
		return sys.EINVAL
	case errors.Is(err, fs.ErrPermission):
		return sys.EACCES
	case errors.Is(err, diskmodel.ErrClosed):
		return sys.EBADF
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "is a directory"):
		return sys.EISDIR
	case strings.Contains(msg, "not a directory"):
		return sys.ENOTDIR
	case strings.Contains(msg, "directory not empty"):
		return sys.ENOTEMPTY
	}
	return sys.EIO
}

func errReply(err error) (sys.Reply, bool) { return sys.ErrReply(Errno(err)), true }

func ok(v uint64) (sys.Reply, bool) { return sys.Reply{Val: v}, true }

func (s *Local) table(pid uint64) *fdTable {
	t, found := s.files[pid]
	if !found {
		t = &fdTable{open: map[uint64]*openFile{}}
		s.files[pid] = t
	}
	return t
}

func (s *Local) lookup(pid, fd uint64) (*openFile, bool) {
	t, found := s.files[pid]
	if !found {
		return nil, false
	}
	f, found := t.open[fd]
	return f, found
}

func (s *Local) Open(c sys.Caller, p string, mode sys.OpenMode) (sys.Reply, bool) {
	name, valid := Clean(p)
	if !valid || name == "." || mode > sys.CreateExclusive {
		return sys.ErrReply(sys.EINVAL), true
	}
	t := s.table(c.PID)
	if t.count >= FilesPerProcessMax {
		return sys.ErrReply(sys.EMFILE), true
	}
	info, statErr := s.fsys.Stat(name)
	if statErr == nil && info.IsDir {
		return sys.ErrReply(sys.EISDIR), true
	}
	f, err := s.fsys.OpenFile(name, diskmodel.OpenMode(mode))
	if err != nil {
		return errReply(err)
	}
	if statErr != nil {
		// Created: make the new name durable before acknowledging.
		if err := s.fsys.SyncDir(path.Dir(name)); err != nil {
			f.Close()
			return errReply(err)
		}
	}
	fd := t.next
	t.next++
	t.open[fd] = &openFile{name: name, f: f}
	t.count++
	return ok(fd)
}

func (s *Local) Close(c sys.Caller, fd uint64) (sys.Reply, bool) {
	f, found := s.lookup(c.PID, fd)
	if !found {
		return sys.ErrReply(sys.EBADF), true
	}
	t := s.files[c.PID]
	delete(t.open, fd)
	t.count--
	if err := f.f.Close(); err != nil {
		return errReply(err)
	}
	return ok(0)
}

func (s *Local) Read(c sys.Caller, fd, off, n uint64) (sys.Reply, bool) {
	f, found := s.lookup(c.PID, fd)
	if !found {
		return sys.ErrReply(sys.EBADF), true
	}
	if off > 1<<62 || n > 1<<30 {
		return sys.ErrReply(sys.EINVAL), true
	}
	size, err := f.f.Size()
	if err != nil {
		return errReply(err)
	}
	if int64(off) >= size {
		return sys.Reply{Val: 0}, true
	}
	buf := make([]byte, min(int64(n), size-int64(off)))
	got, err := f.f.ReadAt(buf, int64(off))
	if err != nil && !errors.Is(err, io.EOF) {
		return errReply(err)
	}
	return sys.Reply{Val: uint64(got), Data: buf[:got]}, true
}

func (s *Local) Write(c sys.Caller, fd, off uint64, data []byte) (sys.Reply, bool) {
	f, found := s.lookup(c.PID, fd)
	if !found {
		return sys.ErrReply(sys.EBADF), true
	}
	if off > 1<<62 {
		return sys.ErrReply(sys.EFBIG), true
	}
	n, err := f.f.WriteAt(data, int64(off))
	if err != nil {
		return errReply(err)
	}
	if err := f.f.Sync(); err != nil {
		return errReply(err)
	}
	return ok(uint64(n))
}

func (s *Local) Size(c sys.Caller, fd uint64) (sys.Reply, bool) {
	f, found := s.lookup(c.PID, fd)
	if !found {
		return sys.ErrReply(sys.EBADF), true
	}
	size, err := f.f.Size()
	if err != nil {
		return errReply(err)
	}
	return ok(uint64(size))
}

func (s *Local) List(_ sys.Caller, p string) (sys.Reply, bool) {
	name, valid := Clean(p)
	if !valid {
		return sys.ErrReply(sys.EINVAL), true
	}
	infos, err := s.fsys.ReadDir(name)
	if err != nil {
		return errReply(err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	var out []byte
	for _, fi := range infos {
		out = append(out, fi.Name...)
		if fi.IsDir {
			out = append(out, '/')
		}
		out = append(out, '\n')
	}
	return sys.Reply{Val: uint64(len(out)), Data: out}, true
}

func (s *Local) Remove(_ sys.Caller, p string) (sys.Reply, bool) {
	name, valid := Clean(p)
	if !valid || name == "." {
		return sys.ErrReply(sys.EINVAL), true
	}
	if err := s.fsys.Remove(name); err != nil {
		return errReply(err)
	}
	if err := s.fsys.SyncDir(path.Dir(name)); err != nil {
		return errReply(err)
	}
	return ok(0)
}

func (s *Local) Mkdir(_ sys.Caller, p string) (sys.Reply, bool) {
	name, valid := Clean(p)
	if !valid || name == "." {
		return sys.ErrReply(sys.EINVAL), true
	}
	if err := s.fsys.Mkdir(name); err != nil {
		return errReply(err)
	}
	if err := s.fsys.SyncDir(path.Dir(name)); err != nil {
		return errReply(err)
	}
	return ok(0)
}

// Rename renames a file or a directory (docs/storage.md's rules).
func (s *Local) Rename(_ sys.Caller, oldPath, newPath string) (sys.Reply, bool) {
	from, ok1 := Clean(oldPath)
	to, ok2 := Clean(newPath)
	if !ok1 || !ok2 || from == "." || to == "." {
		return sys.ErrReply(sys.EINVAL), true
	}
	src, err := s.fsys.Stat(from)
	if err != nil {
		return errReply(err)
	}
	if from == to {
		return ok(0)
	}
	if dst, err := s.fsys.Stat(to); err == nil && (src.IsDir || dst.IsDir) {
		return sys.ErrReply(sys.EEXIST), true
	}
	if src.IsDir && strings.HasPrefix(to, from+"/") {
		return sys.ErrReply(sys.EINVAL), true
	}
	if err := s.fsys.Rename(from, to); err != nil {
		return errReply(err)
	}
	if err := s.fsys.SyncDir(path.Dir(to)); err != nil {
		return errReply(err)
	}
	if err := s.fsys.SyncDir(path.Dir(from)); err != nil {
		return errReply(err)
	}
	return ok(0)
}

// localAttr is every directory's attributes on one machine: one copy, and
// one user (every process may do everything).
var localAttr = sys.Attr{Redundancy: 1, Owner: sys.UserRoot, Readers: []string{sys.Everyone}, Writers: []string{sys.Everyone}}

// dir checks that p names a directory.
func (s *Local) dir(p string) (sys.Errno, bool) {
	name, valid := Clean(p)
	if !valid {
		return sys.EINVAL, false
	}
	info, err := s.fsys.Stat(name)
	switch {
	case err != nil:
		return Errno(err), false
	case !info.IsDir:
		return sys.ENOTDIR, false
	}
	return 0, true
}

// GetAttr reports a directory's attributes: on one machine always R = 1,
// owner root, readers and writers everyone.
func (s *Local) GetAttr(_ sys.Caller, p string) (sys.Reply, bool) {
	if e, isDir := s.dir(p); !isDir {
		return sys.ErrReply(e), true
	}
	text := localAttr.Format()
	return sys.Reply{Val: uint64(len(text)), Data: text}, true
}

// SetAttr accepts only what one machine has: R = 1, and everyone as
// readers and writers; anything else is -EINVAL.
func (s *Local) SetAttr(_ sys.Caller, p string, c sys.AttrChange) (sys.Reply, bool) {
	if e, isDir := s.dir(p); !isDir {
		return sys.ErrReply(e), true
	}
	everyone := func(set bool, users []string) bool {
		return !set || len(users) == 1 && users[0] == sys.Everyone
	}
	if c.Redundancy > 1 || !everyone(c.SetReaders, c.Readers) || !everyone(c.SetWriters, c.Writers) {
		return sys.ErrReply(sys.EINVAL), true
	}
	return ok(0)
}

// Release closes every file the process left open.
func (s *Local) Release(pid uint64) {
	t, found := s.files[pid]
	if !found {
		return
	}
	fds := make([]uint64, 0, len(t.open))
	for fd := range t.open {
		fds = append(fds, fd)
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i] < fds[j] })
	for _, fd := range fds {
		t.open[fd].f.Close()
	}
	delete(s.files, pid)
}

// ReadFile reads a whole file (used to load programs).
func (s *Local) ReadFile(p string) ([]byte, error) {
	name, valid := Clean(p)
	if !valid {
		return nil, &fs.PathError{Op: "read", Path: p, Err: diskmodel.ErrInvalidName}
	}
	return diskmodel.ReadFile(s.fsys, name)
}
