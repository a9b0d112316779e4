package tcpnet

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/flockvm/flock/netmodel"
)

// The fast path, for the messages a waiting thread's progress hangs on (a
// page asked for and its answer). A message normally crosses two
// goroutine hand-offs on each side: the sender queues it for the peer's
// writer goroutine, and the receiving reader goroutine queues it for the
// machine's driver goroutine. On a busy 2-core host each hand-off waits a
// few microseconds for a CPU, which is as much as the write itself.
//
//   - SendUrgent writes the frame on the caller's goroutine when nothing
//     is queued or being written to that peer: one non-blocking attempt
//     on the socket beneath TLS. What the socket does not take at once is
//     kept (the connection's spill) and written, before anything else, by
//     the peer's writer goroutine. A sender never blocks.
//   - An express receiver (SetExpress) is offered every received message
//     on its connection's reader goroutine before the inbox; what it takes
//     never reaches the inbox.
//
// Order per connection holds: an urgent write claims the peer (no writer
// batch and nothing queued), a message sent meanwhile is queued, and the
// writer writes it only after the urgent write released the connection.

// urgentBytesMax bounds a message written at once (and so a connection's
// spill); a larger one is queued as by Send.
const urgentBytesMax = 64 << 10

// SendUrgent is Send, writing payload at once on the caller's goroutine
// when the peer's connection is up and idle (see netmodel.UrgentSender);
// otherwise it queues it as Send does.
func (t *Transport) SendUrgent(to netmodel.NodeID, payload []byte) {
	if to == t.cfg.Self || len(payload) > urgentBytesMax {
		t.Send(to, payload)
		return
	}
	t.mu.Lock()
	p := t.peers[to]
	var c *conn
	if p != nil {
		c = p.sendConn()
	}
	if t.closed || c == nil || c.closed.Load() || p.urgent || p.inBatch > 0 || p.queueLen() > 0 ||
		(p.inc != 0 && p.inc != c.inc) || c.sock.spilled() || !c.wmu.TryLock() {
		t.mu.Unlock()
		t.Send(to, payload)
		return
	}
	p.urgent = true
	t.mu.Unlock()

	err := c.writeNow(t.cfg.Self, p.id, payload)
	spilled := c.sock.spilled()
	c.wmu.Unlock()

	t.mu.Lock()
	p.urgent = false
	if err == nil {
		p.stats.msgsSent.Add(1)
		p.stats.bytesSent.Add(uint64(netmodel.FrameHeaderSize + len(payload)))
		p.stats.urgent.Add(1)
		if spilled {
			p.stats.spills.Add(1)
		}
	}
	if spilled || p.queueLen() > 0 {
		p.signal() // the writer finishes the frame, then writes what queued meanwhile
	}
	t.mu.Unlock()
	if err != nil {
		c.close(fmt.Errorf("urgent write: %w", err))
	}
}

// writeNow frames payload and writes it through TLS, the socket beneath
// taking what it can at once. The caller holds c.wmu.
func (c *conn) writeNow(from, to netmodel.NodeID, payload []byte) error {
	c.frame = netmodel.AppendFrameHeader(c.frame[:0], from, to, payload)
	c.frame = append(c.frame, payload...)
	c.sock.tryOnly.Store(true)
	_, err := c.nc.Write(c.frame)
	c.sock.tryOnly.Store(false)
	if cap(c.frame) > urgentBytesMax+netmodel.FrameHeaderSize {
		c.frame = nil
	}
	return err
}

// flushSpill writes what an urgent write left, blocking (under the
// writer's deadline). The caller holds c.wmu.
func (c *conn) flushSpill() error { return c.sock.drain() }

// spillConn is a connection's socket beneath TLS. While tryOnly is set (an
// urgent write), a write is one non-blocking attempt and the rest is kept
// in spill; any other write first writes the spill, blocking, so the TLS
// records reach the wire in order. Its lock is never held across a
// blocking write: a SendUrgent asks spilled under the transport's lock.
type spillConn struct {
	net.Conn
	raw     syscall.RawConn // nil: not a socket that offers one; writes block
	tryOnly atomic.Bool

	mu       sync.Mutex // guards spill and draining
	spill    []byte
	draining bool // a blocking write of taken spill bytes is under way
}

func newSpillConn(nc net.Conn) *spillConn {
	s := &spillConn{Conn: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	return s
}

// spilled reports whether bytes wait to be written (kept or being drained):
// nothing may be written around them.
func (s *spillConn) spilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spill) > 0 || s.draining
}

// Write is what TLS writes its records with.
func (s *spillConn) Write(b []byte) (int, error) {
	if !s.tryOnly.Load() || s.raw == nil {
		if err := s.drain(); err != nil {
			return 0, err
		}
		return s.Conn.Write(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rest := b
	if len(s.spill) == 0 && !s.draining {
		n, err := s.tryWrite(b)
		if err != nil {
			return n, err
		}
		rest = b[n:]
	}
	s.spill = append(s.spill, rest...)
	return len(b), nil
}

// drainRoundsMax bounds drain's rounds: each writes what was kept when it
// began, and only a write made meanwhile (TLS answering its peer on the
// reader's goroutine during an urgent write) can keep more.
const drainRoundsMax = 64

// drain writes the kept bytes, blocking, without holding s.mu. Writes are
// serialized by the caller (the connection's wmu, or TLS's own lock).
func (s *spillConn) drain() error {
	for range drainRoundsMax {
		s.mu.Lock()
		b := s.spill
		s.spill = nil
		s.draining = len(b) > 0
		s.mu.Unlock()
		if len(b) == 0 {
			return nil
		}
		_, err := s.Conn.Write(b)
		s.mu.Lock()
		s.draining = false
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return errors.New("tcpnet: kept bytes still growing after many drains")
}

// tryWriteRoundsMax bounds the write calls of one attempt (interrupted or
// partial writes).
const tryWriteRoundsMax = 16

// tryWrite writes what the socket takes without waiting: the descriptor
// is non-blocking, so a full socket answers EAGAIN at once.
func (s *spillConn) tryWrite(b []byte) (int, error) {
	n := 0
	var werr error
	err := s.raw.Control(func(fd uintptr) {
		for range tryWriteRoundsMax {
			if n == len(b) {
				return
			}
			m, e := syscall.Write(int(fd), b[n:])
			switch {
			case errors.Is(e, syscall.EINTR):
				continue
			case errors.Is(e, syscall.EAGAIN):
				return
			case e != nil:
				werr = e
				return
			case m <= 0:
				return
			}
			n += m
		}
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// SetExpress makes fn the express receiver: every message read from a
// connection is offered to it first, on that connection's reader
// goroutine (so concurrently with the machine's driver and with other
// connections' readers); a message it takes (true) does not reach the
// inbox. fn must not block. nil removes it.
func (t *Transport) SetExpress(fn func(from netmodel.NodeID, payload []byte) bool) {
	if fn == nil {
		t.express.Store(nil)
		return
	}
	t.express.Store(&fn)
}

// offerExpress gives m to the express receiver; it reports whether it took it.
func (t *Transport) offerExpress(c *conn, from netmodel.NodeID, payload []byte) bool {
	fn := t.express.Load()
	if fn == nil || c.superseded.Load() {
		return false
	}
	if !(*fn)(from, payload) {
		return false
	}
	c.peer.stats.expressed.Add(1)
	return true
}
