package sim

import (
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// machineDisk is what the world needs from a machine's simulated disk.
type machineDisk interface {
	diskmodel.FS
	Crash()
	Rot(n int) int
	TakeLatency() time.Duration
}

// newDisk builds machine id's disk from the run's disk faults, on its own
// random stream.
func (w *World) newDisk(id NodeID) machineDisk {
	return newPlaceholderDisk(newStream(w.cfg.Seed, "sim.disk", uint64(id)), w.faults)
}

// healDisk switches a disk's faults off, keeping its latency.
func (w *World) healDisk(m *Machine) {
	if d, ok := m.disk.(*placeholderDisk); ok {
		d.faults = w.faults
	}
}
