package dfs

import (
	"fmt"

	"github.com/flockvm/flock/vm/sys"
)

// Storage is the filesystem as one process on this machine sees it: a
// sys.Storage whose descriptors belong to the process. Every operation
// that needs the metadata store or another machine answers later, through
// the process's sys.Completer, never inside the call.
type Storage struct {
	s        *Service
	pid      uint64
	user     string
	done     sys.Completer
	files    map[uint64]*openFile
	nextFD   uint64
	inflight int
	released bool
}

// openFile is what a descriptor names: the file's inode, the directory it
// was last seen in (whose permissions apply) and its chunk size.
type openFile struct {
	ino       ID
	dir       ID
	chunkSize uint32
}

var _ sys.Storage = (*Storage)(nil)

// Storage returns the view of process pid, which runs as user, answering
// through done. Calling it again for the same pid returns the same view.
func (s *Service) Storage(pid uint64, user string, done sys.Completer) *Storage {
	if !sys.ValidUser(user) || done == nil {
		panic(fmt.Sprintf("dfs: Storage(pid %d, user %q, completer %v): want a valid user and a completer", pid, user, done))
	}
	if v := s.views[pid]; v != nil {
		if v.user != user {
			panic(fmt.Sprintf("dfs: process %d asked for as %q, runs as %q", pid, user, v.user))
		}
		return v
	}
	v := &Storage{s: s, pid: pid, user: user, done: done, files: map[uint64]*openFile{}}
	s.views[pid] = v
	return v
}

// FileID is the identity of the file fd names (its inode id, stable across
// renames, like st_ino), or false if fd is not open.
func (v *Storage) FileID(fd uint64) (string, bool) {
	f, ok := v.files[fd]
	if !ok {
		return "", false
	}
	return f.ino.String(), true
}

// SetFDBase makes the view number its descriptors from base on, before
// it opens any: views of one process on several machines then never give
// the same number (a descriptor used on the wrong machine is EBADF, never
// another file).
func (v *Storage) SetFDBase(base uint64) {
	if v.nextFD == base && len(v.files) == 0 {
		return
	}
	if v.nextFD != 0 || len(v.files) != 0 {
		panic(fmt.Sprintf("dfs: SetFDBase(%d) on the view of pid %d after it opened files", base, v.pid))
	}
	v.nextFD = base
}

// OpenFiles is how many descriptors the view has open.
func (v *Storage) OpenFiles() int { return len(v.files) }

// enter checks the caller and counts the call; leave undoes it.
func (v *Storage) enter(c sys.Caller) {
	if c.PID != v.pid || (c.User != "" && c.User != v.user) {
		panic(fmt.Sprintf("dfs: call of pid %d user %q on the view of pid %d user %q", c.PID, c.User, v.pid, v.user))
	}
	v.s.inCall++
}

func (v *Storage) leave() { v.s.inCall-- }

// begin admits an operation, or refuses it when too many are in flight.
func (v *Storage) begin() bool {
	if v.inflight >= OpsPerProcessMax || v.s.opsNow >= OpsMax {
		v.s.stats.OpsRefused++
		return false
	}
	v.inflight++
	v.s.opsNow++
	v.s.stats.Ops++
	return true
}

// finish answers an operation begun with begin.
func (v *Storage) finish(req sys.ReqID, r sys.Reply) {
	if v.s.inCall > 0 {
		v.s.later(func() { v.finish(req, r) })
		return
	}
	v.inflight--
	v.s.opsNow--
	if int64(r.Val) == -int64(sys.EACCES) {
		markPermDenied.Hit()
		v.s.stats.Denied++
	}
	v.done.Complete(req, r)
}

func (v *Storage) fail(req sys.ReqID, e sys.Errno) { v.finish(req, sys.ErrReply(e)) }

func now(e sys.Errno) (sys.Reply, bool) { return sys.ErrReply(e), true }

var parked = sys.Reply{}

func (v *Storage) Open(c sys.Caller, path string, mode sys.OpenMode) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	comps, e := splitPath(path)
	switch {
	case e != 0:
		return now(e)
	case mode > sys.CreateExclusive:
		return now(sys.EINVAL)
	case len(comps) == 0:
		return now(sys.EISDIR)
	case len(v.files) >= FilesPerProcessMax:
		return now(sys.EMFILE)
	case !v.begin():
		return now(sys.EAGAIN)
	}
	v.s.startOpen(v, c.Req, comps, mode)
	return parked, false
}

func (v *Storage) Close(c sys.Caller, fd uint64) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	if _, ok := v.files[fd]; !ok {
		return now(sys.EBADF)
	}
	delete(v.files, fd)
	return sys.Reply{}, true
}

func (v *Storage) Read(c sys.Caller, fd, off, n uint64) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	f, ok := v.files[fd]
	switch {
	case !ok:
		return now(sys.EBADF)
	case off > 1<<62:
		return now(sys.EINVAL)
	case !v.begin():
		return now(sys.EAGAIN)
	}
	v.s.startRead(v, c.Req, f, off, min(n, ReadBytesMax))
	return parked, false
}

func (v *Storage) Write(c sys.Caller, fd, off uint64, data []byte) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	f, ok := v.files[fd]
	switch {
	case !ok:
		return now(sys.EBADF)
	case off > 1<<62:
		return now(sys.EFBIG)
	case len(data) == 0:
		return sys.Reply{}, true
	case !v.begin():
		return now(sys.EAGAIN)
	}
	v.s.startWrite(v, c.Req, f, off, data[:min(len(data), WriteBytesMax)])
	return parked, false
}

func (v *Storage) Size(c sys.Caller, fd uint64) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	f, ok := v.files[fd]
	switch {
	case !ok:
		return now(sys.EBADF)
	case !v.begin():
		return now(sys.EAGAIN)
	}
	v.s.startSize(v, c.Req, f)
	return parked, false
}

// pathCall starts an operation on a path, after the checks every one does.
func (v *Storage) pathCall(c sys.Caller, path string, start func([]string)) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	comps, e := splitPath(path)
	switch {
	case e != 0:
		return now(e)
	case !v.begin():
		return now(sys.EAGAIN)
	}
	start(comps)
	return parked, false
}

func (v *Storage) List(c sys.Caller, path string) (sys.Reply, bool) {
	return v.pathCall(c, path, func(comps []string) { v.s.startList(v, c.Req, comps) })
}

func (v *Storage) Remove(c sys.Caller, path string) (sys.Reply, bool) {
	return v.pathCall(c, path, func(comps []string) { v.s.startRemove(v, c.Req, comps) })
}

func (v *Storage) Mkdir(c sys.Caller, path string) (sys.Reply, bool) {
	return v.pathCall(c, path, func(comps []string) { v.s.startMkdir(v, c.Req, comps) })
}

// Rename gives the file or directory at oldPath the name newPath.
func (v *Storage) Rename(c sys.Caller, oldPath, newPath string) (sys.Reply, bool) {
	v.enter(c)
	defer v.leave()
	from, e1 := splitPath(oldPath)
	to, e2 := splitPath(newPath)
	switch {
	case e1 != 0:
		return now(e1)
	case e2 != 0:
		return now(e2)
	case len(from) == 0 || len(to) == 0:
		return now(sys.EINVAL)
	case !v.begin():
		return now(sys.EAGAIN)
	}
	v.s.startRename(v, c.Req, from, to)
	return parked, false
}

// GetAttr reports a directory's attributes (Data: sys.Attr.Format).
func (v *Storage) GetAttr(c sys.Caller, path string) (sys.Reply, bool) {
	return v.pathCall(c, path, func(comps []string) { v.s.startGetAttr(v, c.Req, comps) })
}

// SetAttr changes a directory's attributes.
func (v *Storage) SetAttr(c sys.Caller, path string, change sys.AttrChange) (sys.Reply, bool) {
	for _, list := range [][]string{change.Readers, change.Writers} {
		if len(list) > sys.UsersMax {
			return now(sys.EINVAL)
		}
		for _, u := range list {
			if u != sys.Everyone && !sys.ValidUser(u) {
				return now(sys.EINVAL)
			}
		}
	}
	if change.Redundancy > sys.RedundancyMax {
		return now(sys.EINVAL)
	}
	return v.pathCall(c, path, func(comps []string) { v.s.startSetAttr(v, c.Req, comps, change) })
}

// Release closes every file the process left open and forgets the view;
// operations still in flight finish, unanswered.
func (v *Storage) Release(pid uint64) {
	if pid != v.pid {
		panic(fmt.Sprintf("dfs: Release(%d) on the view of pid %d", pid, v.pid))
	}
	v.files = map[uint64]*openFile{}
	v.released = true
	delete(v.s.views, pid)
}

// addFile gives a new descriptor to an opened file.
func (v *Storage) addFile(f *openFile) uint64 {
	fd := v.nextFD
	v.nextFD++
	v.files[fd] = f
	return fd
}
