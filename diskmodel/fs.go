package diskmodel

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
)

// SectorSize is the unit in which a write can tear at a crash: after power
// loss each 512-byte sector of an unsynced write holds either its old or its
// new content, never a mix.
const SectorSize = 512

// OpenMode says what OpenFile does when the file exists or does not.
type OpenMode int

const (
	// OpenExisting opens a file that exists, else fails with fs.ErrNotExist.
	OpenExisting OpenMode = iota
	// OpenOrCreate opens the file, creating it empty if it does not exist.
	OpenOrCreate
	// CreateExclusive creates a new empty file, else fails with fs.ErrExist.
	CreateExclusive
)

// Errors shared by every backend, always wrapped in an *fs.PathError naming
// the file. Missing and existing files are reported with fs.ErrNotExist and
// fs.ErrExist; test with errors.Is.
var (
	// ErrNoSpace: the disk is full; the write did not happen.
	ErrNoSpace = errors.New("no space left on device")
	// ErrIO: the device failed to read or write; the data may be intact and
	// the operation may be retried.
	ErrIO = errors.New("input/output error")
	// ErrInvalidName: the name is not a clean relative slash-separated path.
	ErrInvalidName = errors.New("invalid file name")
	// ErrClosed: the File was used after Close.
	ErrClosed = fs.ErrClosed
)

// FS is a directory tree on one machine's disk. Names are clean,
// slash-separated and relative to the tree's root ("wal/0001.log"); "." is
// the root itself. An FS and its Files are used from one goroutine at a time.
type FS interface {
	// OpenFile opens the named file for reading and writing. A file it
	// creates is durable only after SyncDir of its parent directory.
	OpenFile(name string, mode OpenMode) (File, error)
	// Stat describes the named file or directory.
	Stat(name string) (FileInfo, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]FileInfo, error)
	// Mkdir creates a directory; its parent must exist. Durable after
	// SyncDir of the parent.
	Mkdir(dir string) error
	// Remove removes a file or an empty directory. Durable after SyncDir
	// of the parent.
	Remove(name string) error
	// Rename atomically gives a file a new name, replacing any file of that
	// name. After a crash exactly one of the two states is visible; the new
	// state is durable after SyncDir of both parents.
	Rename(oldname, newname string) error
	// SyncDir makes every create, rename and removal in dir durable.
	SyncDir(dir string) error
}

// File is an open file. Reads see every write made before them, synced or
// not; only Sync makes writes (and the file's size) survive a crash.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size is the file's current length in bytes.
	Size() (int64, error)
	// Truncate sets the file's length, zero-filling when it grows.
	Truncate(size int64) error
	// Sync makes the file's content and size durable.
	Sync() error
	// Close releases the file. It does not sync.
	Close() error
}

// FileInfo describes one entry of a directory.
type FileInfo struct {
	Name  string // base name
	Size  int64  // bytes; 0 for a directory
	IsDir bool
}

// ValidName reports whether name is a clean relative slash-separated path
// that stays inside the tree: no leading "/", no "..", no empty element.
func ValidName(name string) bool {
	// fs.ValidPath refuses empty, "." and ".." elements and leading or
	// trailing slashes (so a valid path is already clean); what it lets
	// through that a disk must not see is a backslash or a NUL.
	return fs.ValidPath(name) && !strings.ContainsAny(name, "\\\x00")
}

// MkdirAll creates dir and any missing parents, syncing each parent so the
// new directories are durable when it returns.
func MkdirAll(fsys FS, dir string) error {
	if !ValidName(dir) {
		return &fs.PathError{Op: "mkdirall", Path: dir, Err: ErrInvalidName}
	}
	if dir == "." {
		return nil
	}
	parent := path.Dir(dir)
	if info, err := fsys.Stat(dir); err == nil {
		if !info.IsDir {
			return &fs.PathError{Op: "mkdirall", Path: dir, Err: fs.ErrExist}
		}
		// It exists, but a crash could still undo its creation: syncing
		// the parent is what makes the promise of durability hold.
		return fsys.SyncDir(parent)
	}
	if err := MkdirAll(fsys, parent); err != nil {
		return err
	}
	if err := fsys.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsys.SyncDir(parent)
}

// WriteFileAtomic replaces the named file with data so that after a crash
// the file holds either its old content or all of data: write a temporary
// file (name + ".tmp"), sync it, rename it over name, sync the directory.
// One writer per name at a time; a ".tmp" file a crash left behind is
// overwritten by the next call.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fsys.OpenFile(tmp, OpenOrCreate)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(path.Dir(name))
}

// ReadFile reads the whole named file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, OpenExisting)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, err
	}
	return buf, nil
}
