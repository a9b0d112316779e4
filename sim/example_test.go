package sim_test

import (
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

// A seed maps to a fault configuration; flags pin single knobs on top.
func ExampleSwarm() {
	for _, seed := range []uint64{1, 2} {
		fmt.Printf("seed %d: %v\n", seed, sim.Swarm(seed, 3))
	}
}
