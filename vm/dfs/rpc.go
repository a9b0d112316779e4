package dfs

import (
	"bytes"

	"github.com/flockvm/flock/netmodel"
)

// outReq is a chunk request in flight, sent again until answered.
type outReq struct {
	seq      uint64
	to       uint64
	payload  []byte
	sentAt   uint64
	attempts int
	done     func(*message) // nil: no answer after every attempt
}

// rpcTable holds the chunk requests a Service has in flight.
type rpcTable struct {
	next    uint64
	pending map[uint64]*outReq
	order   []uint64 // seqs in send order, for the timeout sweep
}

// call sends m to machine to and calls done with the answer, or with nil
// if none came after RequestAttemptsMax sends. Chunk requests are
// idempotent, so resending is safe. A request to this machine is handled
// here, at the end of the current input.
func (s *Service) call(to uint64, m message, done func(*message)) {
	t := &s.rpc
	if to == s.self {
		t.next++
		m.tag = tag{inc: s.cfg.Incarnation, seq: t.next}
		t.pending[t.next] = &outReq{seq: t.next, to: to, sentAt: s.ticks, attempts: s.cfg.RequestAttemptsMax, done: done}
		t.order = append(t.order, t.next)
		s.later(func() { s.handle(s.self, &m) })
		return
	}
	if len(t.pending) >= rpcPendingMax {
		s.stats.RequestsFailed++
		s.later(func() { done(nil) })
		return
	}
	t.next++
	m.tag = tag{inc: s.cfg.Incarnation, seq: t.next}
	r := &outReq{seq: t.next, to: to, payload: m.encode(), done: done}
	t.pending[r.seq] = r
	t.order = append(t.order, r.seq)
	s.send(r)
}

func (s *Service) send(r *outReq) {
	r.attempts++
	r.sentAt = s.ticks
	s.stats.RequestsSent++
	// The transport owns what it is sent, and the receiver may decode it
	// in place: r.payload stays ours, to send again.
	s.cfg.Transport.Send(netmodel.NodeID(r.to), bytes.Clone(r.payload))
}

// answered delivers an answer to the request it names, if it is still
// waiting for one from that machine.
func (s *Service) answered(from uint64, m *message) {
	t := &s.rpc
	if m.tag.inc != s.cfg.Incarnation {
		return // an answer to an earlier incarnation of this machine
	}
	r, ok := t.pending[m.tag.seq]
	if !ok || r.to != from {
		return
	}
	delete(t.pending, m.tag.seq)
	r.done(m)
}

// rpcTick sends again the requests whose answer is late, and gives up on
// those out of attempts.
func (s *Service) rpcTick() {
	t := &s.rpc
	kept := t.order[:0]
	for _, seq := range t.order {
		r, ok := t.pending[seq]
		if !ok {
			continue
		}
		kept = append(kept, seq)
		if s.ticks < r.sentAt+uint64(s.cfg.RequestTimeoutTicks) {
			continue
		}
		if r.attempts < s.cfg.RequestAttemptsMax && r.payload != nil {
			s.send(r)
			continue
		}
		delete(t.pending, seq)
		kept = kept[:len(kept)-1]
		s.stats.RequestsFailed++
		s.later(func() { r.done(nil) })
	}
	t.order = kept
}
