package node

import (
	"strconv"
	"strings"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

// metaGet reads key through node on's metadata client, running the
// cluster until the answer comes.
func (c *cluster) metaGet(on netmodel.NodeID, key string) raftkv.Result {
	c.t.Helper()
	var res raftkv.Result
	got := false
	c.nodes[on].pushMeta("test-get", false, func(cl *raftkv.Client, done func(raftkv.Result)) error { return cl.Get(key, done) },
		func(r raftkv.Result) { res, got = r, true })
	if !c.runUntil(func() bool { return got }, 20000) {
		c.t.Fatalf("Get(%q) on %v did not answer", key, on)
	}
	return res
}

// TestProcessRecordWrittenAfterOutage: a process that starts while its
// home cannot reach the metadata store gets its p/<pid> record once the
// store is reachable again, though the process changes no more (a record
// written only at the next change would never come, and kill by pid from
// another machine would find no process).
func TestProcessRecordWrittenAfterOutage(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.LeaseExpireTicks = 5000 // the cut outlasts the metadata client's attempts, not the lease
		cfg.MetaClient.AttemptsMax = 2
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join:\n%s", c.dump())
	}
	warm := c.start(2, "main:\n EXIT\n") // n2 reserves its pid block
	if !c.runUntil(func() bool { return warm.ended }, 20000) {
		t.Fatalf("first process did not end")
	}
	for _, other := range []netmodel.NodeID{1, 3} {
		c.cut[[2]netmodel.NodeID{2, other}], c.cut[[2]netmodel.NodeID{other, 2}] = true, true
	}
	n2 := c.nodes[2]
	r := c.start(2, "main:\n JMP main\n")
	if !c.runUntil(func() bool { return r.started }, 20000) || r.err != nil {
		t.Fatalf("process on the cut machine: started %v, %v", r.started, r.err)
	}
	failed := func() bool { _, p := n2.records.pending[r.pid]; return p && !n2.records.inflight[r.pid] }
	if !c.runUntil(failed, 20000) {
		t.Fatalf("the record write of process %d did not fail while cut (pending %v, in flight %v)", r.pid, n2.records.pending, n2.records.inflight)
	}
	clear(c.cut)
	written := func() bool { return len(n2.records.pending) == 0 && len(n2.records.inflight) == 0 }
	if !c.runUntil(written, 40000) {
		t.Fatalf("record of process %d still unwritten after the heal", r.pid)
	}
	res := c.metaGet(1, keyProcPrefix+strconv.FormatUint(r.pid, 10))
	if home, state := parseProcRecord(res.Value); res.Err != nil || !res.Found || home != 2 || state != "running" {
		t.Errorf("Get(p/%d) = %q found %v, %v; want home 2, running", r.pid, res.Value, res.Found, res.Err)
	}
	if err := n2.Kill(r.pid); err != nil {
		t.Fatalf("Kill(%d) = %v", r.pid, err)
	}
	ended := func() bool {
		res := c.metaGet(3, keyProcPrefix+strconv.FormatUint(r.pid, 10))
		return r.ended && strings.Contains(res.Value, "state=failed")
	}
	if !c.runUntil(ended, 40000) {
		t.Errorf("killed process %d: ended %v, record not its end", r.pid, r.ended)
	}
}

// TestProcessRecordsKeepOrder: records of one pid set faster than they
// are written land in the order set; the store ends with the last.
func TestProcessRecordsKeepOrder(t *testing.T) {
	c := newCluster(t, 3, 3, 5)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join:\n%s", c.dump())
	}
	n := c.nodes[1]
	for i := range 5 {
		n.recordProcess(4242, "step"+strconv.Itoa(i), "")
	}
	if got := len(n.records.inflight); got != 1 {
		t.Fatalf("writes under way for one pid = %d, want 1", got)
	}
	if !c.runUntil(func() bool { return len(n.records.pending) == 0 && len(n.records.inflight) == 0 }, 40000) {
		t.Fatalf("records not written: pending %v", n.records.pending)
	}
	res := c.metaGet(2, keyProcPrefix+"4242")
	if _, state := parseProcRecord(res.Value); state != "step4" {
		t.Errorf("Get(p/4242) = %q, want state step4", res.Value)
	}
}
