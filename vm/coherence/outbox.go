package coherence

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/google/btree"
)

// peer is another machine as this agent knows it.
type peer struct {
	id        netmodel.NodeID
	inc       uint64 // its current incarnation, 0 if unknown
	deadBelow uint64 // its incarnations below this are dead
	sess      *session
	// outstanding are the sequences of our requests it has not answered:
	// their minimum is the ackBelow we tell it.
	outstanding *btree.BTreeG[uint64]
	replies     []msg // leave at the end of the call
	requests    []msg // leave when fewer than BatchesInFlightMax batches are unanswered, or at the next tick
	// open are our batches of requests to the peer that no answer has
	// come back for yet (batchNext numbers them).
	open      []uint64
	batchNext uint64
	dirty     bool
	held      bool // in Agent.holding
}

func (a *Agent) peer(id netmodel.NodeID) *peer {
	if id == a.cfg.Self || id == 0 {
		panic(fmt.Sprintf("coherence: %v asked for peer %v", a.cfg.Self, id))
	}
	pr := a.peers[id]
	if pr == nil {
		pr = &peer{id: id, outstanding: btree.NewG(8, func(x, y uint64) bool { return x < y })}
		a.peers[id] = pr
	}
	return pr
}

func (a *Agent) markDirty(pr *peer) {
	if !pr.dirty {
		pr.dirty = true
		a.dirty = append(a.dirty, pr)
	}
}

// reply queues a message that leaves at the end of the call: answers, and
// the home's and owners' messages of a transaction in progress.
func (a *Agent) reply(to netmodel.NodeID, m msg) {
	pr := a.peer(to)
	pr.replies = append(pr.replies, m)
	a.stats.Sent[m.kind]++
	a.markDirty(pr)
}

// request queues a fetch or a delegated operation: it leaves at the end of
// the call if the peer has no batch of ours unanswered, else with the next
// batch, when one of those requests is answered or at the next tick (a
// self-clocking batch: Nagle's rule).
func (a *Agent) request(to netmodel.NodeID, m msg) {
	pr := a.peer(to)
	pr.requests = append(pr.requests, m)
	a.stats.Sent[m.kind]++
	a.markDirty(pr)
}

// flush sends what the call produced: every peer's replies, and its
// requests unless BatchesInFlightMax of its batches are unanswered (or
// hold: requests wait for the next tick).
func (a *Agent) flush(hold bool) {
	for _, pr := range a.dirty {
		pr.dirty = false
		out := pr.replies
		pr.replies = pr.replies[:0:0]
		if !hold && len(pr.open) < a.cfg.BatchesInFlightMax && len(pr.requests) > 0 {
			a.openBatch(pr)
			out = append(out, pr.requests...)
			pr.requests = pr.requests[:0]
		} else if len(pr.requests) > 0 && !pr.held {
			pr.held = true
			a.holding = append(a.holding, pr)
		}
		if len(out) > 0 {
			a.sendPayloads(pr, out)
		}
		if len(pr.replies) == 0 && cap(out) <= repliesKeepMax {
			clear(out) // encoded: drop the page data and bytes they hold
			pr.replies = out[:0]
		}
	}
	a.dirty = a.dirty[:0]
}

// repliesKeepMax bounds the reply buffer a peer keeps between flushes
// (messages), so that one burst does not pin a large buffer for good.
const repliesKeepMax = 256

// openBatch numbers the requests about to leave for pr as one batch.
func (a *Agent) openBatch(pr *peer) {
	pr.batchNext++
	b := pr.batchNext
	pr.open = append(pr.open, b)
	for i := range pr.requests {
		if rq, ok := a.outstanding(pr.requests[i].seq); ok && rq.to == pr.id {
			rq.batch = b
		}
	}
}

// sendPayloads encodes msgs into as few payloads as PayloadBytesMax allows.
// The scratch body keeps payloadHeaderMax bytes in front of the messages,
// where each payload's header goes once its count is known, so that a
// payload is one copy of the scratch (the transport owns what it is sent).
func (a *Agent) sendPayloads(pr *peer, msgs []msg) {
	ackBelow := a.seq + 1
	if m, ok := pr.outstanding.Min(); ok {
		ackBelow = m
	}
	body := append(a.encBody[:0], make([]byte, payloadHeaderMax)...)
	count := 0
	emit := func() {
		var h [payloadHeaderMax]byte
		hdr := appendHeader(h[:0], a.cfg.Incarnation, pr.inc, ackBelow, count)
		start := payloadHeaderMax - len(hdr)
		copy(body[start:], hdr)
		payload := body[start:]
		if cs, ok := a.cfg.Transport.(netmodel.CopySender); ok {
			cs.SendCopy(pr.id, payload) // copied behind the node's header: no copy of our own
		} else {
			a.cfg.Transport.Send(pr.id, bytes.Clone(payload))
		}
		a.stats.PayloadsSent++
		a.stats.BytesSent += uint64(len(payload))
		body, count = body[:payloadHeaderMax], 0
	}
	for i := range msgs {
		start := len(body)
		body = encodeMsg(body, &msgs[i])
		if count > 0 && (len(body)-payloadHeaderMax > a.cfg.PayloadBytesMax-payloadHeaderMax || count == msgsPerPayloadMax) {
			one := append(a.encOne[:0], body[start:]...)
			body = body[:start]
			emit()
			body = append(body, one...)
			a.encOne = one
		}
		count++
	}
	if count > 0 {
		emit()
	}
	a.encBody = body
}

// payloadHeaderMax bounds a payload's header: version and four varints.
const payloadHeaderMax = 1 + 4*10

// request kinds.
const (
	reqFetch = iota + 1
	reqOp
)

// request is one of our requests to a peer, retransmitted until answered.
type request struct {
	seq      uint64
	kind     int
	to       netmodel.NodeID
	proc     *process
	page     *page // reqFetch
	excl     bool
	have     uint64 // the epoch of the shared copy an upgrade holds
	inval    uint64 // the newest invalidation seen while waiting
	op       *op    // reqOp
	m        msg
	nextTick uint64
	backoff  int
	waiting  bool // in Agent.queued for an in-flight slot
	issued   bool
	batch    uint64 // the batch it last left in
}

// issue sends a request now, or queues it until an in-flight slot frees.
func (a *Agent) issue(rq *request) {
	if a.inFlight >= a.cfg.InFlightMax {
		rq.waiting = true
		a.queued = append(a.queued, rq)
		return
	}
	a.inFlight++
	a.seq++
	rq.seq, rq.m.seq, rq.issued, rq.waiting = a.seq, a.seq, true, false
	a.requests.ReplaceOrInsert(rq)
	a.peer(rq.to).outstanding.ReplaceOrInsert(rq.seq)
	rq.backoff = a.cfg.RetransmitTicks
	rq.nextTick = a.tick + a.jitter(rq.backoff)
	a.request(rq.to, rq.m)
}

// release ends a request (answered, abandoned or failed) and issues the
// next one waiting for a slot.
func (a *Agent) release(rq *request) {
	if rq.waiting {
		for i, q := range a.queued {
			if q == rq {
				a.queued = append(a.queued[:i], a.queued[i+1:]...)
				break
			}
		}
		rq.waiting = false
		return
	}
	if !rq.issued {
		return
	}
	rq.issued = false
	a.requests.Delete(rq)
	if pr := a.peers[rq.to]; pr != nil {
		pr.outstanding.Delete(rq.seq)
		// An answer (from the peer, or from a machine it forwarded to)
		// ends the wait for its batch: what queued meanwhile may leave.
		if i := slices.Index(pr.open, rq.batch); i >= 0 {
			pr.open = slices.Delete(pr.open, i, i+1)
			if len(pr.requests) > 0 {
				a.markDirty(pr)
			}
		}
	}
	a.inFlight--
	for a.inFlight < a.cfg.InFlightMax && len(a.queued) > 0 {
		next := a.queued[0]
		a.queued = a.queued[1:]
		next.waiting = false
		a.issue(next)
	}
}

// dropRequests releases every request matching f without answering its
// operation (RemoveProcess).
func (a *Agent) dropRequests(f func(*request) bool) {
	var drop []*request
	a.requests.Ascend(func(rq *request) bool {
		if f(rq) {
			drop = append(drop, rq)
		}
		return true
	})
	for _, rq := range a.queued {
		if f(rq) {
			drop = append(drop, rq)
		}
	}
	for _, rq := range drop {
		a.release(rq)
		if rq.page != nil && rq.page.fetch == rq {
			rq.page.fetch = nil
		}
	}
}

// jitter is a retransmission delay of about d ticks.
func (a *Agent) jitter(d int) uint64 {
	if a.cfg.Rand != nil && d > 1 {
		d += a.cfg.Rand.IntN(d/2 + 1)
	}
	return uint64(d)
}

func (a *Agent) backoff(b int) int { return min(2*b, a.cfg.RetransmitTicksMax) }

// retransmit resends what is due: our requests, the home's invalidations
// and forwards, transfers and wakes.
func (a *Agent) retransmit() {
	a.requests.Ascend(func(rq *request) bool {
		if rq.nextTick <= a.tick {
			if rq.kind == reqFetch {
				rq.m.aux = rq.have
			}
			a.request(rq.to, rq.m)
			a.stats.Retransmits++
			markRetransmit.Hit()
			rq.backoff = a.backoff(rq.backoff)
			rq.nextTick = a.tick + a.jitter(rq.backoff)
		}
		return true
	})
	if a.txnPages.Len() > 0 {
		var txns []*page
		a.txnPages.Ascend(func(pg *page) bool {
			if pg.dir.txn.nextTick <= a.tick {
				txns = append(txns, pg)
			}
			return true
		})
		for _, pg := range txns {
			a.retransmitTxn(pg)
		}
	}
	a.xferPages.Ascend(func(pg *page) bool {
		x := pg.xfer
		if x.nextTick <= a.tick {
			a.sendXfer(pg)
			a.stats.Retransmits++
			x.backoff = a.backoff(x.backoff)
			x.nextTick = a.tick + a.jitter(x.backoff)
		}
		return true
	})
	a.wakes.Ascend(func(w *pendingWake) bool {
		if w.nextTick <= a.tick && a.peer(w.node).inc == w.inc {
			a.reply(w.node, w.msg())
			a.stats.Retransmits++
			w.backoff = a.backoff(w.backoff)
			w.nextTick = a.tick + a.jitter(w.backoff)
		}
		return true
	})
}
