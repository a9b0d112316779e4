package tcpnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// conn is one authenticated connection to a peer, after both hellos.
type conn struct {
	t        *Transport
	peer     *peer
	nc       net.Conn   // TLS over sock
	sock     *spillConn // the socket beneath TLS
	br       *bufio.Reader
	inc      uint64 // the peer's incarnation, from its hello
	outbound bool   // this transport dialed it
	started  time.Time

	installed  bool // guarded by Transport.mu
	superseded atomic.Bool
	closed     atomic.Bool
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// wmu is held by whoever writes to nc: the peer's writer for a batch,
	// or a SendUrgent (which only tries it, never waits).
	wmu   sync.Mutex
	frame []byte // SendUrgent's frame, reused; guarded by wmu
}

// close shuts the connection; safe to call more than once and under
// Transport.mu. The reader goroutine then unlinks it from its peer.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.closeErr = err
		c.closed.Store(true)
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) String() string {
	dir := "in"
	if c.outbound {
		dir = "out"
	}
	return fmt.Sprintf("%s conn %v#%d %s", dir, c.peer.id, c.inc, c.nc.RemoteAddr())
}

// installLocked makes c a live connection of its peer, replacing an older
// one of the same direction; a newer incarnation replaces every connection
// of the older ones. A connection of an incarnation older than one already
// seen is refused.
func (t *Transport) installLocked(c *conn, pr identity.Principal) error {
	p := c.peer
	if t.closed {
		return errors.New("transport closed")
	}
	if c.inc < p.inc {
		return fmt.Errorf("incarnation %d of %v is older than %d, already seen", c.inc, p.id, p.inc)
	}
	if !c.outbound && p.in == nil && t.inbound >= t.cfg.ConnsMax {
		return fmt.Errorf("%d inbound connections, the limit", t.inbound)
	}
	if c.inc > p.inc {
		for _, old := range p.conns() {
			old.superseded.Store(true)
			old.close(fmt.Errorf("%v restarted as incarnation %d", p.id, c.inc))
		}
		p.inc = c.inc
	}
	if c.outbound {
		if p.out != nil {
			p.out.close(errors.New("replaced by a newer connection"))
		}
		p.out = c
	} else {
		if p.in != nil {
			p.in.close(errors.New("replaced by a newer connection"))
		} else {
			t.inbound++
		}
		p.in = c
	}
	c.installed = true
	p.principal = pr
	p.stats.conns.Add(1)
	t.startWriterLocked(p)
	p.signal()
	t.wg.Add(1)
	go c.readLoop()
	t.log.Info("connection up", "peer", p.id.String(), "peer_incarnation", c.inc, "outbound", c.outbound, "remote", c.nc.RemoteAddr().String())
	return nil
}

// connDown unlinks a closed connection from its peer and redials if
// messages wait for a peer with an address.
func (t *Transport) connDown(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := c.peer
	if !c.installed {
		return
	}
	c.installed = false
	switch {
	case p.out == c:
		p.out = nil
		if time.Since(c.started) < connLivedForBackoffReset {
			p.failStreak++
		} else {
			p.failStreak = 0
		}
	case p.in == c:
		p.in = nil
		t.inbound--
	}
	t.log.Info("connection down", "peer", p.id.String(), "peer_incarnation", c.inc, "outbound", c.outbound, "err", errString(c.closeErr))
	t.startWriterLocked(p)
	if !t.closed && p.addr != "" && p.out == nil && !p.dialing && p.queueLen() > 0 {
		p.dialing = true
		t.wg.Add(1)
		go t.dialLoop(p)
	}
	t.forgetIfIdleLocked(p)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// readLoop delivers the frames of c to the inbox until c fails.
func (c *conn) readLoop() {
	t, p := c.t, c.peer
	defer t.wg.Done()
	defer t.connDown(c)
	for {
		f, size, err := readFrame(c.br, netmodel.FramePayloadMax)
		if err != nil {
			if !c.closed.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && isFrameError(err) {
				t.stats.garbage.Add(1)
				t.log.Warn("garbage on a connection", "peer", p.id.String(), "err", err.Error())
			}
			c.close(err)
			return
		}
		if f.From != p.id || f.To != t.cfg.Self {
			t.stats.garbage.Add(1)
			t.log.Warn("misaddressed frame", "peer", p.id.String(), "from", f.From.String(), "to", f.To.String())
			c.close(fmt.Errorf("frame from %v to %v on a connection of %v", f.From, f.To, p.id))
			return
		}
		p.stats.msgsRecv.Add(1)
		p.stats.bytesRecv.Add(uint64(size))
		if t.offerExpress(c, f.From, f.Payload) {
			continue
		}
		select {
		case t.inbox <- Message{From: f.From, Incarnation: c.inc, Payload: f.Payload, conn: c}:
		case <-c.done:
			return
		}
	}
}

// finishSpill writes what an urgent write left on c (the writer's part).
func (t *Transport) finishSpill(c *conn) {
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	err := c.flushSpill()
	c.wmu.Unlock()
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
	select {
	case t.written <- struct{}{}:
	default:
	}
}

func isFrameError(err error) bool {
	for _, e := range []error{netmodel.ErrFrameMagic, netmodel.ErrFrameVersion, netmodel.ErrFrameTooLarge, netmodel.ErrFrameChecksum, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// startWriterLocked starts the peer's writer if it has a connection to
// send on and none runs.
func (t *Transport) startWriterLocked(p *peer) {
	if p.writing || t.closed {
		return
	}
	if c := p.sendConn(); c != nil && !c.closed.Load() {
		p.writing = true
		t.wg.Add(1)
		go t.writeLoop(p)
	}
}

// writeLoop writes the peer's queue to its send connection, in batches,
// until it has none.
func (t *Transport) writeLoop(p *peer) {
	defer t.wg.Done()
	var (
		cur   *conn
		bw    *bufio.Writer
		batch []outMsg
		hdr   = make([]byte, 0, netmodel.FrameHeaderSize)
	)
	for {
		t.mu.Lock()
		c := p.sendConn()
		if c == nil || c.closed.Load() || t.closed {
			p.writing = false
			t.forgetIfIdleLocked(p)
			t.mu.Unlock()
			return
		}
		batch = p.takeLocked(c.inc, batch[:0])
		p.inBatch = len(batch)
		t.mu.Unlock()
		if c != cur {
			cur, bw = c, bufio.NewWriterSize(c.nc, writeBufferBytes)
		}
		if len(batch) == 0 {
			if c.sock.spilled() {
				t.finishSpill(c)
				continue
			}
			select {
			case <-p.wake:
			case <-c.done:
			}
			continue
		}
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
		var err error
		for i, m := range batch {
			// The header (its checksum covers the payload), then the payload
			// where it lies: the same bytes as netmodel.AppendFrame, one
			// copy fewer.
			hdr = netmodel.AppendFrameHeader(hdr[:0], t.cfg.Self, p.id, m.payload)
			if err == nil {
				_, err = bw.Write(hdr)
			}
			if err == nil {
				_, err = bw.Write(m.payload)
			}
			if err == nil {
				p.stats.msgsSent.Add(1)
				p.stats.bytesSent.Add(uint64(len(hdr) + len(m.payload)))
			}
			batch[i] = outMsg{}
		}
		if err == nil {
			err = bw.Flush()
		}
		c.wmu.Unlock()
		if err != nil {
			c.close(fmt.Errorf("write: %w", err))
		}
		t.mu.Lock()
		p.inBatch = 0
		t.mu.Unlock()
		select {
		case t.written <- struct{}{}:
		default:
		}
	}
}
