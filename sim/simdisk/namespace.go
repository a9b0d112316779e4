package simdisk

import (
	"cmp"
	"fmt"
	"slices"
	"time"
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

// nsOp is one unsynced namespace operation.
//
// It is synced once every directory in dirs was passed to SyncDir after it.
// A synced op is committed (applied to the durable namespace, and forgotten)
// together with its deps, the earlier pending ops it drags along:
//
//   - the previous op on each entry it touches (else the entry would hold a
//     state it never had, or one inode would have two names);
//   - for a removed directory, the last op on each of its entries (so the
//     removal never meets a durable child);
//   - for a moved directory, the renames that placed the destination's
//     ancestors (so no replay can move a directory inside itself).
//
// But it waits for its placeDeps: the pending Mkdir that created the
// directory it writes into (and, for a moved directory, those of the
// destination's ancestors). Syncing a new directory does not make the
// directory's own name durable; until SyncDir of its parent, the directory
// and everything synced in it may vanish together. A synced op that waits is
// applied at a crash whenever it is still valid, as is everything it drags
// along.
//
// Committing ops out of log order is sound because an op commutes with every
// earlier op it does not depend on: they touch different entries, and the
// deps above cover the directory-level interactions. At a crash every
// remaining op is checked against the durable namespace before it is
// replayed, so the result is always a consistent tree.
type nsOp struct {
	seq    uint64
	kind   nsKind
	issued time.Duration // when the device started it (timed disks)

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
	committed bool // applied to the durable namespace; no longer in the log

	checkGen uint64 // committable's memo, valid during settle pass checkGen
	checkOK  bool
	forced   bool // Crash scratch: a waiting op drags it along
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
	return &nsOp{seq: d.nextSeq, kind: kind, issued: d.issued}
}

func addTo(list []*nsOp, dep *nsOp) []*nsOp {
	if dep == nil || dep.committed || slices.Contains(list, dep) {
		return list
	}
	return append(list, dep)
}

func (o *nsOp) addDep(dep *nsOp)      { o.deps = addTo(o.deps, dep) }
func (o *nsOp) addPlaceDep(dep *nsOp) { o.placeDeps = addTo(o.placeDeps, dep) }

// entryDep: op needs the previous op on the entry dir/name.
func (o *nsOp) entryDep(dir *inode, name string) { o.addDep(dir.lastOp[name]) }

// existenceDep: op writes into dir, which a pending Mkdir may have created.
func (o *nsOp) existenceDep(dir *inode) { o.addPlaceDep(dir.createdBy) }

// ancestryDeps: a directory moved into dir must find dir's ancestors where
// they were, or a replay could move it inside itself.
func (o *nsOp) ancestryDeps(dir *inode) {
	for x := dir; x != nil; x = x.volParent {
		if p := x.placedBy; p != nil && p.kind == nsMkdir {
			o.addPlaceDep(p)
		} else {
			o.addDep(p)
		}
	}
}

// emptyDirDeps: removing dir needs the ops that emptied it.
func (o *nsOp) emptyDirDeps(dir *inode) {
	for _, dep := range dir.lastOp {
		o.addDep(dep)
	}
}

func (d *Disk) logCreate(kind nsKind, dir *inode, name string, ino *inode) {
	op := d.newOp(kind)
	op.dstDir, op.dstName, op.ino = dir, name, ino
	op.entryDep(dir, name)
	op.existenceDep(dir)
	op.dirs[0] = dir
	if kind == nsMkdir {
		ino.createdBy = op
	}
	d.record(op)
}

func (d *Disk) logRemove(dir *inode, name string, ino *inode) {
	op := d.newOp(nsRemove)
	op.srcDir, op.srcName, op.ino = dir, name, ino
	op.entryDep(dir, name)
	if ino.isDir {
		op.emptyDirDeps(ino)
	}
	op.dirs[0] = dir
	d.record(op)
}

func (d *Disk) logRename(oldDir *inode, oldName string, newDir *inode, newName string, moved, replaced *inode) {
	op := d.newOp(nsRename)
	op.srcDir, op.srcName, op.dstDir, op.dstName = oldDir, oldName, newDir, newName
	op.ino, op.replaced = moved, replaced
	op.entryDep(oldDir, oldName)
	op.entryDep(newDir, newName)
	op.existenceDep(newDir)
	if moved.isDir {
		op.ancestryDeps(newDir)
	}
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

// syncDirOps marks dir synced in every pending op up to seq upTo that
// touches it and commits what can be committed.
func (d *Disk) syncDirOps(dir *inode, upTo uint64) {
	for _, op := range d.ops {
		if op.seq > upTo {
			break
		}
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
// make an earlier waiting op committable, hence the passes; each pass but the
// last commits at least one op, so len(d.ops)+1 passes suffice.
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

// committable reports whether neither op nor anything it drags along waits
// for an uncommitted Mkdir.
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

// commit applies op, after what it depends on, to the durable namespace.
// The caller compacts the log.
func (d *Disk) commit(op *nsOp) {
	if op.committed {
		return
	}
	for _, dep := range op.placeDeps {
		d.commit(dep) // a no-op but for a writeback: settle commits committable ops only
	}
	for _, dep := range op.deps {
		d.commit(dep)
	}
	if why := d.durableInvalid(op); why != "" {
		panic(fmt.Sprintf("simdisk: committing %v: %s", op, why))
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
	if op.ino.createdBy == op {
		op.ino.createdBy = nil
	}
	op.ino.pendingRefs--
	d.maybeFree(op.ino)
	if op.replaced != nil {
		op.replaced.pendingRefs--
		d.maybeFree(op.replaced)
	}
}

// durableInvalid explains why op cannot be applied to the durable namespace
// as it stands, doing what it did to the volatile one; "" if it can.
func (d *Disk) durableInvalid(op *nsOp) string {
	if op.srcDir != nil {
		e, ok := op.srcDir.durEntries.Get(dirEntry{name: op.srcName})
		if !ok || e.ino != op.ino {
			return "the source entry holds another inode"
		}
		if op.kind == nsRemove && op.ino.isDir && op.ino.durEntries.Len() > 0 {
			return "the directory is not empty"
		}
	}
	if op.dstDir == nil {
		return ""
	}
	if op.dstDir != d.root && !op.dstDir.durLinked {
		return "the destination directory does not exist"
	}
	e, ok := op.dstDir.durEntries.Get(dirEntry{name: op.dstName})
	if ok != (op.replaced != nil) || ok && e.ino != op.replaced {
		return "the destination entry holds another inode"
	}
	if op.kind != nsRename && op.ino.durLinked {
		return "the created inode exists already"
	}
	if op.ino.isDir && op.kind == nsRename {
		for x := op.dstDir; x != nil; x = x.durParent {
			if x == op.ino {
				return "the directory would move inside itself"
			}
		}
	}
	return ""
}

// applyDurable performs op, which durableInvalid accepts, on the durable
// namespace.
func (d *Disk) applyDurable(op *nsOp) {
	if op.srcDir != nil {
		op.srcDir.durEntries.Delete(dirEntry{name: op.srcName})
		op.ino.durLinked, op.ino.durParent = false, nil
	}
	if op.dstDir != nil {
		if op.replaced != nil {
			op.replaced.durLinked, op.replaced.durParent = false, nil
		}
		op.dstDir.durEntries.ReplaceOrInsert(dirEntry{name: op.dstName, ino: op.ino})
		op.ino.durLinked, op.ino.durParent = true, op.dstDir
	}
}
