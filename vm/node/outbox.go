package node

import (
	"fmt"

	"github.com/google/btree"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// outbox holds the process-service requests this node has in flight. Each
// is retransmitted with exponential backoff until it is answered, or until
// its destination is declared dead (then its onLost runs): nothing waits
// forever, and nothing is given up on while its destination may still
// answer (docs/node.md, "The liveness rule").
type outbox struct {
	pending *btree.BTreeG[*outReq] // by id
	byDest  map[netmodel.NodeID]int
	max     int
}

type outReq struct {
	id      sys.ReqID
	to      netmodel.NodeID
	toInc   uint64 // the incarnation of to it is meant for (as known when sent)
	msg     *procMsg
	dueTick uint64
	backoff uint64
	sends   int
	onReply func(*procMsg)
	onLost  func()
}

func outReqLess(a, b *outReq) bool { return a.id.Less(b.id) }

func newOutbox(max int) *outbox {
	return &outbox{pending: btree.NewG(8, outReqLess), byDest: map[netmodel.NodeID]int{}, max: max}
}

// Retransmission backoff, in ticks.
const (
	retryTicksFirst = 4
	retryTicksMax   = 64
)

func (o *outbox) full() bool { return o.pending.Len() >= o.max }

func (o *outbox) add(r *outReq) {
	if _, dup := o.pending.Get(r); dup {
		panic(fmt.Sprintf("node: request %v sent twice", r.id))
	}
	o.pending.ReplaceOrInsert(r)
	o.byDest[r.to]++
}

func (o *outbox) take(id sys.ReqID) (*outReq, bool) {
	r, ok := o.pending.Delete(&outReq{id: id})
	if ok {
		o.done(r)
	}
	return r, ok
}

func (o *outbox) done(r *outReq) {
	if o.byDest[r.to]--; o.byDest[r.to] == 0 {
		delete(o.byDest, r.to)
	}
}

// low is the lowest sequence number of the requests of origin still in
// flight, or next if none: everything below it has been answered.
func (o *outbox) low(origin sys.ReqID, next uint64) uint64 {
	lo := next
	start := &outReq{id: sys.ReqID{Machine: origin.Machine, Incarnation: origin.Incarnation, Core: origin.Core}}
	o.pending.AscendGreaterOrEqual(start, func(r *outReq) bool {
		if r.id.Machine != origin.Machine || r.id.Incarnation != origin.Incarnation || r.id.Core != origin.Core {
			return false
		}
		lo = min(lo, r.id.Seq)
		return false // the first one is the lowest
	})
	return lo
}

// due lists the requests whose retransmission time has come, in id order,
// and moves their next time on.
func (o *outbox) due(now uint64) []*outReq {
	var out []*outReq
	o.pending.Ascend(func(r *outReq) bool {
		if r.dueTick <= now {
			r.backoff = min(r.backoff*2, retryTicksMax)
			r.dueTick = now + r.backoff
			out = append(out, r)
		}
		return true
	})
	return out
}

// to lists, in id order, the requests to dest.
func (o *outbox) to(dest netmodel.NodeID) []*outReq {
	if o.byDest[dest] == 0 {
		return nil
	}
	var out []*outReq
	o.pending.Ascend(func(r *outReq) bool {
		if r.to == dest {
			out = append(out, r)
		}
		return true
	})
	return out
}

func (o *outbox) len() int { return o.pending.Len() }
