package dfs

import (
	"fmt"
	"os"
	"testing"

	"github.com/flockvm/flock/vm/sys"
)

// BenchmarkWriteRead writes and reads b.N times size bytes through a
// Service on this machine's disk (osdisk: every chunk and metadata entry
// really synced), with R = 1, 2, 3 on 4 machines whose network is the
// in-test one (no latency): the figure is the cost of the protocol and of
// the fsyncs, all machines sharing one disk.
func BenchmarkWriteRead(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, r := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("write/%dKiB/R=%d", size>>10, r), func(b *testing.B) { benchIO(b, size, r, false) })
			b.Run(fmt.Sprintf("read/%dKiB/R=%d", size>>10, r), func(b *testing.B) { benchIO(b, size, r, true) })
		}
	}
}

func benchIO(b *testing.B, size, r int, read bool) {
	dir := b.TempDir()
	h := newHarness(b, harnessOptions{seed: 1, machines: 4, chunkSizeBytes: 64 << 10, quotaBytes: 1 << 40, rootR: uint8(r),
		dirs: func(m uint64) string {
			d := fmt.Sprintf("%s/m%d", dir, m)
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
			return d
		}})
	h.run(40)
	p := h.proc(1, 4, sys.UserRoot)
	fd := h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Open(c, "/bench", sys.OpenOrCreate) }).Val
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	write := func(i int) {
		off := uint64(i%64) * uint64(size)
		if got := h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Write(c, fd, off, data) }); got.Val != uint64(size) {
			b.Fatalf("Write = %s", describeReply(got))
		}
	}
	if read {
		for i := range min(b.N, 64) {
			write(i)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !read {
			write(i)
			continue
		}
		off := uint64(i%64) * uint64(size)
		if got := h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Read(c, fd, off, uint64(size)) }); got.Val != uint64(size) {
			b.Fatalf("Read = %s", describeReply(got))
		}
	}
}
