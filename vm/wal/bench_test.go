package wal

import (
	"fmt"
	"testing"

	"github.com/flockvm/flock/sim/simdisk"
)

// BenchmarkAppendSync appends batches of 100-byte records and syncs each
// batch, on a fault-free simulated disk: the WAL's own cost (framing,
// checksums, rotation) without a device's.
func BenchmarkAppendSync(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			disk := newDisk(1, simdisk.Faults{})
			w, _, err := Open(disk, testDir, Options{SegmentSizeBytes: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			recs := make([]Record, batch)
			for i := range recs {
				recs[i] = Record{Type: 1, Data: make([]byte, 100)}
			}
			var pos []Position
			b.ReportAllocs()
			b.SetBytes(int64(batch * 100))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if pos, err = w.Append(pos[:0], recs); err != nil {
					b.Fatal(err)
				}
				if err := w.Sync(); err != nil {
					b.Fatal(err)
				}
				if w.Stats().Segments > 4 {
					if err := w.RemoveBefore(w.End()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
