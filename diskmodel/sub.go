package diskmodel

import (
	"errors"
	"io/fs"
	"path"
)

// Sub is the tree of fsys under dir, as its own FS (like io/fs.Sub): names
// are relative to dir, and nothing outside it can be named. Errors name the
// path as the caller gave it. dir must exist.
func Sub(fsys FS, dir string) FS {
	if !ValidName(dir) || dir == "." {
		panic("diskmodel: Sub of an invalid directory " + dir)
	}
	return &subFS{fsys: fsys, dir: dir}
}

type subFS struct {
	fsys FS
	dir  string
}

func (s *subFS) full(name string) (string, error) {
	if !ValidName(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: ErrInvalidName}
	}
	if name == "." {
		return s.dir, nil
	}
	return path.Join(s.dir, name), nil
}

// relabel rewrites the path in an error back to the caller's name, so
// that nothing outside the directory shows through.
func (s *subFS) relabel(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

func (s *subFS) OpenFile(name string, mode OpenMode) (File, error) {
	full, err := s.full(name)
	if err != nil {
		return nil, err
	}
	f, err := s.fsys.OpenFile(full, mode)
	return f, s.relabel(err, name)
}

func (s *subFS) Stat(name string) (FileInfo, error) {
	full, err := s.full(name)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := s.fsys.Stat(full)
	if err == nil && name == "." {
		fi.Name = "."
	}
	return fi, s.relabel(err, name)
}

func (s *subFS) ReadDir(dir string) ([]FileInfo, error) {
	full, err := s.full(dir)
	if err != nil {
		return nil, err
	}
	list, err := s.fsys.ReadDir(full)
	return list, s.relabel(err, dir)
}

func (s *subFS) Mkdir(dir string) error {
	full, err := s.full(dir)
	if err != nil {
		return err
	}
	return s.relabel(s.fsys.Mkdir(full), dir)
}

func (s *subFS) Remove(name string) error {
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: ErrInvalidName}
	}
	full, err := s.full(name)
	if err != nil {
		return err
	}
	return s.relabel(s.fsys.Remove(full), name)
}

func (s *subFS) Rename(oldname, newname string) error {
	if oldname == "." || newname == "." {
		return &fs.PathError{Op: "rename", Path: oldname, Err: ErrInvalidName}
	}
	from, err := s.full(oldname)
	if err != nil {
		return err
	}
	to, err := s.full(newname)
	if err != nil {
		return err
	}
	return s.relabel(s.fsys.Rename(from, to), oldname+" -> "+newname)
}

func (s *subFS) SyncDir(dir string) error {
	full, err := s.full(dir)
	if err != nil {
		return err
	}
	return s.relabel(s.fsys.SyncDir(full), dir)
}
