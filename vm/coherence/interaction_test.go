package coherence

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// TestInteraction runs the protocol scripts in testdata/interaction, one
// per race of docs/memory.md §9. Regenerate the expected output with
//
//	go test ./vm/coherence -run TestInteraction -rewrite
//
// and read the diff. Commands:
//
//	start n=3 [homes=N] [page=B] [cache=B] [policy=P] [bug=name] [inflight=N] [hot=N] [session=N]
//	alloc on=A size=N as=NAME           allocate (settles the network) and name the address
//	load|loadb on=A addr=NAME[+OFF]
//	store|storeb on=A addr=X value=V
//	cas on=A addr=X old=V new=W | faa on=A addr=X delta=D
//	read on=A addr=X n=N | write on=A addr=X hex=HEX
//	wait on=A addr=X expect=V | wake on=A addr=X count=N | free on=A addr=X
//	deliver [n=N] [from=A to=B] [index=I] [verbose]
//	                                        deliver payloads (all deliverable, or N; only on a link;
//	                                        skipping the first I that match: reordering)
//	drop [from=A to=B] [index=I]            lose the first queued payload (on a link)
//	dup [from=A to=B] [index=I]             queue a copy of the first queued payload (on a link) last
//	hold from=A to=B | release              keep a link's payloads queued
//	cut from=A to=B | heal                  lose a link's payloads
//	tick [n=N] [deliver=true] [verbose]
//	crash id=A | restart id=A | down id=A inc=I
//	evict on=A addr=X
//	queue | pages on=A | stats on=A | ops
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		var h *harness
		names := map[string]uint64{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = startScript(t, d)
				clear(names)
				return ""
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.t = t
			var out strings.Builder
			h.out = &out
			runScript(t, h, names, d)
			h.out, h.verbose = nil, false
			return out.String()
		})
	})
}

func startScript(t *testing.T, d *datadriven.TestData) *harness {
	o := harnessOptions{n: 3}
	d.MaybeScanArgs(t, "n", &o.n)
	d.MaybeScanArgs(t, "homes", &o.homes)
	d.MaybeScanArgs(t, "page", &o.cfg.PageBytes)
	d.MaybeScanArgs(t, "cache", &o.cfg.CacheBytesMax)
	d.MaybeScanArgs(t, "inflight", &o.cfg.InFlightMax)
	d.MaybeScanArgs(t, "hot", &o.cfg.HotTransfers)
	d.MaybeScanArgs(t, "session", &o.cfg.SessionMax)
	var s string
	if d.MaybeScanArgs(t, "policy", &s) {
		p, err := ParsePolicy(s)
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		o.cfg.Atomics = p
	}
	if d.MaybeScanArgs(t, "bug", &s) {
		b, err := ParseBug(s)
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		o.cfg.Bugs = b
	}
	return newHarness(t, o)
}

func nodeArg(t *testing.T, d *datadriven.TestData, key string) netmodel.NodeID {
	var id uint64
	d.ScanArgs(t, key, &id)
	return netmodel.NodeID(id)
}

func u64Arg(t *testing.T, d *datadriven.TestData, key string) uint64 {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", d.Pos, key, s, err)
	}
	return v
}

// addrArg reads addr=NAME or addr=NAME+OFF.
func addrArg(t *testing.T, d *datadriven.TestData, names map[string]uint64) uint64 {
	var s string
	d.ScanArgs(t, "addr", &s)
	name, off, _ := strings.Cut(s, "+")
	base, ok := names[name]
	if !ok {
		t.Fatalf("%s: unknown address name %q", d.Pos, name)
	}
	if off == "" {
		return base
	}
	v, err := strconv.ParseUint(off, 0, 64)
	if err != nil {
		t.Fatalf("%s: offset %q: %v", d.Pos, off, err)
	}
	return base + v
}

// linkFilter reads optional from= and to=.
func linkFilter(t *testing.T, d *datadriven.TestData) func(w wire) bool {
	var from, to uint64
	d.MaybeScanArgs(t, "from", &from)
	d.MaybeScanArgs(t, "to", &to)
	return func(w wire) bool {
		return (from == 0 || w.from == netmodel.NodeID(from)) && (to == 0 || w.to == netmodel.NodeID(to))
	}
}

func runScript(t *testing.T, h *harness, names map[string]uint64, d *datadriven.TestData) {
	on := func() netmodel.NodeID { return nodeArg(t, d, "on") }
	switch d.Cmd {
	case "alloc":
		var as string
		d.ScanArgs(t, "as", &as)
		id := on()
		addr := h.alloc(id, u64Arg(t, d, "size"))
		names[as] = addr
		fmt.Fprintf(h.out, "%s = %s\n", as, h.name(addr))
	case "load", "loadb":
		addr := addrArg(t, d, names)
		width := uint8(8)
		if d.Cmd == "loadb" {
			width = 1
		}
		h.do(on(), fmt.Sprintf("%s %s", d.Cmd, h.name(addr)), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, width) })
	case "store", "storeb":
		addr, v := addrArg(t, d, names), u64Arg(t, d, "value")
		width := uint8(8)
		if d.Cmd == "storeb" {
			width = 1
		}
		h.do(on(), fmt.Sprintf("%s %s=%d", d.Cmd, h.name(addr), v), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, width, v) })
	case "cas":
		h.cas(on(), addrArg(t, d, names), u64Arg(t, d, "old"), u64Arg(t, d, "new"))
	case "faa":
		h.faa(on(), addrArg(t, d, names), u64Arg(t, d, "delta"))
	case "read":
		addr, n := addrArg(t, d, names), u64Arg(t, d, "n")
		h.do(on(), fmt.Sprintf("read %s n=%d", h.name(addr), n), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, n) })
	case "write":
		addr := addrArg(t, d, names)
		var s string
		d.ScanArgs(t, "hex", &s)
		data, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s: hex: %v", d.Pos, err)
		}
		h.do(on(), fmt.Sprintf("write %s %s", h.name(addr), s), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, data) })
	case "wait":
		addr, v := addrArg(t, d, names), u64Arg(t, d, "expect")
		h.do(on(), fmt.Sprintf("wait %s==%d", h.name(addr), v), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Wait(c, addr, v) })
	case "wake":
		addr, n := addrArg(t, d, names), u64Arg(t, d, "count")
		h.do(on(), fmt.Sprintf("wake %s n=%d", h.name(addr), n), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Wake(c, addr, n) })
	case "free":
		addr := addrArg(t, d, names)
		h.do(on(), fmt.Sprintf("free %s", h.name(addr)), func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Free(c, addr) })
	default:
		runNetScript(t, h, names, d)
	}
}

func runNetScript(t *testing.T, h *harness, names map[string]uint64, d *datadriven.TestData) {
	switch d.Cmd {
	case "deliver":
		h.verbose = d.HasArg("verbose")
		match := linkFilter(t, d)
		n, skip := -1, 0
		d.MaybeScanArgs(t, "n", &n)
		d.MaybeScanArgs(t, "index", &skip)
		for n != 0 {
			i := nthIndex(h.queue, skip, func(w wire) bool { return match(w) && !h.held[h.linkKey(w.from, w.to)] })
			if i < 0 {
				break
			}
			h.deliverAt(i)
			n--
		}
	case "drop", "dup":
		match := linkFilter(t, d)
		skip := 0
		d.MaybeScanArgs(t, "index", &skip)
		i := nthIndex(h.queue, skip, match)
		if i < 0 {
			t.Fatalf("%s: no queued payload matches", d.Pos)
		}
		w := h.queue[i]
		fmt.Fprintf(h.out, "%s %v->%v %s\n", d.Cmd, w.from, w.to, describePayload(w.payload, h.cfg.pageBytes()))
		if d.Cmd == "drop" {
			h.queue = slices.Delete(h.queue, i, i+1)
		} else {
			h.queue = append(h.queue, w)
		}
	case "hold":
		h.held[h.linkKey(nodeArg(t, d, "from"), nodeArg(t, d, "to"))] = true
	case "release":
		clear(h.held)
	case "cut":
		h.cut[h.linkKey(nodeArg(t, d, "from"), nodeArg(t, d, "to"))] = true
	case "heal":
		clear(h.cut)
	case "tick":
		h.verbose = d.HasArg("verbose")
		n, deliver := 1, false
		d.MaybeScanArgs(t, "n", &n)
		d.MaybeScanArgs(t, "deliver", &deliver)
		for range n {
			h.tick()
			if deliver {
				for i := h.deliverable(); i >= 0; i = h.deliverable() {
					h.deliverAt(i)
				}
			}
		}
	case "crash":
		h.crash(nodeArg(t, d, "id"))
	case "restart":
		id := nodeArg(t, d, "id")
		h.restart(id)
		fmt.Fprintf(h.out, "%v restarted as incarnation %d\n", id, h.incs[id])
	case "down":
		var inc uint64
		d.ScanArgs(t, "inc", &inc)
		h.down(nodeArg(t, d, "id"), inc)
	case "evict":
		id := nodeArg(t, d, "on")
		a := h.agents[id]
		pg := a.procs[testPID].lookup((addrArg(t, d, names) &^ gbit) >> a.procs[testPID].table.pageShift)
		a.begin()
		ok := pg != nil && !pg.home && !pg.pinned() && pg.frame != nil
		if ok {
			a.evict(pg)
		}
		a.end()
		fmt.Fprintf(h.out, "evicted: %v\n", ok)
	case "queue":
		for _, w := range h.queue {
			fmt.Fprintf(h.out, "%v->%v %s\n", w.from, w.to, describePayload(w.payload, h.cfg.pageBytes()))
		}
	case "pages":
		for _, line := range h.agents[nodeArg(t, d, "on")].describePages(testPID) {
			fmt.Fprintln(h.out, line)
		}
	case "stats":
		s := h.agents[nodeArg(t, d, "on")].Stats()
		var parts []string
		for k := kGetS; k < numKinds; k++ {
			if s.Sent[k] > 0 {
				parts = append(parts, fmt.Sprintf("%v=%d", k, s.Sent[k]))
			}
		}
		fmt.Fprintf(h.out, "sent %s\nhits=%d read-misses=%d write-misses=%d upgrades=%d retransmits=%d dups=%d stale-data=%d lost=%d\n",
			strings.Join(parts, " "), s.Hits, s.ReadMisses, s.WriteMisses, s.Upgrades, s.Retransmits, s.Dups, s.StaleData, s.PagesLost)
	case "ops":
		for _, req := range h.order {
			o := h.ops[req]
			state := "pending"
			if o.done {
				state = describeReply(o.reply)
			}
			fmt.Fprintf(h.out, "%v: %s: %s\n", o.machine, o.desc, state)
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

// nthIndex is the index of the (skip+1)-th element matching f, or -1.
func nthIndex(q []wire, skip int, f func(wire) bool) int {
	for i, w := range q {
		if f(w) {
			if skip == 0 {
				return i
			}
			skip--
		}
	}
	return -1
}
