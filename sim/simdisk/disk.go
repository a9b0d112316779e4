package simdisk

import (
	"io/fs"
	"math/rand/v2"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// Disk is one machine's simulated disk. It implements diskmodel.FS. It is
// not safe for concurrent use: the simulator drives it from one goroutine.
type Disk struct {
	rng    *rand.Rand
	faults Faults

	root   *inode
	inodes map[uint64]*inode // every live inode; iterated only in sorted order
	nextID uint64

	ops       []*nsOp // pending namespace operations, oldest first
	nextSeq   uint64
	settleGen uint64

	epoch     uint64 // bumped by Crash; Files of older epochs are closed
	usedBytes int64  // sum of chargedSize
	latency   time.Duration
	stats     Stats

	// Timed disks only (SetClock).
	clock     func() time.Duration
	busyUntil time.Duration
	issued    time.Duration  // when the device starts the latest operation
	inflight  []inflightSync // issued syncs, oldest first
}

var _ diskmodel.FS = (*Disk)(nil)

// New returns an empty disk that draws every random choice from rng and
// misbehaves as faults says. It panics if faults is not a valid configuration.
func New(rng *rand.Rand, faults Faults) *Disk {
	if rng == nil {
		panic("simdisk: New with a nil rng")
	}
	faults.validate()
	d := &Disk{rng: rng, faults: faults, inodes: make(map[uint64]*inode)}
	d.root = d.newInode(true)
	d.root.volLinked, d.root.durLinked = true, true
	return d
}

// SetFaults changes how the disk misbehaves from now on. It panics if faults
// is not a valid configuration.
func (d *Disk) SetFaults(f Faults) {
	f.validate()
	d.faults = f
}

// Faults returns the disk's current fault configuration.
func (d *Disk) Faults() Faults { return d.faults }

// Stats returns what the disk did and injected since New.
func (d *Disk) Stats() Stats { return d.stats }

// TakeLatency returns the disk time consumed since the last call (on a
// timed disk, BusyUntil says when the device is free instead).
func (d *Disk) TakeLatency() time.Duration {
	l := d.latency
	d.latency = 0
	return l
}

// UsedBytes is the sum of the sizes of all files, the quantity
// Faults.CapacityBytes bounds.
func (d *Disk) UsedBytes() int64 { return d.usedBytes }

func (d *Disk) newInode(isDir bool) *inode {
	d.nextID++
	ino := &inode{id: d.nextID, isDir: isDir}
	if isDir {
		ino.volEntries = newEntries()
		ino.durEntries = newEntries()
		ino.lastOp = make(map[string]*nsOp)
	}
	d.inodes[ino.id] = ino
	return ino
}

// maybeFree forgets an inode nothing can reach any more: no name in either
// namespace, no open File, no pending operation that a crash could undo.
func (d *Disk) maybeFree(ino *inode) {
	if ino == d.root || ino.volLinked || ino.durLinked || ino.openCount > 0 || ino.pendingRefs > 0 {
		return
	}
	d.charge(ino)
	delete(d.inodes, ino.id)
}

// charge recomputes what ino counts against the capacity: its volatile size
// while it has a name or an open File, like the blocks of a real file.
func (d *Disk) charge(ino *inode) {
	var want int64
	if !ino.isDir && (ino.volLinked || ino.openCount > 0) {
		want = int64(len(ino.volatile))
	}
	d.usedBytes += want - ino.chargedSize
	ino.chargedSize = want
}

// roomFor reports whether ino may grow to size bytes.
func (d *Disk) roomFor(ino *inode, size int64) bool {
	grow := size - int64(len(ino.volatile))
	return d.faults.CapacityBytes == 0 || grow <= 0 || d.usedBytes+grow <= d.faults.CapacityBytes
}

// spend charges one operation's disk time.
func (d *Disk) spend(sync bool, bytes int) {
	d.catchUp()
	d.stats.Ops++
	lo, hi := d.faults.LatencyMin, d.faults.LatencyMax
	if sync {
		lo, hi = d.faults.SyncLatencyMin, d.faults.SyncLatencyMax
	}
	l := lo
	if hi > lo {
		l += time.Duration(d.rng.Int64N(int64(hi-lo) + 1))
	}
	if bw := d.faults.BandwidthBytesPerSec; bw > 0 && bytes > 0 {
		l += time.Duration(int64(bytes) * int64(time.Second) / bw)
	}
	d.latency += l
	d.stats.LatencyCharged += l
	d.occupy(l)
}

// chance draws true with probability p, drawing nothing when p is 0 so a
// fault-free disk leaves the random stream alone.
func (d *Disk) chance(p float64) bool {
	return p > 0 && (p >= 1 || d.rng.Float64() < p)
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// lookup resolves name in the volatile namespace. parent is the directory
// holding the last element (nil for "."), target the inode named (nil if
// none).
func (d *Disk) lookup(op, name string) (parent *inode, base string, target *inode, err error) {
	if !diskmodel.ValidName(name) {
		return nil, "", nil, pathErr(op, name, diskmodel.ErrInvalidName)
	}
	if name == "." {
		return nil, ".", d.root, nil
	}
	dir := d.root
	rest := name
	for {
		elem, after, more := strings.Cut(rest, "/")
		if !more {
			base = elem
			break
		}
		e, ok := dir.volEntries.Get(dirEntry{name: elem})
		if !ok {
			return nil, "", nil, pathErr(op, name, syscall.ENOENT)
		}
		if !e.ino.isDir {
			return nil, "", nil, pathErr(op, name, syscall.ENOTDIR)
		}
		dir, rest = e.ino, after
	}
	if e, ok := dir.volEntries.Get(dirEntry{name: base}); ok {
		target = e.ino
	}
	return dir, base, target, nil
}

// OpenFile opens the named file; see diskmodel.FS.
func (d *Disk) OpenFile(name string, mode diskmodel.OpenMode) (diskmodel.File, error) {
	if mode != diskmodel.OpenExisting && mode != diskmodel.OpenOrCreate && mode != diskmodel.CreateExclusive {
		return nil, pathErr("open", name, syscall.EINVAL)
	}
	parent, base, target, err := d.lookup("open", name)
	if err != nil {
		return nil, err
	}
	d.spend(false, 0)
	switch {
	case target != nil && mode == diskmodel.CreateExclusive:
		return nil, pathErr("open", name, syscall.EEXIST)
	case target != nil && target.isDir:
		return nil, pathErr("open", name, syscall.EISDIR)
	case target == nil && mode == diskmodel.OpenExisting:
		return nil, pathErr("open", name, syscall.ENOENT)
	case target == nil:
		target = d.newInode(false)
		d.link(parent, base, target)
		d.logCreate(nsCreate, parent, base, target)
	}
	target.openCount++
	d.charge(target)
	return &File{d: d, ino: target, name: name, epoch: d.epoch}, nil
}

// link names ino in the volatile namespace.
func (d *Disk) link(dir *inode, name string, ino *inode) {
	dir.volEntries.ReplaceOrInsert(dirEntry{name: name, ino: ino})
	ino.volParent, ino.volName, ino.volLinked = dir, name, true
	d.charge(ino)
}

// unlink drops ino's name from the volatile namespace.
func (d *Disk) unlink(dir *inode, name string, ino *inode) {
	dir.volEntries.Delete(dirEntry{name: name})
	ino.volParent, ino.volName, ino.volLinked = nil, "", false
	d.charge(ino)
}

// Stat describes the named file or directory.
func (d *Disk) Stat(name string) (diskmodel.FileInfo, error) {
	_, _, target, err := d.lookup("stat", name)
	if err != nil {
		return diskmodel.FileInfo{}, err
	}
	d.spend(false, 0)
	if target == nil {
		return diskmodel.FileInfo{}, pathErr("stat", name, syscall.ENOENT)
	}
	return info(path.Base(name), target), nil
}

func info(name string, ino *inode) diskmodel.FileInfo {
	if ino.isDir {
		return diskmodel.FileInfo{Name: name, IsDir: true}
	}
	return diskmodel.FileInfo{Name: name, Size: int64(len(ino.volatile))}
}

// ReadDir lists a directory, sorted by name.
func (d *Disk) ReadDir(dir string) ([]diskmodel.FileInfo, error) {
	target, err := d.lookupDir("readdir", dir)
	if err != nil {
		return nil, err
	}
	d.spend(false, 0)
	out := make([]diskmodel.FileInfo, 0, target.volEntries.Len())
	target.volEntries.Ascend(func(e dirEntry) bool {
		out = append(out, info(e.name, e.ino))
		return true
	})
	return out, nil
}

func (d *Disk) lookupDir(op, dir string) (*inode, error) {
	_, _, target, err := d.lookup(op, dir)
	switch {
	case err != nil:
		return nil, err
	case target == nil:
		return nil, pathErr(op, dir, syscall.ENOENT)
	case !target.isDir:
		return nil, pathErr(op, dir, syscall.ENOTDIR)
	}
	return target, nil
}

// Mkdir creates a directory; see diskmodel.FS.
func (d *Disk) Mkdir(dir string) error {
	parent, base, target, err := d.lookup("mkdir", dir)
	if err != nil {
		return err
	}
	d.spend(false, 0)
	if target != nil {
		return pathErr("mkdir", dir, syscall.EEXIST)
	}
	ino := d.newInode(true)
	d.link(parent, base, ino)
	d.logCreate(nsMkdir, parent, base, ino)
	return nil
}

// Remove removes a file or an empty directory; see diskmodel.FS.
func (d *Disk) Remove(name string) error {
	parent, base, target, err := d.lookup("remove", name)
	if err != nil {
		return err
	}
	d.spend(false, 0)
	switch {
	case parent == nil:
		return pathErr("remove", name, syscall.EINVAL)
	case target == nil:
		return pathErr("remove", name, syscall.ENOENT)
	case target.isDir && target.volEntries.Len() > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	d.logRemove(parent, base, target)
	d.unlink(parent, base, target)
	d.maybeFree(target)
	return nil
}

// Rename gives a file or directory a new name, replacing a file of that name;
// see diskmodel.FS. Like os.Rename it never replaces a directory.
func (d *Disk) Rename(oldname, newname string) error {
	pathName := oldname + " -> " + newname
	if !diskmodel.ValidName(oldname) || !diskmodel.ValidName(newname) {
		return pathErr("rename", pathName, diskmodel.ErrInvalidName)
	}
	oldParent, oldBase, moved, err := d.lookup("rename", oldname)
	if err != nil {
		return pathErr("rename", pathName, err.(*fs.PathError).Err)
	}
	newParent, newBase, replaced, err := d.lookup("rename", newname)
	if err != nil {
		return pathErr("rename", pathName, err.(*fs.PathError).Err)
	}
	d.spend(false, 0)
	if err := d.checkRename(oldParent, moved, newParent, replaced); err != nil {
		return pathErr("rename", pathName, err)
	}
	if moved == replaced {
		return nil // a name renamed to itself: nothing to do, as in POSIX
	}
	d.logRename(oldParent, oldBase, newParent, newBase, moved, replaced)
	if replaced != nil {
		d.unlink(newParent, newBase, replaced)
	}
	d.unlink(oldParent, oldBase, moved)
	d.link(newParent, newBase, moved)
	if replaced != nil {
		d.maybeFree(replaced)
	}
	return nil
}

func (d *Disk) checkRename(oldParent, moved, newParent, replaced *inode) error {
	switch {
	case oldParent == nil || newParent == nil:
		return syscall.EINVAL // the root cannot move, nor be replaced
	case moved == nil:
		return syscall.ENOENT
	case moved == replaced:
		return nil
	case replaced != nil && replaced.isDir:
		return syscall.EEXIST
	case replaced != nil && moved.isDir:
		return syscall.ENOTDIR
	case moved.isDir && d.isAncestor(moved, newParent):
		return syscall.EINVAL
	}
	return nil
}

// isAncestor reports whether a is dir or one of its volatile ancestors.
func (d *Disk) isAncestor(a, dir *inode) bool {
	for x := dir; x != nil; x = x.volParent {
		if x == a {
			return true
		}
	}
	return false
}

// SyncDir makes every create, rename and removal in dir durable: an
// operation is durable once every directory it touches has been synced
// after it, together with the earlier operations it builds on.
func (d *Disk) SyncDir(dir string) error {
	target, err := d.lookupDir("syncdir", dir)
	if err != nil {
		return err
	}
	d.spend(true, 0)
	if d.chance(d.faults.WriteErrorProb) {
		d.stats.WriteErrors++
		return pathErr("syncdir", dir, diskmodel.ErrIO)
	}
	d.stats.DirSyncs++
	d.syncDir(target)
	return nil
}
