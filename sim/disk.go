package sim

import (
	"time"

	"github.com/flockvm/flock/sim/simdisk"
)

// DiskFaults returns the simdisk configuration of f's disk knobs. A latency
// maximum below its minimum is raised to it (a flag may pin one bound only).
func (f FaultConfig) DiskFaults() simdisk.Faults {
	return simdisk.Faults{
		LoseUnsyncedProb:     f.DiskLoseUnsyncedProb,
		TornWrites:           f.DiskTornWrites,
		ReadErrorProb:        f.DiskReadErrorProb,
		WriteErrorProb:       f.DiskWriteErrorProb,
		CapacityBytes:        f.DiskCapacityBytes,
		LatencyMin:           f.DiskLatencyMin,
		LatencyMax:           max(f.DiskLatencyMin, f.DiskLatencyMax),
		SyncLatencyMin:       f.DiskSyncLatencyMin,
		SyncLatencyMax:       max(f.DiskSyncLatencyMin, f.DiskSyncLatencyMax),
		BandwidthBytesPerSec: f.DiskBandwidthBytesPerSec,
	}
}

// newDisk builds machine id's disk from the run's disk faults, on its own
// random stream.
func (w *World) newDisk(id NodeID) *simdisk.Disk {
	d := simdisk.New(newStream(w.cfg.Seed, "sim.disk", uint64(id)), w.faults.DiskFaults())
	d.SetClock(func() time.Duration { return time.Duration(w.now) })
	return d
}

// healDisk switches a disk's faults off, keeping its latency.
func (w *World) healDisk(m *Machine) {
	m.disk.SetFaults(w.faults.DiskFaults())
}

// SimDisk returns the machine's disk as a *simdisk.Disk, for its Stats.
func (m *Machine) SimDisk() *simdisk.Disk { return m.disk }
