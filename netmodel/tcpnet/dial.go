package tcpnet

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// tcpKeepAlive detects a peer that vanished without closing.
const tcpKeepAlive = 15 * time.Second

// verifyPeer checks the peer's certificate against this VM's CA and
// returns whom it names.
func (t *Transport) verifyPeer(cs tls.ConnectionState) (identity.Principal, error) {
	if len(cs.PeerCertificates) == 0 {
		return identity.Principal{}, errors.New("tcpnet: peer sent no certificate")
	}
	return identity.Verify(t.cfg.Credential.CACert, cs.PeerCertificates[0], t.cfg.Now())
}

func (t *Transport) serverTLS() *tls.Config {
	peerCfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cfg.Credential.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    t.cfg.Credential.Pool(),
		NextProtos:   []string{peerProto},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.verifyPeer(cs)
			return err
		},
	}
	joinCfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cfg.Credential.TLSCertificate()},
		ClientAuth:   tls.NoClientCert,
		NextProtos:   []string{joinProto},
	}
	idCfg := peerCfg.Clone()
	idCfg.NextProtos = []string{idProto}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			switch {
			case t.cfg.Join != nil && slices.Equal(hello.SupportedProtos, []string{joinProto}):
				return joinCfg, nil
			case slices.Equal(hello.SupportedProtos, []string{idProto}):
				return idCfg, nil
			}
			return peerCfg, nil
		},
	}
}

// clientTLS is the configuration for dialing machine want.
func (t *Transport) clientTLS(want netmodel.NodeID) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cfg.Credential.TLSCertificate()},
		NextProtos:   []string{peerProto},
		// The chain is verified in VerifyConnection against the VM's CA,
		// by principal rather than by host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			p, err := t.verifyPeer(cs)
			if err != nil {
				return err
			}
			if p.Kind != identity.KindMachine || p.Machine != want {
				return fmt.Errorf("tcpnet: dialed %v, reached %v", want, p)
			}
			return nil
		},
	}
}

// dialLoop connects to the peer while messages wait for it, backing off
// between failures.
func (t *Transport) dialLoop(p *peer) {
	defer t.wg.Done()
	t.mu.Lock()
	streak := p.failStreak
	t.mu.Unlock()
	for attempt := streak; ; attempt++ {
		if attempt > 0 && !t.sleep(t.backoff(attempt)) {
			t.stopDialing(p)
			return
		}
		t.mu.Lock()
		addr := p.addr
		stop := t.closed || addr == "" || p.out != nil || p.queueLen() == 0
		t.mu.Unlock()
		if stop {
			t.stopDialing(p)
			return
		}
		p.stats.dials.Add(1)
		c, pr, err := t.dial(p, addr)
		if err == nil {
			t.mu.Lock()
			err = t.installLocked(c, pr)
			if err == nil {
				p.dialing = false
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
			c.close(err)
		}
		p.stats.dialFailures.Add(1)
		if attempt < 3 || attempt%20 == 0 {
			t.log.Warn("dial failed", "peer", p.id.String(), "addr", addr, "attempt", attempt, "err", err.Error())
		}
	}
}

func (t *Transport) stopDialing(p *peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.dialing = false
	t.forgetIfIdleLocked(p)
}

// backoff is the wait before dial attempt n (n >= 1): exponential from
// BackoffMin, capped at BackoffMax, with ±25% jitter so that machines
// restarted together do not dial in lockstep.
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.BackoffMin
	for i := 1; i < n && d < t.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.BackoffMax)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// sleep waits d or until Close; it reports whether the transport is open.
func (t *Transport) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.ctx.Done():
		return false
	}
}

// dial connects to peer p at addr: TCP, TLS, then the hello exchange.
func (t *Transport) dial(p *peer, addr string) (*conn, identity.Principal, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	d := net.Dialer{Timeout: t.cfg.DialTimeout, KeepAlive: tcpKeepAlive}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, identity.Principal{}, err
	}
	sock := newSpillConn(raw)
	tc := tls.Client(sock, t.clientTLS(p.id))
	c, pr, err := t.handshake(ctx, tc, sock, p, true)
	if err != nil {
		raw.Close()
		return nil, identity.Principal{}, err
	}
	return c, pr, nil
}

// handshake runs TLS and the hello exchange on tc. The dialer speaks
// first; a listener learns whom it talks to from the certificate and the
// hello, so p is nil for it.
func (t *Transport) handshake(ctx context.Context, tc *tls.Conn, sock *spillConn, p *peer, outbound bool) (*conn, identity.Principal, error) {
	deadline := time.Now().Add(t.cfg.HandshakeTimeout)
	_ = tc.SetDeadline(deadline)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, identity.Principal{}, fmt.Errorf("tls: %w", err)
	}
	cs := tc.ConnectionState()
	if cs.NegotiatedProtocol != peerProto {
		return nil, identity.Principal{}, fmt.Errorf("protocol %q, want %q", cs.NegotiatedProtocol, peerProto)
	}
	pr, err := t.verifyPeer(cs)
	if err != nil {
		return nil, identity.Principal{}, err
	}
	br := bufio.NewReaderSize(tc, readBufferBytes)
	var to netmodel.NodeID
	if outbound {
		to = p.id
		if err := writeHello(tc, t.cfg.Self, to, t.cfg.Incarnation); err != nil {
			return nil, pr, err
		}
	}
	f, _, err := readFrame(br, helloSize)
	if err != nil {
		return nil, pr, fmt.Errorf("hello: %w", err)
	}
	inc, err := decodeHello(f.Payload)
	if err != nil {
		return nil, pr, err
	}
	if f.To != t.cfg.Self || (outbound && f.From != to) {
		return nil, pr, fmt.Errorf("%w: from %v to %v, want to %v", ErrHello, f.From, f.To, t.cfg.Self)
	}
	if err := pr.MaySpeakAs(f.From); err != nil {
		return nil, pr, err
	}
	if !outbound {
		if err := writeHello(tc, t.cfg.Self, f.From, t.cfg.Incarnation); err != nil {
			return nil, pr, err
		}
		t.mu.Lock()
		p = t.peerLocked(f.From)
		t.mu.Unlock()
	}
	_ = tc.SetDeadline(time.Time{})
	c := &conn{t: t, peer: p, nc: tc, sock: sock, br: br, inc: inc, outbound: outbound, started: time.Now(), done: make(chan struct{})}
	return c, pr, nil
}

func writeHello(w interface{ Write([]byte) (int, error) }, from, to netmodel.NodeID, inc uint64) error {
	_, err := w.Write(netmodel.AppendFrame(nil, from, to, encodeHello(inc)))
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return nil
}

// acceptLoop serves the listener until Close.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	pause := time.Duration(0)
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err.Error(), "pause", pause.String())
			if !t.sleep(pause) {
				return
			}
			continue
		}
		pause = 0
		select {
		case t.hsSem <- struct{}{}:
		default:
			t.stats.refused.Add(1)
			nc.Close()
			continue
		}
		t.wg.Add(1)
		go t.serveInbound(nc)
	}
}

// serveInbound authenticates one accepted connection and installs it, or
// answers its join request.
func (t *Transport) serveInbound(nc net.Conn) {
	defer t.wg.Done()
	release := func() { <-t.hsSem }
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAlive(true)
		_ = tc.SetKeepAlivePeriod(tcpKeepAlive)
	}
	sock := newSpillConn(nc)
	tc := tls.Server(sock, t.tlsPeer)
	_ = tc.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		release()
		t.stats.handshakeFailures.Add(1)
		t.log.Debug("handshake refused", "remote", nc.RemoteAddr().String(), "err", err.Error())
		nc.Close()
		return
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case joinProto:
		t.serveJoin(tc)
		release()
		return
	case idProto:
		// The handshake said who this machine is; that was all.
		t.stats.identifies.Add(1)
		release()
		tc.Close()
		return
	}
	c, pr, err := t.handshake(ctx, tc, sock, nil, false)
	release()
	if err == nil {
		t.mu.Lock()
		err = t.installLocked(c, pr)
		if err != nil {
			t.forgetIfIdleLocked(c.peer)
		}
		t.mu.Unlock()
	}
	if err != nil {
		t.stats.refused.Add(1)
		t.log.Warn("connection refused", "remote", nc.RemoteAddr().String(), "err", err.Error())
		nc.Close()
	}
}
