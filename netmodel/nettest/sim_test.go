package nettest

import (
	"testing"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
)

// simNet is the simulated network with its faults off.
type simNet struct {
	w *sim.World
}

func (s *simNet) Send(from, to netmodel.NodeID, payload []byte) {
	s.w.Machine(from).Send(to, payload)
}
func (s *simNet) Crash(id netmodel.NodeID)              { s.w.Crash(id) }
func (s *simNet) Restart(id netmodel.NodeID)            { s.w.Restart(id) }
func (s *simNet) Incarnation(id netmodel.NodeID) uint64 { return s.w.Machine(id).Incarnation() }
func (s *simNet) Wait(cond func() bool) bool {
	return s.w.RunWhile(func() bool { return !cond() }, s.w.Now().Add(10*time.Second))
}

func TestSimulatedNetwork(t *testing.T) {
	TestTransport(t, func(t *testing.T, n int, deliver func(Delivery)) Net {
		w := sim.NewWorld(sim.Config{Seed: 1, Faults: sim.NoFaults()})
		for i := 1; i <= n; i++ {
			id := netmodel.NodeID(i)
			w.AddMachine(id, func(m *sim.Machine) netmodel.Receiver {
				inc := m.Incarnation()
				return netmodel.ReceiverFunc(func(from netmodel.NodeID, payload []byte) {
					deliver(Delivery{To: id, ToIncarnation: inc, From: from, Payload: payload})
				})
			})
		}
		return &simNet{w: w}
	})
}
