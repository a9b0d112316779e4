package sim_test

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
)

// Two machines: n1 sends "ping" to n2 after a millisecond, n2 answers
// "pong". The trace shows every event with its step and virtual time.
func Example() {
	fc := sim.NoFaults()
	fc.LatencyJitter = 0
	w := sim.NewWorld(sim.Config{Seed: 42, Faults: fc, Trace: os.Stdout})
	w.AddMachine(1, func(m *sim.Machine) netmodel.Receiver {
		m.After(time.Millisecond, "ping timer", func() { m.Send(2, []byte("ping")) })
		return netmodel.ReceiverFunc(func(from sim.NodeID, p []byte) {
			m.Record("got %s from %v", p, from)
		})
	})
	w.AddMachine(2, func(m *sim.Machine) netmodel.Receiver {
		return netmodel.ReceiverFunc(func(from sim.NodeID, p []byte) { m.Send(from, []byte("pong")) })
	})
	w.RunFor(10 * time.Millisecond)
	fmt.Println("events:", w.Events(), "now:", w.Now())
	// Output:
	// step 0 t=0.000ms n1 add machine drift=0ppm
	// step 0 t=0.000ms n2 add machine drift=0ppm
	// step 1 t=1.000ms n1 ping timer
	// step 2 t=1.110436ms n2 deliver from n1 (4 bytes)
	// step 3 t=1.266640ms n1 deliver from n2 (4 bytes)
	// step 3 t=1.266640ms n1 got pong from n2
	// events: 3 now: 10.000ms
}

// A seed maps to a fault configuration: most seeds are mild, some harsh.
func ExampleSwarm() {
	for _, seed := range []uint64{1, 7} {
		fmt.Printf("seed %d: %v\n", seed, sim.Swarm(seed, 3))
	}
	// Output:
	// seed 1: lat=4.94ms+0s crash-io=1.08s/955ms disk=19.8µs-67.5µs/113µs-145.8µs[lose=25%] buggify maxdown=1 maxrot=1
	// seed 7: lat=1.49ms+19.2µs dup=8.32% garble=0.0914% part=586ms/350ms[sym,oneway] clog=365ms/74.4ms,x57 crash=752ms/401ms crash-io=911ms/401ms disk=40.9µs-338.9µs/50.5µs-68.6µs[lose=50.1%,torn,werr=0.0722%,cap=68.6KiB] rot=3.85s/1 buggify maxdown=1 maxrot=1
}

// Command-line flags pin single knobs on top of each seed's swarm draw.
func ExampleFaultConfig_RegisterFlags() {
	var pins sim.FaultConfig
	fs := flag.NewFlagSet("flock-sim", flag.ContinueOnError)
	apply := pins.RegisterFlags(fs)
	if err := fs.Parse([]string{"-fault-net-drop=0.5", "-fault-crash-every=0"}); err != nil {
		panic(err)
	}
	fc := sim.Swarm(7, 3)
	apply(&fc)
	if err := fc.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(fc)
	// Output:
	// lat=1.49ms+19.2µs drop=50% dup=8.32% garble=0.0914% part=586ms/350ms[sym,oneway] clog=365ms/74.4ms,x57 crash-io=911ms/401ms disk=40.9µs-338.9µs/50.5µs-68.6µs[lose=50.1%,torn,werr=0.0722%,cap=68.6KiB] rot=3.85s/1 buggify maxdown=1 maxrot=1
}

// ExampleDrawLimits draws the bounds of a system for a few seeds: the
// production default in about a quarter of the draws (seed 3 keeps 1024
// sessions, and String leaves defaults out), small values in many; a pin
// fixes one limit and leaves the other draws as they were.
func ExampleDrawLimits() {
	for seed := range uint64(4) {
		lim := sim.DrawLimits(seed, "example.limits", nil)
		lim.Int64("segment-bytes", 256, 64<<10, 4<<20)
		lim.Int("sessions", 1, 16, 1024)
		fmt.Printf("seed %d: %s\n", seed, lim)
	}
	pinned := sim.DrawLimits(0, "example.limits", map[string]int64{"sessions": 2})
	pinned.Int64("segment-bytes", 256, 64<<10, 4<<20)
	pinned.Int("sessions", 1, 16, 1024)
	fmt.Println("pinned:", pinned)
	// Output:
	// seed 0: limits: segment-bytes=26825 sessions=10
	// seed 1: limits: segment-bytes=14136 sessions=2
	// seed 2: limits: segment-bytes=54459 sessions=3
	// seed 3: limits: segment-bytes=9296
	// pinned: limits: segment-bytes=26825 sessions=2!
}
