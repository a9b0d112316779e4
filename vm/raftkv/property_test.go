package raftkv

import (
	"fmt"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"pgregory.net/rapid"
)

const propertyClients = 3

var propertyKeys = []string{"a", "b", "ab", "c"}

// drawOp draws one client operation; values are unique so a lost or
// doubled write shows.
func drawOp(t *rapid.T, n int) *opRecord {
	o := &opRecord{op: rapid.SampledFrom([]Op{OpGet, OpPut, OpPut, OpDelete, OpCAS, OpScan}).Draw(t, "op")}
	o.key = rapid.SampledFrom(propertyKeys).Draw(t, "key")
	switch o.op {
	case OpPut:
		o.value = fmt.Sprintf("v%d", n)
	case OpCAS:
		o.value = fmt.Sprintf("v%d", n)
		o.expectedFound = rapid.Bool().Draw(t, "expectedFound")
		if o.expectedFound {
			o.expected = fmt.Sprintf("v%d", rapid.IntRange(0, n).Draw(t, "expected"))
		}
	case OpScan:
		o.key = o.key[:rapid.IntRange(0, len(o.key)).Draw(t, "prefixLen")]
		o.limit = rapid.IntRange(1, 3).Draw(t, "limit")
	}
	return o
}

// TestClusterProperty runs random operations under random message loss,
// duplication and reordering, partitions, and crashes that lose or tear
// unsynced writes; then heals the world, waits for every operation to
// finish, and checks the run (see harness.check): every result, reads
// served by followers without a log entry included, must be linearizable
// against the model.
func TestClusterProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(t, harnessOptions{
			n:               rapid.SampledFrom([]int{3, 5, 1}).Draw(t, "servers"),
			seed:            rapid.Uint64().Draw(t, "seed"),
			snapshotEntries: rapid.SampledFrom([]uint64{4, 16, 1000}).Draw(t, "snapshotEntries"),
			sessionsMax:     rapid.SampledFrom([]int{2, 64}).Draw(t, "sessionsMax"),
			faults:          simdisk.Faults{LoseUnsyncedProb: 0.5, TornWrites: true},
			segmentBytes:    rapid.SampledFrom([]int64{512, 1 << 20}).Draw(t, "segmentBytes"),
			buggify:         rapid.Bool().Draw(t, "buggify"),
			interleaveSync:  rapid.Bool().Draw(t, "interleaveSync"),
			asyncSync:       rapid.Bool().Draw(t, "asyncSync"),
		})
		drawReadFrom(t, h)
		runRandomWorld(t, h, worldActions, nil)
		h.settle(3000)
		h.check()
	})
}

// drawReadFrom gives each client a replica to read from first, or none.
func drawReadFrom(t *rapid.T, h *harness) {
	choices := append([]netmodel.NodeID{0}, h.ids...)
	for c := 1; c <= propertyClients; c++ {
		h.setReadFrom(c, rapid.SampledFrom(choices).Draw(t, "readFrom"))
	}
}

// worldActions lists the random world's actions, the common ones more than
// once so they are drawn more often.
var worldActions = []string{
	"tick", "deliver", "op", "tick", "deliver", "op", "tick", "deliver", "deliverAll", "stall",
	"restart", "heal", "op", "drop", "duplicate", "isolate", "crash", "step", "flush",
}

// runRandomWorld runs 300 actions drawn from actions, each drawn apart so
// rapid can shrink a failure to the actions that matter; an action it does
// not know goes to extra.
func runRandomWorld(t *rapid.T, h *harness, actions []string, extra func(action string)) {
	server := func() netmodel.NodeID { return rapid.SampledFrom(h.ids).Draw(t, "server") }
	pick := func() int { return rapid.IntRange(0, len(h.queue)-1).Draw(t, "message") }
	ops := 0
	steps := 300
	for i := 0; i < steps; i++ {
		switch action := rapid.SampledFrom(actions).Draw(t, "action"); action {
		case "op":
			c := rapid.IntRange(1, propertyClients).Draw(t, "client")
			if h.startOp(c, drawOp(t, ops)) {
				ops++
			}
		case "tick": // time passes on a working network
			for n := rapid.IntRange(1, 5).Draw(t, "ticks"); n > 0; n-- {
				h.tick()
				h.deliverAll()
			}
		case "stall": // time passes, nothing is delivered
			for n := rapid.IntRange(1, 20).Draw(t, "ticks"); n > 0; n-- {
				h.tick()
			}
		case "deliver":
			for n := rapid.IntRange(1, 20).Draw(t, "count"); n > 0 && len(h.queue) > 0; n-- {
				h.deliverAt(pick())
			}
		case "step": // a burst stepped, its Readys left to a later flush or tick
			for n := rapid.IntRange(1, 20).Draw(t, "count"); n > 0 && len(h.queue) > 0; n-- {
				h.stepAt(pick())
			}
		case "flush":
			h.flush()
		case "deliverAll":
			h.deliverAll()
		case "drop":
			if len(h.queue) > 0 {
				i := pick()
				h.queue = append(h.queue[:i], h.queue[i+1:]...)
			}
		case "duplicate":
			if len(h.queue) > 0 {
				h.queue = append(h.queue, h.queue[pick()])
			}
		case "crash":
			h.crash(server())
		case "restart":
			h.restart(server())
		case "isolate":
			h.isolate(server(), true)
		case "heal":
			clear(h.cut)
		default:
			extra(action)
		}
	}
}

// TestSequentialResultsMatchModel runs one client at a time without
// faults: each result must be what a plain map would answer.
func TestSequentialResultsMatchModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(t, harnessOptions{seed: rapid.Uint64().Draw(t, "seed"), snapshotEntries: 8})
		drawReadFrom(t, h) // a follower that reads must see the client's own writes
		model := map[string]string{}
		n := rapid.IntRange(1, 40).Draw(t, "ops")
		for i := 0; i < n; i++ {
			o := drawOp(t, i)
			h.startOp(1, o)
			for j := 0; j < 500 && !o.done; j++ {
				h.tick()
				h.deliverAll()
			}
			if !o.done || o.res.Err != nil {
				t.Fatalf("%s = (done %v, %v), want a result on a healthy cluster", o, o.done, o.res.Err)
			}
			checkSequential(t, model, o)
		}
	})
}

func checkSequential(t *rapid.T, model map[string]string, o *opRecord) {
	old, found := model[o.key]
	r := o.res
	switch o.op {
	case OpGet:
		if r.Found != found || r.Value != old {
			t.Fatalf("%s = (%q, %v), want (%q, %v)", o, r.Value, r.Found, old, found)
		}
	case OpPut:
		model[o.key] = o.value
	case OpDelete:
		if r.Found != found {
			t.Fatalf("%s found = %v, want %v", o, r.Found, found)
		}
		delete(model, o.key)
	case OpCAS:
		want := found == o.expectedFound && (!found || old == o.expected)
		if r.Swapped != want {
			t.Fatalf("%s swapped = %v, want %v (current %q, %v)", o, r.Swapped, want, old, found)
		}
		if want {
			model[o.key] = o.value
		}
	case OpScan:
		var want []KV
		for _, k := range propertyKeysSorted(model) {
			if len(k) >= len(o.key) && k[:len(o.key)] == o.key {
				want = append(want, KV{k, model[k]})
			}
		}
		more := len(want) > o.limit
		if more {
			want = want[:o.limit]
		}
		if fmt.Sprint(r.Pairs) != fmt.Sprint(want) || r.More != more {
			t.Fatalf("%s = (%v, more %v), want (%v, more %v)", o, r.Pairs, r.More, want, more)
		}
	}
}

func propertyKeysSorted(model map[string]string) []string {
	var keys []string
	for _, k := range []string{"a", "ab", "b", "c"} { // propertyKeys in order
		if _, ok := model[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}
