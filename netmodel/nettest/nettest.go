package nettest

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/flockvm/flock/netmodel"
)

// Delivery is one message as a machine received it.
type Delivery struct {
	To            netmodel.NodeID
	ToIncarnation uint64
	From          netmodel.NodeID
	Payload       []byte
}

// Net is a network of machines 1..n under test, driven by the suite.
type Net interface {
	// Send sends from machine from (which is up) to machine to.
	Send(from, to netmodel.NodeID, payload []byte)
	// Crash stops machine id; Restart starts it again as a new
	// incarnation, keeping its address.
	Crash(id netmodel.NodeID)
	Restart(id netmodel.NodeID)
	// Incarnation is machine id's current incarnation.
	Incarnation(id netmodel.NodeID) uint64
	// Wait lets the network run until cond holds or a bound passes (in
	// virtual or wall time) and reports whether cond held. cond is called
	// from the suite's goroutine only.
	Wait(cond func() bool) bool
}

// NewNet builds a Net of n machines whose receivers call deliver (from any
// goroutine).
type NewNet func(t *testing.T, n int, deliver func(Delivery)) Net

// TestTransport runs the contract suite.
func TestTransport(t *testing.T, newNet NewNet) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"AllPairsOnceIntact", testAllPairs},
		{"LargePayload", testLargePayload},
		{"SendToDownMachineReturns", testSendToDown},
		{"RestartDropsOldIncarnation", testRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t}
			h.net = newNet(t, 3, h.deliver)
			tc.run(t, h)
		})
	}
}

type harness struct {
	t   *testing.T
	net Net
	mu  sync.Mutex
	got []Delivery
	seq uint64
}

func (h *harness) deliver(d Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, d)
}

func (h *harness) deliveries() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.got...)
}

// message makes a payload of size bytes (at least 8) tagged with a fresh id.
func (h *harness) message(size int) (uint64, []byte) {
	h.seq++
	p := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(p, h.seq)
	for i := 8; i < len(p); i++ {
		p[i] = byte(h.seq) + byte(i)
	}
	return h.seq, p
}

func idOf(p []byte) uint64 {
	if len(p) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// count is how many times message id was delivered.
func (h *harness) count(id uint64) int {
	n := 0
	for _, d := range h.deliveries() {
		if idOf(d.Payload) == id {
			n++
		}
	}
	return n
}

type sent struct {
	id       uint64
	from, to netmodel.NodeID
	payload  []byte
}

func (h *harness) send(from, to netmodel.NodeID, size int) sent {
	id, p := h.message(size)
	h.net.Send(from, to, bytes.Clone(p))
	return sent{id: id, from: from, to: to, payload: p}
}

// sendUntilDelivered sends fresh messages from a to b until one arrives:
// while connections come up (or a restart is noticed) messages may be lost.
func (h *harness) sendUntilDelivered(from, to netmodel.NodeID) {
	h.t.Helper()
	for range 100 {
		s := h.send(from, to, 16)
		if h.net.Wait(func() bool { return h.count(s.id) > 0 }) {
			return
		}
	}
	h.t.Fatalf("no message from %v reached %v in 100 tries", from, to)
}

func testAllPairs(t *testing.T, h *harness) {
	var all []sent
	for from := netmodel.NodeID(1); from <= 3; from++ {
		for to := netmodel.NodeID(1); to <= 3; to++ {
			if from != to {
				h.sendUntilDelivered(from, to) // connections are up
				for _, size := range []int{8, 100, 64 << 10} {
					all = append(all, h.send(from, to, size))
				}
			}
		}
	}
	if !h.net.Wait(func() bool {
		for _, s := range all {
			if h.count(s.id) == 0 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not every message arrived")
	}
	byID := map[uint64]Delivery{}
	for _, d := range h.deliveries() {
		byID[idOf(d.Payload)] = d
	}
	for _, s := range all {
		d := byID[s.id]
		if n := h.count(s.id); n != 1 {
			t.Errorf("message %d delivered %d times, want once", s.id, n)
		}
		if d.From != s.from || d.To != s.to || !bytes.Equal(d.Payload, s.payload) {
			t.Errorf("message %d: delivered %v->%v (%d bytes), sent %v->%v (%d bytes)",
				s.id, d.From, d.To, len(d.Payload), s.from, s.to, len(s.payload))
		}
	}
}

func testLargePayload(t *testing.T, h *harness) {
	h.sendUntilDelivered(1, 2)
	s := h.send(1, 2, 4<<20)
	if !h.net.Wait(func() bool { return h.count(s.id) > 0 }) {
		t.Fatalf("a 4 MiB message did not arrive")
	}
	for _, d := range h.deliveries() {
		if idOf(d.Payload) == s.id && !bytes.Equal(d.Payload, s.payload) {
			t.Fatalf("the 4 MiB message arrived altered")
		}
	}
}

func testSendToDown(t *testing.T, h *harness) {
	h.sendUntilDelivered(1, 3)
	h.net.Crash(3)
	for range 20000 {
		h.send(1, 3, 64) // must return at once: nobody receives
	}
	h.net.Restart(3)
	h.sendUntilDelivered(1, 3)
}

func testRestart(t *testing.T, h *harness) {
	h.sendUntilDelivered(1, 2)
	old := h.net.Incarnation(2)
	h.net.Crash(2)
	var meantForOld []sent
	for range 20 {
		meantForOld = append(meantForOld, h.send(1, 2, 32))
	}
	h.net.Restart(2)
	if inc := h.net.Incarnation(2); inc == old {
		t.Fatalf("Restart(2) kept incarnation %d", inc)
	}
	h.sendUntilDelivered(1, 2)
	h.sendUntilDelivered(2, 1)
	for _, s := range meantForOld {
		if n := h.count(s.id); n != 0 {
			t.Errorf("message %d, sent while n2 was down, delivered %d times to its next incarnation", s.id, n)
		}
	}
	for _, d := range h.deliveries() {
		if d.To == 2 && d.ToIncarnation != old && d.ToIncarnation != h.net.Incarnation(2) {
			t.Errorf("a delivery to n2 names incarnation %d, neither %d nor %d", d.ToIncarnation, old, h.net.Incarnation(2))
		}
	}
}
