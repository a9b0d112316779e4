package tcpnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// Message is one received message.
type Message struct {
	From        netmodel.NodeID
	Incarnation uint64 // the sender's, as its connection's hello said
	Payload     []byte
	conn        *conn // nil for a message to self
}

// Transport is one endpoint of a VM's network. Send, SetPeer, RemovePeer,
// Deliver and the stats methods are safe for concurrent use; the driver
// calls Send from its goroutine and drains Inbox.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	tlsPeer *tls.Config // the server side of peer connections
	inbox   chan Message
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	hsSem   chan struct{} // inbound handshakes in progress
	written chan struct{} // cap 1: a writer finished a batch (for Drain)
	express atomic.Pointer[func(from netmodel.NodeID, payload []byte) bool]

	mu      sync.Mutex
	peers   map[netmodel.NodeID]*peer
	inbound int // live inbound connections
	closed  bool

	stats transportCounters
}

var _ netmodel.Transport = (*Transport)(nil)

// New starts a transport: it listens on cfg.Listen (unless empty) and dials
// peers as messages for them are sent.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With("service", "net", "machine", cfg.Self.String(), "incarnation", cfg.Incarnation),
		inbox:   make(chan Message, cfg.InboxMax),
		written: make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
		hsSem:   make(chan struct{}, cfg.HandshakesMax),
		peers:   make(map[netmodel.NodeID]*peer),
	}
	for id, addr := range cfg.Peers {
		t.peerLocked(id).addr = addr
	}
	t.tlsPeer = t.serverTLS()
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("tcpnet: listen: %w", err)
		}
		t.ln = ln
		t.wg.Add(1)
		go t.acceptLoop()
	}
	return t, nil
}

// Addr is the address the transport listens on (nil for a client).
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Self is the id this transport speaks as.
func (t *Transport) Self() netmodel.NodeID { return t.cfg.Self }

// Incarnation is this transport's incarnation.
func (t *Transport) Incarnation() uint64 { return t.cfg.Incarnation }

// Inbox delivers received messages. Pass each to Deliver, which drops
// those of a replaced incarnation.
func (t *Transport) Inbox() <-chan Message { return t.inbox }

// Deliver hands m to r unless its sender's connection has since been
// replaced by one of a newer incarnation; it reports whether it did.
func (t *Transport) Deliver(m Message, r netmodel.Receiver) bool {
	if m.conn != nil && m.conn.superseded.Load() {
		m.conn.peer.stats.stale.Add(1)
		return false
	}
	r.Receive(m.From, m.Payload)
	return true
}

// SetPeer records (or changes) the address of machine id.
func (t *Transport) SetPeer(id netmodel.NodeID, addr string) {
	if id == 0 || id == t.cfg.Self || addr == "" {
		panic(fmt.Sprintf("tcpnet: SetPeer(%v, %q) on %v", id, addr, t.cfg.Self))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peerLocked(id)
	if p.addr != addr && p.out != nil {
		p.out.close(fmt.Errorf("peer moved to %s", addr))
	}
	p.addr = addr
}

// RemovePeer forgets machine id's address, drops what waits for it and
// closes its connections.
func (t *Transport) RemovePeer(id netmodel.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil {
		return
	}
	p.addr = ""
	p.dropQueueLocked()
	for _, c := range p.conns() {
		c.close(errors.New("peer removed"))
	}
	t.forgetIfIdleLocked(p)
}

// Principal is who the newest connection of id authenticated as.
func (t *Transport) Principal(id netmodel.NodeID) (identity.Principal, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil || p.principal.Kind == 0 {
		return identity.Principal{}, false
	}
	return p.principal, true
}

// Send queues payload for machine (or client) to; see netmodel.Transport.
func (t *Transport) Send(to netmodel.NodeID, payload []byte) {
	if to == t.cfg.Self {
		t.sendSelf(payload)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p := t.peers[to]
	if p == nil || (p.addr == "" && p.in == nil) {
		// No address and no connection: nowhere to send (a client that
		// left, a machine not in the address book).
		t.stats.unroutable.Add(1)
		return
	}
	p.enqueueLocked(payload, t.cfg)
	if p.addr != "" && p.out == nil && !p.dialing {
		p.dialing = true
		t.wg.Add(1)
		go t.dialLoop(p)
	}
}

func (t *Transport) sendSelf(payload []byte) {
	select {
	case t.inbox <- Message{From: t.cfg.Self, Incarnation: t.cfg.Incarnation, Payload: payload}:
	default:
		t.stats.inboxFull.Add(1)
	}
}

// Drain waits until every message sent so far has been written to its
// connection (or its connection failed), for at most d, and reports
// whether it got there. A machine stopping for good drains before it
// closes, so that its last answers (a leave's) are not dropped with the
// queues.
func (t *Transport) Drain(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !t.drained() {
		select {
		case <-t.written:
		case <-timer.C:
			return t.drained()
		}
	}
	return true
}

// drained reports whether no peer has messages queued or being written.
func (t *Transport) drained() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		if p.queueLen() > 0 || p.inBatch > 0 || p.urgent {
			return false
		}
		if c := p.sendConn(); c != nil && !c.closed.Load() && c.sock.spilled() {
			return false
		}
	}
	return true
}

// Close stops the transport: it closes the listener and every connection,
// drops what waits, and returns when every goroutine it started is done.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	}
	for _, p := range t.peers {
		for _, c := range p.conns() {
			c.close(errors.New("transport closed"))
		}
		p.dropQueueLocked()
		p.signal()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

// peerLocked returns the peer entry of id, creating it.
func (t *Transport) peerLocked(id netmodel.NodeID) *peer {
	p := t.peers[id]
	if p == nil {
		p = &peer{id: id, wake: make(chan struct{}, 1)}
		t.peers[id] = p
	}
	return p
}

// forgetIfIdleLocked drops the entry of a client with no connection, so
// departed clients do not accumulate. Machines are kept (they are few, and
// their newest incarnation must be remembered to refuse an older one).
func (t *Transport) forgetIfIdleLocked(p *peer) {
	if p.principal.Kind != identity.KindMachine && p.addr == "" && p.in == nil && p.out == nil && !p.dialing && !p.writing {
		t.stats.departed.add(&p.stats)
		delete(t.peers, p.id)
	}
}

// PeerStats counts one peer's traffic since the transport started.
type PeerStats struct {
	ID          netmodel.NodeID
	Kind        identity.Kind // 0 before any connection authenticated
	Incarnation uint64        // newest seen, 0 if none
	Connected   bool          // a connection to send on is up
	Queued      int           // messages waiting

	MsgsSent, BytesSent         uint64
	MsgsReceived, BytesReceived uint64
	Dropped                     uint64 // dropped from a full queue
	Stale                       uint64 // meant for (or from) a replaced incarnation
	Dials, DialFailures         uint64
	Conns                       uint64 // connections established (both directions)
	// Urgent counts messages SendUrgent wrote at once (in MsgsSent too);
	// Spills, those of them the socket did not take whole, finished by the
	// writer; Expressed, messages received that the express receiver took.
	Urgent, Spills, Expressed uint64
}

// Stats are the transport's totals.
type Stats struct {
	HandshakeFailures uint64 // inbound connections refused by TLS (no or a foreign certificate, plaintext)
	Refused           uint64 // authenticated connections refused (wrong id, stale incarnation, too many)
	Garbage           uint64 // connections closed for a bad frame
	Joins, JoinsOK    uint64 // join exchanges served, and admitted
	Unroutable        uint64 // messages to a peer with no address and no connection
	InboxFull         uint64 // messages to self dropped for a full inbox
	Identifies        uint64 // handshakes that only asked who this machine is (Identify)
	Departed          PeerStats
}

// Peers returns every known peer's counters, by id.
func (t *Transport) Peers() []PeerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerStats, 0, len(t.peers))
	for _, p := range t.peers {
		s := p.stats.snapshot()
		s.ID, s.Kind, s.Incarnation = p.id, p.principal.Kind, p.inc
		s.Connected = p.sendConn() != nil
		s.Queued = p.queueLen()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return cmpID(a.ID, b.ID) })
	return out
}

func cmpID(a, b netmodel.NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stats returns the transport's totals.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	departed := t.stats.departed.snapshot()
	t.mu.Unlock()
	return Stats{
		HandshakeFailures: t.stats.handshakeFailures.Load(),
		Refused:           t.stats.refused.Load(),
		Garbage:           t.stats.garbage.Load(),
		Joins:             t.stats.joins.Load(),
		JoinsOK:           t.stats.joinsOK.Load(),
		Unroutable:        t.stats.unroutable.Load(),
		InboxFull:         t.stats.inboxFull.Load(),
		Identifies:        t.stats.identifies.Load(),
		Departed:          departed,
	}
}

type transportCounters struct {
	handshakeFailures, refused, garbage atomic.Uint64
	joins, joinsOK, unroutable          atomic.Uint64
	inboxFull, identifies               atomic.Uint64
	departed                            peerCounters // under Transport.mu
}
