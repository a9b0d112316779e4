package simdisk

import (
	"cmp"
	"fmt"
	"slices"
)

type nsKind uint8

const (
	nsCreate nsKind = iota + 1
	nsMkdir
	nsRemove
	nsRename
)

func (k nsKind) String() string {
	return [...]string{"?", "create", "mkdir", "remove", "rename"}[k]
}

// maxPendingDirOps bounds the namespace backlog: past it the oldest pending
// operation is written back (made durable) unasked, as a kernel would.
const maxPendingDirOps = 1 << 14

// nsOp is one unsynced namespace operation. It can be applied (made durable,
// or at a crash replayed) only after the earlier pending operations without
// which it would not make sense:
//
//   - deps, which it drags along when it becomes durable: the previous
//     operation on each entry it touches, the renames that placed the
//     directories it writes into, and for a directory removal the last
//     operation on each of its entries;
//   - placeDeps, the Mkdirs of the directories it writes into and of their
//     ancestors: these it waits for. A directory's entries can be synced
//     before its own name is, and then vanish with it.
//
// Applying any dependency-closed subset of the log in order therefore always
// replays exactly what the volatile namespace once did to those entries.
//
// An op is synced once every directory in dirs was synced after it; it is
// committed (durable) once synced and its placeDeps, and those of everything
// it drags along, are committed. Until then it is waiting: at a crash it is
// applied whenever what it depends on is.
type nsOp struct {
	seq  uint64
	kind nsKind

	srcDir  *inode // remove, rename: the entry that loses its name
	srcName string
	dstDir  *inode // create, mkdir, rename: the entry that gains a name
	dstName string

	ino      *inode // the inode created, removed or moved
	replaced *inode // rename: the file it replaced, or nil

	deps      []*nsOp // sorted by seq, no duplicates
	placeDeps []*nsOp // sorted by seq, no duplicates
	dirs      [2]*inode
	synced    [2]bool
	waiting   bool // synced, not yet committable
	committed bool // made durable; no longer in the log

	checkGen uint64 // memo of committable for settle pass checkGen
	checkOK  bool
	forced   bool // Crash scratch: a waiting op needs it
	applied  bool // Crash scratch: replayed onto the durable namespace
}

func (o *nsOp) String() string {
	id := func(x *inode) uint64 {
		if x == nil {
			return 0
		}
		return x.id
	}
	return fmt.Sprintf("#%d %v src=%d/%q dst=%d/%q ino=%d replaced=%d",
		o.seq, o.kind, id(o.srcDir), o.srcName, id(o.dstDir), o.dstName, id(o.ino), id(o.replaced))
}

func (d *Disk) newOp(kind nsKind) *nsOp {
	d.nextSeq++
	return &nsOp{seq: d.nextSeq, kind: kind}
}

// addDep records that op needs dep, if dep is still pending.
func addDep(op, dep *nsOp) {
	if dep == nil || dep.committed || slices.Contains(op.deps, dep) {
		return
	}
	op.deps = append(op.deps, dep)
}

func addPlaceDep(op, dep *nsOp) {
	if dep == nil || dep.committed || slices.Contains(op.placeDeps, dep) {
		return
	}
	op.placeDeps = append(op.placeDeps, dep)
}

// entryDeps: op needs the previous operation on the entry dir/name.
func entryDeps(op *nsOp, dir *inode, name string) {
	addDep(op, dir.lastOp[name])
}

// placementDeps: op writes into dir, so it needs the operations that put dir
// and each of its ancestors where they are now; else a crash could replay it
// into a directory that sits elsewhere, even inside what op moves.
func placementDeps(op *nsOp, dir *inode) {
	for x := dir; x != nil; x = x.volParent {
		if p := x.placedBy; p != nil && p.kind == nsMkdir {
			addPlaceDep(op, p)
		} else {
			addDep(op, p)
		}
	}
}

// emptyDirDeps: removing (or replacing) dir needs the operations that
// emptied it, so a crash never replays the removal of a non-empty directory.
func emptyDirDeps(op *nsOp, dir *inode) {
	for _, dep := range dir.lastOp {
		addDep(op, dep)
	}
}

func (d *Disk) logCreate(kind nsKind, dir *inode, name string, ino *inode) {
	op := d.newOp(kind)
	op.dstDir, op.dstName, op.ino = dir, name, ino
	entryDeps(op, dir, name)
	placementDeps(op, dir)
	op.dirs[0] = dir
	d.record(op)
}

func (d *Disk) logRemove(dir *inode, name string, ino *inode) {
	op := d.newOp(nsRemove)
	op.srcDir, op.srcName, op.ino = dir, name, ino
	entryDeps(op, dir, name)
	if ino.isDir {
		emptyDirDeps(op, ino)
	}
	op.dirs[0] = dir
	d.record(op)
}

func (d *Disk) logRename(oldDir *inode, oldName string, newDir *inode, newName string, moved, replaced *inode) {
	op := d.newOp(nsRename)
	op.srcDir, op.srcName, op.dstDir, op.dstName = oldDir, oldName, newDir, newName
	op.ino, op.replaced = moved, replaced
	entryDeps(op, oldDir, oldName)
	entryDeps(op, newDir, newName)
	addDep(op, moved.placedBy)
	placementDeps(op, newDir)
	op.dirs[0] = oldDir
	if newDir != oldDir {
		op.dirs[1] = newDir
	}
	d.record(op)
}

// record appends op to the log and makes it the newest op on what it touches.
func (d *Disk) record(op *nsOp) {
	bySeq := func(a, b *nsOp) int { return cmp.Compare(a.seq, b.seq) }
	slices.SortFunc(op.deps, bySeq)
	slices.SortFunc(op.placeDeps, bySeq)
	if op.srcDir != nil {
		op.srcDir.lastOp[op.srcName] = op
	}
	if op.dstDir != nil {
		op.dstDir.lastOp[op.dstName] = op
		op.ino.placedBy = op
	}
	op.ino.pendingRefs++
	if op.replaced != nil {
		op.replaced.pendingRefs++
	}
	d.ops = append(d.ops, op)
	if len(d.ops) > maxPendingDirOps {
		d.stats.Writebacks++
		d.commit(d.ops[0])
		d.compactOps()
	}
}

// syncDirOps marks dir synced in every pending op touching it and commits
// what can be committed.
func (d *Disk) syncDirOps(dir *inode) {
	for _, op := range d.ops {
		if op.committed || op.waiting {
			continue
		}
		synced := true
		for i, x := range op.dirs {
			if x == dir {
				op.synced[i] = true
			}
			if x != nil && !op.synced[i] {
				synced = false
			}
		}
		op.waiting = synced
	}
	d.settle()
}

// settle commits every waiting op that has become committable. A commit can
// make an earlier waiting op committable, hence the passes; each pass that
// changes something commits at least one op, so len(d.ops)+1 passes suffice.
func (d *Disk) settle() {
	for pass := 0; pass <= len(d.ops); pass++ {
		d.settleGen++
		progress := false
		for _, op := range d.ops {
			if op.waiting && !op.committed && d.committable(op) {
				d.commit(op)
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	d.compactOps()
}

// committable reports whether op and the deps it drags along wait for no
// uncommitted Mkdir.
func (d *Disk) committable(op *nsOp) bool {
	if op.committed {
		return true
	}
	if op.checkGen == d.settleGen {
		return op.checkOK
	}
	ok := true
	for _, p := range op.placeDeps {
		ok = ok && p.committed
	}
	for _, dep := range op.deps {
		ok = ok && d.committable(dep)
	}
	op.checkGen, op.checkOK = d.settleGen, ok
	return ok
}

func (d *Disk) compactOps() {
	d.ops = slices.DeleteFunc(d.ops, func(op *nsOp) bool { return op.committed })
}

// commit makes op durable, after the pending ops it depends on. The caller
// compacts the log.
func (d *Disk) commit(op *nsOp) {
	if op.committed {
		return
	}
	for _, dep := range op.placeDeps {
		d.commit(dep) // only for a writeback: settle commits committable ops
	}
	for _, dep := range op.deps {
		d.commit(dep)
	}
	d.applyDurable(op)
	op.committed, op.waiting = true, false
	d.retire(op)
}

// retire forgets op as the newest operation on anything.
func (d *Disk) retire(op *nsOp) {
	if op.srcDir != nil && op.srcDir.lastOp[op.srcName] == op {
		delete(op.srcDir.lastOp, op.srcName)
	}
	if op.dstDir != nil && op.dstDir.lastOp[op.dstName] == op {
		delete(op.dstDir.lastOp, op.dstName)
	}
	if op.ino.placedBy == op {
		op.ino.placedBy = nil
	}
	op.ino.pendingRefs--
	d.maybeFree(op.ino)
	if op.replaced != nil {
		op.replaced.pendingRefs--
		d.maybeFree(op.replaced)
	}
}

// applyDurable performs op on the durable namespace. The dependency rules
// guarantee it is valid there; if it is not, the crash model is broken.
func (d *Disk) applyDurable(op *nsOp) {
	if op.srcDir != nil {
		e, ok := op.srcDir.durEntries.Get(dirEntry{name: op.srcName})
		if !ok || e.ino != op.ino {
			panic(fmt.Sprintf("simdisk: durable replay of %v: source entry holds %v", op, e.ino))
		}
		if op.kind == nsRemove && op.ino.isDir && op.ino.durEntries.Len() > 0 {
			panic(fmt.Sprintf("simdisk: durable replay of %v: directory not empty", op))
		}
		op.srcDir.durEntries.Delete(e)
		op.ino.durLinked = false
	}
	if op.dstDir != nil {
		e, ok := op.dstDir.durEntries.Get(dirEntry{name: op.dstName})
		if ok != (op.replaced != nil) || (ok && e.ino != op.replaced) {
			panic(fmt.Sprintf("simdisk: durable replay of %v: destination entry holds %v", op, e.ino))
		}
		if ok {
			e.ino.durLinked = false
		}
		op.dstDir.durEntries.ReplaceOrInsert(dirEntry{name: op.dstName, ino: op.ino})
		op.ino.durLinked = true
	}
}
