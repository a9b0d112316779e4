package coherence

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/flockvm/flock/vm/isa"
)

// RegionShift splits a global offset into region (the bits from 40 up: the
// index of the region's home in the process's homes) and the offset inside
// the region.
const (
	RegionShift = 40
	RegionBytes = uint64(1) << RegionShift
	regionMask  = RegionBytes - 1
)

// Access rights of a Frame, as seen by the hot path.
const (
	rightRead  uint32 = 1
	rightWrite uint32 = 2
	rightsAll         = rightRead | rightWrite
)

// Frame is one page's data on this machine: a master copy at the home, or a
// cached copy elsewhere. Words are read and written with atomic instructions
// so several interpreter cores can share it; rights say what the hot path
// may do. A frame that leaves its table is never reused, so a core holding a
// stale pointer only ever sees it without rights.
type Frame struct {
	rights atomic.Uint32
	w      []atomic.Uint64
}

func newFrame(words int) *Frame { return &Frame{w: make([]atomic.Uint64, words)} }

// pageData is a page's words as they travel: little-endian, 8 bytes a
// word; nil stands for a page of zeros.
type pageData []byte

// snapshot copies the words out. The protocol takes a snapshot only when no
// core may write the frame (after the grace period that took write rights
// away, or of a master copy whose rights are read-only), so on a
// little-endian machine it is one copy of the frame's bytes.
func (f *Frame) snapshot() pageData {
	if hostLittleEndian {
		return bytes.Clone(f.bytes())
	}
	out := make(pageData, 8*len(f.w))
	for i := range f.w {
		binary.LittleEndian.PutUint64(out[8*i:], f.w[i].Load())
	}
	return out
}

// handOver returns the data of a frame about to leave its table for good,
// after the grace period that took every right away: no core writes it
// again and it is never reused, so on a little-endian machine its memory
// itself is the data (no copy).
func (f *Frame) handOver() pageData {
	if hostLittleEndian {
		return f.bytes()
	}
	return f.snapshot()
}

// bytes is the frame's memory as bytes (the host's byte order).
func (f *Frame) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&f.w[0])), 8*len(f.w))
}

// newFrameOf returns a frame holding data, for a page about to be
// installed. No core can see the frame before it is published in the table
// (an atomic pointer store, which orders these writes before any core's
// load of the pointer), so the copy need not be atomic word by word: on a
// little-endian machine it is one copy of the bytes.
func newFrameOf(words int, data pageData) *Frame {
	if data == nil {
		return newFrame(words)
	}
	if len(data) != 8*words {
		panic(fmt.Sprintf("coherence: fill %d bytes into a frame of %d words", len(data), words))
	}
	if !hostLittleEndian {
		f := newFrame(words)
		f.fill(data)
		return f
	}
	// A copy of the bytes, made without clearing memory first, becomes
	// the words (the allocator aligns it for them).
	b := bytes.Clone(data)
	return &Frame{w: unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&b[0])), words)}
}

// hostLittleEndian: pageData is little-endian, so on such a machine a
// frame's memory and a page's bytes are laid out alike.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// fill copies a page's words in (nil: zeros). It is called only on a frame
// no core may use (its rights are none: an owner elsewhere held the page),
// so on a little-endian machine it is one copy of the bytes.
func (f *Frame) fill(data pageData) {
	if r := f.rights.Load(); r != 0 {
		panic(fmt.Sprintf("coherence: fill of a frame with rights %d", r))
	}
	if data == nil {
		clear(f.bytes())
		return
	}
	if len(data) != 8*len(f.w) {
		panic(fmt.Sprintf("coherence: fill %d bytes into a frame of %d words", len(data), len(f.w)))
	}
	if hostLittleEndian {
		copy(f.bytes(), data)
		return
	}
	for i := range f.w {
		f.w[i].Store(binary.LittleEndian.Uint64(data[8*i:]))
	}
}

const (
	dirFramesShift = 9
	dirFrames      = 1 << dirFramesShift
	dirFrameMask   = dirFrames - 1
)

type tableDir struct {
	frames [dirFrames]atomic.Pointer[Frame]
}

// tableRegion is one region's directories; the slice grows copy-on-write,
// every element an atomic pointer, so readers never see a torn update.
type tableRegion struct {
	dirs atomic.Pointer[[]atomic.Pointer[tableDir]]
}

// Table is one process's global pages as held on this machine: the
// interpreter's direct way to them (a radix of atomic frame pointers per
// region). Its read methods are safe from any goroutine, concurrently with
// the Agent that maintains it; a core must be between Core.Enter and
// Core.Exit while it uses them.
type Table struct {
	pageShift uint
	dirShift  uint   // pageShift + dirFramesShift
	wordMask  uint64 // words per page - 1
	regions   []tableRegion
}

func newTable(pageBytes int, regions int) *Table {
	shift := uint(0)
	for 1<<shift < pageBytes {
		shift++
	}
	return &Table{pageShift: shift, dirShift: shift + dirFramesShift, wordMask: uint64(pageBytes/8 - 1), regions: make([]tableRegion, regions)}
}

// frame is the frame of the page holding global offset off, or nil.
func (t *Table) frame(off uint64) *Frame {
	r := off >> RegionShift
	if r >= uint64(len(t.regions)) {
		return nil
	}
	dp := t.regions[r].dirs.Load()
	if dp == nil {
		return nil
	}
	dirs := *dp
	di := (off & regionMask) >> t.dirShift
	if di >= uint64(len(dirs)) {
		return nil
	}
	d := dirs[di].Load()
	if d == nil {
		return nil
	}
	return d.frames[(off>>t.pageShift)&dirFrameMask].Load()
}

// Load64 reads the aligned global word at addr if its page is held
// readable here; ok false means a miss (or a misaligned or non-global
// address): take the slow path.
func (t *Table) Load64(addr uint64) (v uint64, ok bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return 0, false
	}
	f := t.frame(addr &^ isa.GlobalBit)
	if f == nil || f.rights.Load()&rightRead == 0 {
		return 0, false
	}
	return f.w[(addr>>3)&t.wordMask].Load(), true
}

// Store64 writes the aligned global word at addr if its page is held
// writable here; false means take the slow path.
func (t *Table) Store64(addr, v uint64) bool {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return false
	}
	f := t.frame(addr &^ isa.GlobalBit)
	if f == nil || f.rights.Load()&rightWrite == 0 {
		return false
	}
	f.w[(addr>>3)&t.wordMask].Store(v)
	return true
}

// CompareAndSwap replaces the aligned global word at addr with replacement
// if it equals expected, when the page is held writable here; ok false
// means take the slow path.
func (t *Table) CompareAndSwap(addr, expected, replacement uint64) (swapped, ok bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return false, false
	}
	f := t.frame(addr &^ isa.GlobalBit)
	if f == nil || f.rights.Load()&rightWrite == 0 {
		return false, false
	}
	return f.w[(addr>>3)&t.wordMask].CompareAndSwap(expected, replacement), true
}

// FetchAdd adds delta to the aligned global word at addr and returns its old
// value, when the page is held writable here; ok false means take the slow
// path.
func (t *Table) FetchAdd(addr, delta uint64) (old uint64, ok bool) {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return 0, false
	}
	f := t.frame(addr &^ isa.GlobalBit)
	if f == nil || f.rights.Load()&rightWrite == 0 {
		return 0, false
	}
	return f.w[(addr>>3)&t.wordMask].Add(delta) - delta, true
}

// set points the table at f for the page holding offset off (nil removes
// it). Agent goroutine only.
func (t *Table) set(off uint64, f *Frame) {
	r := off >> RegionShift
	if r >= uint64(len(t.regions)) {
		panic(fmt.Sprintf("coherence: table set at offset %#x: region %d of %d", off, r, len(t.regions)))
	}
	reg := &t.regions[r]
	di := (off & regionMask) >> t.dirShift
	var dirs []atomic.Pointer[tableDir]
	if dp := reg.dirs.Load(); dp != nil {
		dirs = *dp
	}
	if di >= uint64(len(dirs)) {
		if f == nil {
			return
		}
		grown := make([]atomic.Pointer[tableDir], max(2*len(dirs), int(di)+1))
		for i := range dirs {
			grown[i].Store(dirs[i].Load())
		}
		reg.dirs.Store(&grown)
		dirs = grown
	}
	d := dirs[di].Load()
	if d == nil {
		if f == nil {
			return
		}
		d = &tableDir{}
		dirs[di].Store(d)
	}
	d.frames[(off>>t.pageShift)&dirFrameMask].Store(f)
}

// Core is one interpreter core of this machine as the page store sees it.
// A core brackets every stretch of work that may touch a Table (a quantum)
// with Enter and Exit; the Agent completes a revocation of access only once
// every core that was inside such a stretch when it happened has left it,
// so no store in flight on another core is missed. Enter and Exit are safe
// from the core's own goroutine; a core must Exit regularly (every quantum)
// or revocations wait for it.
type Core struct {
	g     *graceState
	state atomic.Uint64 // entry epoch << 1 | inside
}

// Enter starts a stretch of work that may use Tables.
func (c *Core) Enter() { c.state.Store(c.g.epoch.Load()<<1 | 1) }

// Exit ends it: the core holds no access from now until its next Enter.
func (c *Core) Exit() { c.state.Store(0) }

// graceState is the Agent's side of grace periods.
type graceState struct {
	epoch atomic.Uint64
	cores []*Core // agent goroutine only
}

// revoke starts a grace period after access was lowered and returns its
// ticket; 0 means none is needed (no cores registered).
func (g *graceState) revoke() uint64 {
	if len(g.cores) == 0 {
		return 0
	}
	return g.epoch.Add(1)
}

// passed reports whether every core that could have seen the access
// revoked under ticket has left its stretch since.
func (g *graceState) passed(ticket uint64) bool {
	if ticket == 0 {
		return true
	}
	for _, c := range g.cores {
		if s := c.state.Load(); s&1 == 1 && s>>1 < ticket {
			return false
		}
	}
	return true
}

// tlbEntries is the size of a TLB: a power of two, small enough that a TLB
// on the interpreter's stack costs little to clear.
const tlbEntries = 16

// TLB is a small direct-mapped cache of (Table, page) → Frame for one
// interpreter core (not safe for concurrent use: one per core). Its Load64
// and Store64 are the interpreter's hot path, small enough to be inlined:
// when the entry matches and the frame has the rights, a global access
// costs about what a thread-local one does. On a miss the caller refills
// the entry from the Table (Fill) and tries again; when the page is not
// held it takes the slow path (sys.Global). Entries never go stale in a
// harmful way: a frame that leaves its table keeps no rights, so a stale
// entry only misses.
type TLB struct {
	shift uint   // the page shift of the tables it caches (one agent's)
	mask  uint64 // words per page - 1
	e     [tlbEntries]tlbEntry
}

type tlbEntry struct {
	tab *Table
	tag uint64 // the address >> pageShift (the global bit included)
	f   *Frame
}

// Load64 reads the aligned global word at addr of t's process if the
// TLB has its page and the page is held readable; ok false: call Fill,
// and if it reports the page held, try again; else take the slow path.
func (c *TLB) Load64(t *Table, addr uint64) (uint64, bool) {
	tag := addr >> (c.shift & 63)
	e := &c.e[tag&(tlbEntries-1)]
	f := e.f
	if e.tag != tag || e.tab != t || addr&7 != 0 || f.rights.Load()&rightRead == 0 {
		return 0, false
	}
	return f.w[(addr>>3)&c.mask].Load(), true
}

// Store64 writes the aligned global word at addr of t's process if the
// TLB has its page and the page is held writable; false: as for Load64.
func (c *TLB) Store64(t *Table, addr, v uint64) bool {
	tag := addr >> (c.shift & 63)
	e := &c.e[tag&(tlbEntries-1)]
	f := e.f
	if e.tag != tag || e.tab != t || addr&7 != 0 || f.rights.Load()&rightWrite == 0 {
		return false
	}
	f.w[(addr>>3)&c.mask].Store(v)
	return true
}

// FetchAdd adds delta to the aligned global word at addr of t's process
// and returns its old value, if the TLB has its page and the page is held
// writable; ok false: as for Load64.
func (c *TLB) FetchAdd(t *Table, addr, delta uint64) (uint64, bool) {
	tag := addr >> (c.shift & 63)
	e := &c.e[tag&(tlbEntries-1)]
	f := e.f
	if e.tag != tag || e.tab != t || addr&7 != 0 || f.rights.Load()&rightWrite == 0 {
		return 0, false
	}
	return f.w[(addr>>3)&c.mask].Add(delta) - delta, true
}

// CompareAndSwap replaces the aligned global word at addr of t's process
// with replacement if it equals expected, if the TLB has its page and the
// page is held writable; ok false: as for Load64.
func (c *TLB) CompareAndSwap(t *Table, addr, expected, replacement uint64) (swapped, ok bool) {
	tag := addr >> (c.shift & 63)
	e := &c.e[tag&(tlbEntries-1)]
	f := e.f
	if e.tag != tag || e.tab != t || addr&7 != 0 || f.rights.Load()&rightWrite == 0 {
		return false, false
	}
	return f.w[(addr>>3)&c.mask].CompareAndSwap(expected, replacement), true
}

// Fill looks the page of addr up in t and caches it; false when the page
// is not held here at all (or addr is not an aligned global address).
// Entries only ever hold global addresses: the global bit is part of the
// tag.
func (c *TLB) Fill(t *Table, addr uint64) bool {
	if addr&(isa.GlobalBit|7) != isa.GlobalBit {
		return false
	}
	f := t.frame(addr &^ isa.GlobalBit)
	if f == nil {
		return false
	}
	if c.shift != t.pageShift || c.mask != t.wordMask {
		// A table of another page size: what is cached is keyed wrong.
		c.Flush()
		c.shift, c.mask = t.pageShift, t.wordMask
	}
	tag := addr >> t.pageShift
	c.e[tag&(tlbEntries-1)] = tlbEntry{tab: t, tag: tag, f: f}
	return true
}

// Flush empties the TLB (for instance when a process ends, so its tables
// can be collected).
func (c *TLB) Flush() { c.e = [tlbEntries]tlbEntry{} }
