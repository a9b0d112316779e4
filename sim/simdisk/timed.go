package simdisk

import (
	"math"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// A timed disk (SetClock) serves its operations one after another in
// virtual time and makes a sync durable only when the device has finished
// it: a crash before then finds the synced writes as unsynced as if the
// sync had never been called (kept, lost or torn per sector).
//
// Every call is blocking, as on a real machine: the program reaches its
// next operation only when the device is done with the previous one. The
// simulator runs a callback to its end at one instant, so the disk dates
// each operation with the moment the device starts it (its issue time); an
// operation issued after the moment of a crash never happened, and the
// crash leaves no trace of it, not even an unsynced one. (The messages the
// program sent after it leave at BusyUntil and die with the machine too.)
//
// An untimed disk (the default) makes a sync durable at the call.

// inflightSync is a Sync or SyncDir the device has not finished.
type inflightSync struct {
	done time.Duration // virtual time the device finishes it
	file *inode        // a File.Sync: its pending ops with seq <= upTo become durable
	dir  *inode        // a SyncDir: its namespace ops with seq <= upTo are synced
	upTo uint64
}

// SetClock makes the disk timed: now reports the current virtual time
// (time since the run began; it never goes backwards). From then on each
// operation starts when the device is free, takes its latency, and a
// Sync or SyncDir takes effect only at its completion (see BusyUntil).
func (d *Disk) SetClock(now func() time.Duration) {
	d.clock = now
	d.busyUntil = max(d.busyUntil, now())
}

// BusyUntil is when the device finishes the work issued so far; on an
// untimed disk it is always 0. After a Sync it is that sync's completion.
func (d *Disk) BusyUntil() time.Duration { return d.busyUntil }

// SyncInFlight reports whether a Sync or SyncDir with work to make durable
// is issued but not finished, when the last of them finishes, and whether
// what they cover includes a write spanning more than one sector (one a
// crash can tear).
func (d *Disk) SyncInFlight() (done time.Duration, multiSector, ok bool) {
	d.catchUp()
	for _, s := range d.inflight {
		if !d.hasWork(s) {
			continue
		}
		done, ok = max(done, s.done), true
		multiSector = multiSector || s.file != nil && s.file.multiSectorUpTo(s.upTo)
	}
	return done, multiSector, ok
}

// occupy puts an operation of latency l on the device and dates it.
func (d *Disk) occupy(l time.Duration) {
	if d.clock == nil {
		return
	}
	d.issued = max(d.clock(), d.busyUntil)
	d.busyUntil = d.issued + l
}

// neverIssued reports whether an operation dated issued had not started at
// a crash now: the program was still blocked in earlier disk work.
func (d *Disk) neverIssued(issued time.Duration) bool {
	return d.clock != nil && issued > d.clock()
}

// catchUp applies every sync the device has finished by now, in the order
// they were issued (the device serves one at a time, so also the order
// they finish in).
func (d *Disk) catchUp() {
	if d.clock == nil || len(d.inflight) == 0 {
		return
	}
	now := d.clock()
	n := 0
	for n < len(d.inflight) && d.inflight[n].done <= now {
		d.complete(d.inflight[n])
		n++
	}
	d.inflight = append(d.inflight[:0], d.inflight[n:]...)
}

func (d *Disk) complete(s inflightSync) {
	if s.file != nil {
		s.file.flushUpTo(s.upTo)
		return
	}
	d.syncDirOps(s.dir, s.upTo)
}

// hasWork reports whether an in-flight sync still has something to make
// durable (a writeback may have done it already).
func (d *Disk) hasWork(s inflightSync) bool {
	if s.file != nil {
		return len(s.file.pending) > 0 && s.file.pending[0].seq <= s.upTo
	}
	for _, op := range d.ops {
		if op.seq > s.upTo {
			break
		}
		if !op.committed && !op.waiting && (op.dirs[0] == s.dir || op.dirs[1] == s.dir) {
			return true
		}
	}
	return false
}

// syncFile makes f's pending ops durable, now or, on a timed disk, when the
// device finishes the sync just charged.
func (d *Disk) syncFile(ino *inode) {
	if d.clock == nil {
		ino.flush()
		return
	}
	if len(ino.pending) == 0 {
		return
	}
	d.inflight = append(d.inflight, inflightSync{done: d.busyUntil, file: ino, upTo: ino.pending[len(ino.pending)-1].seq})
	d.catchUp() // a zero-latency sync is done at once
}

// syncDir syncs dir's namespace operations, now or when the device
// finishes.
func (d *Disk) syncDir(dir *inode) {
	if d.clock == nil {
		d.syncDirOps(dir, math.MaxUint64)
		return
	}
	if len(d.ops) == 0 {
		return
	}
	d.inflight = append(d.inflight, inflightSync{done: d.busyUntil, dir: dir, upTo: d.nextSeq})
	d.catchUp()
}

// cutInflight forgets, at a crash, the syncs the device had not finished,
// counting those that had work to do; the device stops with the power.
func (d *Disk) cutInflight() {
	d.catchUp()
	for _, s := range d.inflight {
		if d.hasWork(s) {
			d.stats.SyncsCut++
		}
	}
	d.inflight = nil
	if d.clock != nil {
		d.busyUntil = d.clock()
	}
}

// flushUpTo makes durable the pending ops with seq <= upTo, which come
// first; later ones stay pending.
func (ino *inode) flushUpTo(upTo uint64) {
	k := 0
	for k < len(ino.pending) && ino.pending[k].seq <= upTo {
		k++
	}
	switch {
	case k == 0:
		return
	case k == len(ino.pending):
		ino.flush()
		return
	}
	for _, op := range ino.pending[:k] {
		ino.durable = applyPending(ino.durable, op, ino.arena)
	}
	rest := append(ino.pending[:0], ino.pending[k:]...)
	start := len(ino.arena)
	for _, op := range rest {
		if op.kind == pendingWrite {
			start = min(start, op.dataStart)
		}
	}
	ino.arena = ino.arena[:copy(ino.arena, ino.arena[start:])]
	for i := range rest {
		if rest[i].kind == pendingWrite {
			rest[i].dataStart -= start
		}
	}
	ino.pending = rest
}

// multiSectorUpTo reports whether a pending write with seq <= upTo spans
// more than one sector.
func (ino *inode) multiSectorUpTo(upTo uint64) bool {
	for _, op := range ino.pending {
		if op.seq > upTo {
			break
		}
		lo, hi := op.touched()
		if op.kind == pendingWrite && hi > lo && (hi-1)/diskmodel.SectorSize > lo/diskmodel.SectorSize {
			return true
		}
	}
	return false
}
