package coherence

import (
	"slices"

	"github.com/flockvm/flock/netmodel"
)

// learnIncarnation notes that pr speaks with incarnation inc: a newer one
// than known means the old one is gone, with its memory.
func (a *Agent) learnIncarnation(pr *peer, inc uint64) {
	switch {
	case inc == pr.inc:
	case pr.inc == 0:
		pr.inc = inc
	case inc > pr.inc:
		markStaleIncarnation.Hit()
		a.peerDown(pr, pr.inc)
		pr.inc = inc
	}
}

// MachineDown tells the agent that incarnation inc of machine id (and every
// earlier one) is gone: membership declared it dead. What only it held is
// lost; its copies, waiters and requests are forgotten.
func (a *Agent) MachineDown(id netmodel.NodeID, inc uint64) {
	a.begin()
	defer a.end()
	if id == a.cfg.Self || id == 0 {
		return
	}
	a.peerDown(a.peer(id), inc)
}

func (a *Agent) peerDown(pr *peer, inc uint64) {
	if inc < pr.deadBelow {
		return
	}
	pr.deadBelow = inc + 1
	if pr.inc != 0 && pr.inc <= inc {
		pr.inc = 0
	}
	a.stats.PeersDown++
	a.record("coherence: %v incarnation %d is down", pr.id, inc)
	if pr.sess != nil && pr.sess.inc <= inc {
		pr.sess = nil
	}
	// What was queued for the dead incarnation must not reach a new one.
	pr.replies, pr.requests = nil, nil
	for _, p := range a.sortedProcs() {
		a.procPeerDown(p, pr.id, inc)
	}
	a.dropWakes(func(w *pendingWake) bool { return w.node == pr.id && w.inc <= inc })
}

func (a *Agent) procPeerDown(p *process, id netmodel.NodeID, inc uint64) {
	for r, h := range p.homes {
		if h == id && p.regionLost[r] == 0 && p.homeIncs[r] <= inc {
			a.loseRegion(p, r, id)
		}
	}
	dead := func(node netmodel.NodeID, hinc uint64) bool { return node == id && hinc <= inc }
	if p.self >= 0 {
		for _, pg := range p.sortedPages() {
			if pg.home && pg.lost == 0 {
				a.homeHolderDown(pg, dead)
			}
		}
	}
	for _, addr := range sortedKeys(p.waitq) {
		q := p.waitq[addr]
		kept := q.ws[:0]
		for _, w := range q.ws {
			if w.origin != nil && dead(w.origin.node, w.origin.inc) {
				a.waiters--
				w.finished, w.waitQueued = true, false
				continue
			}
			kept = append(kept, w)
		}
		q.ws = kept
		if len(q.ws) == 0 {
			delete(p.waitq, addr)
		}
	}
}

// homeHolderDown forgets a dead machine in a home page's directory; the
// page is lost if that machine may have held its only up-to-date copy.
func (a *Agent) homeHolderDown(pg *page, dead func(netmodel.NodeID, uint64) bool) {
	d := pg.dir
	isDead := func(h holder) bool { return dead(h.node, h.inc) }
	var by netmodel.NodeID
	if d.owner != nil && isDead(*d.owner) {
		by = d.owner.node
	}
	d.sharers = slices.DeleteFunc(d.sharers, isDead)
	d.queue = slices.DeleteFunc(d.queue, func(q homeReq) bool { return !q.local && isDead(q.from) })
	if t := d.txn; t != nil {
		t.acks = slices.DeleteFunc(t.acks, isDead)
		if t.owner != nil && !t.ownerDone && isDead(*t.owner) {
			by = t.owner.node
		}
		if !t.req.local && isDead(t.req.from) && !t.cancelled {
			t.cancelled = true
			if t.req.excl && t.owner != nil {
				// The owner may have forwarded the data already, and the
				// dead requester written to it.
				by = t.req.from.node
			}
		}
	}
	if by != 0 && a.cfg.Bugs.ResurrectLostPage {
		d.owner = nil
		if t := d.txn; t != nil && t.owner != nil {
			t.ownerDone = true
		}
		by = 0
	}
	if by != 0 {
		a.losePage(pg, by)
		return
	}
	if d.txn == nil {
		pg.frame.rights.Store(d.rights())
	}
	a.advanceHome(pg)
}

// losePage marks a home page lost: every operation on it, waiting or to
// come, answers TrapLost naming the machine.
func (a *Agent) losePage(pg *page, by netmodel.NodeID) {
	markPageLost.Hit()
	a.stats.PagesLost++
	a.record("coherence: page %#x of process %d lost with %v", pg.addr(), pg.proc.pid, by)
	a.noteLoss(pg.proc, by)
	pg.lost = by
	a.setFrame(pg, nil)
	d := pg.dir
	deny := func(r homeReq) {
		if r.local || r.from.inc != a.peer(r.from.node).inc {
			return
		}
		m := msg{kind: kDenied, pid: pg.proc.pid, vpn: pg.vpn, seq: r.from.seq, aux: denyLost, target: by}
		a.doneFetch(a.peer(r.from.node), r.from.seq, &m)
		a.reply(r.from.node, m)
	}
	if t := d.txn; t != nil {
		if !t.cancelled {
			deny(t.req)
		}
		d.txn = nil
		a.txnPages.Delete(pg)
	}
	for _, r := range d.queue {
		deny(r)
	}
	d.queue, d.owner, d.sharers, d.localQueued = nil, nil, nil, 0
	a.failOps(pg, by)
	p := pg.proc
	for _, addr := range sortedKeys(p.waitq) {
		if addr&^gbit < pg.base() || addr&^gbit >= pg.base()+uint64(a.cfg.PageBytes) {
			continue
		}
		q := p.waitq[addr]
		delete(p.waitq, addr)
		a.waiters -= len(q.ws)
		for _, w := range q.ws {
			a.wakeOne(w, lostReply(by))
		}
	}
}

func (a *Agent) noteLoss(p *process, by netmodel.NodeID) {
	if p.lostBy == 0 {
		p.lostBy = by
	}
}

func (a *Agent) failOps(pg *page, by netmodel.NodeID) {
	waiting := pg.ops
	pg.ops = nil
	for _, o := range waiting {
		if !o.finished {
			a.finishLost(o, by)
		}
	}
}

// loseRegion marks a whole region lost (its home died).
func (a *Agent) loseRegion(p *process, r int, by netmodel.NodeID) {
	markPageLost.Hit()
	p.regionLost[r] = by
	a.noteLoss(p, by)
	a.record("coherence: region %d of process %d lost with %v", r, p.pid, by)
	for _, pg := range p.sortedPages() {
		if p.region(pg.base()) != r {
			continue
		}
		if pg.home {
			a.losePage(pg, by)
		} else {
			a.loseCachePage(pg, by)
		}
	}
	var fail []*request
	collect := func(rq *request) bool {
		if rq.proc == p && rq.kind == reqOp && rq.to == p.homes[r] {
			fail = append(fail, rq)
		}
		return true
	}
	a.requests.Ascend(collect)
	for _, rq := range a.queued {
		collect(rq)
	}
	for _, rq := range fail {
		a.release(rq)
		rq.op.inFlight = nil
		a.finishLost(rq.op, by)
	}
	for _, seq := range a.remoteWaitSeqs() {
		if w := a.remoteWaits[seq]; w.op.proc == p && w.home == p.homes[r] {
			delete(a.remoteWaits, seq)
			a.finishLost(w.op, by)
		}
	}
}

// loseCachePage marks a page homed elsewhere lost here.
func (a *Agent) loseCachePage(pg *page, by netmodel.NodeID) {
	a.noteLoss(pg.proc, by)
	pg.lost = by
	a.clearCacheState(pg)
	a.failOps(pg, by)
}

// clearCacheState drops everything a cache-side entry holds or waits for.
func (a *Agent) clearCacheState(pg *page) {
	if rq := pg.fetch; rq != nil {
		a.release(rq)
		pg.fetch = nil
	}
	pg.stash = nil
	if pg.xfer != nil {
		pg.xfer = nil
		a.xferPages.Delete(pg)
	}
	if pg.graceFwd != nil || pg.graceEvict {
		pg.graceFwd, pg.graceEvict = nil, false
		a.gracePages.Delete(pg)
	}
	a.dropCopy(pg)
	a.unreserve(pg)
	pg.delegatedUntil = 0
}

// dropPage forgets a page of a removed process without answering anyone.
func (a *Agent) dropPage(pg *page) {
	for _, o := range pg.ops {
		a.dropOp(o)
	}
	pg.ops = nil
	if pg.home {
		if pg.dir.txn != nil {
			pg.dir.txn = nil
			a.txnPages.Delete(pg)
		}
		a.setFrame(pg, nil)
	} else {
		a.clearCacheState(pg)
	}
	delete(pg.proc.pages, pg.vpn)
}

// pollGrace finishes revocations whose grace period has passed.
func (a *Agent) pollGrace() {
	if len(a.grace.cores) == 0 {
		return
	}
	var ready []*page
	a.gracePages.Ascend(func(pg *page) bool {
		if a.grace.passed(pg.graceTicket) {
			ready = append(ready, pg)
		}
		return true
	})
	for _, pg := range ready {
		a.gracePages.Delete(pg)
		pg.graceTicket = 0
		switch {
		case pg.graceFwd != nil:
			a.finishFwd(pg)
		case pg.graceEvict:
			a.finishEvict(pg)
		}
	}
	var txns []*page
	a.txnPages.Ascend(func(pg *page) bool {
		if t := pg.dir.txn; t != nil && t.ticket != 0 && a.grace.passed(t.ticket) {
			txns = append(txns, pg)
		}
		return true
	})
	for _, pg := range txns {
		a.advanceHome(pg)
	}
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
