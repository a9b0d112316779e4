package coherence

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// wire is one payload in flight.
type wire struct {
	from, to netmodel.NodeID
	payload  []byte
}

// harness is a deterministic in-test world of agents serving one process
// (pid 1), over a network that holds every payload until the test
// delivers, drops, duplicates or reorders it.
type harness struct {
	t      fataler
	ids    []netmodel.NodeID
	homes  []netmodel.NodeID
	incs   map[netmodel.NodeID]uint64
	agents map[netmodel.NodeID]*Agent // nil while down
	cfg    Config                     // template
	queue  []wire
	held   map[string]bool // "from>to" links whose payloads stay queued
	cut    map[string]bool // links whose payloads are lost
	// ops are the thread operations issued, by request id.
	ops     map[sys.ReqID]*hop
	order   []sys.ReqID
	nextSeq uint64
	out     *strings.Builder // interaction output, nil when quiet
	verbose bool
	applies []Apply
	rng     *rand.Rand
}

// hop is a thread operation as the harness saw it.
type hop struct {
	machine netmodel.NodeID
	desc    string
	req     sys.ReqID
	done    bool
	reply   sys.Reply
	parked  bool
	then    func(sys.Reply) // called when the answer comes
	crashed bool            // its machine crashed before it was answered
}

const testPID = 1

type harnessOptions struct {
	n     int
	homes int // 0: every machine is a home
	cfg   Config
	seed  uint64
}

func newHarness(t fataler, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, incs: map[netmodel.NodeID]uint64{}, agents: map[netmodel.NodeID]*Agent{}, cfg: o.cfg,
		held: map[string]bool{}, cut: map[string]bool{}, ops: map[sys.ReqID]*hop{}, rng: rand.New(rand.NewPCG(o.seed, 7))}
	if o.homes == 0 {
		o.homes = o.n
	}
	for i := 1; i <= o.n; i++ {
		id := netmodel.NodeID(i)
		h.ids = append(h.ids, id)
		if i <= o.homes {
			h.homes = append(h.homes, id)
		}
		h.incs[id] = 1
	}
	for _, id := range h.ids {
		h.boot(id)
	}
	return h
}

// boot starts (or restarts) a machine's agent and adds the process.
func (h *harness) boot(id netmodel.NodeID) {
	h.t.Helper()
	cfg := h.cfg
	cfg.Self, cfg.Incarnation = id, h.incs[id]
	cfg.Transport = sender{h, id}
	cfg.Completer = completer{h, id}
	cfg.OnApply = func(ap Apply) { h.applies = append(h.applies, ap) }
	a, err := New(cfg)
	if err != nil {
		h.t.Fatalf("New(%v): %v", id, err)
	}
	incs := make([]uint64, len(h.homes))
	for i := range incs {
		incs[i] = 1 // every home's incarnation when the process started
	}
	if err := a.AddProcess(testPID, h.homes, ProcessOptions{HomeIncarnations: incs}); err != nil {
		h.t.Fatalf("AddProcess on %v: %v", id, err)
	}
	h.agents[id] = a
}

type sender struct {
	h    *harness
	from netmodel.NodeID
}

func (s sender) Send(to netmodel.NodeID, payload []byte) {
	s.h.queue = append(s.h.queue, wire{from: s.from, to: to, payload: payload})
}

type completer struct {
	h  *harness
	id netmodel.NodeID
}

func (c completer) Complete(id sys.ReqID, r sys.Reply) {
	h := c.h
	o, ok := h.ops[id]
	if !ok || o.done {
		h.t.Fatalf("Complete(%v) for no parked operation", id)
	}
	if o.machine != c.id {
		h.t.Fatalf("Complete(%v) on %v, asked on %v", id, c.id, o.machine)
	}
	o.done, o.reply = true, r
	if h.out != nil {
		fmt.Fprintf(h.out, "%v: %s -> %s\n", o.machine, o.desc, describeReply(r))
	}
	if o.then != nil {
		o.then(r)
	}
}

func describeReply(r sys.Reply) string {
	switch {
	case r.Trap == sys.TrapLost:
		return fmt.Sprintf("trap %v (%v)", r.Trap, netmodel.NodeID(r.Val))
	case r.Trap != sys.TrapNone:
		return "trap " + r.Trap.String()
	case r.Data != nil:
		return fmt.Sprintf("%x", r.Data)
	case r.Val&isa.GlobalBit != 0:
		return fmt.Sprintf("%#x", r.Val)
	}
	return fmt.Sprint(r.Val)
}

// do runs a thread operation on machine id and records it.
func (h *harness) do(id netmodel.NodeID, desc string, f func(g sys.Global, c sys.Caller) (sys.Reply, bool)) *hop {
	h.t.Helper()
	return h.doThen(id, desc, f, nil)
}

// doThen is do with a function called with the answer, now or later.
func (h *harness) doThen(id netmodel.NodeID, desc string, f func(g sys.Global, c sys.Caller) (sys.Reply, bool), then func(sys.Reply)) *hop {
	h.t.Helper()
	a := h.agents[id]
	if a == nil {
		h.t.Fatalf("%v is down", id)
	}
	h.nextSeq++
	c := sys.Caller{PID: testPID, TID: 1, Req: sys.ReqID{Machine: uint64(id), Incarnation: uint32(h.incs[id]), Seq: h.nextSeq}}
	o := &hop{machine: id, desc: desc, req: c.Req, then: then}
	h.ops[c.Req] = o
	h.order = append(h.order, c.Req)
	r, now := f(a.Global(testPID), c)
	if now {
		o.done, o.reply = true, r
		if h.out != nil {
			fmt.Fprintf(h.out, "%v: %s -> %s\n", id, desc, describeReply(r))
		}
		if then != nil {
			then(r)
		}
	} else {
		o.parked = true
		if h.out != nil {
			fmt.Fprintf(h.out, "%v: %s parked\n", id, desc)
		}
	}
	return o
}

func (h *harness) load(id netmodel.NodeID, addr uint64) *hop {
	return h.do(id, fmt.Sprintf("load %s", h.name(addr)), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, 8) })
}

func (h *harness) store(id netmodel.NodeID, addr, v uint64) *hop {
	return h.do(id, fmt.Sprintf("store %s=%d", h.name(addr), v), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, 8, v) })
}

func (h *harness) faa(id netmodel.NodeID, addr, d uint64) *hop {
	return h.do(id, fmt.Sprintf("faa %s+%d", h.name(addr), d), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.FetchAdd(c, addr, d) })
}

func (h *harness) cas(id netmodel.NodeID, addr, old, nw uint64) *hop {
	return h.do(id, fmt.Sprintf("cas %s %d->%d", h.name(addr), old, nw), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.CAS(c, addr, old, nw) })
}

func (h *harness) alloc(id netmodel.NodeID, size uint64) uint64 {
	h.t.Helper()
	out := h.out
	h.out = nil
	defer func() { h.out = out }()
	o := h.do(id, fmt.Sprintf("alloc %d", size), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Alloc(c, size) })
	h.settle()
	if !o.done || o.reply.Trap != sys.TrapNone {
		h.t.Fatalf("alloc %d on %v = %+v (done %v)", size, id, o.reply, o.done)
	}
	return o.reply.Val
}

// name shows a global address relative to its region's base.
func (h *harness) name(addr uint64) string {
	off := addr &^ isa.GlobalBit
	return fmt.Sprintf("r%d+%#x", off>>RegionShift, off&regionMask)
}

func (h *harness) linkKey(from, to netmodel.NodeID) string { return fmt.Sprintf("%d>%d", from, to) }

// deliverable is the index of the first queued payload not held, or -1.
func (h *harness) deliverable() int {
	for i, w := range h.queue {
		if !h.held[h.linkKey(w.from, w.to)] {
			return i
		}
	}
	return -1
}

// deliverAt delivers (or loses) queued payload i.
func (h *harness) deliverAt(i int) {
	w := h.queue[i]
	h.queue = slices.Delete(h.queue, i, i+1)
	a := h.agents[w.to]
	if a == nil || h.cut[h.linkKey(w.from, w.to)] {
		if h.verbose && h.out != nil {
			fmt.Fprintf(h.out, "%v->%v lost: %s\n", w.from, w.to, describePayload(w.payload, h.cfg.pageBytes()))
		}
		return
	}
	if h.verbose && h.out != nil {
		fmt.Fprintf(h.out, "%v->%v %s\n", w.from, w.to, describePayload(w.payload, h.cfg.pageBytes()))
	}
	a.Receive(w.from, w.payload)
}

// settle delivers everything deliverable until the network is quiet,
// ticking when only retransmissions can make progress; bounded.
func (h *harness) settle() {
	h.t.Helper()
	idle := 0
	for range 100000 {
		if i := h.deliverable(); i >= 0 {
			h.deliverAt(i)
			idle = 0
			continue
		}
		if !h.anyOutstanding() || idle > 4*RetransmitTicksMaxDefault {
			h.checkAll()
			return
		}
		h.tick()
		idle++
	}
	var b strings.Builder
	for _, id := range h.ids {
		if a := h.agents[id]; a != nil {
			fmt.Fprintf(&b, "%v: pages %v stuck %v\n", id, a.describePages(testPID), a.Stuck(testPID))
		}
	}
	h.verbose, h.out = true, &b
	for range 12 {
		h.tick()
		for i := h.deliverable(); i >= 0; i = h.deliverable() {
			h.deliverAt(i)
		}
	}
	h.t.Fatalf("network does not settle: %d payloads queued\n%s", len(h.queue), b.String())
}

// settleQuietly is settle without failing when the network does not
// settle (garbage may wedge a transaction).
func (h *harness) settleQuietly() {
	for range 2000 {
		if i := h.deliverable(); i >= 0 {
			h.deliverAt(i)
			continue
		}
		if !h.anyOutstanding() {
			return
		}
		h.tick()
	}
}

// anyOutstanding reports whether some agent still retransmits.
func (h *harness) anyOutstanding() bool {
	for _, id := range h.ids {
		if a := h.agents[id]; a != nil {
			s := a.Stats()
			if s.InFlight > 0 || s.TransactionsOpen > 0 || s.TransfersUnacked > 0 || a.wakes.Len() > 0 {
				return true
			}
		}
	}
	return false
}

func (h *harness) tick() {
	for _, id := range h.ids {
		if a := h.agents[id]; a != nil {
			a.Tick()
		}
	}
}

func (c Config) pageBytes() int {
	if c.PageBytes == 0 {
		return PageBytesDefault
	}
	return c.PageBytes
}

// crash stops a machine: its agent and its payloads in flight are gone.
func (h *harness) crash(id netmodel.NodeID) {
	h.agents[id] = nil
	h.queue = slices.DeleteFunc(h.queue, func(w wire) bool { return w.to == id || w.from == id })
	for _, req := range h.order {
		if o := h.ops[req]; o.machine == id && !o.done {
			o.done, o.reply, o.parked, o.crashed = true, sys.Reply{Trap: sys.TrapLost, Val: uint64(id)}, false, true
		}
	}
}

// restart boots a crashed machine with a new incarnation.
func (h *harness) restart(id netmodel.NodeID) {
	h.incs[id]++
	h.boot(id)
}

// down tells every live agent that id's incarnation inc is gone.
func (h *harness) down(id netmodel.NodeID, inc uint64) {
	for _, other := range h.ids {
		if a := h.agents[other]; a != nil && other != id {
			a.MachineDown(id, inc)
		}
	}
}

// checkAll checks every live agent's invariants.
func (h *harness) checkAll() {
	h.t.Helper()
	for _, id := range h.ids {
		if a := h.agents[id]; a != nil {
			if err := a.CheckInvariants(); err != nil {
				h.t.Fatalf("%v: %v", id, err)
			}
		}
	}
}
