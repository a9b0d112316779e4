package coherence

import (
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// ProcessMemory is one process's global memory as the threads of this
// machine see it: sys.Global over the Agent, and the Table of its pages
// held here for the interpreter's hot path. Agent.Global returns it.
type ProcessMemory struct {
	a *Agent
	p *process
}

// Table is the process's hot path (see Table and TLB).
func (g *ProcessMemory) Table() *Table { return g.p.table }

var _ sys.Global = (*ProcessMemory)(nil)

func trapReply(t sys.Trap) (sys.Reply, bool) { return sys.Reply{Trap: t}, true }

// call runs a thread's operation: answered now, or parked and answered
// later through the Completer.
func (g *ProcessMemory) call(o *op) (sys.Reply, bool) {
	a := g.a
	if a.procs[g.p.pid] != g.p {
		return trapReply(sys.TrapUnmapped) // the process was removed here
	}
	a.begin()
	defer a.end()
	o.proc, o.sync = g.p, true
	a.start(o)
	o.sync = false
	if o.finished {
		return o.reply, true
	}
	return sys.Reply{}, false
}

func (g *ProcessMemory) Alloc(c sys.Caller, sizeBytes uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opAlloc, caller: c, a: sizeBytes})
}

func (g *ProcessMemory) Free(c sys.Caller, addr uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opFree, caller: c, addr: addr})
}

func (g *ProcessMemory) Load(c sys.Caller, addr uint64, width uint8) (sys.Reply, bool) {
	if width != 1 && width != 8 {
		return trapReply(sys.TrapBadAddress)
	}
	if width == 8 {
		if v, ok := g.p.table.Load64(addr); ok {
			g.a.stats.Hits++
			return sys.Reply{Val: v}, true
		}
	}
	return g.call(&op{kind: opLoad, caller: c, addr: addr, a: uint64(width)})
}

func (g *ProcessMemory) Store(c sys.Caller, addr uint64, width uint8, val uint64) (sys.Reply, bool) {
	if width != 1 && width != 8 {
		return trapReply(sys.TrapBadAddress)
	}
	return g.call(&op{kind: opStore, caller: c, addr: addr, a: uint64(width), b: val})
}

func (g *ProcessMemory) CAS(c sys.Caller, addr, expected, replacement uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opCAS, caller: c, addr: addr, a: expected, b: replacement})
}

func (g *ProcessMemory) FetchAdd(c sys.Caller, addr, delta uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opFAA, caller: c, addr: addr, a: delta})
}

// Fence answers at once: the agent never buffers a store, so every earlier
// operation of the calling thread completed before it could ask.
func (g *ProcessMemory) Fence(sys.Caller) (sys.Reply, bool) { return sys.Reply{}, true }

func (g *ProcessMemory) ReadBytes(c sys.Caller, addr, n uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opRead, caller: c, addr: addr, n: n})
}

func (g *ProcessMemory) WriteBytes(c sys.Caller, addr uint64, data []byte) (sys.Reply, bool) {
	return g.call(&op{kind: opWrite, caller: c, addr: addr, data: append([]byte(nil), data...)})
}

func (g *ProcessMemory) Wait(c sys.Caller, addr, expected uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opWait, caller: c, addr: addr, a: expected})
}

func (g *ProcessMemory) Wake(c sys.Caller, addr, count uint64) (sys.Reply, bool) {
	return g.call(&op{kind: opWake, caller: c, addr: addr, a: count})
}

// Release forgets every waiter of the process this machine knows: its own
// threads' WAITs here and elsewhere, and the WAITs queued at this home.
func (g *ProcessMemory) Release(uint64) {
	a := g.a
	a.begin()
	defer a.end()
	a.releaseWaiters(g.p)
}

// start validates a thread's operation and runs it as far as it goes.
func (a *Agent) start(o *op) {
	if t := a.validate(o); t != sys.TrapNone {
		a.finish(o, sys.Reply{Trap: t})
		return
	}
	switch o.kind {
	case opAlloc:
		a.startAlloc(o)
		return
	case opRead, opWrite:
		if o.end() == o.addr {
			a.finish(o, sys.Reply{Data: []byte{}})
			return
		}
	}
	a.run(o)
}

// validate checks what needs no page: address kind, alignment, sizes.
func (a *Agent) validate(o *op) sys.Trap {
	if o.kind == opAlloc {
		return sys.TrapNone
	}
	if o.addr&gbit == 0 {
		return sys.TrapBadAddress
	}
	switch o.kind {
	case opLoad, opStore:
		if o.a == 8 && o.addr&7 != 0 {
			return sys.TrapMisaligned
		}
	case opCAS, opFAA, opWait, opWake:
		if o.addr&7 != 0 {
			return sys.TrapMisaligned
		}
	case opRead, opWrite:
		n := o.n
		if o.kind == opWrite {
			n = uint64(len(o.data))
		}
		if n > a.cfg.BulkBytesMax {
			return sys.TrapBadAddress
		}
		if o.addr+n < o.addr {
			return sys.TrapUnmapped
		}
	}
	return sys.TrapNone
}

// run advances o page by page until it finishes or must wait.
func (a *Agent) run(o *op) {
	for !o.finished && o.inFlight == nil && !o.waitQueued {
		if !a.step(o) {
			return
		}
	}
}

// step makes progress on o's current page; false: o waits.
func (a *Agent) step(o *op) bool {
	p := o.proc
	off := o.cursor() &^ gbit
	r := p.region(off)
	if r < 0 {
		a.finish(o, sys.Reply{Trap: sys.TrapUnmapped})
		return true
	}
	if lost := p.regionLost[r]; lost != 0 {
		a.finishLost(o, lost)
		return true
	}
	if r != p.self && (o.kind == opWait || o.kind == opWake || o.kind == opFree) {
		a.delegate(o, p.homes[r])
		return false
	}
	pg, trap := a.pageAt(p, off)
	if trap != sys.TrapNone {
		a.finish(o, sys.Reply{Trap: trap})
		return true
	}
	if pg.lost != 0 {
		a.finishLost(o, pg.lost)
		return true
	}
	if pg.home {
		return a.stepHome(o, pg)
	}
	return a.stepCache(o, pg)
}

// tryExec runs o's part on pg if the frame has the access it needs.
func (a *Agent) tryExec(o *op, pg *page) bool {
	need := o.kind.needs()
	f := pg.frame
	if f == nil || f.rights.Load()&need != need {
		return false
	}
	at := o.cursor()
	done, r := a.execAt(o, f, pg.base())
	a.applied(o, at)
	if a.cfg.OnExecute != nil {
		a.executed(o, at)
	}
	if done {
		a.finish(o, r)
	}
	return true
}

// executed reports the part of o that ran from global address at on.
func (a *Agent) executed(o *op, at uint64) {
	end := at + 8
	switch {
	case o.kind == opRead || o.kind == opWrite:
		end = o.cursor()
	case (o.kind == opLoad || o.kind == opStore) && o.a == 1:
		end = at + 1
	}
	a.cfg.OnExecute(Execute{Machine: a.cfg.Self, Req: o.caller.Req, Addr: at, End: end})
}

// park queues o on pg until its access changes; false if o could not park
// (too many operations parked) and finished with a trap instead.
func (a *Agent) park(o *op, pg *page) bool {
	if !a.countParked(o) {
		return false
	}
	pg.ops = append(pg.ops, o)
	return true
}

// countParked counts a thread's operation as parked; false (and the
// operation trapped) when OpsParkedMax are.
func (a *Agent) countParked(o *op) bool {
	if !o.parked && o.origin == nil {
		if a.parked >= a.cfg.OpsParkedMax {
			a.finish(o, sys.Reply{Trap: sys.TrapOutOfMemory})
			return false
		}
		o.parked = true
		a.parked++
	}
	return true
}

func (a *Agent) finishLost(o *op, by netmodel.NodeID) { a.finish(o, lostReply(by)) }

// lostReply is the answer to an operation on memory lost with machine by:
// TrapLost, and the machine in Val.
func lostReply(by netmodel.NodeID) sys.Reply { return sys.Reply{Trap: sys.TrapLost, Val: uint64(by)} }

// kick runs the operations waiting on pg that can run now; the others stay
// and pg's access is requested for them.
func (a *Agent) kick(pg *page) {
	if len(pg.ops) == 0 {
		return
	}
	waiting := pg.ops
	pg.ops = nil
	pg.running++
	defer func() { pg.running-- }()
	still := waiting[:0] // filtered in place
	for _, o := range waiting {
		if o.finished {
			continue
		}
		if pg.lost != 0 {
			a.finishLost(o, pg.lost)
			continue
		}
		if !a.tryExecParked(o, pg) {
			still = append(still, o)
			continue
		}
		// A bulk operation moves on to its next page.
		a.run(o)
	}
	clear(waiting[len(still):]) // done: pin no operation
	pg.ops = append(still, pg.ops...)
	if len(pg.ops) > 0 {
		a.want(pg)
	}
}

// tryExecParked is tryExec for an operation already waiting on pg (a WAIT
// at its home is not finished by running).
func (a *Agent) tryExecParked(o *op, pg *page) bool {
	if o.kind == opWait {
		return a.tryWait(o, pg)
	}
	return a.tryExec(o, pg)
}

// want asks for the access pg's waiting operations need.
func (a *Agent) want(pg *page) {
	var need uint32
	for _, o := range pg.ops {
		need |= o.kind.needs()
	}
	if need == 0 {
		return
	}
	if pg.home {
		a.homeNeed(pg, need)
		return
	}
	a.acquire(pg, need)
}
