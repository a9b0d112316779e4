package osdisk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/flockvm/flock/diskmodel"
)

// Permissions of what Flock creates: its data is private to its user.
const (
	filePerm = 0o600
	dirPerm  = 0o700
)

// FS is a directory tree on the machine's disk. It implements diskmodel.FS.
// Unlike the interface requires, it is safe for concurrent use; its Files are
// as safe as *os.File.
type FS struct {
	root *os.Root

	// dirs holds the directories that files were opened in, each open as
	// a root of its own: an os.Root resolves a path one component at a
	// time (an openat and a close per directory on the way), which was a
	// tenth of a chunk write's CPU. An entry is dropped when its directory
	// (or one above it) is removed or renamed through the FS, so a handle
	// never outlives the directory it names; the FS assumes, as the data
	// dir's lock does, that nothing else changes the tree's directories.
	// Held (RLock) while a cached root is used; taken to change the map.
	mu   sync.RWMutex
	dirs map[string]*os.Root
}

// dirsMax bounds the cached directory handles; a full cache is emptied.
const dirsMax = 256

var _ diskmodel.FS = (*FS)(nil)

// Open returns the FS rooted at the existing directory root.
func Open(root string) (*FS, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: root, Err: mapErrno(unwrapOS(err))}
	}
	return &FS{root: r}, nil
}

// Close releases the root directory. Files stay usable until closed.
func (s *FS) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropDirsLocked(func(string) bool { return true })
	return s.root.Close()
}

// in returns the root to use name's last element in, and that element:
// the cached handle of name's directory, opened on first use, or the FS's
// root for a name without a directory and when the directory cannot be
// opened (the root then reports the error as it would have). The caller
// calls done once it no longer uses the root.
func (s *FS) in(name string) (r *os.Root, base string, done func()) {
	dir, base := path.Split(name)
	if dir == "" {
		return s.root, name, func() {}
	}
	dir = dir[:len(dir)-1]
	s.mu.RLock()
	if r := s.dirs[dir]; r != nil {
		return r, base, s.mu.RUnlock
	}
	s.mu.RUnlock()
	s.mu.Lock()
	if r := s.dirs[dir]; r != nil { // opened by another caller meanwhile
		return r, base, s.mu.Unlock
	}
	sub, err := s.root.OpenRoot(dir)
	if err != nil {
		s.mu.Unlock()
		return s.root, name, func() {}
	}
	if len(s.dirs) >= dirsMax {
		s.dropDirsLocked(func(string) bool { return true })
	}
	if s.dirs == nil {
		s.dirs = make(map[string]*os.Root)
	}
	s.dirs[dir] = sub
	return sub, base, s.mu.Unlock // this once, used under the write lock
}

// forget drops the cached handles of name and of every directory under
// it: name was removed or renamed.
func (s *FS) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropDirsLocked(func(dir string) bool { return dir == name || strings.HasPrefix(dir, name+"/") })
}

// forgetRemoved drops the cached handle of name if it was a directory.
// Only an empty directory can be removed, and its own directories were
// removed (and forgotten) before it, so no prefix scan is needed: removing
// a file, the common case, takes no write lock.
func (s *FS) forgetRemoved(name string) {
	s.mu.RLock()
	_, cached := s.dirs[name]
	s.mu.RUnlock()
	if !cached {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.dirs[name]; r != nil {
		r.Close()
		delete(s.dirs, name)
	}
}

func (s *FS) dropDirsLocked(drop func(dir string) bool) {
	for dir, r := range s.dirs {
		if drop(dir) {
			r.Close()
			delete(s.dirs, dir)
		}
	}
}

// Root is the directory the FS was opened on.
func (s *FS) Root() string { return s.root.Name() }

// wrap turns any error from package os into an *fs.PathError naming name
// (relative to the root) with ENOSPC and EIO mapped to the diskmodel errors.
func wrap(op, name string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: mapErrno(unwrapOS(err))}
}

// unwrapOS strips the wrappers of package os, which name absolute paths.
func unwrapOS(err error) error {
	for {
		var pe *fs.PathError
		var le *os.LinkError
		var se *os.SyscallError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return err
		}
	}
}

func mapErrno(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return diskmodel.ErrNoSpace
	case errors.Is(err, syscall.EIO):
		return diskmodel.ErrIO
	}
	return err
}

func invalid(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: diskmodel.ErrInvalidName}
}

// OpenFile opens the named file for reading and writing; see diskmodel.FS.
func (s *FS) OpenFile(name string, mode diskmodel.OpenMode) (diskmodel.File, error) {
	if !diskmodel.ValidName(name) {
		return nil, invalid("open", name)
	}
	flag := os.O_RDWR
	switch mode {
	case diskmodel.OpenExisting:
	case diskmodel.OpenOrCreate:
		flag |= os.O_CREATE
	case diskmodel.CreateExclusive:
		flag |= os.O_CREATE | os.O_EXCL
	default:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EINVAL}
	}
	r, base, done := s.in(name)
	f, err := r.OpenFile(base, flag, filePerm)
	done()
	if err != nil {
		return nil, wrap("open", name, err)
	}
	return &File{f: f, name: name}, nil
}

// Stat describes the named file or directory, following symbolic links
// that stay inside the root.
func (s *FS) Stat(name string) (diskmodel.FileInfo, error) {
	if !diskmodel.ValidName(name) {
		return diskmodel.FileInfo{}, invalid("stat", name)
	}
	fi, err := s.root.Stat(name)
	if err != nil {
		return diskmodel.FileInfo{}, wrap("stat", name, err)
	}
	return info(path.Base(name), fi), nil
}

func info(name string, fi fs.FileInfo) diskmodel.FileInfo {
	if fi.IsDir() {
		return diskmodel.FileInfo{Name: name, IsDir: true}
	}
	return diskmodel.FileInfo{Name: name, Size: fi.Size()}
}

// ReadDir lists a directory, sorted by name.
func (s *FS) ReadDir(dir string) ([]diskmodel.FileInfo, error) {
	if !diskmodel.ValidName(dir) {
		return nil, invalid("readdir", dir)
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return nil, wrap("readdir", dir, err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, wrap("readdir", dir, err)
	}
	out := make([]diskmodel.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return nil, wrap("readdir", path.Join(dir, e.Name()), err)
		}
		out = append(out, info(e.Name(), fi))
	}
	slices.SortFunc(out, func(a, b diskmodel.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Mkdir creates a directory; its parent must exist.
func (s *FS) Mkdir(dir string) error {
	if !diskmodel.ValidName(dir) {
		return invalid("mkdir", dir)
	}
	return wrap("mkdir", dir, s.root.Mkdir(dir, dirPerm))
}

// Remove removes a file or an empty directory.
func (s *FS) Remove(name string) error {
	if !diskmodel.ValidName(name) {
		return invalid("remove", name)
	}
	r, base, done := s.in(name)
	err := r.Remove(base)
	done()
	if err == nil {
		s.forgetRemoved(name)
	}
	return wrap("remove", name, err)
}

// Rename atomically gives a file or directory a new name, replacing a file
// of that name. Like os.Rename it never replaces a directory.
func (s *FS) Rename(oldname, newname string) error {
	pathName := oldname + " -> " + newname
	if !diskmodel.ValidName(oldname) || !diskmodel.ValidName(newname) {
		return invalid("rename", pathName)
	}
	err := s.root.Rename(oldname, newname)
	if err == nil { // either may have been a directory
		s.forget(oldname)
		s.forget(newname)
	}
	return wrap("rename", pathName, err)
}

// SyncDir fsyncs the directory, making every create, rename and removal in
// it durable.
func (s *FS) SyncDir(dir string) error {
	if !diskmodel.ValidName(dir) {
		return invalid("syncdir", dir)
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return wrap("syncdir", dir, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return wrap("syncdir", dir, err)
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: syscall.ENOTDIR}
	}
	return wrap("syncdir", dir, f.Sync())
}

// File is an open file; it implements diskmodel.File.
type File struct {
	f    *os.File
	name string // relative to the root; errors name it
}

var _ diskmodel.File = (*File)(nil)

// ReadAt reads len(p) bytes at off; past the end it returns the bytes read
// and io.EOF.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	return n, wrap("readat", f.name, err)
}

// WriteAt writes p at off, zero-filling any hole before it.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.f.WriteAt(p, off)
	return n, wrap("writeat", f.name, err)
}

// Size is the file's current length.
func (f *File) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, wrap("size", f.name, err)
	}
	return fi.Size(), nil
}

// Truncate sets the file's length, zero-filling when it grows.
func (f *File) Truncate(size int64) error {
	return wrap("truncate", f.name, f.f.Truncate(size))
}

// Sync is fsync: it makes the file's content and size durable.
func (f *File) Sync() error {
	return wrap("sync", f.name, f.f.Sync())
}

// Close releases the file without syncing it.
func (f *File) Close() error {
	return wrap("close", f.name, f.f.Close())
}
