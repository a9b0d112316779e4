package mem

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// GlobalPages is the word store of a global memory held on this machine,
// shared by every interpreter core that runs the process's threads, in
// parallel or not. Words are read and written with atomic instructions and
// found without a lock (an atomic pointer to a slice of atomic directory
// pointers, grown by copying, and atomic page pointers in each directory), so loads, stores, CAS and
// fetch-and-add on mapped pages never wait for one another. Mapping pages
// and releasing the store take mu; a directory added or a page mapped is
// published by one atomic store, so a reader sees either nothing (and takes
// the slow path, which traps: unmapped) or the zeroed page.
//
// Global pages are never shared copy-on-write (there is one global memory
// per process): no reference counts, no read-only pages.
type GlobalPages struct {
	dirs atomic.Pointer[[]atomic.Pointer[globalDir]]
	mu   sync.Mutex // mapping and release; readers never take it
	// Under mu.
	mappedPages uint64
	released    bool
	acct        *Account
}

type globalDir struct {
	pages [dirPages]atomic.Pointer[globalPage]
}

type globalPage struct {
	w [pageWords]atomic.Uint64
}

func newGlobalPages(acct *Account) *GlobalPages { return &GlobalPages{acct: acct} }

// word is the word at global offset off (8-aligned), nil if its page is
// not mapped.
func (g *GlobalPages) word(off uint64) *atomic.Uint64 {
	dp := g.dirs.Load()
	if dp == nil {
		return nil
	}
	dirs := *dp
	di := off >> dirShift
	if di >= uint64(len(dirs)) {
		return nil
	}
	d := dirs[di].Load()
	if d == nil {
		return nil
	}
	p := d.pages[(off>>pageShift)&pageMask].Load()
	if p == nil {
		return nil
	}
	return &p.w[(off>>3)&wordInPage]
}

// Load64 is the interpreter's hot path for LOAD of a global address: the
// aligned word at addr, ok false when the caller must take the slow path
// (misaligned, unmapped, not a global address).
func (g *GlobalPages) Load64(addr uint64) (uint64, bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return 0, false
	}
	w := g.word(addr &^ isa.GlobalBit)
	if w == nil {
		return 0, false
	}
	return w.Load(), true
}

// Store64 is the hot path of STORE: false means take the slow path.
func (g *GlobalPages) Store64(addr, v uint64) bool {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return false
	}
	w := g.word(addr &^ isa.GlobalBit)
	if w == nil {
		return false
	}
	w.Store(v)
	return true
}

// FetchAdd is the hot path of FAA: the old value; ok false means take the
// slow path.
func (g *GlobalPages) FetchAdd(addr, delta uint64) (old uint64, ok bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return 0, false
	}
	w := g.word(addr &^ isa.GlobalBit)
	if w == nil {
		return 0, false
	}
	return w.Add(delta) - delta, true
}

// CompareAndSwap is the hot path of CAS; ok false means take the slow path.
func (g *GlobalPages) CompareAndSwap(addr, expected, replacement uint64) (swapped, ok bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return false, false
	}
	w := g.word(addr &^ isa.GlobalBit)
	if w == nil {
		return false, false
	}
	return w.CompareAndSwap(expected, replacement), true
}

// wordAt is the word holding offset off (any alignment) or a trap.
func (g *GlobalPages) wordAt(off uint64) (*atomic.Uint64, sys.Trap) {
	w := g.word(off &^ 7)
	if w == nil {
		return nil, sys.TrapUnmapped
	}
	return w, sys.TrapNone
}

func (g *GlobalPages) load64(off uint64) (uint64, sys.Trap) {
	if off&7 != 0 {
		return 0, sys.TrapMisaligned
	}
	w, trap := g.wordAt(off)
	if trap != sys.TrapNone {
		return 0, trap
	}
	return w.Load(), sys.TrapNone
}

func (g *GlobalPages) store64(off, v uint64) sys.Trap {
	if off&7 != 0 {
		return sys.TrapMisaligned
	}
	w, trap := g.wordAt(off)
	if trap != sys.TrapNone {
		return trap
	}
	w.Store(v)
	return sys.TrapNone
}

func (g *GlobalPages) load8(off uint64) (uint64, sys.Trap) {
	w, trap := g.wordAt(off)
	if trap != sys.TrapNone {
		return 0, trap
	}
	return (w.Load() >> (8 * (off & 7))) & 0xff, sys.TrapNone
}

// store8 writes one byte: a CAS loop on its word, so that bytes of one
// word written by different cores at once are all kept.
func (g *GlobalPages) store8(off, v uint64) sys.Trap {
	w, trap := g.wordAt(off)
	if trap != sys.TrapNone {
		return trap
	}
	storeByte(w, off&7, byte(v))
	return sys.TrapNone
}

// storeByteAttemptsMax bounds the CAS loop of one byte store; every failed
// attempt means another core changed the word meanwhile, so running out
// means the memory system is broken.
const storeByteAttemptsMax = 1 << 30

func storeByte(w *atomic.Uint64, index uint64, b byte) {
	shift := 8 * index
	for range storeByteAttemptsMax {
		old := w.Load()
		if w.CompareAndSwap(old, old&^(0xff<<shift)|uint64(b)<<shift) {
			return
		}
	}
	panic(fmt.Sprintf("mem: byte store at index %d lost %d races in a row", index, storeByteAttemptsMax))
}

// mapped reports whether every byte of [off, off+n) is mapped.
func (g *GlobalPages) mapped(off, n uint64) bool {
	if off+n < off {
		return false
	}
	for a := off &^ (PageBytes - 1); a < off+n; a += PageBytes {
		if g.word(a) == nil {
			return false
		}
	}
	return true
}

// readBytes copies n bytes from off, every one of them mapped. Each word
// is read atomically; the range as a whole is not one atomic read.
func (g *GlobalPages) readBytes(off, n uint64) ([]byte, sys.Trap) {
	if !g.mapped(off, n) {
		return nil, sys.TrapUnmapped
	}
	out := make([]byte, n)
	for i := uint64(0); i < n; {
		a := off + i
		w, trap := g.wordAt(a)
		if trap != sys.TrapNone {
			return nil, trap // released meanwhile
		}
		v := w.Load()
		for b := a & 7; b < 8 && i < n; b++ {
			out[i] = byte(v >> (8 * b))
			i++
		}
	}
	return out, sys.TrapNone
}

// writeBytes copies data to off, every byte of it mapped (else nothing is
// written). Whole words are stored, partial ones merged byte by byte.
func (g *GlobalPages) writeBytes(off uint64, data []byte) sys.Trap {
	n := uint64(len(data))
	if !g.mapped(off, n) {
		return sys.TrapUnmapped
	}
	for i := uint64(0); i < n; {
		a := off + i
		w, trap := g.wordAt(a)
		if trap != sys.TrapNone {
			return trap // released meanwhile
		}
		if a&7 == 0 && n-i >= 8 {
			var v uint64
			for b := range uint64(8) {
				v |= uint64(data[i+b]) << (8 * b)
			}
			w.Store(v)
			i += 8
			continue
		}
		storeByte(w, a&7, data[i])
		i++
	}
	return sys.TrapNone
}

// zero clears [off, off+n), n a multiple of 8 and off aligned (a freed
// block given out again).
func (g *GlobalPages) zero(off, n uint64) sys.Trap {
	if off&7 != 0 || n&7 != 0 {
		panic(fmt.Sprintf("mem: zero(%#x, %d) not word aligned", off, n))
	}
	for a := off; a < off+n; a += 8 {
		if trap := g.store64(a, 0); trap != sys.TrapNone {
			return trap
		}
	}
	return sys.TrapNone
}

// mapRange maps fresh zero pages over [from, to) where none are mapped
// yet. Caller holds mu.
func (g *GlobalPages) mapRange(from, to uint64) sys.Trap {
	if g.released {
		return sys.TrapUnmapped
	}
	for off := from &^ (PageBytes - 1); off < to; off += PageBytes {
		d := g.dirFor(off >> dirShift)
		slot := &d.pages[(off>>pageShift)&pageMask]
		if slot.Load() != nil {
			continue
		}
		if !g.acct.Charge(PageBytes) {
			return sys.TrapOutOfMemory
		}
		slot.Store(&globalPage{})
		g.mappedPages++
	}
	return sys.TrapNone
}

// dirFor is directory di, made if missing; the directory slice grows to
// twice its size (copied, then republished) when di is past its end.
// Caller holds mu.
func (g *GlobalPages) dirFor(di uint64) *globalDir {
	var dirs []atomic.Pointer[globalDir]
	if dp := g.dirs.Load(); dp != nil {
		dirs = *dp
	}
	if di >= uint64(len(dirs)) {
		grown := make([]atomic.Pointer[globalDir], max(2*uint64(len(dirs)), di+1))
		for i := range dirs {
			grown[i].Store(dirs[i].Load())
		}
		g.dirs.Store(&grown)
		dirs = grown
	}
	if d := dirs[di].Load(); d != nil {
		return d
	}
	d := &globalDir{}
	dirs[di].Store(d)
	return d
}

// release unmaps everything and gives the pages back; later mappings fail.
// A core still running a thread of the process (its end on the way) sees
// unmapped memory and traps, which nobody hears: the process is gone.
func (g *GlobalPages) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released {
		return
	}
	g.released = true
	g.dirs.Store(nil)
	g.acct.Uncharge(g.mappedPages * PageBytes)
	g.mappedPages = 0
}
