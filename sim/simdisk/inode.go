package simdisk

import (
	"time"

	"github.com/google/btree"
)

// inode is one file or directory. A file keeps two images: durable (what
// survives a crash for sure) and volatile (what reads see), plus the pending
// writes and truncates that lead from the first to the second. A directory
// keeps two entry sets the same way; the namespace operations between them
// live in the disk's op log.
type inode struct {
	id    uint64
	isDir bool

	// File state. len(durable) and len(volatile) are the durable and
	// volatile sizes; bytes past the end read as zeros.
	durable  []byte
	volatile []byte
	pending  []pendingOp
	arena    []byte // data of the pending writes, in order
	opSeq    uint64 // seq of the newest pending op

	// Directory state.
	volEntries *btree.BTreeG[dirEntry]
	durEntries *btree.BTreeG[dirEntry]
	lastOp     map[string]*nsOp // newest pending op on each entry name; lookups only

	// Where the volatile namespace holds this inode.
	volParent *inode
	volName   string
	placedBy  *nsOp  // newest pending op that put this inode where it is
	createdBy *nsOp  // the pending Mkdir that created this directory
	durParent *inode // where the durable namespace holds this inode

	volLinked   bool  // named in the volatile namespace
	durLinked   bool  // named in the durable namespace
	openCount   int   // open Files
	pendingRefs int   // pending namespace ops that name it
	chargedSize int64 // bytes it counts against the capacity
}

type dirEntry struct {
	name string
	ino  *inode
}

func entryLess(a, b dirEntry) bool { return a.name < b.name }

const btreeDegree = 8

func newEntries() *btree.BTreeG[dirEntry] { return btree.NewG(btreeDegree, entryLess) }

type pendingKind uint8

const (
	pendingWrite pendingKind = iota + 1
	pendingTruncate
)

// pendingOp is one unsynced change to a file's data.
type pendingOp struct {
	kind      pendingKind
	off       int64 // write: offset; truncate: the new size
	dataStart int   // write: data is arena[dataStart:dataStart+dataLen]
	dataLen   int
	oldSize   int64 // size before the op
	newSize   int64 // size after the op
	seq       uint64
	issued    time.Duration // when the device started it (timed disks)
}

// touched is the byte range whose content the op changes: a write's data, a
// shrinking truncate's cut-off tail. A growing truncate changes no content:
// the bytes it exposes were zeros already.
func (o pendingOp) touched() (lo, hi int64) {
	if o.kind == pendingWrite {
		return o.off, o.off + int64(o.dataLen)
	}
	if o.newSize < o.oldSize {
		return o.newSize, o.oldSize
	}
	return 0, 0
}

// resize sets len(b) to n, zero-filling what it adds (capacity beyond len may
// hold stale bytes from an earlier shrink).
func resize(b []byte, n int64) []byte {
	old := int64(len(b))
	if n <= old {
		return b[:n]
	}
	if n > int64(cap(b)) {
		grown := make([]byte, n, growCap(int64(cap(b)), n))
		copy(grown, b)
		return grown
	}
	b = b[:n]
	clear(b[old:])
	return b
}

// growCap doubles buffers up to a typical WAL segment and grows larger ones
// by a quarter, so appending records costs amortized O(1) without wasting
// much.
func growCap(capNow, need int64) int64 {
	c := capNow * 2
	if capNow > 64<<20 {
		c = capNow + capNow/4
	}
	return max(c, need, 512)
}

// writeImage writes data at off into the image b, growing it as needed.
func writeImage(b []byte, off int64, data []byte) []byte {
	if end := off + int64(len(data)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], data)
	return b
}

// applyPending applies op to the image b (used by Sync and writeback).
func applyPending(b []byte, op pendingOp, arena []byte) []byte {
	if op.kind == pendingWrite {
		return writeImage(b, op.off, arena[op.dataStart:op.dataStart+op.dataLen])
	}
	return resize(b, op.newSize)
}
