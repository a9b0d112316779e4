package coherence

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// holder is a machine holding a copy granted by the home.
type holder struct {
	node  netmodel.NodeID
	inc   uint64
	epoch uint64 // of the grant
	seq   uint64 // the request the grant answered
}

func (h holder) is(node netmodel.NodeID, inc uint64) bool { return h.node == node && h.inc == inc }

// homeReq is a request waiting for its transaction at the home: a peer's
// fetch, or the home's own need of access (local).
type homeReq struct {
	local bool
	excl  bool
	from  holder // node, inc, seq of a peer's request
	have  uint64 // GetM: epoch of the shared copy the requester holds
}

// dirEntry is a page's directory entry at its home.
type dirEntry struct {
	epoch       uint64
	owner       *holder  // a remote machine holding the only writable copy
	sharers     []holder // remote machines holding read-only copies, by node
	txn         *txn
	queue       []homeReq
	localQueued uint32 // access a queued local request asks for

	// Adaptive atomics (AtomicsAdaptive).
	delegated   bool
	windowStart uint64
	transfers   int // copies taken from one machine for another this window
	lastHolder  netmodel.NodeID
	users       []netmodel.NodeID // remote machines delegating this window
	prevUsers   int
}

// txn is the transaction a page's home runs for one request.
type txn struct {
	epoch     uint64
	req       homeReq
	acks      []holder // sharers whose InvAck is awaited
	owner     *holder  // the owner whose Xfer or NotHeld is awaited
	ownerDone bool
	ownerSent bool // the owner sent the Data to the requester itself
	ownerKept bool // the owner kept a shared copy
	upgrade   bool // the requester holds the data already
	cancelled bool // the requester died before its grant was sent
	ticket    uint64
	nextTick  uint64
	backoff   int
}

// rights is the home's access to its master copy when no transaction runs.
func (d *dirEntry) rights() uint32 {
	switch {
	case d.owner != nil:
		return 0
	case len(d.sharers) > 0:
		return rightRead
	}
	return rightsAll
}

func (d *dirEntry) addSharer(h holder) {
	d.sharers = slices.DeleteFunc(d.sharers, func(s holder) bool { return s.node == h.node })
	i, _ := slices.BinarySearchFunc(d.sharers, h.node, func(s holder, n netmodel.NodeID) int {
		switch {
		case s.node < n:
			return -1
		case s.node > n:
			return 1
		}
		return 0
	})
	d.sharers = slices.Insert(d.sharers, i, h)
}

// stepHome makes progress on o at a page homed here.
func (a *Agent) stepHome(o *op, pg *page) bool {
	switch o.kind {
	case opWake:
		a.homeWake(o, pg)
		return true
	case opFree:
		a.homeFree(o)
		return true
	case opWait:
		if a.tryWait(o, pg) {
			return true
		}
	default:
		if a.tryExec(o, pg) {
			a.stats.Hits++
			return true
		}
	}
	if !a.park(o, pg) {
		return true
	}
	a.homeNeed(pg, o.kind.needs())
	a.advanceHome(pg)
	return false
}

// homeNeed queues the home's own request for access (once per kind).
func (a *Agent) homeNeed(pg *page, need uint32) {
	d := pg.dir
	if d.localQueued&need == need {
		return
	}
	d.localQueued |= need
	d.queue = append(d.queue, homeReq{local: true, excl: need&rightWrite != 0})
}

// advanceHome moves the page's transactions on as far as they go.
func (a *Agent) advanceHome(pg *page) {
	d := pg.dir
	for range 4 * (len(d.queue) + 8) {
		if pg.lost != 0 {
			return
		}
		if d.txn != nil {
			if !a.txnReady(pg) {
				return
			}
			a.finishTxn(pg)
			continue
		}
		a.kick(pg)
		if d.txn != nil {
			continue
		}
		if len(d.queue) == 0 {
			return
		}
		r := d.queue[0]
		d.queue = d.queue[1:]
		a.startTxn(pg, r)
	}
	panic(fmt.Sprintf("coherence: %v: home transactions do not settle (queue %d)", pg, len(d.queue)))
}

// startTxn begins the transaction for r (or answers it at once).
func (a *Agent) startTxn(pg *page, r homeReq) {
	d := pg.dir
	if r.local {
		d.localQueued = 0
		need := rightRead
		if r.excl {
			need = rightsAll
		}
		if d.rights()&need == need {
			pg.frame.rights.Store(d.rights())
			return
		}
	} else if a.skipRemote(pg, r) {
		return
	}
	d.epoch++
	t := &txn{epoch: d.epoch, req: r, backoff: a.cfg.RetransmitTicks}
	t.nextTick = a.tick + a.jitter(t.backoff)
	if d.owner != nil {
		t.owner = d.owner
		a.sendFwd(pg, t)
	}
	if r.excl {
		a.invalidate(pg, t)
		if !r.local {
			t.ticket = a.lower(pg, 0)
		}
	} else if !r.local && d.owner == nil {
		t.ticket = a.lower(pg, rightRead)
	}
	d.txn = t
	a.txnPages.ReplaceOrInsert(pg)
}

// skipRemote answers a peer's request that needs no transaction: from a
// dead incarnation or one that gave up on it, for a delegated page, or a
// duplicate of the current grant. It also clears an owner record that the
// requester's new request proves stale.
func (a *Agent) skipRemote(pg *page, r homeReq) bool {
	d := pg.dir
	pr := a.peer(r.from.node)
	if r.from.inc != pr.inc || (pr.sess != nil && r.from.seq < pr.sess.ackBelow) {
		return true
	}
	if a.delegatedFetch(pg, r) {
		m := msg{kind: kDenied, pid: pg.proc.pid, vpn: pg.vpn, seq: r.from.seq, aux: denyDelegated}
		a.doneFetch(pr, r.from.seq, &m)
		a.reply(r.from.node, m)
		return true
	}
	if o := d.owner; o != nil && o.is(r.from.node, r.from.inc) {
		if o.seq == r.from.seq {
			a.resendGrant(pg, r.from.node, r.from.seq, true)
			return true
		}
		// The owner asks again under a new sequence: it never installed
		// the grant it is listed for (it fetches only what it does not
		// hold, and never while handing data back), so the master is
		// current.
		markOwnerNeverInstalled.Hit()
		d.owner = nil
	}
	return false
}

// invalidate sends Inv to every sharer but an upgrading requester.
func (a *Agent) invalidate(pg *page, t *txn) {
	d := pg.dir
	for _, s := range d.sharers {
		if !t.req.local && s.is(t.req.from.node, t.req.from.inc) && s.epoch == t.req.have && t.req.have != 0 {
			t.upgrade = true
			continue
		}
		t.acks = append(t.acks, s)
	}
	d.sharers = nil
	if a.cfg.Bugs.SkipInvalidation && len(t.acks) > 0 {
		t.acks = t.acks[:len(t.acks)-1]
	}
	for _, s := range t.acks {
		a.sendInv(pg, t, s)
	}
	if a.cfg.Bugs.GrantBeforeAcks {
		t.acks = nil
	}
}

func (a *Agent) sendInv(pg *page, t *txn, s holder) {
	a.stats.InvalidationsSent++
	a.reply(s.node, msg{kind: kInv, pid: pg.proc.pid, vpn: pg.vpn, epoch: t.epoch, seq: s.seq})
}

func (a *Agent) sendFwd(pg *page, t *txn) {
	m := msg{kind: kFwd, pid: pg.proc.pid, vpn: pg.vpn, epoch: t.epoch, seq: t.owner.seq}
	if t.req.excl {
		m.flags = flagExclusive
	}
	if !t.req.local && !t.cancelled {
		m.target, m.targetInc, m.targetSeq = t.req.from.node, t.req.from.inc, t.req.from.seq
	}
	a.stats.ForwardsSent++
	markForwarded.Hit()
	a.reply(t.owner.node, m)
}

func (a *Agent) retransmitTxn(pg *page) {
	t := pg.dir.txn
	if t == nil || t.nextTick > a.tick {
		return
	}
	for _, s := range t.acks {
		a.sendInv(pg, t, s)
		a.stats.Retransmits++
		markRetransmit.Hit()
	}
	if t.owner != nil && !t.ownerDone {
		a.sendFwd(pg, t)
		a.stats.Retransmits++
	}
	t.backoff = a.backoff(t.backoff)
	t.nextTick = a.tick + a.jitter(t.backoff)
}

func (a *Agent) txnReady(pg *page) bool {
	t := pg.dir.txn
	return len(t.acks) == 0 && (t.owner == nil || t.ownerDone) && a.grace.passed(t.ticket)
}

// finishTxn grants what the transaction was for.
func (a *Agent) finishTxn(pg *page) {
	d := pg.dir
	t := d.txn
	d.txn = nil
	a.txnPages.Delete(pg)
	if t.owner != nil {
		d.owner = nil
		if t.ownerKept {
			d.addSharer(holder{node: t.owner.node, inc: t.owner.inc, epoch: t.epoch, seq: t.owner.seq})
		}
	}
	r := t.req
	switch {
	case r.local || t.cancelled:
	case r.excl:
		a.countTransfer(pg, r.from.node, t.owner)
		d.owner = &holder{node: r.from.node, inc: r.from.inc, epoch: t.epoch, seq: r.from.seq}
		if !(t.owner != nil && t.ownerSent) {
			a.sendGrant(pg, r.from.node, r.from.seq, t.epoch, true, !t.upgrade)
		}
		a.doneFetch(a.peer(r.from.node), r.from.seq, nil)
	default:
		if t.owner != nil {
			a.countTransfer(pg, r.from.node, t.owner)
		}
		d.addSharer(holder{node: r.from.node, inc: r.from.inc, epoch: t.epoch, seq: r.from.seq})
		if !(t.owner != nil && t.ownerSent) {
			a.sendGrant(pg, r.from.node, r.from.seq, t.epoch, false, true)
		}
		a.doneFetch(a.peer(r.from.node), r.from.seq, nil)
	}
	pg.frame.rights.Store(d.rights())
}

// sendGrant sends Data from the master copy.
func (a *Agent) sendGrant(pg *page, to netmodel.NodeID, seq, epoch uint64, excl, withData bool) {
	m := msg{kind: kData, pid: pg.proc.pid, vpn: pg.vpn, seq: seq, epoch: epoch}
	if excl {
		m.flags = flagExclusive
	}
	if withData {
		m.hasPage, m.page = true, pageWords(pg.frame.snapshot())
	}
	a.stats.Grants++
	a.reply(to, m)
}

// resendGrant answers a retransmitted fetch whose grant is still current:
// the master holds what the grant carried, since the grantee cannot have
// written before installing it (and drops a grant it already has).
func (a *Agent) resendGrant(pg *page, to netmodel.NodeID, seq uint64, excl bool) {
	d := pg.dir
	pr := a.peer(to)
	if excl {
		if o := d.owner; o != nil && o.is(to, pr.inc) && o.seq == seq {
			markDupRequest.Hit()
			a.sendGrant(pg, to, seq, o.epoch, true, true)
		}
		return
	}
	for _, s := range d.sharers {
		if s.is(to, pr.inc) && s.seq == seq {
			markDupRequest.Hit()
			a.sendGrant(pg, to, seq, s.epoch, false, true)
		}
	}
}

// onFetch receives a peer's GetS or GetM.
func (a *Agent) onFetch(pr *peer, m *msg) {
	p := a.procs[m.pid]
	if p == nil {
		a.stats.UnknownProcess++
		return
	}
	off := m.vpn << p.table.pageShift
	if p.region(off) != p.self || p.self < 0 || m.vpn > (1<<63)>>p.table.pageShift {
		a.stats.ProtocolErrors++
		return
	}
	deny := func(reason uint64, by netmodel.NodeID) {
		d := msg{kind: kDenied, pid: m.pid, vpn: m.vpn, seq: m.seq, aux: reason, target: by}
		a.doneFetch(pr, m.seq, &d)
		a.reply(pr.id, d)
	}
	if lost := p.regionLost[p.self]; lost != 0 {
		deny(denyLost, lost)
		return
	}
	pg, trap := a.pageAt(p, off)
	if trap != sys.TrapNone {
		deny(denyUnmapped, 0)
		return
	}
	if pg.lost != 0 {
		deny(denyLost, pg.lost)
		return
	}
	excl := m.kind == kGetM
	sess := a.session(pr)
	if reply, ok := sess.done.get(m.seq); ok {
		a.stats.Dups++
		if reply != nil {
			markDupRequest.Hit()
			a.reply(pr.id, *reply)
			return
		}
		a.resendGrant(pg, pr.id, m.seq, excl)
		return
	}
	d := pg.dir
	if t := d.txn; t != nil && !t.req.local && t.req.from.is(pr.id, pr.inc) && t.req.from.seq == m.seq {
		a.stats.Dups++
		markDupRequest.Hit()
		return
	}
	for _, q := range d.queue {
		if !q.local && q.from.is(pr.id, pr.inc) && q.from.seq == m.seq {
			a.stats.Dups++
			markDupRequest.Hit()
			return
		}
	}
	if d.txn != nil || len(d.queue) > 0 {
		markRequestQueued.Hit()
	}
	d.queue = append(d.queue, homeReq{excl: excl, from: holder{node: pr.id, inc: pr.inc, seq: m.seq}, have: m.aux})
	a.advanceHome(pg)
}

// homePage finds the home entry a message from a holder names.
func (a *Agent) homePage(m *msg) *page {
	p := a.procs[m.pid]
	if p == nil {
		a.stats.UnknownProcess++
		return nil
	}
	pg := p.lookup(m.vpn)
	if pg == nil || !pg.home {
		return nil
	}
	return pg
}

func (a *Agent) onInvAck(pr *peer, m *msg) {
	pg := a.homePage(m)
	if pg == nil || pg.dir.txn == nil || pg.dir.txn.epoch != m.epoch {
		return
	}
	t := pg.dir.txn
	t.acks = slices.DeleteFunc(t.acks, func(s holder) bool { return s.is(pr.id, pr.inc) })
	a.advanceHome(pg)
}

// onXfer takes an owner's data back: the answer to a forward, or a
// voluntary writeback.
func (a *Agent) onXfer(pr *peer, m *msg) {
	ack := msg{kind: kXferAck, pid: m.pid, vpn: m.vpn, aux: m.aux}
	pg := a.homePage(m)
	if pg == nil {
		a.reply(pr.id, ack)
		return
	}
	d := pg.dir
	if t := d.txn; t != nil && !t.req.local && t.req.excl && !t.cancelled && t.req.from.is(pr.id, pr.inc) && t.epoch == m.aux {
		// The requester got the data from the forwarding owner, wrote
		// and wrote back before this transaction recorded it as the
		// owner: not acknowledged, so it is sent again once it is.
		markWritebackRacedFwd.Hit()
		return
	}
	a.reply(pr.id, ack)
	o := d.owner
	if o == nil || !o.is(pr.id, pr.inc) || o.epoch != m.aux {
		return // the sender's ownership ended since: the home has newer data
	}
	if t := d.txn; t != nil && t.owner == o {
		if t.ownerDone {
			return
		}
		if m.epoch == 0 {
			markWritebackRacedFwd.Hit()
		}
		pg.frame.fill(m.page)
		t.ownerDone = true
		t.ownerSent = m.epoch == t.epoch
		t.ownerKept = t.ownerSent && m.flags&flagExclusive != 0
		a.advanceHome(pg)
		return
	}
	if m.epoch != 0 {
		return
	}
	pg.frame.fill(m.page)
	d.owner = nil
	pg.frame.rights.Store(d.rights())
	a.advanceHome(pg)
}

// onNotHeld: the owner never installed the grant, so the master is
// current.
func (a *Agent) onNotHeld(pr *peer, m *msg) {
	pg := a.homePage(m)
	if pg == nil {
		return
	}
	t := pg.dir.txn
	if t == nil || t.epoch != m.epoch || t.owner == nil || t.ownerDone || !t.owner.is(pr.id, pr.inc) {
		return
	}
	markOwnerNeverInstalled.Hit()
	t.ownerDone = true
	a.advanceHome(pg)
}

// Adaptive atomics.

func (a *Agent) rollWindow(d *dirEntry) {
	w := uint64(a.cfg.HotWindowTicks)
	if a.tick-d.windowStart < w {
		return
	}
	d.prevUsers = len(d.users)
	if a.tick-d.windowStart >= 2*w {
		d.prevUsers = 0
	}
	d.users = d.users[:0]
	d.windowStart = a.tick
	d.transfers = 0
}

// countTransfer notes a copy taken from one machine for another.
func (a *Agent) countTransfer(pg *page, to netmodel.NodeID, from *holder) {
	d := pg.dir
	a.rollWindow(d)
	if (from != nil && from.node != to) || (d.lastHolder != 0 && d.lastHolder != to) {
		d.transfers++
	}
	d.lastHolder = to
}

// delegatedFetch decides whether a fetch is answered "delegated": the page
// is, or has just become, one the home keeps.
func (a *Agent) delegatedFetch(pg *page, r homeReq) bool {
	if a.cfg.Atomics != AtomicsAdaptive {
		return false
	}
	d := pg.dir
	a.rollWindow(d)
	if d.delegated {
		if d.prevUsers <= 1 && (len(d.users) == 0 || (len(d.users) == 1 && d.users[0] == r.from.node)) {
			d.delegated = false
			d.transfers = 0
			return false
		}
		a.noteUser(d, r.from.node)
		return true
	}
	if !r.excl || d.transfers < a.cfg.HotTransfers {
		return false
	}
	markDelegated.Hit()
	a.stats.PagesDelegated++
	d.delegated = true
	d.users = append(d.users[:0], r.from.node)
	if d.owner != nil || len(d.sharers) > 0 {
		a.homeNeed(pg, rightsAll)
	}
	return true
}

func (a *Agent) noteUser(d *dirEntry, node netmodel.NodeID) {
	if !slices.Contains(d.users, node) {
		d.users = append(d.users, node)
	}
}
