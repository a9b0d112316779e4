package tcpnet

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// waitMax bounds every wait of these tests for the network to do
// something; a healthy loopback does it in milliseconds.
const waitMax = 10 * time.Second

// vm is a test VM: a CA and credentials made on demand.
type vm struct {
	t  testing.TB
	ca *identity.CA
}

func newVM(t testing.TB, name string) *vm {
	t.Helper()
	ca, err := identity.NewCA(name, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &vm{t: t, ca: ca}
}

func (v *vm) machine(id netmodel.NodeID) *identity.Credential {
	v.t.Helper()
	c, err := v.ca.MachineCredential(uint64(id), nil, time.Now())
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

func (v *vm) user(name string) *identity.Credential {
	v.t.Helper()
	c, err := v.ca.IssueCredential(name, nil, time.Now())
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("TCPNET_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// endpoint is a transport whose inbox a goroutine drains into a log.
type endpoint struct {
	t    testing.TB
	tr   *Transport
	mu   sync.Mutex
	got  []Message
	stop chan struct{}
	done chan struct{}
}

func start(t testing.TB, cfg Config) *endpoint {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%v) = %v", cfg.Self, err)
	}
	e := &endpoint{t: t, tr: tr, stop: make(chan struct{}), done: make(chan struct{})}
	go e.drain()
	t.Cleanup(e.close)
	return e
}

func (e *endpoint) drain() {
	defer close(e.done)
	for {
		select {
		case m := <-e.tr.Inbox():
			e.tr.Deliver(m, netmodel.ReceiverFunc(func(from netmodel.NodeID, payload []byte) {
				e.mu.Lock()
				e.got = append(e.got, Message{From: from, Incarnation: m.Incarnation, Payload: payload})
				e.mu.Unlock()
			}))
		case <-e.stop:
			return
		}
	}
}

func (e *endpoint) close() {
	select {
	case <-e.stop:
		return
	default:
	}
	close(e.stop)
	<-e.done
	if err := e.tr.Close(); err != nil {
		e.t.Errorf("Close(%v) = %v", e.tr.Self(), err)
	}
}

func (e *endpoint) messages() []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Message(nil), e.got...)
}

// has reports whether e received payload from from.
func (e *endpoint) has(from netmodel.NodeID, payload []byte) bool {
	for _, m := range e.messages() {
		if m.From == from && bytes.Equal(m.Payload, payload) {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or waitMax passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitMax, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cluster starts machines 1..n on loopback ports, each knowing the others.
func cluster(t testing.TB, v *vm, n int) []*endpoint {
	t.Helper()
	eps := make([]*endpoint, n)
	for i := range n {
		id := netmodel.NodeID(i + 1)
		eps[i] = start(t, Config{Self: id, Incarnation: 1, Credential: v.machine(id), Listen: "127.0.0.1:0"})
	}
	for i, a := range eps {
		for j, b := range eps {
			if i != j {
				a.tr.SetPeer(b.tr.Self(), b.tr.Addr().String())
			}
		}
	}
	return eps
}

// sendUntil sends payload from a to b until b has it (a message may be
// lost while connections come up, as the contract allows).
func sendUntil(t testing.TB, a *endpoint, b *endpoint, payload []byte) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !b.has(a.tr.Self(), payload) {
		if time.Now().After(deadline) {
			t.Fatalf("%v never received %q from %v", b.tr.Self(), payload, a.tr.Self())
		}
		a.tr.Send(b.tr.Self(), bytes.Clone(payload))
		time.Sleep(20 * time.Millisecond)
	}
}

func clientTLSConfig(cred *identity.Credential) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{peerProto}}
	if cred != nil {
		cfg.Certificates = []tls.Certificate{cred.TLSCertificate()}
	}
	return cfg
}

func payloadOf(i int) []byte { return []byte(fmt.Sprintf("message %d", i)) }

func newDir(t testing.TB) *osdisk.FS {
	t.Helper()
	fsys, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}
