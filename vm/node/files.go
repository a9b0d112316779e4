package node

import (
	"fmt"
	"strings"

	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/sys"
)

// File operations the node runs itself, as a user, through the same
// filesystem its processes see: PSTART loading a program, and the client
// service's storage commands (flock ls, cat, put, ...). Each runs in a
// session: a private view of the filesystem (a pid of the node's own
// range, never a process's), a chain of calls, the view released at the
// end.

// Limits of the node's own file operations.
const (
	// fileSessionsMax bounds the sessions open at once on a node; more
	// are refused with EAGAIN.
	fileSessionsMax = 256
	// FileBytesMax bounds what ReadFile returns and PutFile writes (a
	// program file PSTART loads, a file flock cat prints or flock put
	// stores): larger is EFBIG.
	FileBytesMax = 64 << 20
	// fileCallsMax bounds the calls of one session (reads and writes of
	// at most dfs.ReadBytesMax / dfs.WriteBytesMax each, short ones
	// included).
	fileCallsMax = 4 * (FileBytesMax/dfs.WriteBytesMax + 16)
)

// fileCore is the core number of the node's file sessions' requests.
const fileCore = nodeCore - 1

// filePIDBase starts the pids of file sessions: far above any process's.
const filePIDBase = 1 << 63

// fileOps is the node's table of file sessions.
type fileOps struct {
	nextPID uint64
	nextSeq uint64
	open    int
	waiting map[sys.ReqID]func(sys.Reply)
	// abort answers each open session with an errno: the incarnation that
	// runs it is being replaced (abortFileSessions).
	abort map[uint64]func(sys.Errno)
}

// fileCompleter delivers the filesystem's answers to file sessions.
type fileCompleter struct{ n *Node }

func (c fileCompleter) Complete(id sys.ReqID, r sys.Reply) {
	ops := &c.n.fs.files
	if fn, ok := ops.waiting[id]; ok {
		delete(ops.waiting, id)
		fn(r)
	}
}

// fileSession is one chain of calls as one user.
type fileSession struct {
	n     *Node
	v     *dfs.Storage
	pid   uint64
	user  string
	calls int
	ended bool
}

// FileError is a failed file operation: what, on which path, and the
// filesystem's errno.
type FileError struct {
	Op    string
	Path  string
	Errno sys.Errno
}

func (e *FileError) Error() string { return fmt.Sprintf("%s %s: %s", e.Op, e.Path, ErrnoText(e.Errno)) }

// ErrnoText is the message of a filesystem errno, as POSIX tools print it.
func ErrnoText(e sys.Errno) string {
	switch e {
	case sys.ENOENT:
		return "no such file or directory"
	case sys.EIO:
		return "input/output error"
	case sys.ENOEXEC:
		return "not a program"
	case sys.EBADF:
		return "bad file descriptor"
	case sys.EAGAIN:
		return "resource temporarily unavailable"
	case sys.EACCES:
		return "permission denied"
	case sys.EEXIST:
		return "file exists"
	case sys.ENOTDIR:
		return "not a directory"
	case sys.EISDIR:
		return "is a directory"
	case sys.EINVAL:
		return "invalid argument"
	case sys.EMFILE:
		return "too many open files"
	case sys.EFBIG:
		return "file too large"
	case sys.ENOSPC:
		return "no space left on device"
	case sys.ENAMETOOLONG:
		return "file name too long"
	case sys.ENOTEMPTY:
		return "directory not empty"
	}
	return fmt.Sprintf("errno %d", uint64(e))
}

// errnoOf is the errno a reply carries, or 0 for a success.
func errnoOf(r sys.Reply) sys.Errno {
	if int64(r.Val) < 0 {
		return sys.Errno(-int64(r.Val))
	}
	return 0
}

// newFileSession opens a session as user, or says why it cannot.
func (n *Node) newFileSession(user string) (*fileSession, sys.Errno) {
	ops := &n.fs.files
	user = fsUser(user)
	switch {
	case !sys.ValidUser(user):
		return nil, sys.EACCES
	case n.fs.svc == nil:
		return nil, sys.EIO
	case ops.open >= fileSessionsMax:
		return nil, sys.EAGAIN
	}
	ops.open++
	ops.nextPID++
	pid := filePIDBase + ops.nextPID
	return &fileSession{n: n, v: n.fs.svc.Storage(pid, user, fileCompleter{n}), pid: pid, user: user}, 0
}

// call runs one call of the session; then receives its reply, at once
// when the call answered at once, else when the filesystem answers.
func (s *fileSession) call(start func(c sys.Caller) (sys.Reply, bool), then func(sys.Reply)) {
	if s.ended {
		panic(fmt.Sprintf("node: call on ended file session of pid %d", s.pid))
	}
	s.calls++
	if s.calls > fileCallsMax {
		then(sys.ErrReply(sys.EFBIG))
		return
	}
	ops := &s.n.fs.files
	ops.nextSeq++
	c := sys.Caller{PID: s.pid, User: s.user, Req: sys.ReqID{Machine: uint64(s.n.cfg.ID), Incarnation: uint32(s.n.inc), Core: fileCore, Seq: ops.nextSeq}}
	ops.waiting[c.Req] = then
	r, now := start(c)
	if now {
		delete(ops.waiting, c.Req)
		then(r)
	}
}

// end releases the session's view (closing what it left open).
func (s *fileSession) end() {
	if s.ended {
		return
	}
	s.ended = true
	s.v.Release(s.pid)
	s.n.fs.files.open--
	delete(s.n.fs.files.abort, s.pid)
}

// runFile runs body in a new session as user; body calls finish exactly
// once, which ends the session and reports.
func (n *Node) runFile(op, path, user string, done func(error), body func(s *fileSession, finish func(sys.Errno))) {
	s, e := n.newFileSession(user)
	if e != 0 {
		n.later(func() { done(&FileError{Op: op, Path: path, Errno: e}) })
		return
	}
	finish := func(e sys.Errno) {
		s.end()
		var err error
		if e != 0 {
			err = &FileError{Op: op, Path: path, Errno: e}
		}
		// Never inside the call that asked: an answer at once comes later.
		n.later(func() { done(err) })
	}
	n.fs.files.abort[s.pid] = func(e sys.Errno) {
		s.ended = true
		n.later(func() { done(&FileError{Op: op, Path: path, Errno: e}) })
	}
	body(s, finish)
}

// abortFileSessions answers every file session of the storage being
// replaced (a new incarnation boots): EIO, as what it did may or may not
// have taken effect.
func (n *Node) abortFileSessions(old *nodeStorage) {
	for _, pid := range sortedKeys(old.files.abort) {
		old.files.abort[pid](sys.EIO)
	}
	old.files.abort = nil
}

// readFile reads the whole file at path (at most limitBytes) as user.
func (n *Node) readFile(user, path string, limitBytes uint64, done func([]byte, error)) {
	var data []byte
	n.runFile("read", path, user, func(err error) { done(data, err) }, func(s *fileSession, finish func(sys.Errno)) {
		s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Open(c, path, sys.OpenExisting) }, func(r sys.Reply) {
			if e := errnoOf(r); e != 0 {
				finish(e)
				return
			}
			fd := r.Val
			s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Size(c, fd) }, func(r sys.Reply) {
				switch e := errnoOf(r); {
				case e != 0:
					finish(e)
				case r.Val > limitBytes:
					finish(sys.EFBIG)
				default:
					data = make([]byte, 0, r.Val)
					s.readFrom(fd, r.Val, &data, finish)
				}
			})
		})
	})
}

// readFrom reads [len(*data), size) of fd into *data.
func (s *fileSession) readFrom(fd, size uint64, data *[]byte, finish func(sys.Errno)) {
	off := uint64(len(*data))
	if off >= size {
		finish(0)
		return
	}
	s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Read(c, fd, off, size-off) }, func(r sys.Reply) {
		switch e := errnoOf(r); {
		case e != 0:
			finish(e)
		case r.Val == 0 || len(r.Data) == 0:
			finish(0) // the file shrank meanwhile: what there was
		default:
			got := r.Data[:min(uint64(len(r.Data)), size-off)]
			*data = append(*data, got...)
			s.readFrom(fd, size, data, finish)
		}
	})
}

// putFile stores data as the file at path, as user, replacing a file
// there at once: the data goes to a fresh file in the same directory,
// renamed over path once whole (so readers see the old file or the new
// one, never a mix, and a put that fails leaves the old file).
func (n *Node) putFile(user, path string, data []byte, done func(error)) {
	if len(data) > FileBytesMax {
		n.later(func() { done(&FileError{Op: "put", Path: path, Errno: sys.EFBIG}) })
		return
	}
	tmp := n.tempName(path)
	n.runFile("put", path, user, done, func(s *fileSession, finish func(sys.Errno)) {
		// A failure after the create removes the temporary file first.
		abort := func(e sys.Errno) {
			s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Remove(c, tmp) }, func(sys.Reply) { finish(e) })
		}
		s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Open(c, tmp, sys.CreateExclusive) }, func(r sys.Reply) {
			if e := errnoOf(r); e != 0 {
				finish(e)
				return
			}
			fd := r.Val
			s.writeFrom(fd, data, 0, func(e sys.Errno) {
				if e != 0 {
					abort(e)
					return
				}
				s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Close(c, fd) }, func(sys.Reply) {
					s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Rename(c, tmp, path) }, func(r sys.Reply) {
						if e := errnoOf(r); e != 0 {
							abort(e)
							return
						}
						finish(0)
					})
				})
			})
		})
	})
}

// tempName is a name next to path that no other put uses: the machine,
// incarnation and a sequence number of this node.
func (n *Node) tempName(path string) string {
	n.fs.files.nextSeq++
	dir, base := "", strings.TrimSuffix(path, "/")
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		dir, base = base[:i+1], base[i+1:]
	}
	name := fmt.Sprintf(".%s.put-%d-%d-%d", base, n.cfg.ID, n.inc, n.fs.files.nextSeq)
	if len(name) > dfs.NameBytesMax {
		name = fmt.Sprintf(".put-%d-%d-%d", n.cfg.ID, n.inc, n.fs.files.nextSeq)
	}
	return dir + name
}

// writeFrom writes data[off:] to fd, short writes continued.
func (s *fileSession) writeFrom(fd uint64, data []byte, off uint64, finish func(sys.Errno)) {
	if off >= uint64(len(data)) {
		finish(0)
		return
	}
	s.call(func(c sys.Caller) (sys.Reply, bool) { return s.v.Write(c, fd, off, data[off:]) }, func(r sys.Reply) {
		switch e := errnoOf(r); {
		case e != 0:
			finish(e)
		case r.Val == 0:
			finish(sys.EIO) // no progress: never expected of a write
		default:
			s.writeFrom(fd, data, off+r.Val, finish)
		}
	})
}

// pathFile runs one call on a path as user; data receives the reply's
// bytes (a listing, attributes).
func (n *Node) pathFile(op, user, path string, start func(s *fileSession, c sys.Caller) (sys.Reply, bool), done func([]byte, error)) {
	var data []byte
	n.runFile(op, path, user, func(err error) { done(data, err) }, func(s *fileSession, finish func(sys.Errno)) {
		s.call(func(c sys.Caller) (sys.Reply, bool) { return start(s, c) }, func(r sys.Reply) {
			data = r.Data
			finish(errnoOf(r))
		})
	})
}

// fileOp runs one file operation as user: data is what FilePut writes,
// change what FileSetAttr makes; done receives what the operation reads
// (a file, a listing, attributes).
func (n *Node) fileOp(op FileOp, user, path string, data []byte, change sys.AttrChange, done func([]byte, error)) {
	one := func(start func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool)) {
		n.pathFile(op.String(), user, path, func(f *fileSession, c sys.Caller) (sys.Reply, bool) { return start(f.v, c) }, done)
	}
	switch op {
	case FileRead:
		n.readFile(user, path, FileBytesMax, done)
	case FilePut:
		n.putFile(user, path, data, func(err error) { done(nil, err) })
	case FileList:
		one(func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool) { return v.List(c, path) })
	case FileMkdir:
		one(func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool) { return v.Mkdir(c, path) })
	case FileRemove:
		one(func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool) { return v.Remove(c, path) })
	case FileGetAttr:
		one(func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool) { return v.GetAttr(c, path) })
	case FileSetAttr:
		one(func(v *dfs.Storage, c sys.Caller) (sys.Reply, bool) { return v.SetAttr(c, path, change) })
	default:
		panic(fmt.Sprintf("node: file operation %v", op))
	}
}

// File runs a file operation as user through this node's filesystem
// service, for the node's drivers (a simulator writing the programs PSTART
// loads, a test); it answers later, once, through done, from a Tick or
// Receive. FileRead reads at most FileBytesMax.
func (n *Node) File(op FileOp, user, path string, data []byte, change sys.AttrChange, done func([]byte, error)) {
	defer n.enter()()
	if op == 0 || op >= numFileOps {
		n.later(func() { done(nil, &FileError{Op: op.String(), Path: path, Errno: sys.EINVAL}) })
		return
	}
	n.fileOp(op, user, path, data, change, done)
}

// PutFile stores data at path as user, replacing a file there atomically.
func (n *Node) PutFile(user, path string, data []byte, done func(error)) {
	n.File(FilePut, user, path, data, sys.AttrChange{}, dropData(done))
}

// ReadFile reads the file at path as user.
func (n *Node) ReadFile(user, path string, done func([]byte, error)) {
	n.File(FileRead, user, path, nil, sys.AttrChange{}, done)
}

func dropData(done func(error)) func([]byte, error) { return func(_ []byte, err error) { done(err) } }
