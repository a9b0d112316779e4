package coherence

import (
	"fmt"
	"testing"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// hitWords is how many words each benchmark iteration loads: one page.
const hitWords = PageBytesDefault / 8

// BenchmarkHitLoad compares, in one run, a loop of global loads on a page
// held here (through a TLB, the interpreter's hot path) with the same loop
// of thread-local loads (mem.Local.Word, the interpreter's local fast
// path), and with global loads that walk the Table every time. ns/op is
// per iteration of all three loops (a page of loads each); the metrics are
// per load, from each loop's fastest iteration, and "global/local" is the
// ratio of the TLB loop's time to the local one's (goal: at most 1.5).
func BenchmarkHitLoad(b *testing.B) {
	h := newHarness(b, harnessOptions{n: 2})
	x := h.alloc(2, PageBytesDefault)
	h.load(1, x)
	h.settle() // n1 holds a read copy of x's page
	tab := h.agents[1].Table(testPID)
	var tlb TLB
	if !tlb.Fill(tab, x) {
		b.Fatal("the page is not held after the fetch")
	}
	local, addr := localPage(b)
	var sink uint64
	var took [3]time.Duration
	best := [3]time.Duration{time.Hour, time.Hour, time.Hour}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for i := uint64(0); i < hitWords; i++ {
			v, _ := local.Word(addr + 8*i)
			sink += v
		}
		mid := time.Now()
		for i := uint64(0); i < hitWords; i++ {
			v, _ := tlb.Load64(tab, x+8*i)
			sink += v
		}
		walk := time.Now()
		for i := uint64(0); i < hitWords; i++ {
			v, _ := tab.Load64(x + 8*i)
			sink += v
		}
		end := time.Now()
		for i, d := range [3]time.Duration{mid.Sub(start), walk.Sub(mid), end.Sub(walk)} {
			took[i] += d
			best[i] = min(best[i], d)
		}
	}
	b.StopTimer()
	// The fastest of many short runs is robust to a loaded machine; the
	// means are reported too.
	per := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n*hitWords) }
	b.ReportMetric(per(best[0], 1), "ns/local-load")
	b.ReportMetric(per(best[1], 1), "ns/global-load")
	b.ReportMetric(per(best[2], 1), "ns/table-walk-load")
	b.ReportMetric(float64(best[1])/float64(best[0]), "global/local")
	b.ReportMetric(float64(took[1])/float64(took[0]), "global/local-mean")
	if sink == 1 {
		b.Log(sink)
	}
}

// localPage is a thread-local memory with one mapped heap page.
func localPage(b *testing.B) (*mem.Local, uint64) {
	prog := &isa.Program{Code: []isa.Instr{{Op: isa.NOP}}}
	l, trap := mem.NewLocal(prog, &mem.Account{})
	if trap != sys.TrapNone {
		b.Fatalf("NewLocal: %v", trap)
	}
	addr, trap := l.Alloc(PageBytesDefault)
	if trap != sys.TrapNone {
		b.Fatalf("Alloc: %v", trap)
	}
	return l, addr
}

// BenchmarkHitSlowPath is a held-page load through sys.Global (what an
// interpreter without the hot path pays): an interface call and the
// agent's bookkeeping, still no message.
func BenchmarkHitSlowPath(b *testing.B) {
	h := newHarness(b, harnessOptions{n: 2})
	x := h.alloc(2, PageBytesDefault)
	h.load(1, x)
	h.settle()
	g := h.agents[1].Global(testPID)
	c := sys.Caller{PID: testPID, Req: sys.ReqID{Machine: 1, Incarnation: 1, Seq: 1}}
	b.ResetTimer()
	for i := range b.N {
		c.Req.Seq++
		if _, now := g.Load(c, x+8*uint64(i%hitWords), 8); !now {
			b.Fatal("a held load parked")
		}
	}
}

// missCase is one kind of miss and the messages it costs.
type missCase struct {
	name string
	// setup runs before the measured operation; op is it; want is the
	// messages it costs in all, critical the ones on its answer's path.
	setup          func(h *harness, x uint64)
	op             func(h *harness, x uint64) *hop
	want, critical int
}

func missCases() []missCase {
	read := func(id netmodel.NodeID) func(h *harness, x uint64) *hop {
		return func(h *harness, x uint64) *hop { return h.load(id, x) }
	}
	write := func(id netmodel.NodeID) func(h *harness, x uint64) *hop {
		return func(h *harness, x uint64) *hop { return h.store(id, x, 1) }
	}
	readers := func(ids ...netmodel.NodeID) func(h *harness, x uint64) {
		return func(h *harness, x uint64) {
			for _, id := range ids {
				h.load(id, x)
			}
			h.settle()
		}
	}
	cases := []missCase{
		{name: "read miss, home holds it", setup: func(*harness, uint64) {}, op: read(2), want: 2, critical: 2},
		{name: "read miss, forwarded from the owner", setup: func(h *harness, x uint64) { h.store(3, x, 5); h.settle() }, op: read(2), want: 5, critical: 3},
		{name: "write miss, forwarded from the owner", setup: func(h *harness, x uint64) { h.store(3, x, 5); h.settle() }, op: write(2), want: 5, critical: 3},
	}
	sharers := []netmodel.NodeID{3, 4, 5}
	for k := 0; k <= len(sharers); k++ {
		cases = append(cases, missCase{name: fmt.Sprintf("write miss, %d sharers", k), setup: readers(sharers[:k]...), op: write(2),
			want: 2 + 2*k, critical: 2 + 2*min(k, 1)})
	}
	cases = append(cases, missCase{name: "upgrade, 2 other sharers", setup: readers(2, 3, 4), op: write(2), want: 6, critical: 4})
	return cases
}

// measureMiss runs one miss case on a fresh 5-machine cluster (the page
// homed on n1) and returns the messages it cost.
func measureMiss(t fataler, c missCase) (int, *hop) {
	h := newHarness(t, harnessOptions{n: 5})
	x := h.alloc(1, 64)
	c.setup(h, x)
	before := h.messagesSent()
	o := c.op(h, x)
	h.settle()
	return int(h.messagesSent() - before), o
}

func (h *harness) messagesSent() uint64 {
	var n uint64
	for _, id := range h.ids {
		if a := h.agents[id]; a != nil {
			n += a.Stats().MessagesSentTotal
		}
	}
	return n
}

// TestMessagesPerMiss: each kind of miss costs exactly the messages the
// protocol promises (docs/memory.md §4): one round trip when the home holds
// the page, 2 + 2k with k sharers to invalidate, five (three on the
// critical path) when forwarded.
func TestMessagesPerMiss(t *testing.T) {
	for _, c := range missCases() {
		got, o := measureMiss(t, c)
		if !o.done || o.reply.Trap != sys.TrapNone {
			t.Errorf("%s: operation = %+v (done %v)", c.name, o.reply, o.done)
		}
		if got != c.want {
			t.Errorf("%s: %d messages, want %d", c.name, got, c.want)
		}
	}
}

// BenchmarkMissMessages reports the messages of each kind of miss, and the
// physical minimum (a round trip to the home), as metrics.
func BenchmarkMissMessages(b *testing.B) {
	for _, c := range missCases() {
		b.Run(c.name, func(b *testing.B) {
			var got int
			for range b.N {
				got, _ = measureMiss(b, c)
			}
			b.ReportMetric(float64(got), "msgs/miss")
			b.ReportMetric(float64(c.critical), "msgs-on-path")
			b.ReportMetric(2, "msgs-minimum")
		})
	}
}
