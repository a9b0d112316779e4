package raftkv

import (
	"strings"
	"testing"

	"github.com/flockvm/flock/probe"
	pb "go.etcd.io/raft/v3/raftpb"
)

// reopenAll restarts every server with the harness's current base config.
func (h *harness) reopenAll() {
	for _, id := range h.ids {
		h.crash(id)
		h.restart(id)
	}
}

// PendingMax bounds the requests awaiting their entries, not the deadline
// records of requests answered since: sequential puts, each answered
// before the next, are never refused as overloaded.
func TestPendingMaxCountsOnlyPending(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 3})
	h.base.PendingMax = 2
	h.reopenAll()
	h.run(25)
	for i := range 6 {
		op := h.do(1, &opRecord{op: OpPut, key: "a", value: string(rune('0' + i))})
		if op.res.Err != nil {
			t.Fatalf("put %d error = %v", i, op.res.Err)
		}
	}
	var overloaded uint64
	for _, id := range h.ids {
		overloaded += uint64(h.servers[id].Stats().Overloaded)
	}
	if overloaded != 0 {
		t.Errorf("6 sequential puts with PendingMax 2: %d refused as overloaded, want 0", overloaded)
	}
}

// applyLateScript: a follower misses each put's append (held back) and
// gets it, with the commit index, just as a client reads through it. With
// late set, every server applies committed entries only at its next tick
// (the buggify site raftkv.apply-late always fires), so the read index
// arrives before the entry is applied. It returns what the checks found.
func applyLateScript(t *testing.T, late bool, bugs Bugs) string {
	found, _ := scenario(t, harnessOptions{seed: 11, bugs: bugs}, func(h *harness) {
		if late {
			h.base.Buggify = func(site string) bool { return site == "raftkv.apply-late" }
			h.reopenAll()
			h.run(25)
		}
		leader := h.leader()
		slow := h.followers()[0]
		h.setReadFrom(2, slow)
		for i := range 8 {
			h.held[heldKind{link{leader, slow}, pb.MsgApp}] = true
			h.do(1, &opRecord{op: OpPut, key: "a", value: string(rune('a' + i))})
			clear(h.held)
			h.do(2, &opRecord{op: OpGet, key: "a"})
		}
	})
	return found
}

// Applying later than commit is correct: reads wait for the state machine.
// It is also what makes an off-by-one read index visible, which timing
// luck hides when a follower applies as soon as it learns of a commit.
func TestApplyLate(t *testing.T) {
	probe.Start()
	found := applyLateScript(t, true, Bugs{})
	counts := probe.Counts()
	probe.Stop()
	if found != "" {
		t.Errorf("with entries applied a tick late, the checks found %q, want none", found)
	}
	if counts["raftkv/apply-late"] == 0 || counts["raftkv/read-waited-for-apply"] == 0 {
		t.Errorf("marks apply-late %d, read-waited-for-apply %d; want both hit", counts["raftkv/apply-late"], counts["raftkv/read-waited-for-apply"])
	}
	offByOne := Bugs{ReadIndexOffByOne: true}
	if found := applyLateScript(t, true, offByOne); !strings.Contains(found, "the log orders it after") {
		t.Errorf("with read-index-off-by-one and late apply, the checks found %q, want a stale read", found)
	}
	if found := applyLateScript(t, false, offByOne); found != "" {
		t.Errorf("with read-index-off-by-one and prompt apply, the checks found %q; the script expected timing to hide it", found)
	}
}
