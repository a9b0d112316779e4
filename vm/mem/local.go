package mem

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// LocalLimitBytes bounds a thread-local address space (and so its heap).
const LocalLimitBytes = uint64(1) << 40

// Local is one thread's local memory: addresses with the MSB clear. It never
// leaves its thread, so its operations are plain method calls that answer at
// once.
type Local struct {
	sp   space
	heap *Heap // with mappedTop: below it pages are mapped (maybe dirty); above, fresh
	// lazy: pages of a snapshot on another machine not fetched yet
	// (local_remote.go); nil when every page is here.
	lazy *lazyPart
}

// NewLocal is a main thread's memory: the program's read-only and writable
// data, and an empty heap after them.
func NewLocal(p *isa.Program, acct *Account) (*Local, sys.Trap) {
	l := &Local{sp: space{acct: acct}, heap: NewHeap(p.HeapBase(), LocalLimitBytes)}
	ro := uint64(isa.RODataBase)
	if trap := l.sp.mapRange(ro, ro+uint64(len(p.ROData)), false); trap != sys.TrapNone {
		l.Release()
		return nil, trap
	}
	l.sp.writeBytes(ro, p.ROData)
	for off := ro; off < ro+uint64(len(p.ROData)); off += PageBytes {
		l.sp.lookup(off).ro = true
	}
	db := p.DataBase()
	if trap := l.sp.mapRange(db, db+uint64(len(p.Data)), false); trap != sys.TrapNone {
		l.Release()
		return nil, trap
	}
	l.sp.writeBytes(db, p.Data)
	l.heap.mappedTop = p.HeapBase()
	return l, sys.TrapNone
}

// Snapshot is a copy-on-write copy: the child sees exactly this memory, and
// from then on writes on either side are private. It costs one pointer per
// 2 MiB directory, not a copy of the data; the allocator's state is shared
// until one side allocates or frees.
func (l *Local) Snapshot() *Local {
	l.heap.refs.Add(1)
	return &Local{sp: l.sp.snapshot(), heap: l.heap, lazy: l.lazy.share()}
}

// Release gives the memory back; the Local must not be used afterwards.
func (l *Local) Release() {
	l.sp.release()
	l.heap.refs.Add(-1)
	l.dropLazy()
}

// ownHeap makes the allocator's state private before it changes.
func (l *Local) ownHeap() *Heap {
	if h := l.heap; h.refs.Load() > 1 {
		l.heap = h.shareClone()
		h.refs.Add(-1)
	}
	return l.heap
}

// Alloc reserves n bytes (rounded up to a multiple of 8), zeroed.
func (l *Local) Alloc(n uint64) (uint64, sys.Trap) {
	addr, size, ok := l.ownHeap().Alloc(n)
	if !ok {
		return 0, sys.TrapOutOfMemory
	}
	if trap := prepare(&l.sp, &l.heap.mappedTop, addr, size); trap != sys.TrapNone {
		l.heap.Free(addr)
		return 0, l.noteFault(trap, addr, size)
	}
	return addr, sys.TrapNone
}

// prepare maps and zeroes a fresh block.
func prepare(sp *space, mappedTop *uint64, addr, size uint64) sys.Trap {
	end := addr + size
	if dirty := min(end, *mappedTop); dirty > addr {
		if trap := sp.zero(addr, dirty-addr); trap != sys.TrapNone {
			return trap
		}
	}
	if end > *mappedTop {
		if trap := sp.mapRange(*mappedTop, end, false); trap != sys.TrapNone {
			return trap
		}
		*mappedTop = (end + PageBytes - 1) &^ (PageBytes - 1)
	}
	return sys.TrapNone
}

// Free releases a block Alloc returned.
func (l *Local) Free(addr uint64) sys.Trap {
	if _, ok := l.ownHeap().Free(addr); !ok {
		return sys.TrapBadFree
	}
	return sys.TrapNone
}

// The slow-path accessors note, when they trap on a page not fetched yet,
// which page it was (Fault).

// Load64 reads the aligned word at addr.
func (l *Local) Load64(addr uint64) (uint64, sys.Trap) {
	v, trap := l.sp.load64(addr)
	return v, l.noteFault(trap, addr, 8)
}

// Store64 writes the aligned word at addr.
func (l *Local) Store64(addr, v uint64) sys.Trap {
	return l.noteFault(l.sp.store64(addr, v), addr, 8)
}

// Load8 reads the byte at addr.
func (l *Local) Load8(addr uint64) (uint64, sys.Trap) {
	v, trap := l.sp.load8(addr)
	return v, l.noteFault(trap, addr, 1)
}

// Store8 writes the low byte of v at addr.
func (l *Local) Store8(addr, v uint64) sys.Trap {
	return l.noteFault(l.sp.store8(addr, v), addr, 1)
}

// ReadBytes copies n bytes from addr.
func (l *Local) ReadBytes(addr, n uint64) ([]byte, sys.Trap) {
	b, trap := l.sp.readBytes(addr, n)
	return b, l.noteFault(trap, addr, n)
}

// WriteBytes copies data to addr.
func (l *Local) WriteBytes(addr uint64, data []byte) sys.Trap {
	return l.noteFault(l.sp.writeBytes(addr, data), addr, uint64(len(data)))
}

// Word is the fast path of LOAD: the aligned word at addr, ok false when
// the caller must take the slow path (misaligned, unmapped).
func (l *Local) Word(addr uint64) (uint64, bool) {
	di := addr >> dirShift
	if addr&7 != 0 || di >= uint64(len(l.sp.dirs)) {
		return 0, false
	}
	d := l.sp.dirs[di]
	if d == nil {
		return 0, false
	}
	p := d.pages[(addr>>pageShift)&pageMask]
	if p == nil {
		return 0, false
	}
	return p.w[(addr>>3)&wordInPage], true
}

// SetWord is the fast path of STORE for an 8-aligned addr: false when the
// caller must take the slow path (unmapped, shared, read-only). It is small
// enough to be inlined into the dispatch loop.
func (l *Local) SetWord(addr, v uint64) bool {
	di := addr >> dirShift
	if di >= uint64(len(l.sp.dirs)) {
		return false
	}
	d := l.sp.dirs[di]
	if d == nil || d.refs.Load() != 1 {
		return false
	}
	p := d.pages[(addr>>pageShift)&pageMask]
	if p == nil || p.refs.Load() != 1 || p.ro {
		return false
	}
	p.w[(addr>>3)&wordInPage] = v
	return true
}
