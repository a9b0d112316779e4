package cores

import (
	"sync"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/sys"
)

// LockedGlobal is g with every call made under lock: what a parallel core
// calls, so that the owner's single-threaded state stays single-threaded.
func LockedGlobal(g sys.Global, lock sync.Locker) sys.Global { return &lockedGlobal{g: g, l: lock} }

type lockedGlobal struct {
	g sys.Global
	l sync.Locker
}

func (w *lockedGlobal) Alloc(c sys.Caller, n uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Alloc(c, n)
}

func (w *lockedGlobal) Free(c sys.Caller, a uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Free(c, a)
}

func (w *lockedGlobal) Load(c sys.Caller, a uint64, width uint8) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Load(c, a, width)
}

func (w *lockedGlobal) Store(c sys.Caller, a uint64, width uint8, v uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Store(c, a, width, v)
}

func (w *lockedGlobal) CAS(c sys.Caller, a, e, r uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.CAS(c, a, e, r)
}

func (w *lockedGlobal) FetchAdd(c sys.Caller, a, d uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.FetchAdd(c, a, d)
}

func (w *lockedGlobal) Fence(c sys.Caller) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Fence(c)
}

func (w *lockedGlobal) ReadBytes(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.ReadBytes(c, a, n)
}

func (w *lockedGlobal) WriteBytes(c sys.Caller, a uint64, data []byte) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.WriteBytes(c, a, data)
}

func (w *lockedGlobal) Wait(c sys.Caller, a, e uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Wait(c, a, e)
}

func (w *lockedGlobal) Wake(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.g.Wake(c, a, n)
}

func (w *lockedGlobal) Release(pid uint64) {
	w.l.Lock()
	defer w.l.Unlock()
	w.g.Release(pid)
}

// LockedStorage is s with every call made under lock.
func LockedStorage(s sys.Storage, lock sync.Locker) sys.Storage { return &lockedStorage{s: s, l: lock} }

type lockedStorage struct {
	s sys.Storage
	l sync.Locker
}

func (w *lockedStorage) Open(c sys.Caller, p string, m sys.OpenMode) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Open(c, p, m)
}

func (w *lockedStorage) Close(c sys.Caller, fd uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Close(c, fd)
}

func (w *lockedStorage) Read(c sys.Caller, fd, off, n uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Read(c, fd, off, n)
}

func (w *lockedStorage) Write(c sys.Caller, fd, off uint64, data []byte) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Write(c, fd, off, data)
}

func (w *lockedStorage) Size(c sys.Caller, fd uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Size(c, fd)
}

func (w *lockedStorage) List(c sys.Caller, p string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.List(c, p)
}

func (w *lockedStorage) Remove(c sys.Caller, p string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Remove(c, p)
}

func (w *lockedStorage) Mkdir(c sys.Caller, p string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Mkdir(c, p)
}

func (w *lockedStorage) Rename(c sys.Caller, from, to string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.Rename(c, from, to)
}

func (w *lockedStorage) GetAttr(c sys.Caller, p string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.GetAttr(c, p)
}

func (w *lockedStorage) SetAttr(c sys.Caller, p string, ch sys.AttrChange) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.s.SetAttr(c, p, ch)
}

func (w *lockedStorage) Release(pid uint64) {
	w.l.Lock()
	defer w.l.Unlock()
	w.s.Release(pid)
}

// LockedKernel is k with every call made under lock.
func LockedKernel(k interp.Kernel, lock sync.Locker) interp.Kernel {
	return &lockedKernel{k: k, l: lock}
}

type lockedKernel struct {
	k interp.Kernel
	l sync.Locker
}

func (w *lockedKernel) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.k.Spawn(c, img)
}

func (w *lockedKernel) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.k.Join(c, tid)
}

func (w *lockedKernel) StartProcess(c sys.Caller, path string, args []string) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.k.StartProcess(c, path, args)
}

func (w *lockedKernel) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.k.WaitProcs(c, pids)
}

func (w *lockedKernel) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	w.l.Lock()
	defer w.l.Unlock()
	return w.k.Output(c, data)
}

func (w *lockedKernel) ThreadExited(pid, tid, value uint64) {
	w.l.Lock()
	defer w.l.Unlock()
	w.k.ThreadExited(pid, tid, value)
}

func (w *lockedKernel) Exit(pid, tid, status uint64) {
	w.l.Lock()
	defer w.l.Unlock()
	w.k.Exit(pid, tid, status)
}

func (w *lockedKernel) Trapped(pid uint64, trap *interp.TrapError) {
	w.l.Lock()
	defer w.l.Unlock()
	w.k.Trapped(pid, trap)
}
