package mem

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// GlobalLimitBytes bounds one process's global address space.
const GlobalLimitBytes = uint64(1) << 40

// LocalGlobal is a process's global memory held entirely on this machine:
// every operation answers at once, except Wait, which answers when a Wake
// picks it (through the Completer). One machine runs one goroutine, so every
// word is trivially a linearizable atomic register.
type LocalGlobal struct {
	sp        space
	heap      *Heap
	mappedTop uint64
	waiters   map[uint64][]sys.ReqID
	done      sys.Completer
}

var _ sys.Global = (*LocalGlobal)(nil)

// NewLocalGlobal is an empty global memory charged to acct; woken waiters
// are completed through done.
func NewLocalGlobal(acct *Account, done sys.Completer) *LocalGlobal {
	return &LocalGlobal{
		sp:        space{acct: acct},
		heap:      NewHeap(isa.RODataBase, GlobalLimitBytes),
		mappedTop: isa.RODataBase,
		waiters:   map[uint64][]sys.ReqID{},
		done:      done,
	}
}

func offset(addr uint64) (uint64, sys.Trap) {
	if addr&isa.GlobalBit == 0 {
		return 0, sys.TrapBadAddress
	}
	return addr &^ isa.GlobalBit, sys.TrapNone
}

func trapped(t sys.Trap) (sys.Reply, bool) { return sys.Reply{Trap: t}, true }

func val(v uint64) (sys.Reply, bool) { return sys.Reply{Val: v}, true }

func (g *LocalGlobal) Alloc(_ sys.Caller, n uint64) (sys.Reply, bool) {
	off, size, ok := g.heap.Alloc(n)
	if !ok {
		return trapped(sys.TrapOutOfMemory)
	}
	if trap := prepare(&g.sp, &g.mappedTop, off, size); trap != sys.TrapNone {
		g.heap.Free(off)
		return trapped(trap)
	}
	return val(off | isa.GlobalBit)
}

func (g *LocalGlobal) Free(_ sys.Caller, addr uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
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
		v, trap = g.sp.load8(off)
	} else {
		v, trap = g.sp.load64(off)
	}
	return sys.Reply{Val: v, Trap: trap}, true
}

func (g *LocalGlobal) Store(_ sys.Caller, addr uint64, width uint8, v uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if width == 1 {
		return trapped(g.sp.store8(off, v))
	}
	return trapped(g.sp.store64(off, v))
}

func (g *LocalGlobal) CAS(_ sys.Caller, addr, expected, replacement uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	old, trap := g.sp.load64(off)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if old != expected {
		return val(0)
	}
	if trap := g.sp.store64(off, replacement); trap != sys.TrapNone {
		return trapped(trap)
	}
	return val(1)
}

func (g *LocalGlobal) FetchAdd(_ sys.Caller, addr, delta uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	old, trap := g.sp.load64(off)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	if trap := g.sp.store64(off, old+delta); trap != sys.TrapNone {
		return trapped(trap)
	}
	return val(old)
}

// Fence answers at once: on one machine every operation completes before
// it answers.
func (g *LocalGlobal) Fence(sys.Caller) (sys.Reply, bool) { return val(0) }

func (g *LocalGlobal) ReadBytes(_ sys.Caller, addr, n uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	data, trap := g.sp.readBytes(off, n)
	return sys.Reply{Data: data, Trap: trap}, true
}

func (g *LocalGlobal) WriteBytes(_ sys.Caller, addr uint64, data []byte) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	return trapped(g.sp.writeBytes(off, data))
}

func (g *LocalGlobal) Wait(c sys.Caller, addr, expected uint64) (sys.Reply, bool) {
	off, trap := offset(addr)
	if trap != sys.TrapNone {
		return trapped(trap)
	}
	cur, trap := g.sp.load64(off)
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
	if _, trap := g.sp.load64(off); trap != sys.TrapNone {
		return trapped(trap)
	}
	q := g.waiters[addr]
	n := min(count, uint64(len(q)))
	woken := q[:n]
	if rest := q[n:]; len(rest) > 0 {
		g.waiters[addr] = rest
	} else {
		delete(g.waiters, addr)
	}
	for _, req := range woken {
		g.done.Complete(req, sys.Reply{Val: 0})
	}
	return val(n)
}

// Release forgets every waiter and gives the memory back.
func (g *LocalGlobal) Release(uint64) {
	clear(g.waiters)
	g.sp.release()
}

// Waiters is how many threads wait on addr.
func (g *LocalGlobal) Waiters(addr uint64) int { return len(g.waiters[addr]) }
