package sim

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// pinger is a small program: every few milliseconds it pings a random peer;
// it answers pings with pongs after logging them to its disk.
type pinger struct {
	m     *Machine
	peers []NodeID
	log   diskmodel.File
	size  int64
	pongs int
}

func bootPinger(peers []NodeID) func(m *Machine) Receiver {
	return func(m *Machine) Receiver {
		p := &pinger{m: m, peers: peers}
		if f, err := m.Disk().OpenFile("log", diskmodel.OpenOrCreate); err == nil {
			p.log = f
			p.size, _ = f.Size()
		}
		p.m.After(time.Duration(m.Rand().Int64N(int64(time.Millisecond))), "tick", p.tick)
		return p
	}
}

func (p *pinger) tick() {
	to := p.peers[p.m.Rand().IntN(len(p.peers))]
	if to != p.m.ID() {
		p.m.Send(to, binary.LittleEndian.AppendUint64([]byte{'p'}, uint64(p.m.Now())))
	}
	p.m.After(time.Millisecond+time.Duration(p.m.Rand().Int64N(int64(4*time.Millisecond))), "tick", p.tick)
}

func (p *pinger) Receive(from NodeID, payload []byte) {
	if len(payload) == 0 {
		return
	}
	switch payload[0] {
	case 'p':
		if p.log != nil {
			if n, err := p.log.WriteAt(payload, p.size); err == nil {
				p.size += int64(n)
			}
			if !p.m.Buggify("pinger.skip-sync") {
				p.log.Sync()
			}
		}
		p.m.Send(from, append([]byte{'o'}, payload[1:]...))
	case 'o':
		p.pongs++
	}
}

func pingWorld(seed uint64, fc FaultConfig, trace io.Writer) *World {
	w := NewWorld(Config{Seed: seed, Faults: fc, Trace: trace})
	peers := []NodeID{1, 2, 3, 4, 5}
	for _, id := range peers {
		w.AddMachine(id, bootPinger(peers))
	}
	return w
}

// runPing runs a ping world through both phases and returns it.
func runPing(seed uint64, trace io.Writer) *World {
	w := pingWorld(seed, Swarm(seed, 5), trace)
	w.RunUntil(Time(2 * time.Second))
	w.Heal()
	w.RunFor(500 * time.Millisecond)
	return w
}

func TestSameSeedSameTrace(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		a, b := runPing(seed, nil), runPing(seed, nil)
		if a.TraceHash() != b.TraceHash() || a.Events() != b.Events() {
			t.Errorf("seed %d: runs differ: hash %#x/%#x, events %d/%d (faults %v)",
				seed, a.TraceHash(), b.TraceHash(), a.Events(), b.Events(), Swarm(seed, 5))
		}
		if a.Events() < 1000 {
			t.Errorf("seed %d: only %d events; the ping world should be busy", seed, a.Events())
		}
	}
}

func TestTracingDoesNotChangeTheRun(t *testing.T) {
	var buf bytes.Buffer
	traced, plain := runPing(4, &buf), runPing(4, nil)
	if traced.TraceHash() != plain.TraceHash() || traced.Events() != plain.Events() {
		t.Errorf("traced run hash %#x events %d, untraced %#x %d; want equal",
			traced.TraceHash(), traced.Events(), plain.TraceHash(), plain.Events())
	}
	lines := strings.Count(buf.String(), "\n")
	if uint64(lines) < traced.Events() {
		t.Errorf("trace has %d lines for %d events, want at least one per event", lines, traced.Events())
	}
	if !strings.Contains(buf.String(), " deliver from n") {
		t.Errorf("trace has no delivery line; first lines:\n%.400s", buf.String())
	}
}

func TestDifferentSeedsDifferentTraces(t *testing.T) {
	seen := map[uint64]uint64{}
	for seed := uint64(1); seed <= 20; seed++ {
		h := runPing(seed, nil).TraceHash()
		if prev, dup := seen[h]; dup {
			t.Errorf("seeds %d and %d both hash to %#x", prev, seed, h)
		}
		seen[h] = seed
	}
}

// TestNemesisRespectsMaxDown runs heavy faults and checks after every event
// that no more than MaxDown machines are unavailable, and that Heal brings
// the world back whole.
func TestNemesisRespectsMaxDown(t *testing.T) {
	fc := NoFaults()
	fc.CrashEvery, fc.RestartDelayMax = 20*time.Millisecond, 100*time.Millisecond
	fc.PauseEvery, fc.PauseMax = 20*time.Millisecond, 100*time.Millisecond
	fc.PartitionEvery, fc.PartitionMax = 20*time.Millisecond, 100*time.Millisecond
	fc.PartitionSymmetric, fc.PartitionOneWay, fc.PartitionIsolate = true, true, true
	fc.ClogEvery, fc.ClogMax, fc.ClogFactor = 20*time.Millisecond, 50*time.Millisecond, 10
	fc.DropProb, fc.DupProb, fc.GarbleProb = 0.1, 0.1, 0.1
	for _, maxDown := range []int{1, 2} {
		fc.MaxDown = maxDown
		w := pingWorld(11, fc, nil)
		for w.Now() < Time(3*time.Second) && w.Step() {
			if u := w.unavailable(); u > maxDown {
				t.Fatalf("MaxDown=%d: %d machines unavailable at %v", maxDown, u, w.Now())
			}
		}
		counts := w.FaultCounts()
		for _, kind := range []string{"crash", "restart", "pause", "clog", "net_drop", "net_dup", "net_garble"} {
			if counts[kind] == 0 {
				t.Errorf("MaxDown=%d: no %s injected in 3s of heavy faults: %v", maxDown, kind, counts)
			}
		}
		if counts["partition"]+counts["partition_oneway"]+counts["isolate"] == 0 {
			t.Errorf("MaxDown=%d: no partition injected in 3s of heavy faults: %v", maxDown, counts)
		}
		w.Heal()
		before := w.NetStats()
		w.RunFor(time.Second)
		after := w.NetStats()
		for _, m := range w.Machines() {
			if !m.Up() || m.Paused() {
				t.Errorf("after Heal %v up=%v paused=%v, want up and running", m.ID(), m.Up(), m.Paused())
			}
		}
		lost := func(s NetStats) int64 {
			return s.Dropped.Msgs + s.Duplicated.Msgs + s.Garbled.Msgs + s.Partitioned.Msgs + s.Overflow.Msgs
		}
		if lost(after) != lost(before) {
			t.Errorf("after Heal the network still loses messages: before %+v after %+v", before, after)
		}
		if after.Delivered.Msgs <= before.Delivered.Msgs {
			t.Errorf("after Heal nothing was delivered")
		}
	}
}

func TestCrashedTimersNeverFire(t *testing.T) {
	w := NewWorld(Config{Seed: 5, Faults: NoFaults()})
	fired := map[uint64]int{}
	m := w.AddMachine(1, func(m *Machine) Receiver {
		inc := m.Incarnation()
		for i := 1; i <= 10; i++ {
			m.After(time.Duration(i)*time.Millisecond, "t", func() { fired[inc]++ })
		}
		return ReceiverFunc(func(NodeID, []byte) {})
	})
	w.RunFor(5500 * time.Microsecond)
	w.Crash(1)
	w.RunFor(time.Millisecond)
	w.Restart(1)
	w.RunFor(time.Second)
	if fired[1] != 5 || fired[2] != 10 || m.Incarnation() != 2 {
		t.Errorf("timers fired per incarnation = %v (incarnation %d), want 1:5 2:10", fired, m.Incarnation())
	}
}

func TestPauseHoldsTimersAndMessages(t *testing.T) {
	fc := NoFaults()
	fc.LatencyJitter = 0
	w := NewWorld(Config{Seed: 5, Faults: fc})
	var got []string
	w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	m2 := w.AddMachine(2, func(m *Machine) Receiver {
		m.After(2*time.Millisecond, "t", func() { got = append(got, fmt.Sprintf("timer@%v", w.Now())) })
		return ReceiverFunc(func(_ NodeID, p []byte) { got = append(got, fmt.Sprintf("%s@%v", p, w.Now())) })
	})
	w.Pause(2, 10*time.Millisecond)
	w.Machine(1).Send(2, []byte("msg"))
	w.RunFor(9 * time.Millisecond)
	if len(got) != 0 || !m2.Paused() {
		t.Fatalf("paused machine processed %v (paused=%v), want nothing", got, m2.Paused())
	}
	w.RunFor(2 * time.Millisecond)
	want := []string{"msg@10.000ms", "timer@10.000ms"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after resume got %v, want %v", got, want)
	}
}

func TestClockDrift(t *testing.T) {
	fc := NoFaults()
	fc.ClockDriftPPMMax = 1000
	w := NewWorld(Config{Seed: 9, Faults: fc})
	for id := NodeID(1); id <= 8; id++ {
		w.AddMachine(id, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
	}
	w.RunUntil(Time(10 * time.Second))
	drifted := 0
	for _, m := range w.Machines() {
		ppm := m.DriftPPM()
		if ppm < -1000 || ppm > 1000 {
			t.Errorf("%v drift %dppm outside ±1000", m.ID(), ppm)
		}
		now := int64(w.Now())
		if want := Time(now + now*ppm/1e6); m.Now() != want {
			t.Errorf("%v (%dppm) Now() = %v at %v, want %v", m.ID(), ppm, m.Now(), w.Now(), want)
		}
		if ppm != 0 {
			drifted++
		}
		var firedLocal Time
		start := m.Now()
		m.After(time.Second, "t", func() { firedLocal = m.Now() })
		w.RunFor(2 * time.Second)
		if d := firedLocal.Sub(start); d < time.Second-time.Microsecond || d > time.Second+time.Microsecond {
			t.Errorf("%v (%dppm): After(1s) fired after %v of local time, want 1s", m.ID(), ppm, d)
		}
	}
	if drifted == 0 {
		t.Errorf("no machine drifted with ClockDriftPPMMax=1000")
	}
}

func TestBuggify(t *testing.T) {
	count := func(fc FaultConfig, heal bool) int {
		w := NewWorld(Config{Seed: 2, Faults: fc})
		m := w.AddMachine(1, func(m *Machine) Receiver { return ReceiverFunc(func(NodeID, []byte) {}) })
		if heal {
			w.Heal()
		}
		n := 0
		for site := 0; site < 40; site++ {
			for i := 0; i < 1000; i++ {
				if m.Buggify(fmt.Sprintf("site%d", site)) {
					n++
				}
			}
		}
		return n
	}
	on := NoFaults()
	on.Buggify = true
	if n := count(NoFaults(), false); n != 0 {
		t.Errorf("Buggify fired %d times with buggify off, want 0", n)
	}
	if n := count(on, true); n != 0 {
		t.Errorf("Buggify fired %d times after Heal, want 0", n)
	}
	// 40 sites × 1000 calls: about 10 active sites × 50 firings.
	if n := count(on, false); n < 100 || n > 1500 {
		t.Errorf("Buggify fired %d times over 40 sites × 1000 calls, want about 500", n)
	}
}

func TestBitRotConfinedToMaxRotMachines(t *testing.T) {
	for _, maxRot := range []int{0, 1, 2} {
		fc := NoFaults()
		fc.BitRotEvery, fc.BitRotFlipsMax, fc.MaxRotMachines = 10*time.Millisecond, 4, maxRot
		w := pingWorld(13, fc, nil)
		w.RunUntil(Time(2 * time.Second))
		rotted, bits := 0, int64(0)
		for _, m := range w.Machines() {
			if b := m.SimDisk().Stats().RottedBits; b > 0 {
				rotted++
				bits += b
			}
		}
		counts := w.FaultCounts()
		if rotted > maxRot || (maxRot > 0 && rotted == 0) {
			t.Errorf("MaxRotMachines=%d: %d machines rotted", maxRot, rotted)
		}
		if counts["bitrot_flips"] != bits || (maxRot > 0) != (counts["bitrot"] > 0) {
			t.Errorf("MaxRotMachines=%d: FaultCounts %v, disks rotted %d bits", maxRot, counts, bits)
		}
	}
}

func TestCrashReachesTheDisk(t *testing.T) {
	fc := NoFaults()
	fc.DiskLoseUnsyncedProb = 1
	w := NewWorld(Config{Seed: 1, Faults: fc})
	var synced, unsynced diskmodel.File
	m := w.AddMachine(1, func(m *Machine) Receiver {
		if m.Incarnation() == 1 {
			var err error
			if synced, err = m.Disk().OpenFile("synced", diskmodel.CreateExclusive); err != nil {
				t.Fatalf("create: %v", err)
			}
			if unsynced, err = m.Disk().OpenFile("unsynced", diskmodel.CreateExclusive); err != nil {
				t.Fatalf("create: %v", err)
			}
			m.Disk().SyncDir(".")
			synced.WriteAt([]byte("kept"), 0)
			synced.Sync()
			unsynced.WriteAt([]byte("lost"), 0)
		}
		return ReceiverFunc(func(NodeID, []byte) {})
	})
	w.RunFor(time.Millisecond)
	w.Crash(1)
	w.Restart(1)
	for name, want := range map[string]string{"synced": "kept", "unsynced": ""} {
		got, err := diskmodel.ReadFile(m.Disk(), name)
		if err != nil || string(got) != want {
			t.Errorf("after crash ReadFile(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if c := m.SimDisk().Stats().Crashes; c != 1 {
		t.Errorf("disk saw %d crashes, want 1", c)
	}
}
