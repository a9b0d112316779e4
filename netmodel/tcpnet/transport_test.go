package tcpnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

func TestSendReceiveAllPairs(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 3)
	sizes := []int{0, 1, 1000, 70 << 10, 2 << 20}
	for _, a := range eps {
		for _, b := range eps {
			for _, n := range sizes {
				payload := bytes.Repeat([]byte{byte(a.tr.Self()), byte(b.tr.Self())}, n/2+1)[:n]
				a.tr.Send(b.tr.Self(), payload)
			}
		}
	}
	for _, b := range eps {
		for _, a := range eps {
			for _, n := range sizes {
				want := bytes.Repeat([]byte{byte(a.tr.Self()), byte(b.tr.Self())}, n/2+1)[:n]
				eventually(t, a.tr.Self().String()+" -> "+b.tr.Self().String(), func() bool { return b.has(a.tr.Self(), want) })
			}
		}
	}
	// Nothing is delivered twice on a healthy network.
	for _, b := range eps {
		if got, want := len(b.messages()), len(eps)*len(sizes); got != want {
			t.Errorf("%v received %d messages, want %d", b.tr.Self(), got, want)
		}
	}
	st := eps[0].tr.Peers()
	if len(st) != 2 || st[0].ID != 2 || st[0].MsgsSent != uint64(len(sizes)) || st[0].Kind != identity.KindMachine || !st[0].Connected {
		t.Errorf("Peers() of n1 = %+v, want n2 and n3 with %d messages sent each", st, len(sizes))
	}
}

// TestOrderPerConnection: on one healthy connection messages keep their
// order (the contract does not promise it; raft works better with it).
func TestOrderPerConnection(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 2)
	sendUntil(t, eps[0], eps[1], []byte("hello"))
	const n = 2000
	for i := range n {
		eps[0].tr.Send(2, payloadOf(i))
	}
	eventually(t, "all messages", func() bool { return len(eps[1].messages()) >= n+1 })
	got := eps[1].messages()
	k := 0
	for _, m := range got {
		if bytes.HasPrefix(m.Payload, []byte("message")) {
			if !bytes.Equal(m.Payload, payloadOf(k)) {
				t.Fatalf("message %d = %q, want %q", k, m.Payload, payloadOf(k))
			}
			k++
		}
	}
}

// TestDrainWritesEverythingBeforeClose: what was sent before Drain reaches
// the peer even though the sender closes right after (Close drops what
// still waits).
func TestDrainWritesEverythingBeforeClose(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 2)
	sendUntil(t, eps[0], eps[1], []byte("hello"))
	const n = 500
	for i := range n {
		eps[0].tr.Send(2, payloadOf(i))
	}
	if !eps[0].tr.Drain(waitMax) {
		t.Fatalf("Drain(%v) = false, want true", waitMax)
	}
	eps[0].close()
	eventually(t, "every message sent before Drain", func() bool { return eps[1].has(1, payloadOf(n-1)) })
}

func TestClientIsAnsweredOnItsConnection(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 1)
	cid := identity.ClientIDBit | 42
	cl := start(t, Config{Self: cid, Incarnation: 1, Credential: v.user("alice"),
		Peers: map[netmodel.NodeID]string{1: eps[0].tr.Addr().String()}})
	sendUntil(t, cl, eps[0], []byte("request"))
	p, ok := eps[0].tr.Principal(cid)
	if !ok || p.Kind != identity.KindUser || p.User != "alice" {
		t.Errorf("Principal(client) = %v, %v; want user alice", p, ok)
	}
	eps[0].tr.Send(cid, []byte("reply"))
	eventually(t, "the reply", func() bool { return cl.has(1, []byte("reply")) })
	// Once the client has gone, the machine forgets it.
	cl.close()
	eventually(t, "the client forgotten", func() bool { _, ok := eps[0].tr.Principal(cid); return !ok })
	eps[0].tr.Send(cid, []byte("to nobody"))
	if st := eps[0].tr.Stats(); st.Unroutable == 0 || st.Departed.MsgsReceived == 0 {
		t.Errorf("Stats() = %+v, want an unroutable message and the departed client's counts", st)
	}
}

func TestSendToSelf(t *testing.T) {
	v := newVM(t, "vm")
	e := cluster(t, v, 1)[0]
	e.tr.Send(1, []byte("me"))
	eventually(t, "a message to self", func() bool { return e.has(1, []byte("me")) })
}

// TestRestartNewIncarnation: messages queued for a machine's previous
// incarnation are never handed to its next one, and traffic resumes.
func TestRestartNewIncarnation(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 2)
	sendUntil(t, eps[0], eps[1], []byte("to incarnation 1"))
	addr := eps[1].tr.Addr().String()
	cred := eps[1].tr.cfg.Credential
	eps[1].close()
	eventually(t, "n1 sees n2 gone", func() bool { return !eps[0].tr.Peers()[0].Connected })
	for i := range 50 {
		eps[0].tr.Send(2, payloadOf(i)) // meant for incarnation 1
	}
	n2 := start(t, Config{Self: 2, Incarnation: 2, Credential: cred, Listen: addr,
		Peers: map[netmodel.NodeID]string{1: eps[0].tr.Addr().String()}})
	sendUntil(t, eps[0], n2, []byte("to incarnation 2"))
	for _, m := range n2.messages() {
		if bytes.HasPrefix(m.Payload, []byte("message")) {
			t.Fatalf("incarnation 2 received %q, meant for incarnation 1", m.Payload)
		}
	}
	if st := eps[0].tr.Peers()[0]; st.Incarnation != 2 || st.Stale == 0 {
		t.Errorf("n1's view of n2 = %+v, want incarnation 2 and stale drops", st)
	}
	// And n2 reaches n1, which learns the new incarnation.
	sendUntil(t, n2, eps[0], []byte("from incarnation 2"))
}

// TestStaleIncarnationRefused: a connection claiming an incarnation older
// than one already seen is refused.
func TestStaleIncarnationRefused(t *testing.T) {
	v := newVM(t, "vm")
	n1 := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), Listen: "127.0.0.1:0"})
	cred2 := v.machine(2)
	peers := map[netmodel.NodeID]string{1: n1.tr.Addr().String()}
	n2 := start(t, Config{Self: 2, Incarnation: 5, Credential: cred2, Peers: peers})
	sendUntil(t, n2, n1, []byte("from 5"))
	n2.close()
	old := start(t, Config{Self: 2, Incarnation: 4, Credential: cred2, Peers: peers})
	old.tr.Send(1, []byte("from 4"))
	eventually(t, "the stale incarnation refused", func() bool { return n1.tr.Stats().Refused > 0 })
	if n1.has(2, []byte("from 4")) {
		t.Errorf("n1 delivered a message of incarnation 4 after seeing 5")
	}
}

func TestSendNeverBlocksAndQueueIsBounded(t *testing.T) {
	v := newVM(t, "vm")
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), QueueMsgsMax: 100,
		HandshakeTimeout: 200 * time.Millisecond,
		Peers:            map[netmodel.NodeID]string{2: ln.Addr().String()}})
	for i := range 20000 {
		e.tr.Send(2, payloadOf(i))
	}
	st := e.tr.Peers()[0]
	if st.Queued > 100 || st.Dropped < 20000-100 {
		t.Errorf("after 20000 sends to a dead peer: queued %d dropped %d, want <= 100 queued", st.Queued, st.Dropped)
	}
}

// TestRefusedBeforeAnyFlockByte: connections without a certificate of this
// VM never get a frame delivered.
func TestRefusedBeforeAnyFlockByte(t *testing.T) {
	v := newVM(t, "vm")
	other := newVM(t, "vm") // same name, another CA
	n1 := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), Listen: "127.0.0.1:0"})
	addr := n1.tr.Addr().String()
	frame := netmodel.AppendFrame(nil, 2, 1, encodeHello(1))
	frame = netmodel.AppendFrame(frame, 2, 1, []byte("smuggled"))

	// Plaintext.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(frame)
	buf := make([]byte, 1)
	raw.SetReadDeadline(time.Now().Add(waitMax))
	if _, err := raw.Read(buf); err == nil {
		t.Errorf("plaintext connection got an answer byte")
	}
	raw.Close()

	tests := []struct {
		name string
		cred *identity.Credential
	}{
		{"no certificate", nil},
		{"another VM's machine", other.machine(2)},
		{"another VM's user", other.user("admin")},
	}
	for _, tc := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), waitMax)
		d := tls.Dialer{Config: clientTLSConfig(tc.cred)}
		c, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Write(frame)
			c.SetReadDeadline(time.Now().Add(waitMax))
			_, err = c.Read(buf)
			c.Close()
		}
		if err == nil {
			t.Errorf("%s: the connection was served", tc.name)
		}
	}
	eventually(t, "four handshake failures", func() bool { return n1.tr.Stats().HandshakeFailures >= 4 })
	if got := n1.messages(); len(got) != 0 {
		t.Errorf("refused connections delivered %d messages", len(got))
	}
}

// TestWrongIdentityRefused: a valid certificate speaking as someone else
// is refused at the hello.
func TestWrongIdentityRefused(t *testing.T) {
	v := newVM(t, "vm")
	n1 := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), Listen: "127.0.0.1:0"})
	addr := n1.tr.Addr().String()
	tests := []struct {
		name string
		cred *identity.Credential
		as   netmodel.NodeID
	}{
		{"machine 2 as machine 3", v.machine(2), 3},
		{"a user as machine 2", v.user("bob"), 2},
		{"machine 2 as a client", v.machine(2), identity.ClientIDBit | 2},
	}
	for i, tc := range tests {
		c, err := tls.Dial("tcp", addr, clientTLSConfig(tc.cred))
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		c.Write(netmodel.AppendFrame(nil, tc.as, 1, encodeHello(1)))
		c.Write(netmodel.AppendFrame(nil, tc.as, 1, []byte("smuggled")))
		c.SetReadDeadline(time.Now().Add(waitMax))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			t.Errorf("%s: got an answer", tc.name)
		}
		eventually(t, tc.name+" refused", func() bool { return n1.tr.Stats().Refused >= uint64(i+1) })
	}
	if len(n1.messages()) != 0 {
		t.Errorf("refused connections delivered %v", n1.messages())
	}
	// New refuses a credential that may not speak as Self.
	if _, err := New(Config{Self: 5, Incarnation: 1, Credential: v.machine(4)}); err == nil {
		t.Errorf("New(Self 5 with machine 4's credential) = nil error")
	}
}

// TestGarbageClosesConnection: an authenticated peer that sends a bad
// frame is cut off; the frame is never delivered.
func TestGarbageClosesConnection(t *testing.T) {
	v := newVM(t, "vm")
	n1 := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), Listen: "127.0.0.1:0"})
	c, err := tls.Dial("tcp", n1.tr.Addr().String(), clientTLSConfig(v.machine(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(netmodel.AppendFrame(nil, 2, 1, encodeHello(1)))
	bad := netmodel.AppendFrame(nil, 2, 1, []byte("flipped"))
	bad[len(bad)-1] ^= 1
	c.Write(bad)
	eventually(t, "garbage counted", func() bool { return n1.tr.Stats().Garbage == 1 })
	if len(n1.messages()) != 0 {
		t.Errorf("garbage delivered: %v", n1.messages())
	}
}

func TestJoin(t *testing.T) {
	v := newVM(t, "vm")
	fsys := newDir(t)
	dir := identity.Dir{FS: fsys}
	if _, err := dir.NextMachineID(); err != nil { // machine 1 exists
		t.Fatal(err)
	}
	tok, err := identity.NewToken(v.ca.Hash(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.SaveToken(identity.TokenRecord{Token: tok, Expires: time.Now().Add(time.Hour), UsesLeft: 1}); err != nil {
		t.Fatal(err)
	}
	is := &identity.Issuer{CA: v.ca, Dir: dir}
	n1 := start(t, Config{Self: 1, Incarnation: 1, Credential: v.machine(1), Listen: "127.0.0.1:0", Join: is.Join})
	addr := n1.tr.Addr().String()
	key, _ := identity.NewKey(nil)
	ctx := context.Background()

	wrong := tok
	wrong.Secret[0] ^= 1
	if _, err := Join(ctx, addr, wrong, key, nil); !errors.Is(err, identity.ErrToken) {
		t.Errorf("Join(wrong secret) error = %v, want ErrToken", err)
	}
	foreign, _ := identity.NewToken(newVM(t, "vm").ca.Hash(), nil)
	foreign.ID, foreign.Secret = tok.ID, tok.Secret
	if _, err := Join(ctx, addr, foreign, key, nil); err == nil || !strings.Contains(err.Error(), "CA") {
		t.Errorf("Join(token pinning another CA) error = %v, want a CA mismatch", err)
	}
	cred, err := Join(ctx, addr, tok, key, []byte("cpu:2"))
	if err != nil {
		t.Fatalf("Join(good token) = %v", err)
	}
	if cred.Principal.Machine != 2 {
		t.Errorf("joined as %v, want machine 2", cred.Principal)
	}
	other, _ := identity.NewKey(nil)
	if _, err := Join(ctx, addr, tok, other, nil); !errors.Is(err, identity.ErrToken) {
		t.Errorf("Join(used-up token) error = %v, want ErrToken", err)
	}
	if st := n1.tr.Stats(); st.Joins != 3 || st.JoinsOK != 1 {
		t.Errorf("Stats() joins %d ok %d, want 3 and 1 (the foreign token never reached the issuer)", st.Joins, st.JoinsOK)
	}
	// The new machine speaks with its new credential.
	n2 := start(t, Config{Self: 2, Incarnation: 1, Credential: cred, Peers: map[netmodel.NodeID]string{1: addr}})
	sendUntil(t, n2, n1, []byte("joined"))

	// A transport without Join refuses join connections.
	n3 := start(t, Config{Self: 3, Incarnation: 1, Credential: v.machine(3), Listen: "127.0.0.1:0"})
	if _, err := Join(ctx, n3.tr.Addr().String(), tok, key, nil); err == nil {
		t.Errorf("Join on a machine that admits none = nil error")
	}
}
