package coherence

import (
	"encoding/binary"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// stepCache makes progress on o at a page homed elsewhere.
func (a *Agent) stepCache(o *op, pg *page) bool {
	if a.tryExec(o, pg) {
		a.stats.Hits++
		return true
	}
	if a.delegates(o, pg) {
		a.delegate(o, pg.proc.homes[pg.proc.region(pg.base())])
		return false
	}
	if !a.park(o, pg) {
		return true
	}
	a.acquire(pg, o.kind.needs())
	return false
}

// delegates reports whether o should run at the page's home instead of
// bringing the page here.
func (a *Agent) delegates(o *op, pg *page) bool {
	switch a.cfg.Atomics {
	case AtomicsMigrate:
		return false
	case AtomicsDelegate:
		return o.kind == opCAS || o.kind == opFAA
	}
	return pg.delegatedUntil > a.tick
}

// acquire fetches the access pg's waiting operations need, unless a fetch
// or a transfer is under way (the page is asked for again when it ends).
func (a *Agent) acquire(pg *page, need uint32) {
	if pg.fetch != nil || pg.xfer != nil || pg.graceFwd != nil || pg.graceEvict || pg.waitingSpace {
		return
	}
	f := pg.frame
	if f != nil && f.rights.Load()&need == need {
		return
	}
	excl := need&rightWrite != 0
	var have uint64
	if excl && pg.copy == copyShared {
		have = pg.epoch
	}
	if !pg.reserved && !a.reserve(pg) {
		pg.waitingSpace = true
		a.spaceWaiters = append(a.spaceWaiters, pg)
		return
	}
	home := pg.proc.homes[pg.proc.region(pg.base())]
	m := msg{kind: kGetS, pid: pg.proc.pid, vpn: pg.vpn}
	if excl {
		m.kind, m.aux = kGetM, have
		a.stats.WriteMisses++
		if have != 0 {
			a.stats.Upgrades++
		}
	} else {
		a.stats.ReadMisses++
	}
	rq := &request{kind: reqFetch, to: home, proc: pg.proc, page: pg, excl: excl, have: have, m: m}
	pg.fetch = rq
	a.issue(rq)
}

// reserve charges a cache slot for pg, evicting if the cache is full.
func (a *Agent) reserve(pg *page) bool {
	size := uint64(a.cfg.PageBytes)
	for a.cacheBytes+size > a.cfg.CacheBytesMax {
		if !a.evictOne() {
			return false
		}
	}
	a.cacheBytes += size
	pg.reserved = true
	return true
}

// unreserve gives pg's slot back and lets a page waiting for space ask.
func (a *Agent) unreserve(pg *page) {
	if !pg.reserved {
		return
	}
	pg.reserved = false
	a.cacheBytes -= uint64(a.cfg.PageBytes)
	a.spaceFreed()
}

// spaceFreed gives cache slots to the pages waiting for one, in order, as
// long as a slot can be had (evicting copies no longer pinned). Called when
// a slot is given back and on every tick (a pinned copy may have become
// evictable since).
func (a *Agent) spaceFreed() {
	for len(a.spaceWaiters) > 0 {
		pg := a.spaceWaiters[0]
		live := a.procs[pg.proc.pid] == pg.proc && len(pg.ops) > 0 && pg.lost == 0
		if live && !pg.reserved && !a.reserve(pg) {
			return
		}
		a.spaceWaiters = a.spaceWaiters[1:]
		pg.waitingSpace = false
		if live {
			a.want(pg)
		} else {
			a.forgetIfIdle(pg)
		}
	}
}

// evictOne frees the oldest unpinned cached copy: a shared one is dropped,
// a modified one written back. It reports whether it found one; a
// writeback frees its slot only when the home acknowledges it.
func (a *Agent) evictOne() bool {
	for pg := a.lru.head; pg != nil; pg = pg.lruNext {
		if pg.pinned() {
			continue
		}
		a.evict(pg)
		return a.cacheBytes+uint64(a.cfg.PageBytes) <= a.cfg.CacheBytesMax
	}
	return false
}

// evict drops an unpinned cached copy, writing a modified one back.
func (a *Agent) evict(pg *page) {
	a.stats.Evictions++
	if pg.copy == copyModified {
		a.evictModified(pg)
		return
	}
	a.dropCopy(pg)
	a.unreserveQuiet(pg)
	a.forget(pg)
}

// unreserveQuiet gives the slot back without waking waiters (the caller is
// making room for one).
func (a *Agent) unreserveQuiet(pg *page) {
	if pg.reserved {
		pg.reserved = false
		a.cacheBytes -= uint64(a.cfg.PageBytes)
	}
}

// dropCopy discards a cached copy (its slot stays reserved).
func (a *Agent) dropCopy(pg *page) {
	a.lru.remove(pg)
	if pg.frame != nil {
		a.setFrame(pg, nil)
	}
	pg.copy, pg.epoch, pg.grantSeq = copyNone, 0, 0
}

// evictModified writes a modified copy back to its home.
func (a *Agent) evictModified(pg *page) {
	markEvictModified.Hit()
	a.stats.Writebacks++
	pg.graceEvict = true
	if t := a.lower(pg, 0); !a.grace.passed(t) {
		pg.graceTicket = t
		a.gracePages.ReplaceOrInsert(pg)
		return
	}
	a.finishEvict(pg)
}

func (a *Agent) finishEvict(pg *page) {
	pg.graceEvict = false
	if a.cfg.Bugs.EvictWithoutWriteback {
		a.dropCopy(pg)
		a.unreserve(pg)
		a.forget(pg)
		return
	}
	pg.xfer = &transfer{ownerEpoch: pg.epoch, ownerSeq: pg.grantSeq, data: pg.frame.handOver(), backoff: a.cfg.RetransmitTicks}
	pg.xfer.nextTick = a.tick + a.jitter(pg.xfer.backoff)
	a.dropCopy(pg)
	a.xferPages.ReplaceOrInsert(pg)
	a.sendXfer(pg)
	a.kick(pg)
}

func (a *Agent) homeOf(pg *page) netmodel.NodeID { return pg.proc.homes[pg.proc.region(pg.base())] }

func (a *Agent) sendXfer(pg *page) {
	x := pg.xfer
	m := msg{kind: kXfer, pid: pg.proc.pid, vpn: pg.vpn, epoch: x.epoch, aux: x.ownerEpoch, hasPage: true, page: pageWords(x.data)}
	if x.kept {
		m.flags = flagExclusive
	}
	a.reply(a.homeOf(pg), m)
}

// pageWords is how page data travels: nil for a page of zeros.
func pageWords(data pageData) pageData {
	for i := 0; i+8 <= len(data); i += 8 {
		if binary.LittleEndian.Uint64(data[i:]) != 0 {
			return data
		}
	}
	return nil
}

// cachePage finds the cache-side entry a message names. ok is false when
// the message must be dropped: an unknown process, a page outside its
// regions or homed here, or (fromHome) a sender that is not the page's
// home. pg is nil when there is no entry.
func (a *Agent) cachePage(m *msg, from netmodel.NodeID, fromHome bool) (pg *page, ok bool) {
	p := a.procs[m.pid]
	if p == nil {
		a.stats.UnknownProcess++
		return nil, false
	}
	r := -1
	if m.vpn <= (^uint64(0)>>1)>>p.table.pageShift {
		r = p.region(m.vpn << p.table.pageShift)
	}
	if r < 0 || r == p.self || (fromHome && p.homes[r] != from) {
		a.stats.ProtocolErrors++
		return nil, false
	}
	return p.lookup(m.vpn), true
}

// onData installs a grant.
func (a *Agent) onData(from netmodel.NodeID, m *msg) {
	pg, _ := a.cachePage(m, from, false)
	if pg == nil {
		a.stats.StaleData++
		return
	}
	rq := pg.fetch
	excl := m.flags&flagExclusive != 0
	if rq == nil || (!a.cfg.Bugs.AcceptStaleData && (rq.seq != m.seq || m.epoch < rq.inval || excl != rq.excl)) {
		a.stats.StaleData++
		markStaleData.Hit()
		return
	}
	if !m.hasPage && (pg.copy != copyShared || pg.epoch != rq.have) {
		// An upgrade grant for a copy no longer held: only a duplicate of
		// an old grant can say so; the request stays outstanding.
		a.stats.StaleData++
		return
	}
	a.release(rq)
	pg.fetch = nil
	f := pg.frame
	if m.hasPage || f == nil {
		f = newFrameOf(a.cfg.PageBytes/8, m.page)
	}
	pg.copy, pg.epoch, pg.grantSeq = copyShared, m.epoch, m.seq
	rights := rightRead
	if excl {
		pg.copy, rights = copyModified, rightsAll
	}
	f.rights.Store(rights)
	a.setFrame(pg, f)
	a.lru.pushBack(pg)
	a.kick(pg)
	if s := pg.stash; s != nil {
		pg.stash = nil
		a.onFwd(a.homeOf(pg), s)
	}
}

// onInv drops a shared copy the home revokes and acknowledges.
func (a *Agent) onInv(from netmodel.NodeID, m *msg) {
	ack := msg{kind: kInvAck, pid: m.pid, vpn: m.vpn, epoch: m.epoch}
	pg, ok := a.cachePage(m, from, true)
	if !ok {
		return
	}
	if pg == nil {
		a.reply(from, ack)
		return
	}
	switch {
	case pg.copy == copyShared && pg.epoch < m.epoch:
		dropped := pg.epoch
		a.dropCopy(pg)
		a.stats.Invalidated++
		if rq := pg.fetch; rq != nil && rq.have == dropped {
			rq.have = 0
			markUpgradeLostCopy.Hit()
		}
	case pg.copy == copyModified && pg.epoch < m.epoch:
		// The home believes this machine a sharer of a page it owns: a
		// broken peer. Dropping the only copy would lose writes.
		a.stats.ProtocolErrors++
		return
	}
	if rq := pg.fetch; rq != nil {
		if rq.seq == m.seq {
			// The grant answering rq was revoked before its data came:
			// that data is stale. Ask again under a new sequence.
			markInvalCrossedData.Hit()
			a.release(rq)
			pg.fetch = nil
			a.reply(from, ack)
			a.want(pg)
			return
		}
		rq.inval = max(rq.inval, m.epoch)
	}
	a.reply(from, ack)
	a.forgetIfIdle(pg)
}

func (a *Agent) forgetIfIdle(pg *page) {
	if pg.frame == nil && !pg.pinned() {
		a.unreserve(pg)
	}
	a.forget(pg)
}

// onFwd gives the page up for the home: to a requester, or to the home
// itself (target 0).
func (a *Agent) onFwd(from netmodel.NodeID, m *msg) {
	pg, ok := a.cachePage(m, from, true)
	if !ok {
		return
	}
	home := from
	notHeld := msg{kind: kNotHeld, pid: m.pid, vpn: m.vpn, epoch: m.epoch}
	switch {
	case pg == nil:
		a.reply(home, notHeld)
	case pg.xfer != nil && pg.xfer.ownerSeq == m.seq:
		a.answerFwdFromXfer(pg, m)
	case pg.graceFwd != nil:
		// Already giving the page up.
	case pg.copy == copyModified && pg.grantSeq == m.seq:
		a.startFwd(pg, m)
	case pg.fetch != nil && pg.fetch.seq == m.seq:
		// The grant this forward revokes has not arrived: answer once it
		// has, after the operations waiting for it ran.
		markFwdBeforeData.Hit()
		pg.stash = keep(m)
	case pg.copy == copyShared && pg.grantSeq == m.seq:
		// Answered already and kept a shared copy; the transfer record is
		// gone, so the home has the data: nothing to resend.
	default:
		a.reply(home, notHeld)
		a.forget(pg)
	}
}

// startFwd revokes the owner's access and, once no core can still store to
// the frame, hands the data over.
func (a *Agent) startFwd(pg *page, m *msg) {
	rights := rightRead
	if m.flags&flagExclusive != 0 {
		rights = 0
	}
	pg.graceFwd = keep(m)
	if t := a.lower(pg, rights); !a.grace.passed(t) {
		pg.graceTicket = t
		a.gracePages.ReplaceOrInsert(pg)
		return
	}
	a.finishFwd(pg)
}

func (a *Agent) finishFwd(pg *page) {
	m := pg.graceFwd
	pg.graceFwd = nil
	excl := m.flags&flagExclusive != 0
	var data pageData
	if excl {
		data = pg.frame.handOver() // dropped below
	} else {
		data = pg.frame.snapshot() // the copy kept shared may be upgraded and written in place
	}
	x := &transfer{epoch: m.epoch, ownerEpoch: pg.epoch, ownerSeq: pg.grantSeq, kept: !excl, data: data,
		target: m.target, targetInc: m.targetInc, targetSeq: m.targetSeq, excl: excl, backoff: a.cfg.RetransmitTicks}
	x.nextTick = a.tick + a.jitter(x.backoff)
	if excl {
		a.dropCopy(pg)
	} else {
		pg.copy, pg.epoch = copyShared, m.epoch
		pg.frame.rights.Store(rightRead)
	}
	pg.xfer = x
	a.xferPages.ReplaceOrInsert(pg)
	a.stats.Forwarded++
	a.sendFwdData(pg)
	a.sendXfer(pg)
	a.kick(pg)
}

// sendFwdData sends a forward's Data to its target.
func (a *Agent) sendFwdData(pg *page) {
	x := pg.xfer
	if x.target == 0 || x.target == a.cfg.Self {
		return
	}
	// The data is for the incarnation that asked: addressed to it, a
	// restarted target refuses it (it may have a request of the same
	// sequence outstanding).
	pr := a.peer(x.target)
	a.learnIncarnation(pr, x.targetInc)
	if pr.inc != x.targetInc {
		return
	}
	m := msg{kind: kData, pid: pg.proc.pid, vpn: pg.vpn, seq: x.targetSeq, epoch: x.epoch, hasPage: true, page: pageWords(x.data)}
	if x.excl {
		m.flags = flagExclusive
	}
	a.reply(x.target, m)
}

// answerFwdFromXfer answers a forward from the data already handed back:
// a retransmitted forward, or one that raced a writeback.
func (a *Agent) answerFwdFromXfer(pg *page, m *msg) {
	x := pg.xfer
	if x.epoch != m.epoch {
		if x.epoch != 0 {
			return // a forward of an older transaction
		}
		// Evicted while the home was forwarding: the writeback's data
		// answers the forward.
		markWritebackRacedFwd.Hit()
		x.epoch, x.target, x.targetInc, x.targetSeq = m.epoch, m.target, m.targetInc, m.targetSeq
		x.excl = m.flags&flagExclusive != 0
	}
	a.sendFwdData(pg)
	a.sendXfer(pg)
}

// onXferAck forgets a transfer the home has.
func (a *Agent) onXferAck(from netmodel.NodeID, m *msg) {
	pg, _ := a.cachePage(m, from, true)
	if pg == nil || pg.xfer == nil || pg.xfer.ownerEpoch != m.aux {
		return
	}
	pg.xfer = nil
	a.xferPages.Delete(pg)
	if pg.frame == nil {
		a.unreserve(pg)
	}
	a.kick(pg)
	a.forget(pg)
}

// onDenied ends a fetch that gets no data.
func (a *Agent) onDenied(from netmodel.NodeID, m *msg) {
	pg, _ := a.cachePage(m, from, true)
	if pg == nil || pg.fetch == nil || pg.fetch.seq != m.seq {
		return
	}
	a.release(pg.fetch)
	pg.fetch = nil
	switch m.aux {
	case denyDelegated:
		pg.delegatedUntil = a.tick + uint64(a.cfg.DelegateHintTicks)
		a.stats.DelegateHints++
		waiting := pg.ops
		pg.ops = nil
		pg.running++
		for _, o := range waiting {
			if !o.finished {
				a.run(o)
			}
		}
		pg.running--
	case denyLost:
		a.loseCachePage(pg, m.target)
	default:
		waiting := pg.ops
		pg.ops = nil
		for _, o := range waiting {
			if !o.finished {
				a.finish(o, sys.Reply{Trap: sys.TrapUnmapped})
			}
		}
	}
	if pg.frame == nil && !pg.pinned() {
		a.unreserve(pg)
	}
	a.forget(pg)
}
