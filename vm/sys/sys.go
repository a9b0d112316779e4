package sys

import "fmt"

// ReqID names one operation a thread asked for, uniquely in the VM and for
// all time: the machine that asked, that machine's incarnation (a new one at
// every start, durable before the machine speaks, DESIGN §8), the core whose
// interpreter asked, and a sequence number per core. A restarted machine
// therefore never reuses an id, and an id doubles as the deduplication key
// that lets receivers apply a retried request at most once. The answer must
// reach the machine that asked.
type ReqID struct {
	Machine     uint64 // the asking machine (a netmodel.NodeID)
	Incarnation uint32 // the asking machine's incarnation
	Core        uint32 // the asking interpreter core on that machine
	Seq         uint64 // per (Machine, Incarnation, Core), from 1
}

// Less orders ids: by machine, incarnation, core, then sequence.
func (a ReqID) Less(b ReqID) bool {
	if a.Machine != b.Machine {
		return a.Machine < b.Machine
	}
	if a.Incarnation != b.Incarnation {
		return a.Incarnation < b.Incarnation
	}
	if a.Core != b.Core {
		return a.Core < b.Core
	}
	return a.Seq < b.Seq
}

// IsZero reports whether id is the zero id, which names no request.
func (a ReqID) IsZero() bool { return a == ReqID{} }

func (a ReqID) String() string {
	return fmt.Sprintf("m%d.i%d.c%d#%d", a.Machine, a.Incarnation, a.Core, a.Seq)
}

// Caller says who asks: the process, the thread, the user the process runs
// as (every storage operation checks it against the path's permissions) and
// the request.
type Caller struct {
	PID  uint64
	TID  uint64
	User string
	Req  ReqID
}

// Reply is the outcome of an operation. Trap != TrapNone ends the calling
// process with that trap; errors a program may handle (a missing file) are
// negative values in Val instead. With TrapLost, Val names the failed
// machine (a netmodel.NodeID; 0 if unknown).
type Reply struct {
	Val  uint64
	Data []byte
	Trap Trap
}

// Completer receives answers that come later.
//
// The liveness rule: no parked request waits forever. An implementation
// of Global, Storage or Kernel that answers later (returns ok = false)
// must call Complete exactly once for that request, with its answer, or,
// when the machine that had to answer was declared dead, with TrapLost
// naming that machine, unless the calling process ended first (then the
// thread is gone and the answer is ignored). A bound on retransmission
// never ends in silence: it ends in an answer or a declared loss. The vm
// scenario of flock-sim enforces the rule: after healing, every process
// must end within a bound of virtual time.
type Completer interface {
	// Complete delivers the reply to the operation id. Unknown ids (the
	// thread's process ended meanwhile) are ignored.
	Complete(id ReqID, r Reply)
}

// Global is a process's global memory (addresses with the MSB set), shared by
// all of its threads wherever they run. Every aligned word behaves as a
// linearizable atomic register.
type Global interface {
	// Alloc reserves size bytes (rounded up to a multiple of 8), zeroed;
	// Val is the address.
	Alloc(c Caller, sizeBytes uint64) (Reply, bool)
	// Free releases a block Alloc returned.
	Free(c Caller, addr uint64) (Reply, bool)
	// Load reads a word (width 8, aligned) or a byte (width 1).
	Load(c Caller, addr uint64, width uint8) (Reply, bool)
	// Store writes a word (width 8, aligned) or the low byte (width 1).
	Store(c Caller, addr uint64, width uint8, val uint64) (Reply, bool)
	// CAS replaces the word at addr with replacement if it equals expected;
	// Val is 1 if it did, else 0.
	CAS(c Caller, addr, expected, replacement uint64) (Reply, bool)
	// FetchAdd adds delta to the word at addr; Val is the old value.
	FetchAdd(c Caller, addr, delta uint64) (Reply, bool)
	// Fence answers once every operation the thread issued before it is
	// complete everywhere.
	Fence(c Caller) (Reply, bool)
	// ReadBytes reads n bytes (Data).
	ReadBytes(c Caller, addr, n uint64) (Reply, bool)
	// WriteBytes writes data.
	WriteBytes(c Caller, addr uint64, data []byte) (Reply, bool)
	// Wait answers Val=1 at once if the word at addr differs from expected;
	// otherwise it answers Val=0 when a Wake on addr picks this waiter.
	Wait(c Caller, addr, expected uint64) (Reply, bool)
	// Wake wakes up to count waiters on addr in the order they started
	// waiting; Val is how many it woke.
	Wake(c Caller, addr, count uint64) (Reply, bool)
	// Release forgets every waiter of the process (its threads are gone).
	Release(pid uint64)
}

// OpenMode says what OPEN does when the file exists or not.
type OpenMode uint64

const (
	OpenExisting OpenMode = iota
	OpenOrCreate
	CreateExclusive
)

// Storage is the VM's filesystem as one process sees it. File descriptors
// are per process. Results are values >= 0, or -Errno.
type Storage interface {
	Open(c Caller, path string, mode OpenMode) (Reply, bool)   // Val: fd
	Close(c Caller, fd uint64) (Reply, bool)                   // Val: 0
	Read(c Caller, fd, off, n uint64) (Reply, bool)            // Data; Val: bytes read
	Write(c Caller, fd, off uint64, data []byte) (Reply, bool) // Val: bytes written (durable)
	Size(c Caller, fd uint64) (Reply, bool)                    // Val: size in bytes
	List(c Caller, path string) (Reply, bool)                  // Data: names, '\n'-terminated, dirs end in '/'
	Remove(c Caller, path string) (Reply, bool)                // Val: 0
	Mkdir(c Caller, path string) (Reply, bool)                 // Val: 0
	// Rename gives the file or directory at oldPath the name newPath. A
	// file already there is replaced; a directory there, or an existing
	// name for a directory, is -EEXIST; a directory under itself -EINVAL.
	Rename(c Caller, oldPath, newPath string) (Reply, bool) // Val: 0
	// GetAttr reports a directory's attributes (Data: Attr.Format; Val:
	// its length).
	GetAttr(c Caller, path string) (Reply, bool)
	// SetAttr changes a directory's attributes (its owner's or root's right).
	SetAttr(c Caller, path string, change AttrChange) (Reply, bool) // Val: 0
	// Release closes every file the process left open.
	Release(pid uint64)
}
