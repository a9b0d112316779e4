package simdisk

import (
	"io"
	"syscall"

	"github.com/flockvm/flock/diskmodel"
)

// Bounds on a file's backlog of unsynced work: past either, the backlog is
// written back (made durable) unasked, as a kernel's writeback would, so a
// program that never syncs cannot grow the simulator's memory without end.
const (
	maxPendingOps   = 1 << 16
	maxPendingBytes = 64 << 20
	// arenaKeepBytes: a larger arena is released at Sync, not reused.
	arenaKeepBytes = 1 << 20
	// MaxFileBytes bounds a simulated file, which lives in memory: a write
	// or truncate past it fails with syscall.EFBIG, as on a file system with
	// a size limit, instead of exhausting the simulator's memory on a garbage
	// offset.
	MaxFileBytes = 1 << 30
)

// File is an open file on a Disk; it implements diskmodel.File.
type File struct {
	d      *Disk
	ino    *inode
	name   string // as opened; errors name it
	epoch  uint64
	closed bool
}

var _ diskmodel.File = (*File)(nil)

// check fails with ErrClosed once the File is closed or the disk crashed.
func (f *File) check(op string) error {
	if f.closed || f.epoch != f.d.epoch {
		return pathErr(op, f.name, diskmodel.ErrClosed)
	}
	return nil
}

// ReadAt reads what the file holds now, synced or not. Past the end it
// returns the bytes read and io.EOF.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check("readat"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, syscall.EINVAL)
	}
	d := f.d
	d.spend(false, len(p))
	if len(p) == 0 {
		return 0, nil
	}
	if d.chance(d.faults.ReadErrorProb) {
		d.stats.ReadErrors++
		return 0, pathErr("readat", f.name, diskmodel.ErrIO)
	}
	size := int64(len(f.ino.volatile))
	if off >= size {
		return 0, io.EOF
	}
	n := copy(p, f.ino.volatile[off:])
	d.stats.BytesRead += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off, zero-filling any hole before it. The write is
// volatile until Sync; on an error nothing is written.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check("writeat"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("writeat", f.name, syscall.EINVAL)
	}
	d, ino := f.d, f.ino
	d.spend(false, len(p))
	if len(p) == 0 {
		return 0, nil
	}
	if off > MaxFileBytes-int64(len(p)) {
		return 0, pathErr("writeat", f.name, syscall.EFBIG)
	}
	if d.chance(d.faults.WriteErrorProb) {
		d.stats.WriteErrors++
		return 0, pathErr("writeat", f.name, diskmodel.ErrIO)
	}
	end := off + int64(len(p))
	if !d.roomFor(ino, end) {
		d.stats.NoSpaceErrors++
		return 0, pathErr("writeat", f.name, diskmodel.ErrNoSpace)
	}
	oldSize := int64(len(ino.volatile))
	ino.volatile = writeImage(ino.volatile, off, p)
	ino.opSeq++
	ino.pending = append(ino.pending, pendingOp{
		kind: pendingWrite, off: off, dataStart: len(ino.arena), dataLen: len(p),
		oldSize: oldSize, newSize: int64(len(ino.volatile)), seq: ino.opSeq, issued: d.issued,
	})
	ino.arena = append(ino.arena, p...)
	d.charge(ino)
	d.stats.BytesWritten += int64(len(p))
	d.limitBacklog(ino)
	return len(p), nil
}

// Truncate sets the file's size, zero-filling when it grows. Volatile until
// Sync; on an error nothing changes.
func (f *File) Truncate(size int64) error {
	if err := f.check("truncate"); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	if size > MaxFileBytes {
		return pathErr("truncate", f.name, syscall.EFBIG)
	}
	d, ino := f.d, f.ino
	d.spend(false, 0)
	if d.chance(d.faults.WriteErrorProb) {
		d.stats.WriteErrors++
		return pathErr("truncate", f.name, diskmodel.ErrIO)
	}
	if !d.roomFor(ino, size) {
		d.stats.NoSpaceErrors++
		return pathErr("truncate", f.name, diskmodel.ErrNoSpace)
	}
	oldSize := int64(len(ino.volatile))
	if size == oldSize {
		return nil
	}
	ino.volatile = resize(ino.volatile, size)
	ino.opSeq++
	ino.pending = append(ino.pending, pendingOp{kind: pendingTruncate, off: size, oldSize: oldSize, newSize: size,
		seq: ino.opSeq, issued: d.issued})
	d.charge(ino)
	d.limitBacklog(ino)
	return nil
}

// Size is the file's current (volatile) size.
func (f *File) Size() (int64, error) {
	if err := f.check("size"); err != nil {
		return 0, err
	}
	f.d.stats.Ops++
	return int64(len(f.ino.volatile)), nil
}

// Sync makes the file's content and size durable.
func (f *File) Sync() error {
	if err := f.check("sync"); err != nil {
		return err
	}
	d := f.d
	d.spend(true, 0)
	if d.chance(d.faults.WriteErrorProb) {
		d.stats.WriteErrors++
		return pathErr("sync", f.name, diskmodel.ErrIO)
	}
	d.stats.Syncs++
	d.syncFile(f.ino)
	return nil
}

// flush makes every pending op durable.
func (ino *inode) flush() {
	for _, op := range ino.pending {
		ino.durable = applyPending(ino.durable, op, ino.arena)
	}
	ino.pending = ino.pending[:0]
	ino.arena = ino.arena[:0]
	if cap(ino.arena) > arenaKeepBytes {
		ino.arena = nil
	}
	if cap(ino.pending) > maxPendingOps/16 {
		ino.pending = nil
	}
}

// limitBacklog writes the file back unasked when its backlog is too long.
func (d *Disk) limitBacklog(ino *inode) {
	if len(ino.pending) > maxPendingOps || len(ino.arena) > maxPendingBytes {
		d.stats.Writebacks++
		ino.flush()
	}
}

// Close releases the File; it does not sync.
func (f *File) Close() error {
	if err := f.check("close"); err != nil {
		return err
	}
	f.closed = true
	f.d.stats.Ops++
	f.ino.openCount--
	f.d.charge(f.ino)
	f.d.maybeFree(f.ino)
	return nil
}
