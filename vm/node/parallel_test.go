package node

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/kernel"
)

// TestParallelCoresAcrossMachines: nodes whose cores run on goroutines of
// their own (as in production) run a program across three machines to its
// exact answer. CI runs it under -race.
func TestParallelCoresAcrossMachines(t *testing.T) {
	c := newClusterParallel(t, 3, 1)
	if !c.runUntil(c.allJoinedLocked, 40000) {
		t.Fatalf("nodes did not join: %s / %s / %s", c.nodes[1].Summary(), c.nodes[2].Summary(), c.nodes[3].Summary())
	}
	prog, err := asm.Assemble("t.flasm", []byte(readCounterProgram(t, 16, 50)), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ended atomic.Bool
	var code atomic.Uint64
	var failed atomic.Value
	out := &lockedBuffer{}
	c.nodes[1].Start(Run{Program: prog, User: "root", Out: out},
		func(_ uint64, err error) {
			if err != nil {
				failed.Store(err.Error())
			}
		},
		func(_ uint64, st kernel.Status) {
			if err := st.Err(); err != nil {
				failed.Store(err.Error())
			}
			code.Store(st.Code)
			ended.Store(true)
		})
	for i := 0; i < 2_000_000 && !ended.Load(); i++ {
		c.run(1, 4)
		runtime.Gosched()
	}
	if !ended.Load() {
		t.Fatalf("program did not end")
	}
	if f := failed.Load(); f != nil {
		t.Fatalf("program failed: %v", f)
	}
	if got := out.String(); got != "800\n" || code.Load() != 0 {
		t.Errorf("output %q exit %d, want 800 and 0", got, code.Load())
	}
}

func newClusterParallel(t *testing.T, machines int, seed uint64) *cluster {
	c := newCluster(t, 0, 0, seed)
	c.parallel = true
	for i := 1; i <= machines; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids
	for _, id := range c.ids {
		disk := c.newDisk(t)
		c.disks[id] = disk
		c.boot(id)
	}
	return c
}

// allJoinedLocked is allJoined for nodes whose state is behind a lock.
func (c *cluster) allJoinedLocked() bool {
	for _, id := range c.ids {
		n := c.nodes[id]
		unlock := n.enter()
		ok := n.joined && len(n.ms.alive()) == len(c.ids)
		unlock()
		if !ok {
			return false
		}
	}
	return true
}
