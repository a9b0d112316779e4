package simdisk

import (
	"fmt"
	"math"
	"time"
)

// Faults is how badly a simulated disk behaves. The zero value is a perfect
// disk: instant, unlimited, and every unsynced write survives a crash intact.
type Faults struct {
	// LoseUnsyncedProb is, at a crash, the chance that each unsynced write,
	// truncate or directory operation is dropped entirely.
	LoseUnsyncedProb float64
	// TornWrites lets, at a crash, an unsynced write that survives keep only
	// some of its sectors: half of the surviving writes that span more than
	// one sector are torn, and a torn write keeps each sector with chance 1/2.
	// Without it every write is atomic: kept whole or lost whole.
	TornWrites bool
	// ReadErrorProb is the chance that a ReadAt fails with diskmodel.ErrIO.
	// The data stays intact; a retry may succeed.
	ReadErrorProb float64
	// WriteErrorProb is the chance that a WriteAt, Truncate, Sync or SyncDir
	// fails with diskmodel.ErrIO. Nothing is changed; a retry may succeed.
	WriteErrorProb float64
	// CapacityBytes bounds the sum of the sizes of all files (0: unlimited).
	// A WriteAt or Truncate that would grow past it fails with
	// diskmodel.ErrNoSpace and changes nothing.
	CapacityBytes int64
	// LatencyMin and LatencyMax bound the disk time of every operation but
	// Sync, SyncDir, Size and Close (uniform in [LatencyMin, LatencyMax]).
	LatencyMin, LatencyMax time.Duration
	// SyncLatencyMin and SyncLatencyMax bound the disk time of Sync and
	// SyncDir, which wait for the device.
	SyncLatencyMin, SyncLatencyMax time.Duration
	// BandwidthBytesPerSec, when positive, adds len/bandwidth to the time of
	// every ReadAt and WriteAt (0: infinite bandwidth).
	BandwidthBytesPerSec int64
}

// validate panics on a configuration no disk can have: the faults come from
// the simulator's own code, so a bad value is a bug, not an operating error.
func (f Faults) validate() {
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"LoseUnsyncedProb", f.LoseUnsyncedProb},
		{"ReadErrorProb", f.ReadErrorProb},
		{"WriteErrorProb", f.WriteErrorProb},
	} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			panic(fmt.Sprintf("simdisk: Faults.%s = %v, want a probability in [0, 1]", p.name, p.v))
		}
	}
	if f.CapacityBytes < 0 || f.BandwidthBytesPerSec < 0 {
		panic(fmt.Sprintf("simdisk: Faults CapacityBytes = %d, BandwidthBytesPerSec = %d, want >= 0",
			f.CapacityBytes, f.BandwidthBytesPerSec))
	}
	if f.LatencyMin < 0 || f.LatencyMax < f.LatencyMin {
		panic(fmt.Sprintf("simdisk: Faults latency [%v, %v] is not a range", f.LatencyMin, f.LatencyMax))
	}
	if f.SyncLatencyMin < 0 || f.SyncLatencyMax < f.SyncLatencyMin {
		panic(fmt.Sprintf("simdisk: Faults sync latency [%v, %v] is not a range", f.SyncLatencyMin, f.SyncLatencyMax))
	}
}

// Stats counts what a disk did and what faults it injected since New.
type Stats struct {
	Ops          int64 // operations on the disk and its files
	BytesRead    int64 // bytes returned by ReadAt
	BytesWritten int64 // bytes accepted by WriteAt
	Syncs        int64 // successful File.Sync calls
	DirSyncs     int64 // successful SyncDir calls
	Writebacks   int64 // times a file's or the namespace's backlog of unsynced work was written back unasked

	ReadErrors    int64 // ReadAt calls failed with ErrIO
	WriteErrors   int64 // WriteAt/Truncate/Sync/SyncDir calls failed with ErrIO
	NoSpaceErrors int64 // WriteAt/Truncate calls failed with ErrNoSpace

	Crashes        int64 // calls to Crash
	KeptWrites     int64 // unsynced writes and truncates that survived a crash whole
	LostWrites     int64 // unsynced writes and truncates that a crash dropped entirely
	TornWrites     int64 // unsynced writes that a crash kept only in part
	TornSectors    int64 // sectors of torn writes that a crash dropped
	TornSizes      int64 // torn writes that grew their file and left it ending at their last surviving sector
	KeptDirOps     int64 // unsynced directory operations that survived a crash
	LostDirOps     int64 // unsynced directory operations that a crash undid
	SyncsCut       int64 // Sync and SyncDir calls not yet complete (in virtual time) at a crash, so undone
	RottedBits     int64 // bits flipped by Rot
	LatencyCharged time.Duration
}
