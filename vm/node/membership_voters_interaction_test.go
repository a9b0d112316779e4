package node

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"github.com/flockvm/flock/vm/raftkv"
)

// TestVotersInteraction runs the scripts in testdata/voters: the races of
// the metadata group's configuration changes (docs/node.md, "Metadata
// voters"), one script each. Regenerate with
//
//	go test ./vm/node -run TestVotersInteraction -rewrite
//
// and read the diff. Commands:
//
//	start machines=N voters=V [seed=S]  a VM, run until every node joined
//	join id=N                 a new machine boots and joins
//	run [steps=N]             run the VM (default 4000 steps); print the decisions and
//	                          replica openings and closings the nodes recorded
//	run-until-deciding [kind=K]  run until a node has a change (of kind K) in flight; print it
//	meta                      every live node's view of the configuration and its replica
//	crash id=N | restart id=N | cut a=N b=M | heal
func TestVotersInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/voters", func(t *testing.T, path string) {
		var h *votersHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = newVotersHarness(t, d)
				return h.flush()
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.command(t, d)
			return h.flush()
		})
	})
}

// votersHarness is the node test cluster recording what the nodes say
// about the metadata group.
type votersHarness struct {
	c   *cluster
	out strings.Builder
}

func newVotersHarness(t *testing.T, d *datadriven.TestData) *votersHarness {
	machines, voters, seed := 3, 3, uint64(1)
	d.MaybeScanArgs(t, "machines", &machines)
	d.MaybeScanArgs(t, "voters", &voters)
	d.MaybeScanArgs(t, "seed", &seed)
	h := &votersHarness{}
	c := newCluster(t, 0, 0, seed)
	c.tweak = h.tweak
	for i := 1; i <= machines; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids[:voters]
	for _, id := range c.ids {
		c.disks[id] = memDisk(id)
		c.boot(id)
	}
	h.c = c
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("%s: nodes did not join:\n%s", d.Pos, c.dump())
	}
	h.out.Reset() // the bootstrap's own lines are in the scripts' first run
	fmt.Fprintf(&h.out, "%d machines joined, bootstrap voters %v\n", machines, c.voters)
	return h
}

// memDisk is a fault-free simulated disk: the scripts test the protocol,
// and a real disk's syncs would make them slow (every member syncs its
// log).
func memDisk(id netmodel.NodeID) diskmodel.FS {
	return simdisk.New(rand.New(rand.NewPCG(uint64(id), 7)), simdisk.Faults{})
}

// tweak records the nodes' lines about the metadata group.
func (h *votersHarness) tweak(cfg *Config) {
	id := cfg.ID
	cfg.Record = func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if strings.HasPrefix(line, "metadata group:") || strings.HasPrefix(line, "leaving:") {
			fmt.Fprintf(&h.out, "%v: %s\n", id, line)
		}
	}
}

func (h *votersHarness) flush() string {
	s := h.out.String()
	h.out.Reset()
	return s
}

func (h *votersHarness) command(t *testing.T, d *datadriven.TestData) {
	c := h.c
	id := func(key string) netmodel.NodeID {
		var v uint64
		d.ScanArgs(t, key, &v)
		return netmodel.NodeID(v)
	}
	switch d.Cmd {
	case "join":
		n := id("id")
		c.ids = append(c.ids, n)
		c.disks[n] = memDisk(n)
		c.boot(n)
	case "run":
		steps := 4000
		d.MaybeScanArgs(t, "steps", &steps)
		c.run(steps, 4)
	case "run-until-deciding":
		var kind string
		d.MaybeScanArgs(t, "kind", &kind)
		var decider netmodel.NodeID
		var dec *voterDecision
		ok := c.runUntil(func() bool {
			for _, n := range c.ids {
				if node := c.nodes[n]; node != nil && node.vs.deciding != nil && (kind == "" || node.vs.deciding.changes[len(node.vs.deciding.changes)-1].Kind.String() == kind) {
					decider, dec = n, node.vs.deciding
					return true
				}
			}
			return false
		}, 40000)
		if !ok {
			t.Fatalf("%s: no node decided:\n%s", d.Pos, c.dump())
		}
		fmt.Fprintf(&h.out, "%v is deciding %v against index %d\n", decider, dec, dec.ifIndex)
	case "meta":
		h.printMeta()
	case "crash":
		c.crash(id("id"))
	case "restart":
		n := id("id")
		c.boot(n)
		fmt.Fprintf(&h.out, "%v restarted as incarnation %d\n", n, c.nodes[n].Incarnation())
	case "cut":
		a, b := id("a"), id("b")
		c.cut[[2]netmodel.NodeID{a, b}], c.cut[[2]netmodel.NodeID{b, a}] = true, true
	case "heal":
		clear(c.cut)
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

func (h *votersHarness) printMeta() {
	for _, id := range h.c.ids {
		n := h.c.nodes[id]
		if n == nil {
			fmt.Fprintf(&h.out, "%v: down\n", id)
			continue
		}
		replica := "none"
		if st, ok := n.MetaStatus(); ok {
			replica = fmt.Sprintf("%v applied=%v", st.State, st.Members)
		}
		fmt.Fprintf(&h.out, "%v: read=%v servers=%v replica=%s\n", id, confText(n.vs.conf), n.client.Servers(), replica)
	}
}

func confText(m raftkv.Membership) string {
	if m.Index == 0 {
		return "none"
	}
	return m.String()
}
