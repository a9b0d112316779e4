package mem

import (
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// block is a range of addresses [addr, addr+size).
type block struct{ addr, size uint64 }

func byAddr(a, b block) bool { return a.addr < b.addr }

func bySize(a, b block) bool {
	if a.size != b.size {
		return a.size < b.size
	}
	return a.addr < b.addr
}

// Heap allocates address ranges: best fit from freed blocks (coalesced with
// their neighbours), else from the top. Its state is ordered trees, so Clone
// is a lazy copy-on-write snapshot and behaviour never depends on map order.
type Heap struct {
	refs atomic.Int32 // Locals sharing this heap (copy-on-write; see Local)
	// cloneMu serialises clones of a shared heap: btree's Clone writes the
	// source's copy-on-write context, and sharers on different cores may
	// clone at once.
	cloneMu    sync.Mutex
	top, limit uint64
	live       *btree.BTreeG[block] // by address
	freeAddr   *btree.BTreeG[block] // by address
	freeSize   *btree.BTreeG[block] // by size, then address
	// mappedTop is a Local's (the pages below are mapped, maybe dirty;
	// above, fresh): kept here, where it changes only with the allocator,
	// so that a Local stays small (it is one per thread).
	mappedTop uint64
}

const btreeDegree = 16

// NewHeap allocates from [base, limit).
func NewHeap(base, limit uint64) *Heap {
	h := &Heap{
		top:      base,
		limit:    limit,
		live:     btree.NewG(btreeDegree, byAddr),
		freeAddr: btree.NewG(btreeDegree, byAddr),
		freeSize: btree.NewG(btreeDegree, bySize),
	}
	h.refs.Store(1)
	return h
}

// Clone is an independent copy sharing structure until either side changes.
func (h *Heap) Clone() *Heap {
	c := &Heap{top: h.top, limit: h.limit, live: h.live.Clone(), freeAddr: h.freeAddr.Clone(), freeSize: h.freeSize.Clone(), mappedTop: h.mappedTop}
	c.refs.Store(1)
	return c
}

// shareClone is Clone of a heap other Locals share (refs > 1): nobody
// changes it, but its sharers may clone it at the same time.
func (h *Heap) shareClone() *Heap {
	h.cloneMu.Lock()
	defer h.cloneMu.Unlock()
	return h.Clone()
}

// RoundSize is the size ALLOC n reserves: n rounded up to a multiple of 8,
// at least 8. ok is false if it overflows.
func RoundSize(n uint64) (uint64, bool) {
	if n > 1<<62 {
		return 0, false
	}
	if n == 0 {
		return 8, true
	}
	return (n + 7) &^ 7, true
}

// Alloc reserves n bytes (rounded by RoundSize); ok is false when no range
// is left.
func (h *Heap) Alloc(n uint64) (addr, size uint64, ok bool) {
	size, ok = RoundSize(n)
	if !ok {
		return 0, 0, false
	}
	var found block
	h.freeSize.AscendGreaterOrEqual(block{size: size}, func(b block) bool {
		found = b
		return false
	})
	if found.size != 0 {
		h.freeSize.Delete(found)
		h.freeAddr.Delete(found)
		if rest := found.size - size; rest > 0 {
			r := block{addr: found.addr + size, size: rest}
			h.freeSize.ReplaceOrInsert(r)
			h.freeAddr.ReplaceOrInsert(r)
		}
		h.live.ReplaceOrInsert(block{addr: found.addr, size: size})
		return found.addr, size, true
	}
	if h.top+size > h.limit || h.top+size < h.top {
		return 0, 0, false
	}
	addr = h.top
	h.top += size
	h.live.ReplaceOrInsert(block{addr: addr, size: size})
	return addr, size, true
}

// Free releases the block starting at addr; ok is false if no live block
// starts there.
func (h *Heap) Free(addr uint64) (size uint64, ok bool) {
	b, ok := h.live.Delete(block{addr: addr})
	if !ok {
		return 0, false
	}
	size = b.size
	var prev block
	h.freeAddr.DescendLessOrEqual(block{addr: addr}, func(p block) bool {
		prev = p
		return false
	})
	if prev.size != 0 && prev.addr+prev.size == b.addr {
		h.freeAddr.Delete(prev)
		h.freeSize.Delete(prev)
		b = block{addr: prev.addr, size: prev.size + b.size}
	}
	if next, ok := h.freeAddr.Get(block{addr: b.addr + b.size}); ok {
		h.freeAddr.Delete(next)
		h.freeSize.Delete(next)
		b.size += next.size
	}
	if b.addr+b.size == h.top {
		h.top = b.addr
		return size, true
	}
	h.freeAddr.ReplaceOrInsert(b)
	h.freeSize.ReplaceOrInsert(b)
	return size, true
}

// Top is one past the highest address ever handed out and not given back.
func (h *Heap) Top() uint64 { return h.top }

// LiveBlocks is how many blocks are allocated.
func (h *Heap) LiveBlocks() int { return h.live.Len() }
