package simdisk

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// BenchmarkWriteSync writes records with a Sync after each, the path a raft
// WAL takes, on a disk with the crash and latency knobs on: appending to a
// growing file, and writing into a segment preallocated with Truncate (as
// etcd's WAL does).
func BenchmarkWriteSync(b *testing.B) {
	const segmentBytes = 64 << 20
	for _, tc := range []struct {
		name        string
		recordBytes int
		prealloc    bool
	}{
		{"Append/128B", 128, false},
		{"Append/4KiB", 4096, false},
		{"Preallocated/128B", 128, true},
		{"Preallocated/4KiB", 4096, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := New(rand.New(rand.NewPCG(1, 2)), Faults{
				LoseUnsyncedProb: 0.5, TornWrites: true,
				LatencyMin: time.Microsecond, LatencyMax: 100 * time.Microsecond,
				SyncLatencyMin: time.Millisecond, SyncLatencyMax: 5 * time.Millisecond,
			})
			f, err := d.OpenFile("wal", diskmodel.CreateExclusive)
			if err != nil {
				b.Fatal(err)
			}
			if tc.prealloc {
				if err := f.Truncate(segmentBytes); err != nil {
					b.Fatal(err)
				}
			}
			record := make([]byte, tc.recordBytes)
			b.SetBytes(int64(tc.recordBytes))
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				if off+int64(len(record)) > segmentBytes {
					off = 0 // the next segment: reuse the file
				}
				if _, err := f.WriteAt(record, off); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				off += int64(len(record))
			}
		})
	}
}

// BenchmarkCrash measures a crash of a disk holding a 1 MiB file with 100
// unsynced writes.
func BenchmarkCrash(b *testing.B) {
	d := New(rand.New(rand.NewPCG(1, 2)), Faults{LoseUnsyncedProb: 0.5, TornWrites: true})
	record := make([]byte, 3000)
	b.ReportAllocs()
	for b.Loop() {
		f, err := d.OpenFile("f", diskmodel.OpenOrCreate)
		if err != nil {
			b.Fatal(err)
		}
		f.Truncate(1 << 20)
		f.Sync()
		d.SyncDir(".")
		for i := range 100 {
			f.WriteAt(record, int64(i*10000))
		}
		d.Crash()
	}
}
