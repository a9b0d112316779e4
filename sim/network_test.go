package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/flockvm/flock/diskmodel"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// netProbe is the test's model of what the network may do. Receivers and
// timers of every incarnation check their invariants against it as they run.
type netProbe struct {
	t        *rapid.T
	w        *World
	sent     map[uint64][]byte // message id -> payload
	dstInc   map[uint64]uint64 // message id -> destination incarnation at send
	got      map[uint64]int    // message id -> deliveries
	cuts     map[*Partition][][2]NodeID
	timersOK int
}

func (p *netProbe) cut(from, to NodeID) bool {
	for part, pairs := range p.cuts {
		_ = part
		if slices.Contains(pairs, [2]NodeID{from, to}) {
			return true
		}
	}
	return false
}

// boot builds one incarnation of a probe machine.
func (p *netProbe) boot(m *Machine) Receiver {
	inc := m.Incarnation()
	return ReceiverFunc(func(from NodeID, payload []byte) {
		p.check(m, inc, from, payload)
	})
}

func (p *netProbe) check(m *Machine, inc uint64, from NodeID, payload []byte) {
	t := p.t
	if !m.Up() || m.Incarnation() != inc {
		t.Fatalf("%v incarnation %d received a message while up=%v incarnation=%d", m.ID(), inc, m.Up(), m.Incarnation())
	}
	if m.Paused() {
		t.Fatalf("%v received a message while paused", m.ID())
	}
	if p.cut(from, m.ID()) {
		t.Fatalf("%v received from %v across a partition", m.ID(), from)
	}
	if len(payload) < 8 {
		t.Fatalf("%v received a %d-byte payload, shorter than any sent", m.ID(), len(payload))
	}
	id := binary.LittleEndian.Uint64(payload)
	want, ok := p.sent[id]
	if !ok || !bytes.Equal(payload, want) {
		t.Fatalf("%v received garbage from %v: % x", m.ID(), from, payload)
	}
	if p.dstInc[id] != inc {
		t.Fatalf("message %d sent to incarnation %d delivered to incarnation %d", id, p.dstInc[id], inc)
	}
	p.got[id]++
	if p.got[id] > 2 {
		t.Fatalf("message %d delivered %d times, want at most 2 (one duplicate)", id, p.got[id])
	}
}

func drawNodes(t *rapid.T, n int, label string) NodeID {
	return NodeID(rapid.IntRange(1, n).Draw(t, label))
}

// TestNetworkProperties throws random traffic, crashes, pauses and
// partitions at a small world and checks every delivery and every timer.
func TestNetworkProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const n = 4
		fc := NoFaults()
		fc.DropProb = rapid.Float64Range(0, 0.3).Draw(t, "drop")
		fc.DupProb = rapid.Float64Range(0, 0.5).Draw(t, "dup")
		fc.GarbleProb = rapid.Float64Range(0, 0.3).Draw(t, "garble")
		fc.LinkQueueMax = rapid.IntRange(1, 64).Draw(t, "linkq")
		fc.DiskLatencyMax = time.Duration(rapid.Int64Range(0, int64(time.Millisecond)).Draw(t, "disklat"))
		w := NewWorld(Config{Seed: rapid.Uint64().Draw(t, "seed"), Faults: fc})
		p := &netProbe{t: t, w: w, sent: map[uint64][]byte{}, dstInc: map[uint64]uint64{},
			got: map[uint64]int{}, cuts: map[*Partition][][2]NodeID{}}
		for i := 1; i <= n; i++ {
			w.AddMachine(NodeID(i), p.boot)
		}
		var parts []*Partition
		t.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				from, to := drawNodes(t, n, "from"), drawNodes(t, n, "to")
				id := uint64(len(p.sent))
				body := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "body")
				payload := binary.LittleEndian.AppendUint64(nil, id)
				payload = append(payload, body...)
				p.sent[id] = bytes.Clone(payload)
				p.dstInc[id] = w.Machine(to).Incarnation()
				w.Machine(from).Send(to, payload)
			},
			"timer": func(t *rapid.T) {
				m := w.Machine(drawNodes(t, n, "node"))
				inc := m.Incarnation()
				d := time.Duration(rapid.Int64Range(0, int64(5*time.Millisecond)).Draw(t, "d"))
				m.After(d, "probe", func() {
					if !m.Up() || m.Incarnation() != inc || m.Paused() {
						t.Fatalf("%v timer of incarnation %d fired with up=%v incarnation=%d paused=%v",
							m.ID(), inc, m.Up(), m.Incarnation(), m.Paused())
					}
					p.timersOK++
				})
			},
			"crash":   func(t *rapid.T) { w.Crash(drawNodes(t, n, "node")) },
			"restart": func(t *rapid.T) { w.Restart(drawNodes(t, n, "node")) },
			"pause": func(t *rapid.T) {
				d := time.Duration(rapid.Int64Range(0, int64(10*time.Millisecond)).Draw(t, "d"))
				w.Pause(drawNodes(t, n, "node"), d)
			},
			"partition": func(t *rapid.T) {
				kind := rapid.SampledFrom([]string{"sym", "oneway", "isolate"}).Draw(t, "kind")
				perm := rapid.Permutation([]NodeID{1, 2, 3, 4}).Draw(t, "perm")
				k := rapid.IntRange(1, n-1).Draw(t, "k")
				a, b := perm[:k], perm[k:]
				var part *Partition
				var pairs [][2]NodeID
				switch kind {
				case "sym":
					part = w.Partition(a, b)
					for _, x := range a {
						for _, y := range b {
							pairs = append(pairs, [2]NodeID{x, y}, [2]NodeID{y, x})
						}
					}
				case "oneway":
					part = w.PartitionOneWay(a, b)
					for _, x := range a {
						for _, y := range b {
							pairs = append(pairs, [2]NodeID{x, y})
						}
					}
				case "isolate":
					part = w.Isolate(a[0])
					for _, y := range perm[1:] {
						pairs = append(pairs, [2]NodeID{a[0], y}, [2]NodeID{y, a[0]})
					}
				}
				p.cuts[part] = pairs
				parts = append(parts, part)
			},
			"heal partition": func(t *rapid.T) {
				if len(parts) == 0 {
					t.Skip("no partition")
				}
				i := rapid.IntRange(0, len(parts)-1).Draw(t, "i")
				parts[i].Heal()
				delete(p.cuts, parts[i])
				parts = slices.Delete(parts, i, i+1)
			},
			"run": func(t *rapid.T) {
				w.RunFor(time.Duration(rapid.Int64Range(0, int64(3*time.Millisecond)).Draw(t, "d")))
			},
			"": func(t *rapid.T) {
				s := w.NetStats()
				if s.InFlight() < 0 {
					t.Fatalf("NetStats in flight = %d < 0: %+v", s.InFlight(), s)
				}
				if s.Delivered.Msgs > s.Sent.Msgs+s.Duplicated.Msgs {
					t.Fatalf("delivered %d > sent %d + duplicated %d", s.Delivered.Msgs, s.Sent.Msgs, s.Duplicated.Msgs)
				}
			},
		})
		for _, part := range parts {
			part.Heal()
			delete(p.cuts, part)
		}
		w.RunFor(time.Second)
		if s := w.NetStats(); s.InFlight() != 0 {
			t.Fatalf("after draining, NetStats in flight = %d, want 0: %+v", s.InFlight(), s)
		}
	})
}

func TestGarbledFramesAreDropped(t *testing.T) {
	fc := NoFaults()
	fc.GarbleProb = 1
	w := NewWorld(Config{Seed: 3, Faults: fc})
	got := 0
	w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	w.AddMachine(2, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) { got++ }) })
	for i := 0; i < 100; i++ {
		w.Machine(1).Send(2, []byte(fmt.Sprintf("message %d", i)))
	}
	w.RunFor(time.Second)
	s := w.NetStats()
	if got != 0 || s.Garbled.Msgs != 100 || w.FaultCounts()["net_garble"] != 100 {
		t.Errorf("100 sends with GarbleProb=1: delivered %d, Garbled %d, net_garble %d; want 0, 100, 100",
			got, s.Garbled.Msgs, w.FaultCounts()["net_garble"])
	}
}

func TestLinkQueueBound(t *testing.T) {
	fc := NoFaults()
	fc.LinkQueueMax = 10
	w := NewWorld(Config{Seed: 3, Faults: fc})
	got := 0
	w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	w.AddMachine(2, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) { got++ }) })
	for i := 0; i < 25; i++ {
		w.Machine(1).Send(2, []byte("x"))
	}
	w.RunFor(time.Second)
	if s := w.NetStats(); got != 10 || s.Overflow.Msgs != 15 {
		t.Errorf("25 sends on a link of 10: delivered %d, overflow %d; want 10, 15", got, s.Overflow.Msgs)
	}
}

func TestDiskLatencyDelaysSends(t *testing.T) {
	fc := NoFaults()
	fc.LatencyJitter = 0
	fc.DiskLatencyMin, fc.DiskLatencyMax = 5*time.Millisecond, 5*time.Millisecond
	fc.DiskSyncLatencyMin, fc.DiskSyncLatencyMax = 5*time.Millisecond, 5*time.Millisecond
	w := NewWorld(Config{Seed: 3, Faults: fc})
	var arrivals []Time
	w.AddMachine(2, func(m *Machine) Receiver {
		return ReceiverFunc(func(NodeID, []byte) { arrivals = append(arrivals, w.Now()) })
	})
	m1 := w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	w.After(10*time.Millisecond, "send", func() {})
	m1.After(10*time.Millisecond, "work", func() {
		m1.Send(2, []byte("before the write"))
		f, err := m1.Disk().OpenFile("log", 1)
		if err != nil {
			t.Fatalf("OpenFile: %v", err)
		}
		f.Sync()
		m1.Send(2, []byte("after the write"))
	})
	w.RunFor(time.Second)
	if len(arrivals) != 2 {
		t.Fatalf("got %d arrivals, want 2", len(arrivals))
	}
	if gap := arrivals[1].Sub(arrivals[0]); gap != 10*time.Millisecond {
		t.Errorf("message after open+sync arrived %v after the one before, want 10ms (two disk ops)", gap)
	}
}

func TestNetStatsByKind(t *testing.T) {
	fc := NoFaults()
	w := NewWorld(Config{Seed: 1, Faults: fc, MessageKind: func(p []byte) string { return string(p[:1]) }})
	w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	w.AddMachine(2, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	for _, p := range []string{"a1", "a22", "b333"} {
		w.Machine(1).Send(2, []byte(p))
	}
	w.Crash(2)
	w.Machine(1).Send(2, []byte("b4444"))
	w.RunFor(time.Second)
	got := w.NetStatsByKind()
	want := map[string]NetStats{
		"a": {Sent: Counter{2, 5}, Delivered: Counter{0, 0}, DestDown: Counter{2, 5}},
		"b": {Sent: Counter{2, 9}, DestDown: Counter{2, 9}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("NetStatsByKind() = %+v, want %+v", got, want)
	}
	if total := w.NetStats(); total.Sent != (Counter{4, 14}) || total.DestDown != (Counter{4, 14}) {
		t.Errorf("NetStats() = %+v, want 4 messages of 14 bytes sent and lost to a down machine", total)
	}
	if NewWorld(Config{Seed: 1}).NetStatsByKind() != nil {
		t.Errorf("NetStatsByKind() without MessageKind is not nil")
	}
}

// TestSelfSendsWaitForTheDiskAndCrossNoNetwork: a machine's message to
// itself is never lost, duplicated or delayed by the network (the link
// faults are all on), but it arrives only after the disk work issued
// before it: an answer to itself is never acted on before it is durable.
func TestSelfSendsWaitForTheDiskAndCrossNoNetwork(t *testing.T) {
	fc := NoFaults()
	fc.DropProb, fc.DupProb, fc.GarbleProb = 0.5, 0.5, 0.5
	fc.DiskLatencyMin, fc.DiskLatencyMax = 0, 0
	fc.DiskSyncLatencyMin, fc.DiskSyncLatencyMax = 7*time.Millisecond, 7*time.Millisecond
	w := NewWorld(Config{Seed: 9, Faults: fc})
	type arrival struct {
		at   Time
		what string
	}
	var got []arrival
	m1 := w.AddMachine(1, func(m *Machine) Receiver {
		return ReceiverFunc(func(_ NodeID, p []byte) { got = append(got, arrival{w.Now(), string(p)}) })
	})
	const sends = 50
	var sentAt Time
	m1.After(time.Millisecond, "work", func() {
		sentAt = w.Now()
		m1.Send(1, []byte("before"))
		f, err := m1.Disk().OpenFile("log", diskmodel.OpenOrCreate)
		if err != nil {
			t.Fatalf("OpenFile: %v", err)
		}
		f.Sync()
		for i := range sends {
			m1.Send(1, []byte{byte('a' + i%26)})
		}
	})
	w.RunFor(time.Second)
	if len(got) != 1+sends {
		t.Fatalf("machine 1 heard %d messages from itself, want %d (none lost or duplicated)", len(got), 1+sends)
	}
	if got[0].what != "before" || got[0].at != sentAt {
		t.Errorf("first arrival = %q at %v, want %q at once (%v)", got[0].what, got[0].at, "before", sentAt)
	}
	for i, a := range got[1:] {
		if want := string([]byte{byte('a' + i%26)}); a.what != want || a.at.Sub(sentAt) < 7*time.Millisecond {
			t.Fatalf("arrival %d = %q %v after the send, want %q after the 7ms sync", i+1, a.what, a.at.Sub(sentAt), want)
		}
	}
}
