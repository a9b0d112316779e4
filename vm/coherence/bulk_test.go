package coherence

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

// TestBulkMatchesPlainBytes: bulk writes and reads at any offset and length
// (unaligned ends, several pages, zero fills), from the home and from
// another machine, against one plain byte slice; with and without cores
// registered (frames shared with cores are accessed word by word).
func TestBulkMatchesPlainBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const pages = 3
		h := newHarness(t, harnessOptions{n: 2})
		if rapid.Bool().Draw(t, "cores") {
			for _, a := range h.agents {
				a.NewCore() // never enters: no grace period waits for it
			}
		}
		base := h.alloc(2, pages*PageBytesDefault)
		model := make([]byte, pages*PageBytesDefault)
		for range rapid.IntRange(1, 12).Draw(t, "ops") {
			off := rapid.IntRange(0, len(model)-1).Draw(t, "off")
			n := rapid.IntRange(1, min(len(model)-off, 2*PageBytesDefault+17)).Draw(t, "n")
			id := netmodel.NodeID(rapid.IntRange(1, 2).Draw(t, "machine"))
			addr := base + uint64(off)
			if rapid.Bool().Draw(t, "write") {
				data := make([]byte, n)
				if !rapid.Bool().Draw(t, "zero") {
					for i := range data {
						data[i] = byte(off + i + 1)
					}
				}
				o := h.do(id, fmt.Sprintf("write %d+%d", off, n), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, data) })
				h.settle()
				if !o.done || o.reply.Trap != sys.TrapNone {
					t.Fatalf("WriteBytes(%d, %d bytes) on %v = %+v (done %v)", off, n, id, o.reply, o.done)
				}
				copy(model[off:], data)
				continue
			}
			o := h.do(id, fmt.Sprintf("read %d+%d", off, n), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, uint64(n)) })
			h.settle()
			if !o.done || o.reply.Trap != sys.TrapNone {
				t.Fatalf("ReadBytes(%d, %d) on %v = %+v (done %v)", off, n, id, o.reply, o.done)
			}
			if want := model[off : off+n]; !bytes.Equal(o.reply.Data, want) {
				t.Fatalf("ReadBytes(%d, %d) on %v = %x..., want %x...", off, n, id, o.reply.Data[:min(16, len(o.reply.Data))], want[:min(16, n)])
			}
		}
	})
}
