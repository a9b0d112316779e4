package simdisk

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flockvm/flock/diskmodel"
)

// Crash is power loss. Pending directory operations are each applied or
// undone, every file's pending writes are each kept, lost or torn, and what
// results becomes the disk's durable and visible state. Every File opened
// before the crash is closed. See the package documentation for the model.
func (d *Disk) Crash() {
	d.cutInflight()
	d.stats.Crashes++
	d.epoch++
	d.replayNamespace()
	live := d.rebuild()
	for _, ino := range live {
		if !ino.isDir {
			d.crashFile(ino)
		}
	}
	d.usedBytes = 0
	for _, ino := range live {
		ino.chargedSize = 0
		d.charge(ino)
	}
}

// replayNamespace replays the pending namespace operations, in order, onto
// the durable namespace: each one still valid there is applied, waiting ops
// and what they drag along always, the others unless lost.
func (d *Disk) replayNamespace() {
	for i := len(d.ops) - 1; i >= 0; i-- {
		if op := d.ops[i]; op.waiting || op.forced {
			for _, dep := range op.deps {
				dep.forced = true
			}
		}
	}
	for _, op := range d.ops {
		keep := !d.neverIssued(op.issued) && (op.waiting || op.forced || !d.chance(d.faults.LoseUnsyncedProb))
		if !keep || d.durableInvalid(op) != "" {
			d.stats.LostDirOps++
			continue
		}
		d.applyDurable(op)
		d.stats.KeptDirOps++
	}
	d.ops = nil
}

// rebuild keeps the inodes the durable namespace reaches, makes the volatile
// namespace a copy of the durable one, and returns the live inodes sorted by
// id.
func (d *Disk) rebuild() []*inode {
	live := []*inode{d.root}
	for i := 0; i < len(live); i++ {
		dir := live[i]
		if !dir.isDir {
			continue
		}
		dir.volEntries = dir.durEntries.Clone()
		dir.lastOp = make(map[string]*nsOp)
		dir.durEntries.Ascend(func(e dirEntry) bool {
			e.ino.volParent, e.ino.volName, e.ino.durParent = dir, e.name, dir
			live = append(live, e.ino)
			return true
		})
	}
	d.inodes = make(map[uint64]*inode, len(live))
	for _, ino := range live {
		if _, dup := d.inodes[ino.id]; dup {
			panic(fmt.Sprintf("simdisk: inode %d reachable twice after a crash", ino.id))
		}
		d.inodes[ino.id] = ino
		ino.volLinked, ino.durLinked = true, true
		ino.openCount, ino.pendingRefs, ino.placedBy, ino.createdBy = 0, 0, nil, nil
	}
	d.root.volParent = nil
	slices.SortFunc(live, func(a, b *inode) int { return cmp.Compare(a.id, b.id) })
	return live
}

// crashFile decides the fate of a file's pending ops and makes the result
// durable. Each sector holds the content it had after some prefix of the ops
// that touched it (a sector is written whole, as a snapshot of the page
// cache), the size is the size after the last op that had any effect (for a
// torn write that grew the file, possibly only up to its last surviving
// sector), and nothing is invented: bytes no kept op wrote read as their
// durable content or zeros.
func (d *Disk) crashFile(ino *inode) {
	if len(ino.pending) == 0 {
		return // volatile == durable already
	}
	c := crashCut{img: ino.durable, stopped: newSectorSet(ino)}
	size := int64(len(ino.durable))
	for _, op := range ino.pending {
		if kept, after := d.crashOp(&c, op, ino.arena); kept {
			size = after
		}
	}
	ino.durable = resize(c.img, size)
	ino.volatile = append(ino.volatile[:0], ino.durable...)
	ino.pending = ino.pending[:0]
	ino.arena = ino.arena[:0]
	if cap(ino.arena) > arenaKeepBytes {
		ino.arena = nil
	}
}

// crashCut is the state of one file's crash resolution: the image being
// built and the sectors some earlier op failed to reach (no later op may
// reach them either, or the sector would hold a state it never had).
type crashCut struct {
	img     []byte
	stopped sectorSet
}

// crashOp decides one pending op's fate and applies what survives. It
// reports whether any of the op survived and, if so, the file's size after
// it: its new size, or for a torn write that grew the file, in half the
// cases, the end of its last surviving sector (a file system that persists
// the size as each block is written back).
func (d *Disk) crashOp(c *crashCut, op pendingOp, arena []byte) (bool, int64) {
	lost := d.neverIssued(op.issued) || d.chance(d.faults.LoseUnsyncedProb)
	lo, hi := op.touched()
	first, last := lo/diskmodel.SectorSize, (hi-1)/diskmodel.SectorSize
	if hi <= lo {
		first, last = 0, -1
	}
	torn := !lost && d.faults.TornWrites && op.kind == pendingWrite && last > first && d.rng.IntN(2) == 0
	if !torn {
		if lost || c.stopped.anyIn(first, last) {
			c.stopped.addRange(first, last)
			d.stats.LostWrites++
			return false, 0
		}
		c.apply(op, lo, hi, arena)
		d.stats.KeptWrites++
		return true, op.newSize
	}
	kept, keptEnd := false, int64(0)
	for s := first; s <= last; s++ {
		if d.rng.IntN(2) == 0 || c.stopped.has(s) {
			c.stopped.add(s)
			d.stats.TornSectors++
			continue
		}
		end := min(hi, (s+1)*diskmodel.SectorSize)
		c.apply(op, max(lo, s*diskmodel.SectorSize), end, arena)
		kept, keptEnd = true, end
	}
	d.stats.TornWrites++
	if !kept {
		return false, 0
	}
	if op.newSize > op.oldSize && keptEnd < op.newSize && d.rng.IntN(2) == 0 {
		d.stats.TornSizes++
		return true, max(op.oldSize, keptEnd)
	}
	return true, op.newSize
}

// apply performs the part [lo, hi) of op on the image.
func (c *crashCut) apply(op pendingOp, lo, hi int64, arena []byte) {
	if op.kind == pendingWrite {
		data := arena[op.dataStart : op.dataStart+op.dataLen]
		c.img = writeImage(c.img, lo, data[lo-op.off:hi-op.off])
		return
	}
	// A shrinking truncate: what it cut off reads as zeros if the file
	// grows again.
	if lo < int64(len(c.img)) {
		clear(c.img[lo:min(hi, int64(len(c.img)))])
	}
}

// sectorSet is a bitset of sector numbers, sized to cover every sector a
// file's durable image or pending writes reach.
type sectorSet []uint64

func newSectorSet(ino *inode) sectorSet {
	extent := int64(len(ino.durable))
	for _, op := range ino.pending {
		if op.kind == pendingWrite {
			extent = max(extent, op.off+int64(op.dataLen))
		}
	}
	sectors := extent/diskmodel.SectorSize + 1
	return make(sectorSet, sectors/64+1)
}

// Sectors past the set's extent hold zeros in every version; treating them
// as never stopped is exact.
func (s sectorSet) has(i int64) bool {
	return i/64 < int64(len(s)) && s[i/64]&(1<<(i%64)) != 0
}

func (s sectorSet) add(i int64) {
	if i/64 < int64(len(s)) {
		s[i/64] |= 1 << (i % 64)
	}
}

func (s sectorSet) anyIn(first, last int64) bool {
	last = min(last, int64(len(s))*64-1)
	for i := first; i <= last; i++ {
		if s.has(i) {
			return true
		}
	}
	return false
}

func (s sectorSet) addRange(first, last int64) {
	last = min(last, int64(len(s))*64-1)
	for i := first; i <= last; i++ {
		s.add(i)
	}
}
