package node

import (
	"fmt"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// TestMetaGroupCommitParallel: nodes driven as the host drives them
// (ReceiveBurst and EndBurst, MetaGroupCommit), with cores in turn and on
// goroutines of their own (the metadata replica's fsync then runs with the
// node's lock released), keep a filesystem whose writes made on one
// machine read back on another, and the metadata leader's fsyncs carry
// several writes each. CI runs it under -race.
func TestMetaGroupCommitParallel(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		t.Run(fmt.Sprintf("parallel=%v", parallel), func(t *testing.T) { testMetaGroupCommit(t, parallel) })
	}
}

func testMetaGroupCommit(t *testing.T, parallel bool) {
	c := newCluster(t, 0, 0, 9)
	c.parallel, c.burst = parallel, true
	c.tweak = func(cfg *Config) { cfg.MetaGroupCommit = true }
	c.bootVoters(3)
	const files = 6
	for i := range files {
		c.putFile(netmodel.NodeID(1+i%3), "root", fmt.Sprintf("f%d", i), fmt.Sprintf("content %d", i))
	}
	for i := range files {
		on := netmodel.NodeID(1 + (i+1)%3)
		got, err := c.readFile(on, "root", fmt.Sprintf("f%d", i))
		if want := fmt.Sprintf("content %d", i); err != nil || got != want {
			t.Errorf("read f%d on %v = (%q, %v), want %q", i, on, got, err, want)
		}
	}
	// Concurrent writes from every machine: the leader's replica takes
	// several of them per fsync.
	before := c.metaTotals()
	const concurrent = 12
	answers := make([]*answer, concurrent)
	for i := range answers {
		answers[i] = &answer{}
		c.nodes[netmodel.NodeID(1+i%3)].File(FilePut, "root", fmt.Sprintf("g%d", i), []byte("x"), sys.AttrChange{}, answers[i].set)
	}
	allDone := func() bool {
		for _, a := range answers {
			if done, _, _ := a.get(); !done {
				return false
			}
		}
		return true
	}
	if !c.runUntil(allDone, 400000) {
		t.Fatalf("concurrent puts did not answer\n%s", c.dump())
	}
	for i, a := range answers {
		if _, _, err := a.get(); err != nil {
			t.Errorf("concurrent put g%d = %v, want nil", i, err)
		}
	}
	after := c.metaTotals()
	proposals, syncs := after.Proposals-before.Proposals, after.WAL.Syncs-before.WAL.Syncs
	t.Logf("concurrent puts: %d proposals, %d WAL syncs on the leader", proposals, syncs)
	if !parallel && proposals <= syncs {
		t.Errorf("the leader proposed %d entries in %d WAL syncs, want several per sync", proposals, syncs)
	}
}

// metaTotals are the counters of the metadata leader's replica.
func (c *cluster) metaTotals() raftkv.Stats {
	for _, id := range c.ids {
		st, ok := c.nodes[id].MetaStats()
		status, _ := c.nodes[id].MetaStatus()
		if ok && status.State == raftkv.StateLeader {
			return st
		}
	}
	c.t.Fatalf("no metadata leader")
	return raftkv.Stats{}
}
