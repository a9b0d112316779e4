package tcpnet

import (
	"sync/atomic"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// outMsg is a queued message and the incarnation of the peer it was meant
// for (0: none known when it was sent, so any will do).
type outMsg struct {
	payload []byte
	inc     uint64
}

// peer is what the transport knows of one other endpoint. Its fields are
// guarded by Transport.mu; its counters are atomic.
type peer struct {
	id        netmodel.NodeID
	addr      string // "" if it cannot be dialed
	principal identity.Principal
	inc       uint64 // the newest incarnation seen

	out     *conn // the connection this transport dialed
	in      *conn // the newest connection the peer dialed
	dialing bool  // a dialLoop runs
	writing bool  // a writeLoop runs
	urgent  bool  // a SendUrgent writes on the send connection
	// failStreak counts dialed connections that died young in a row: the
	// next dial waits a backoff first, so a peer that accepts and drops at
	// once is not hammered.
	failStreak int

	queue      []outMsg // FIFO from head
	head       int
	inBatch    int // messages its writer took and has not finished writing
	queueBytes int64
	wake       chan struct{} // cap 1: the queue grew or the send connection changed

	stats peerCounters
}

// sendConn is the connection messages go out on: the dialed one for a peer
// with an address, else the one it dialed.
func (p *peer) sendConn() *conn {
	if p.addr != "" {
		return p.out
	}
	return p.in
}

func (p *peer) conns() []*conn {
	var cs []*conn
	for _, c := range []*conn{p.out, p.in} {
		if c != nil {
			cs = append(cs, c)
		}
	}
	return cs
}

func (p *peer) queueLen() int { return len(p.queue) - p.head }

// enqueueLocked appends a message, dropping the oldest beyond the limits:
// the newest messages are the ones protocols still care about.
func (p *peer) enqueueLocked(payload []byte, cfg Config) {
	p.queue = append(p.queue, outMsg{payload: payload, inc: p.inc})
	p.queueBytes += int64(len(payload))
	for p.queueLen() > cfg.QueueMsgsMax || (p.queueBytes > cfg.QueueBytesMax && p.queueLen() > 1) {
		p.popLocked()
		p.stats.dropped.Add(1)
	}
	p.signal()
}

func (p *peer) popLocked() outMsg {
	m := p.queue[p.head]
	p.queue[p.head] = outMsg{}
	p.head++
	p.queueBytes -= int64(len(m.payload))
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	} else if p.head > 1024 && p.head*2 > len(p.queue) {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return m
}

// takeLocked removes up to a batch of messages for a connection of
// incarnation inc, dropping those meant for another incarnation.
func (p *peer) takeLocked(inc uint64, batch []outMsg) []outMsg {
	bytes := 0
	for p.queueLen() > 0 && len(batch) < writeBatchMsgsMax && bytes < writeBatchBytesMax {
		m := p.popLocked()
		if m.inc != 0 && m.inc != inc {
			p.stats.stale.Add(1)
			continue
		}
		batch = append(batch, m)
		bytes += len(m.payload)
	}
	return batch
}

func (p *peer) dropQueueLocked() {
	p.stats.dropped.Add(uint64(p.queueLen()))
	clear(p.queue)
	p.queue, p.head, p.queueBytes = nil, 0, 0
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

type peerCounters struct {
	msgsSent, bytesSent, msgsRecv, bytesRecv atomic.Uint64
	dropped, stale, dials, dialFailures      atomic.Uint64
	conns                                    atomic.Uint64
	urgent, spills, expressed                atomic.Uint64
}

func (c *peerCounters) snapshot() PeerStats {
	return PeerStats{
		MsgsSent: c.msgsSent.Load(), BytesSent: c.bytesSent.Load(),
		MsgsReceived: c.msgsRecv.Load(), BytesReceived: c.bytesRecv.Load(),
		Dropped: c.dropped.Load(), Stale: c.stale.Load(),
		Dials: c.dials.Load(), DialFailures: c.dialFailures.Load(), Conns: c.conns.Load(),
		Urgent: c.urgent.Load(), Spills: c.spills.Load(), Expressed: c.expressed.Load(),
	}
}

func (c *peerCounters) add(o *peerCounters) {
	for _, pair := range [][2]*atomic.Uint64{
		{&c.msgsSent, &o.msgsSent}, {&c.bytesSent, &o.bytesSent},
		{&c.msgsRecv, &o.msgsRecv}, {&c.bytesRecv, &o.bytesRecv},
		{&c.dropped, &o.dropped}, {&c.stale, &o.stale},
		{&c.dials, &o.dials}, {&c.dialFailures, &o.dialFailures}, {&c.conns, &o.conns},
		{&c.urgent, &o.urgent}, {&c.spills, &o.spills}, {&c.expressed, &o.expressed},
	} {
		pair[0].Add(pair[1].Load())
	}
}
