package coherence

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

var testBugs Bugs

// propPage is the page size of the property tests: small, so a few words
// span several pages and a cache of four pages must evict.
const propPage = 512

// propWorld is a harness with threads whose every operation is recorded in
// a word history.
type propWorld struct {
	t       *rapid.T
	h       *harness
	hist    checker.WordHistory
	clock   int64
	words   []uint64 // the words operated on
	pairs   []uint64 // first words of pairs that bulk operations cover
	threads []*propThread
	clients int
	nextVal uint64
	crashed bool             // some machine crashed: pages may be lost
	lost    bool             // some operation answered TrapLost
	trace   *strings.Builder // every payload and answer, with COHERENCE_TRACE set
	// model is the plain memory of the sequential cross-check (nil in the
	// concurrent one).
	model map[uint64]uint64
}

type propThread struct {
	machine netmodel.NodeID
	client  int
	pending []checker.OpID // the history ops of the operation in flight
	busy    bool
}

func (w *propWorld) now() int64 { w.clock++; return w.clock }

func (w *propWorld) newClient() int { w.clients++; return w.clients }

// newPropWorld draws a cluster, allocates one two-page block per home and
// picks the words.
func newPropWorld(t *rapid.T, faults bool) *propWorld {
	n := rapid.IntRange(2, 4).Draw(t, "machines")
	cfg := Config{
		PageBytes:      propPage,
		CacheBytesMax:  uint64(rapid.SampledFrom([]int{4, 8, 64}).Draw(t, "cachePages")) * propPage,
		InFlightMax:    rapid.SampledFrom([]int{1, 4, 64}).Draw(t, "inFlight"),
		Atomics:        rapid.SampledFrom([]Policy{AtomicsAdaptive, AtomicsMigrate, AtomicsDelegate}).Draw(t, "policy"),
		HotTransfers:   rapid.SampledFrom([]int{1, 3, 100}).Draw(t, "hot"),
		HotWindowTicks: 20,
		Bugs:           testBugs,
	}
	h := newHarness(t, harnessOptions{n: n, homes: rapid.IntRange(1, n).Draw(t, "homes"), cfg: cfg})
	w := &propWorld{t: t, h: h}
	if os.Getenv("COHERENCE_TRACE") != "" {
		w.trace = &strings.Builder{}
		h.out, h.verbose = w.trace, true
	}
	for _, home := range h.homes {
		base := h.alloc(home, 2*propPage)
		w.words = append(w.words, base, base+8, base+propPage-8, base+propPage, base+propPage+96)
		w.pairs = append(w.pairs, base, base+propPage-8)
	}
	if !faults {
		w.model = map[uint64]uint64{}
	}
	for _, id := range h.ids {
		for range 2 {
			w.threads = append(w.threads, &propThread{machine: id, client: w.newClient()})
		}
	}
	return w
}

// issue starts a drawn operation on a drawn idle thread.
func (w *propWorld) issue() {
	t := w.t
	var idle []*propThread
	for _, th := range w.threads {
		if !th.busy && w.h.agents[th.machine] != nil {
			idle = append(idle, th)
		}
	}
	if len(idle) == 0 {
		return
	}
	th := rapid.SampledFrom(idle).Draw(t, "thread")
	kind := rapid.SampledFrom([]string{"load", "load", "store", "store", "cas", "faa", "read", "write"}).Draw(t, "kind")
	if kind == "read" || kind == "write" {
		w.bulk(th, kind, rapid.SampledFrom(w.pairs).Draw(t, "pair"))
		return
	}
	addr := rapid.SampledFrom(w.words).Draw(t, "word")
	w.nextVal++
	v := w.nextVal<<8 | uint64(th.machine)
	var in checker.WordInput
	var f func(g sys.Global, c sys.Caller) (sys.Reply, bool)
	switch kind {
	case "load":
		in = checker.WordInput{Kind: checker.WordRead, Addr: addr}
		f = func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, 8) }
	case "store":
		in = checker.WordInput{Kind: checker.WordWrite, Addr: addr, Value: v}
		f = func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, 8, v) }
	case "cas":
		expect := uint64(0)
		if known, ok := w.model[addr]; ok && rapid.Bool().Draw(t, "casHit") {
			expect = known
		}
		in = checker.WordInput{Kind: checker.WordCAS, Addr: addr, Expect: expect, Value: v}
		f = func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.CAS(c, addr, expect, v) }
	default:
		in = checker.WordInput{Kind: checker.WordFetchAdd, Addr: addr, Delta: 1}
		f = func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.FetchAdd(c, addr, 1) }
	}
	th.busy = true
	th.pending = []checker.OpID{w.hist.Call(th.client, in, w.now())}
	w.h.doThen(th.machine, fmt.Sprintf("%v %s", in.Kind, w.h.name(addr)), f, func(r sys.Reply) { w.answered(th, []checker.WordInput{in}, r) })
}

// bulk reads or writes the pair of words at addr in one operation; each
// word's part is recorded as an operation of its own (a bulk operation is
// atomic per word, not as a whole).
func (w *propWorld) bulk(th *propThread, kind string, addr uint64) {
	ins := make([]checker.WordInput, 2)
	data := make([]byte, 16)
	for i := range ins {
		ins[i] = checker.WordInput{Kind: checker.WordRead, Addr: addr + uint64(8*i)}
		if kind == "write" {
			w.nextVal++
			v := w.nextVal<<8 | uint64(th.machine)
			ins[i] = checker.WordInput{Kind: checker.WordWrite, Addr: addr + uint64(8*i), Value: v}
			binary.LittleEndian.PutUint64(data[8*i:], v)
		}
	}
	th.busy = true
	th.pending = nil
	at := w.now()
	for _, in := range ins {
		th.pending = append(th.pending, w.hist.Call(w.newClient(), in, at))
	}
	f := func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, 16) }
	if kind == "write" {
		f = func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, data) }
	}
	w.h.doThen(th.machine, fmt.Sprintf("%s %s", kind, w.h.name(addr)), f, func(r sys.Reply) { w.answered(th, ins, r) })
}

// answered records the outcome of th's operation.
func (w *propWorld) answered(th *propThread, ins []checker.WordInput, r sys.Reply) {
	at := w.now()
	th.busy = false
	ids := th.pending
	th.pending = nil
	if r.Trap == sys.TrapLost {
		w.lost = true
		for i, id := range ids {
			if ins[i].Kind == checker.WordRead {
				w.hist.Return(id, checker.WordOutput{Err: "lost"}, at)
			} else {
				w.hist.Unknown(id)
			}
		}
		return
	}
	if r.Trap != sys.TrapNone {
		w.t.Fatalf("%v on %v: unexpected trap %v", ins[0].Kind, th.machine, r.Trap)
	}
	for i, id := range ids {
		in := ins[i]
		var out checker.WordOutput
		switch in.Kind {
		case checker.WordRead:
			out.Value = r.Val
			if r.Data != nil {
				out.Value = binary.LittleEndian.Uint64(r.Data[8*i:])
			}
		case checker.WordCAS:
			out.Swapped = r.Val == 1
			out.Value, out.FoundUnknown = in.Expect, !out.Swapped
		case checker.WordFetchAdd:
			out.Value = r.Val
		}
		w.checkModel(in, out)
		w.hist.Return(id, out, at)
	}
}

// checkModel compares a sequential run's answer with the plain memory.
func (w *propWorld) checkModel(in checker.WordInput, out checker.WordOutput) {
	if w.model == nil {
		return
	}
	cur := w.model[in.Addr]
	switch in.Kind {
	case checker.WordRead:
		if out.Value != cur {
			w.t.Fatalf("read %s = %d, plain memory holds %d", w.h.name(in.Addr), out.Value, cur)
		}
	case checker.WordWrite:
		w.model[in.Addr] = in.Value
	case checker.WordCAS:
		if out.Swapped != (cur == in.Expect) {
			w.t.Fatalf("cas %s %d->%d swapped=%v, plain memory holds %d", w.h.name(in.Addr), in.Expect, in.Value, out.Swapped, cur)
		}
		if out.Swapped {
			w.model[in.Addr] = in.Value
		}
	case checker.WordFetchAdd:
		if out.Value != cur {
			w.t.Fatalf("fetch-add %s = %d, plain memory holds %d", w.h.name(in.Addr), out.Value, cur)
		}
		w.model[in.Addr] = cur + in.Delta
	}
}

// deliverRandom delivers, drops or duplicates one drawn payload.
func (w *propWorld) deliverRandom(faults bool) {
	h := w.h
	if len(h.queue) == 0 {
		h.tick()
		return
	}
	i := rapid.IntRange(0, len(h.queue)-1).Draw(w.t, "payload")
	if faults {
		switch rapid.IntRange(0, 9).Draw(w.t, "fate") {
		case 0:
			h.queue = slices.Delete(h.queue, i, i+1)
			return
		case 1:
			h.queue = append(h.queue, h.queue[i])
		}
	}
	h.deliverAt(i)
}

// crashOne crashes a drawn machine, has membership report it (before or
// after its restart), and restarts it.
func (w *propWorld) crashOne() {
	h := w.h
	id := rapid.SampledFrom(h.ids).Draw(w.t, "crash")
	if h.agents[id] == nil {
		return
	}
	w.crashed = true
	for _, th := range w.threads {
		if th.machine == id && th.busy {
			for _, op := range th.pending {
				w.hist.Unknown(op)
			}
			th.busy, th.pending = false, nil
			th.client = w.newClient()
		}
	}
	inc := h.incs[id]
	h.crash(id)
	reportFirst := rapid.Bool().Draw(w.t, "downBeforeRestart")
	if reportFirst {
		h.down(id, inc)
	}
	h.restart(id)
	if !reportFirst && rapid.Bool().Draw(w.t, "downAfterRestart") {
		h.down(id, inc)
	}
}

// finish heals the world, requires every operation to be answered, and
// checks the history.
func (w *propWorld) finish() {
	w.h.settle()
	for _, th := range w.threads {
		if th.busy {
			w.t.Fatalf("thread on %v: operation not answered after the network settled\n%s", th.machine, w.describe())
		}
	}
	if w.lost && !w.crashed {
		w.t.Fatalf("an operation answered TrapLost, but no machine crashed")
	}
	seen := map[string]bool{}
	for _, ap := range w.h.applies {
		key := fmt.Sprintf("%v@%#x", ap.Req, ap.Addr)
		if seen[key] {
			w.t.Fatalf("request %v applied twice at %#x (%s)", ap.Req, ap.Addr, ap.Kind)
		}
		seen[key] = true
	}
	res := checker.CheckWords(&w.hist, checker.Options{MaxSteps: 5_000_000})
	if !res.OK {
		w.t.Fatalf("%s\n%s", res.Violation, w.describe())
	}
}

func (w *propWorld) describe() string {
	var s string
	if w.trace != nil {
		s = w.trace.String()
	}
	for _, id := range w.h.ids {
		if a := w.h.agents[id]; a != nil {
			s += fmt.Sprintf("%v: %v\n", id, a.describePages(testPID))
		}
	}
	return s
}

// TestReferenceCrossCheck: operations from threads on random machines, one
// at a time, each run to completion over a network that delivers in any
// order (no loss), must answer exactly what one plain memory would.
func TestReferenceCrossCheck(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newPropWorld(t, false)
		steps := rapid.IntRange(10, 80).Draw(t, "ops")
		for range steps {
			w.issue()
			for range 200 {
				if w.h.deliverable() < 0 && !w.h.anyOutstanding() {
					break
				}
				w.deliverRandom(false)
			}
			w.h.settle()
		}
		w.finish()
	})
}

// TestLinearizableUnderFaults: concurrent operations from threads on every
// machine, payloads delivered in any order, lost and duplicated, caches
// evicting, machines crashing and restarting: every word's history must be
// linearizable, nothing applied twice, nothing lost without a crash, and
// everything answered once the network heals.
func TestLinearizableUnderFaults(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newPropWorld(t, true)
		steps := rapid.IntRange(40, 300).Draw(t, "steps")
		for range steps {
			switch rapid.SampledFrom([]string{"op", "op", "deliver", "deliver", "deliver", "deliver", "tick", "evict", "crash"}).Draw(t, "action") {
			case "op":
				w.issue()
			case "deliver":
				w.deliverRandom(true)
			case "tick":
				w.h.tick()
			case "evict":
				w.evictOne()
			case "crash":
				if rapid.IntRange(0, 63).Draw(t, "crashOdds") == 0 {
					w.crashOne()
				}
			}
		}
		w.finish()
	})
}

// evictOne evicts a drawn cached page on a drawn machine.
func (w *propWorld) evictOne() {
	id := rapid.SampledFrom(w.h.ids).Draw(w.t, "evictOn")
	a := w.h.agents[id]
	if a == nil {
		return
	}
	var cands []*page
	for _, pg := range a.procs[testPID].sortedPages() {
		if !pg.home && !pg.pinned() && pg.frame != nil {
			cands = append(cands, pg)
		}
	}
	if len(cands) == 0 {
		return
	}
	pg := rapid.SampledFrom(cands).Draw(w.t, "evictPage")
	a.begin()
	a.evict(pg)
	a.end()
}
