package coherence

import (
	"cmp"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
	"github.com/google/btree"
)

// waitQueued is the OpReply value that says a delegated WAIT is queued at
// the home; its answer comes as a Wake.
const waitQueued = 2

// session is the deduplication state the home keeps for one incarnation of
// a peer: the requests it executed (with the reply of a delegated
// operation) at or above the peer's ackBelow, and the delegated operations
// executing.
type session struct {
	inc      uint64
	ackBelow uint64
	done     doneSet
	active   map[uint64]bool
}

type doneEntry struct {
	seq   uint64
	reply *msg // nil for a fetch
}

// doneSet is a bounded set of executed request sequences.
type doneSet struct {
	t   *btree.BTreeG[doneEntry]
	max int
}

func (s *doneSet) get(seq uint64) (*msg, bool) {
	e, ok := s.t.Get(doneEntry{seq: seq})
	return e.reply, ok
}

func (s *doneSet) add(seq uint64, reply *msg) {
	s.t.ReplaceOrInsert(doneEntry{seq: seq, reply: reply})
	for s.t.Len() > s.max {
		s.t.DeleteMin()
	}
}

// prune forgets sequences below ackBelow: the peer will never send them
// again.
func (s *doneSet) prune(ackBelow uint64) {
	for {
		e, ok := s.t.Min()
		if !ok || e.seq >= ackBelow {
			return
		}
		s.t.DeleteMin()
	}
}

// session is the peer's current incarnation's session.
func (a *Agent) session(pr *peer) *session {
	if pr.sess == nil || pr.sess.inc != pr.inc {
		pr.sess = &session{
			inc:    pr.inc,
			done:   doneSet{t: btree.NewG(16, func(x, y doneEntry) bool { return x.seq < y.seq }), max: a.cfg.SessionMax},
			active: map[uint64]bool{},
		}
	}
	return pr.sess
}

// doneFetch records that a fetch was answered: by a grant (reply nil: a
// retransmission is answered again only while the grant is current), or by
// a Denied, replayed as is.
func (a *Agent) doneFetch(pr *peer, seq uint64, reply *msg) { a.session(pr).done.add(seq, reply) }

// delegate ships o (or, for a bulk operation, its part in the current
// page) to home.
func (a *Agent) delegate(o *op, home netmodel.NodeID) {
	if !a.countParked(o) {
		return
	}
	m := msg{kind: kOp, pid: o.proc.pid, op: o.kind, addr: o.cursor(), a: o.a, b: o.b, req: o.caller.Req}
	switch o.kind {
	case opRead, opWrite:
		off := o.cursor() &^ gbit
		seg := min(o.end()&^gbit, off&^uint64(a.cfg.PageBytes-1)+uint64(a.cfg.PageBytes)) - off
		if o.kind == opRead {
			m.a = seg
		} else {
			m.hasBytes, m.bytes = true, o.data[o.done:o.done+seg]
		}
	case opAlloc:
		m.addr = 0
	}
	rq := &request{kind: reqOp, to: home, proc: o.proc, op: o, m: m}
	o.inFlight = rq
	a.stats.DelegatedSent++
	a.issue(rq)
}

// onOpReply answers a delegated operation (or moves a bulk one on).
func (a *Agent) onOpReply(from netmodel.NodeID, m *msg) {
	rq, ok := a.outstanding(m.seq)
	if !ok || rq.kind != reqOp || rq.to != from {
		a.stats.Dups++
		return
	}
	o := rq.op
	a.release(rq)
	o.inFlight = nil
	switch {
	case m.trap == sys.TrapLost:
		a.finishLost(o, m.target)
	case m.trap != sys.TrapNone:
		a.finish(o, sys.Reply{Trap: m.trap})
	case o.kind == opWait && m.val == waitQueued:
		a.remoteWaits[rq.seq] = &remoteWait{op: o, home: rq.to}
	case o.kind == opRead:
		o.out = append(o.out, m.bytes...)
		o.done += rq.m.a
		a.continueBulk(o)
	case o.kind == opWrite:
		o.done += uint64(len(rq.m.bytes))
		a.continueBulk(o)
	default:
		a.finish(o, sys.Reply{Val: m.val})
	}
}

func (a *Agent) continueBulk(o *op) {
	if o.cursor() >= o.end() {
		if o.kind == opRead {
			a.finish(o, sys.Reply{Data: o.out})
		} else {
			a.finish(o, sys.Reply{})
		}
		return
	}
	a.run(o)
}

// remoteWait is a thread's WAIT queued at another machine's home.
type remoteWait struct {
	op   *op
	home netmodel.NodeID
}

// onOp executes a peer's delegated operation here, at its home.
func (a *Agent) onOp(pr *peer, m *msg) {
	sess := a.session(pr)
	if m.seq < sess.ackBelow || sess.active[m.seq] {
		a.stats.Dups++
		return
	}
	if reply, ok := sess.done.get(m.seq); ok {
		a.stats.Dups++
		markDupRequest.Hit()
		if reply != nil {
			a.reply(pr.id, *reply)
		}
		return
	}
	p := a.procs[m.pid]
	if p == nil {
		a.stats.UnknownProcess++
		return
	}
	if p.self < 0 || (m.op != opAlloc && p.region(m.addr&^gbit) != p.self) {
		a.stats.ProtocolErrors++
		return
	}
	o := &op{kind: m.op, proc: p, caller: sys.Caller{PID: m.pid, Req: m.req}, originOf: origin{node: pr.id, inc: pr.inc, seq: m.seq},
		addr: m.addr, a: m.a, b: m.b}
	o.origin = &o.originOf
	if !a.cfg.Bugs.ApplyRetryTwice {
		sess.active[m.seq] = true
	}
	a.stats.DelegatedServed++
	if t := a.validateRemote(o, m); t != sys.TrapNone {
		a.finish(o, sys.Reply{Trap: t})
		return
	}
	a.start(o)
}

// validateRemote checks what a delegated operation carries beyond a
// thread's: one page at most, widths the interpreter uses.
func (a *Agent) validateRemote(o *op, m *msg) sys.Trap {
	page := uint64(a.cfg.PageBytes)
	switch o.kind {
	case opLoad, opStore:
		if o.a != 1 && o.a != 8 {
			return sys.TrapBadAddress
		}
	case opRead:
		o.n = m.a
		if o.n > page || (o.addr&^gbit)%page+o.n > page {
			return sys.TrapBadAddress
		}
	case opWrite:
		if !m.hasBytes || (o.addr&^gbit)%page+uint64(len(m.bytes)) > page {
			return sys.TrapBadAddress
		}
		o.data = m.bytes
	}
	return sys.TrapNone
}

// replyOp answers a finished delegated operation and remembers the answer
// for retransmissions.
func (a *Agent) replyOp(o *op, r sys.Reply) {
	m := msg{kind: kOpReply, seq: o.origin.seq, val: r.Val, trap: r.Trap}
	if r.Trap == sys.TrapLost {
		m.val, m.target = 0, netmodel.NodeID(r.Val)
	}
	if o.kind == opRead && r.Trap == sys.TrapNone {
		m.hasBytes, m.bytes = true, r.Data
	}
	a.answerOp(o, m)
}

func (a *Agent) answerOp(o *op, m msg) {
	pr := a.peer(o.origin.node)
	if pr.inc != o.origin.inc {
		return // that incarnation is gone
	}
	sess := a.session(pr)
	delete(sess.active, o.origin.seq)
	if !a.cfg.Bugs.ApplyRetryTwice {
		sess.done.add(o.origin.seq, &m)
	}
	a.reply(pr.id, m)
}

// waitQueue is one word's waiters at its home, in the order they started
// waiting.
type waitQueue struct{ ws []*op }

// tryWait runs a WAIT at its home if the master is readable: it answers 1
// at once if the word differs, else queues the waiter.
func (a *Agent) tryWait(o *op, pg *page) bool {
	f := pg.frame
	if f == nil || f.rights.Load()&rightRead == 0 {
		return false
	}
	off := o.addr &^ gbit
	if f.w[(off-pg.base())>>3].Load() != o.a {
		a.finish(o, sys.Reply{Val: 1})
		return true
	}
	if a.waiters >= a.cfg.WaitersMax || !a.countParked(o) {
		if !o.finished {
			a.finish(o, sys.Reply{Trap: sys.TrapOutOfMemory})
		}
		return true
	}
	p := o.proc
	q := p.waitq[o.addr]
	if q == nil {
		q = &waitQueue{}
		p.waitq[o.addr] = q
	}
	q.ws = append(q.ws, o)
	a.waiters++
	a.stats.Waits++
	o.waitQueued = true
	if o.origin != nil {
		a.answerOp(o, msg{kind: kOpReply, seq: o.origin.seq, val: waitQueued})
	}
	return true
}

// homeWake wakes up to o.a waiters of the word, oldest first.
func (a *Agent) homeWake(o *op, pg *page) {
	p := o.proc
	q := p.waitq[o.addr]
	var n uint64
	if q != nil {
		n = min(o.a, uint64(len(q.ws)))
		woken := q.ws[:n]
		q.ws = q.ws[n:]
		if len(q.ws) == 0 {
			delete(p.waitq, o.addr)
		}
		a.waiters -= int(n)
		for _, w := range woken {
			a.wakeOne(w, sys.Reply{})
		}
	}
	a.stats.Wakes += n
	a.finish(o, sys.Reply{Val: n})
}

// wakeOne answers a queued waiter: a thread here directly, a peer's by a
// Wake retransmitted until acknowledged.
func (a *Agent) wakeOne(w *op, r sys.Reply) {
	w.waitQueued = false
	if w.origin == nil {
		a.finish(w, r)
		return
	}
	w.finished = true
	pr := a.peer(w.origin.node)
	if pr.inc != w.origin.inc {
		return
	}
	if pr.inc == 0 {
		return
	}
	markWakeRemote.Hit()
	pw := &pendingWake{node: w.origin.node, inc: w.origin.inc, pid: w.proc.pid, seq: w.origin.seq, backoff: a.cfg.RetransmitTicks}
	if r.Trap == sys.TrapLost {
		pw.lostBy = netmodel.NodeID(r.Val)
	}
	pw.nextTick = a.tick + a.jitter(pw.backoff)
	a.wakes.ReplaceOrInsert(pw)
	a.reply(pw.node, pw.msg())
}

// pendingWake is a Wake not yet acknowledged.
type pendingWake struct {
	node     netmodel.NodeID
	inc      uint64
	pid, seq uint64
	lostBy   netmodel.NodeID // the word was lost: the WAIT ends with TrapLost
	nextTick uint64
	backoff  int
}

func (w *pendingWake) msg() msg { return msg{kind: kWake, pid: w.pid, seq: w.seq, target: w.lostBy} }

func wakeLess(x, y *pendingWake) bool {
	if x.node != y.node {
		return x.node < y.node
	}
	return x.seq < y.seq
}

func (a *Agent) dropWakes(f func(*pendingWake) bool) {
	var drop []*pendingWake
	a.wakes.Ascend(func(w *pendingWake) bool {
		if f(w) {
			drop = append(drop, w)
		}
		return true
	})
	for _, w := range drop {
		a.wakes.Delete(w)
	}
}

// onWake completes a thread's WAIT that a WAKE at the home picked.
func (a *Agent) onWake(pr *peer, m *msg) {
	a.reply(pr.id, msg{kind: kWakeAck, seq: m.seq})
	r := sys.Reply{}
	if m.target != 0 {
		r = sys.Reply{Trap: sys.TrapLost, Val: uint64(m.target)}
	}
	if w, ok := a.remoteWaits[m.seq]; ok && w.home == pr.id {
		delete(a.remoteWaits, m.seq)
		a.finish(w.op, r)
		return
	}
	// The Wake overtook the answer saying the WAIT was queued.
	if rq, ok := a.outstanding(m.seq); ok && rq.kind == reqOp && rq.op.kind == opWait && rq.to == pr.id {
		a.release(rq)
		rq.op.inFlight = nil
		a.finish(rq.op, r)
	}
}

func (a *Agent) onWakeAck(pr *peer, m *msg) {
	a.wakes.Delete(&pendingWake{node: pr.id, seq: m.seq})
}

// releaseWaiters forgets every WAIT of the process this machine knows.
func (a *Agent) releaseWaiters(p *process) {
	addrs := make([]uint64, 0, len(p.waitq))
	for addr := range p.waitq {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	for _, addr := range addrs {
		for _, w := range p.waitq[addr].ws {
			a.dropOp(w)
		}
		a.waiters -= len(p.waitq[addr].ws)
		delete(p.waitq, addr)
	}
	for _, seq := range a.remoteWaitSeqs() {
		if w := a.remoteWaits[seq]; w.op.proc == p {
			a.dropOp(w.op)
			delete(a.remoteWaits, seq)
		}
	}
	a.dropWakes(func(w *pendingWake) bool { return w.pid == p.pid })
}

func (a *Agent) remoteWaitSeqs() []uint64 {
	seqs := make([]uint64, 0, len(a.remoteWaits))
	for s := range a.remoteWaits {
		seqs = append(seqs, s)
	}
	slices.SortFunc(seqs, cmp.Compare)
	return seqs
}

// dropOp abandons an operation without an answer (its thread is gone).
func (a *Agent) dropOp(o *op) {
	o.finished, o.waitQueued = true, false
	if o.parked {
		o.parked = false
		a.parked--
	}
}

// homeFree releases a block of the region homed here.
func (a *Agent) homeFree(o *op) {
	if _, ok := o.proc.heap.Free(o.addr &^ gbit); !ok {
		a.finish(o, sys.Reply{Trap: sys.TrapBadFree})
		return
	}
	a.applied(o, o.addr)
	a.finish(o, sys.Reply{})
}

// startAlloc reserves a block: in the region homed here, or (on a machine
// that is no home of the process) at home homes[self % len(homes)]. A
// reused block is zeroed through the protocol before ALLOC answers.
func (a *Agent) startAlloc(o *op) {
	p := o.proc
	if p.self < 0 {
		a.delegate(o, p.homes[uint64(a.cfg.Self)%uint64(len(p.homes))])
		return
	}
	if lost := p.regionLost[p.self]; lost != 0 {
		a.finishLost(o, lost)
		return
	}
	off, size, ok := p.heap.Alloc(o.a)
	if !ok {
		a.finish(o, sys.Reply{Trap: sys.TrapOutOfMemory})
		return
	}
	end, oldTop := off+size, p.mappedTop
	if end > oldTop {
		page := uint64(a.cfg.PageBytes)
		newTop := (end + page - 1) &^ (page - 1)
		if a.homeBytes+newTop-oldTop > a.cfg.HomeBytesMax {
			p.heap.Free(off)
			a.finish(o, sys.Reply{Trap: sys.TrapOutOfMemory})
			return
		}
		a.homeBytes += newTop - oldTop
		p.mappedTop = newTop
	}
	a.applied(o, off|gbit)
	dirtyEnd := min(end, oldTop)
	if dirtyEnd <= off {
		a.finish(o, sys.Reply{Val: off | gbit})
		return
	}
	o.kind, o.zero, o.clearing = opWrite, true, true
	o.addr, o.n, o.result = off|gbit, dirtyEnd-off, off|gbit
	a.run(o)
}
