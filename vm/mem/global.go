package mem

import (
	"sync"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// GlobalLimitBytes bounds one process's global address space.
const GlobalLimitBytes = uint64(1) << 40

// LocalGlobal is a process's global memory held entirely on this machine:
// every operation answers at once, except Wait, which answers when a Wake
// picks it (through the Completer). It is safe for concurrent use by the
// interpreter cores that run the process's threads: word operations are
// atomic instructions on its GlobalPages (each word a linearizable atomic
// register), the allocator and the mapping of pages take a lock of their
// own, and waiters another; no operation holds a lock while it calls out.
type LocalGlobal struct {
	pages *GlobalPages
	// heap and mappedTop: under pages.mu.
	heap      *Heap
	mappedTop uint64
	waitMu    sync.Mutex
	waiters   map[uint64][]sys.ReqID // under waitMu
	done      sys.Completer
}

var _ sys.Global = (*LocalGlobal)(nil)

// NewLocalGlobal is an empty global memory charged to acct; woken waiters
// are completed through done (from whichever core calls Wake: done must be
// safe for that, as cores.Set is).
func NewLocalGlobal(acct *Account, done sys.Completer) *LocalGlobal {
	return &LocalGlobal{
		pages:     newGlobalPages(acct),
		heap:      NewHeap(isa.RODataBase, GlobalLimitBytes),
		mappedTop: isa.RODataBase,
		waiters:   map[uint64][]sys.ReqID{},
		done:      done,
	}
}

// Pages is the word store, for the interpreter's hot path (loads, stores
// and atomics on mapped pages without an interface call).
func (g *LocalGlobal) Pages() *GlobalPages { return g.pages }

func offset(addr uint64) (uint64, sys.Trap) {
	if addr&isa.GlobalBit == 0 {
		return 0, sys.TrapBadAddress
	}
	return addr &^ isa.GlobalBit, sys.TrapNone
}

func trapped(t sys.Trap) (sys.Reply, bool) { return sys.Reply{Trap: t}, true }

func val(v uint64) (sys.Reply, bool) { return sys.Reply{Val: v}, true }

func (g *LocalGlobal) Alloc(_ sys.Caller, n uint64) (sys.Reply, bool) {
	g.pages.mu.Lock()
	defer g.pages.mu.Unlock()
	off, size, ok := g.heap.Alloc(n)
	if !ok {
		return trapped(sys.TrapOutOfMemory)
	}
	if trap := g.prepare(off, size); trap != sys.TrapNone {
		g.heap.Free(off)
		return trapped(trap)
	}
	return val(off | isa.GlobalBit)
}

// prepare maps and zeroes a fresh block (as the Local's prepare does).
// Caller holds pages.mu.
func (g *LocalGlobal) prepare(off, size uint64) sys.Trap {
	end := off + size
	if dirty := min(end, g.mappedTop); dirty > off {
		if trap := g.pages.zero(off, dirty-off); trap != sys.TrapNone {
			return trap
		}
	}
	if end > g.mappedTop {
		if trap := g.pages.mapRange(g.mappedTop, end); trap != sys.TrapNone {
			return trap
		}
		g.mappedTop = (end + PageBytes - 1) &^ (PageBytes - 1)
	}
	return sys.TrapNone
}

func (g *LocalGlobal) Free(_ sys.Caller, addr uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	g.pages.mu.Lock()
	defer g.pages.mu.Unlock()
	if _, ok := g.heap.Free(off); !ok {
		return trapped(sys.TrapBadFree)
	}
	return val(0)
}

func (g *LocalGlobal) Load(_ sys.Caller, addr uint64, width uint8) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	var v uint64
	if width == 1 {
		v, trap = g.pages.load8(off)
	} else {
		v, trap = g.pages.load64(off)
	}
	return sys.Reply{Val: v, Trap: trap}, true
}

func (g *LocalGlobal) Store(_ sys.Caller, addr uint64, width uint8, v uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if width == 1 {
		return trapped(g.pages.store8(off, v))
	}
	return trapped(g.pages.store64(off, v))
}

func (g *LocalGlobal) CAS(_ sys.Caller, addr, expected, replacement uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if off&7 != 0 {
		return trapped(sys.TrapMisaligned)
	}
	w, trap := g.pages.wordAt(off)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if w.CompareAndSwap(expected, replacement) {
		return val(1)
	}
	return val(0)
}

func (g *LocalGlobal) FetchAdd(_ sys.Caller, addr, delta uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if off&7 != 0 {
		return trapped(sys.TrapMisaligned)
	}
	w, trap := g.pages.wordAt(off)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	return val(w.Add(delta) - delta)
}

// Fence answers at once: on one machine every operation completes before
// it answers.
func (g *LocalGlobal) Fence(sys.Caller) (sys.Reply, bool) { return val(0) }

func (g *LocalGlobal) ReadBytes(_ sys.Caller, addr, n uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	data, trap := g.pages.readBytes(off, n)
	return sys.Reply{Data: data, Trap: trap}, true
}

func (g *LocalGlobal) WriteBytes(_ sys.Caller, addr uint64, data []byte) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	return trapped(g.pages.writeBytes(off, data))
}

func (g *LocalGlobal) Wait(c sys.Caller, addr, expected uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	// The value is read under waitMu: a Wake after a store that changed
	// it either finds this waiter queued or comes before the read, which
	// then sees the new value. Nobody is lost in between.
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	cur, trap := g.pages.load64(off)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if cur != expected {
		return val(1)
	}
	g.waiters[addr] = append(g.waiters[addr], c.Req)
	return sys.Reply{}, false
}

func (g *LocalGlobal) Wake(_ sys.Caller, addr, count uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if _, trap := g.pages.load64(off); trap != sys.TrapNone {
		return trapped(trap)
	}
	woken := g.takeWaiters(addr, count)
	for _, req := range woken { // outside waitMu: done may call back in
		g.done.Complete(req, sys.Reply{Val: 0})
	}
	return val(uint64(len(woken)))
}

// takeWaiters removes and returns the first count waiters on addr.
func (g *LocalGlobal) takeWaiters(addr, count uint64) []sys.ReqID {
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	q := g.waiters[addr]
	n := min(count, uint64(len(q)))
	woken := q[:n:n]
	if rest := q[n:]; len(rest) > 0 {
		g.waiters[addr] = rest
	} else {
		delete(g.waiters, addr)
	}
	return woken
}

// Release forgets every waiter and gives the memory back.
func (g *LocalGlobal) Release(uint64) {
	g.waitMu.Lock()
	clear(g.waiters)
	g.waitMu.Unlock()
	g.pages.release()
}

// Waiters is how many threads wait on addr.
func (g *LocalGlobal) Waiters(addr uint64) int {
	g.waitMu.Lock()
	defer g.waitMu.Unlock()
	return len(g.waiters[addr])
}
