package sim

import (
	"math"
	"testing"
	"time"
)

// BenchmarkWorldEvents measures the queue and event loop: 64 world timer
// chains, each event scheduling the next.
func BenchmarkWorldEvents(b *testing.B) {
	w := NewWorld(Config{Seed: 1, MaxEvents: math.MaxUint64})
	fns := make([]func(), 64)
	for i := range fns {
		d := time.Duration(i+1) * time.Microsecond
		fns[i] = func() { w.After(d, "tick", fns[i]) }
		w.After(d, "tick", fns[i])
	}
	b.ReportAllocs()
	start := w.Events()
	for b.Loop() {
		w.Step()
	}
	b.ReportMetric(float64(w.Events()-start)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMachineTimers is BenchmarkWorldEvents with machine timers (drift
// and disk accounting included).
func BenchmarkMachineTimers(b *testing.B) {
	fc := NoFaults()
	fc.ClockDriftPPMMax = 100
	w := NewWorld(Config{Seed: 1, Faults: fc, MaxEvents: math.MaxUint64})
	for id := NodeID(1); id <= 8; id++ {
		w.AddMachine(id, func(m *Machine) Receiver {
			for i := 0; i < 8; i++ {
				d := time.Duration(i+1) * time.Microsecond
				var tick func()
				tick = func() { m.After(d, "tick", tick) }
				m.After(d, "tick", tick)
			}
			return ReceiverFunc(func(NodeID, []byte) {})
		})
	}
	b.ReportAllocs()
	start := w.Events()
	for b.Loop() {
		w.Step()
	}
	b.ReportMetric(float64(w.Events()-start)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPingPong bounces 16 messages of 64 bytes between two machines:
// every event is a delivery (frame encode, decode and checksum included).
func BenchmarkPingPong(b *testing.B) {
	w := NewWorld(Config{Seed: 1, Faults: NoFaults(), MaxEvents: math.MaxUint64})
	echo := func(m *Machine) Receiver {
		return ReceiverFunc(func(from NodeID, p []byte) { m.Send(from, p) })
	}
	w.AddMachine(1, echo)
	w.AddMachine(2, echo)
	for i := 0; i < 16; i++ {
		w.Machine(1).Send(2, make([]byte, 64))
	}
	b.ReportAllocs()
	start := w.Events()
	for b.Loop() {
		w.Step()
	}
	b.ReportMetric(float64(w.Events()-start)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPingWorld runs the five-machine ping world of the determinism
// tests with a heavy swarm seed for one simulated second per iteration and
// reports the time compression (simulated seconds per wall second).
func BenchmarkPingWorld(b *testing.B) {
	events := uint64(0)
	for b.Loop() {
		w := pingWorld(7, Swarm(7, 5), nil)
		w.RunUntil(Time(time.Second))
		events += w.Events()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sim-s/s")
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
