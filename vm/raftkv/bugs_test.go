package raftkv

import (
	"slices"
	"strings"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	pb "go.etcd.io/raft/v3/raftpb"
)

func TestBugNames(t *testing.T) {
	names := BugNames()
	if !slices.IsSorted(names) || len(names) != len(bugTable) || len(names) < 4 {
		t.Fatalf("BugNames() = %v, want every bug of bugTable, sorted", names)
	}
	for _, name := range names {
		b, err := ParseBug(name)
		if err != nil {
			t.Fatalf("ParseBug(%q) error = %v", name, err)
		}
		if got := b.Names(); !slices.Equal(got, []string{name}) {
			t.Errorf("ParseBug(%q).Names() = %v, want [%s]", name, got, name)
		}
	}
	if _, err := ParseBug("no-such-bug"); err == nil || !strings.Contains(err.Error(), "ack-before-commit") {
		t.Errorf("ParseBug(unknown) error = %v, want an error listing the known bugs", err)
	}
	if got := (Bugs{}).Names(); len(got) != 0 {
		t.Errorf("Bugs{}.Names() = %v, want none", got)
	}
}

// run ticks n times, delivering everything after each tick.
func (h *harness) run(n int) {
	for i := 0; i < n; i++ {
		h.tick()
		h.deliverAll()
	}
}

// do runs one operation of client c to completion (bounded) and returns it.
func (h *harness) do(c int, o *opRecord) *opRecord {
	h.t.Helper()
	if !h.startOp(c, o) {
		h.t.Fatalf("client %d busy", c)
	}
	h.deliverAll()
	for i := 0; i < 1000 && !o.done; i++ {
		h.tick()
		h.deliverAll()
	}
	if !o.done {
		h.t.Fatalf("%s never completed", o)
	}
	return o
}

func (h *harness) followers() []netmodel.NodeID {
	var f []netmodel.NodeID
	for _, id := range h.ids {
		if id != h.leader() {
			f = append(f, id)
		}
	}
	return f
}

// scenario runs f on a fresh cluster and then the full check; it returns
// what the checks found ("" if nothing) and the harness.
func scenario(t *testing.T, o harnessOptions, f func(h *harness)) (string, *harness) {
	h := newHarness(t, o)
	h.t = recordingFataler{}
	found := func() (found string) {
		defer func() {
			if r := recover(); r != nil {
				v, ok := r.(violation)
				if !ok {
					panic(r)
				}
				found = string(v)
			}
		}()
		h.run(25)
		f(h)
		h.settle(500)
		h.check()
		return ""
	}()
	h.t = t
	return found, h
}

// Each planted bug has a scenario where its defect shows; the same
// scenario without the bug passes every check.
func TestPlantedBugsAreObservable(t *testing.T) {
	tests := []struct {
		bug      string
		faults   simdisk.Faults
		scenario func(t *testing.T, h *harness, bugOn bool)
		want     string // in the violation
	}{
		{
			// The leader, cut off from its followers, acknowledges a put it
			// cannot commit, then crashes: the write is gone.
			bug: "ack-before-commit",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				leader := h.leader()
				for _, f := range h.followers() {
					h.setCut(leader, f, true)
					h.setCut(f, leader, true)
				}
				put := &opRecord{op: OpPut, key: "a", value: "2"}
				h.startOp(1, put)
				h.run(3)
				if put.done != bugOn {
					t.Errorf("put during the partition done = %v, want %v", put.done, bugOn)
				}
				h.crash(leader)
				clear(h.cut)
				h.run(40)
				get := h.do(2, &opRecord{op: OpGet, key: "a"})
				if bugOn && get.res.Value != "1" {
					t.Errorf("get after the leader crash = %q, want the acknowledged write lost (1)", get.res.Value)
				}
			},
			want: "acknowledged write was lost",
		},
		{
			// Every server loses what it never synced: the whole log, with a
			// committed, acknowledged write. The cluster starts over and
			// commits different entries at the same indexes.
			bug:    "skip-wal-sync",
			faults: simdisk.Faults{LoseUnsyncedProb: 1},
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				for _, id := range h.ids {
					h.crash(id)
				}
				for _, id := range h.ids {
					h.restart(id)
				}
				h.run(40)
				get := h.do(2, &opRecord{op: OpGet, key: "a"})
				if bugOn == get.res.Found {
					t.Errorf("get after all servers crashed: found = %v, want %v", get.res.Found, !bugOn)
				}
			},
			// The log was rebuilt from nothing: the read sees the state at
			// index 2, before the acknowledged put at index 4 it follows.
			want: "the log orders it after",
		},
		{
			// The reply to a CAS is lost; its retry is applied again, fails
			// (the value already changed) and the client is told its CAS
			// did not happen although it did.
			bug: "apply-retry-twice",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				h.setCut(h.leader(), clientBase+1, true)
				cas := &opRecord{op: OpCAS, key: "a", expected: "1", expectedFound: true, value: "2"}
				h.startOp(1, cas)
				h.run(2)
				clear(h.cut)
				h.run(40)
				if !cas.done || cas.res.Swapped == bugOn {
					t.Errorf("CAS retried after a lost reply: done %v swapped %v, want swapped %v", cas.done, cas.res.Swapped, !bugOn)
				}
			},
			want: "applied twice",
		},
		{
			// A follower cut off from the leader answers a read from its
			// stale state, skipping ReadIndex, after a newer write
			// completed. Without the bug it cannot get a read index, so
			// it refuses and the client reads from the leader.
			bug: "stale-follower-read",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				stale := h.followers()[0]
				h.setReadFrom(2, stale)
				h.isolate(stale, true)
				h.setCut(stale, clientBase+2, false)
				h.setCut(clientBase+2, stale, false)
				h.do(1, &opRecord{op: OpPut, key: "a", value: "2"})
				get := h.do(2, &opRecord{op: OpGet, key: "a"})
				want := "2"
				if bugOn {
					want = "1"
				}
				if get.res.Err != nil || get.res.Value != want {
					t.Errorf("get via the cut-off follower = (%q, %v), want %q", get.res.Value, get.res.Err, want)
				}
				if got := h.clients[clientBase+2].Stats().ReadsFrom; got != 1 {
					t.Errorf("client 2 Stats().ReadsFrom = %d, want 1 (the read tried the cut-off follower first)", got)
				}
			},
			want: "the log orders it after",
		},
		{
			// A follower whose disk fails every write acknowledges an
			// append before persisting it; with the third server cut off,
			// the leader commits on that ack. The leader crashes, the
			// follower restarts without the entry and wins, with the third,
			// a quorum that never had it.
			bug: "send-before-persist",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "0"})
				leader := h.leader()
				f1, f2 := h.followers()[0], h.followers()[1]
				h.isolate(f2, true)
				h.disks[f1].SetFaults(simdisk.Faults{WriteErrorProb: 1})
				put := &opRecord{op: OpPut, key: "a", value: "1"}
				h.startOp(1, put)
				h.run(5)
				if put.done != bugOn {
					t.Errorf("put acked by a follower whose disk fails: done = %v, want %v", put.done, bugOn)
				}
				h.crash(f1)
				h.disks[f1].SetFaults(simdisk.Faults{})
				h.restart(f1)
				h.crash(leader)
				h.isolate(f2, false)
				h.run(60)
			},
			// The old leader applied the entry the new quorum overwrote.
			want: "replicas disagree at index",
		},
		{
			// With a session table of one, a second client's registration
			// evicts the first client's session while that client's put,
			// applied but unanswered, waits for its retry. The retry of an
			// evicted session must be refused; with the bug it is applied
			// again.
			bug: "evict-live-session",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				leader := h.leader()
				h.setCut(leader, clientBase+1, true)
				put := &opRecord{op: OpPut, key: "a", value: "2"}
				h.startOp(1, put)
				h.run(3)
				h.do(2, &opRecord{op: OpPut, key: "b", value: "1"})
				h.setCut(leader, clientBase+1, false)
				for i := 0; i < 100 && !put.done; i++ {
					h.run(1)
				}
				if !put.done || bugOn != (put.res.Err == nil) {
					t.Errorf("retry of an evicted session's put: done %v, err %v; want success only with the bug", put.done, put.res.Err)
				}
			},
			want: "applied twice",
		},
		{
			// A follower holds every entry but the last: its appends are
			// held back. It asks for a read index, which is the last entry;
			// with the bug it serves the read one entry early, missing the
			// put that completed before the read began.
			bug: "read-index-off-by-one",
			scenario: func(t *testing.T, h *harness, bugOn bool) {
				h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
				leader := h.leader()
				slow := h.followers()[0]
				h.setReadFrom(2, slow)
				h.held[heldKind{link{leader, slow}, pb.MsgApp}] = true
				h.do(1, &opRecord{op: OpPut, key: "a", value: "2"})
				get := &opRecord{op: OpGet, key: "a"}
				h.startOp(2, get)
				h.run(5)
				clear(h.held)
				for i := 0; i < 100 && !get.done; i++ {
					h.run(1)
				}
				want := "2"
				if bugOn {
					want = "1"
				}
				if !get.done || get.res.Value != want {
					t.Errorf("get via the lagging follower = (%q, done %v), want %q", get.res.Value, get.done, want)
				}
			},
			want: "the log orders it after",
		},
	}
	for _, tt := range tests {
		for _, bugOn := range []bool{false, true} {
			name := tt.bug + "/off"
			if bugOn {
				name = tt.bug + "/on"
			}
			t.Run(name, func(t *testing.T) {
				o := harnessOptions{seed: 7, faults: tt.faults}
				if tt.bug == "evict-live-session" {
					o.sessionsMax = 1
				}
				if bugOn {
					o.bugs, _ = ParseBug(tt.bug)
				}
				found, _ := scenario(t, o, func(h *harness) { tt.scenario(t, h, bugOn) })
				switch {
				case bugOn && !strings.Contains(found, tt.want):
					t.Errorf("with %s the checks found %q, want a violation containing %q", tt.bug, found, tt.want)
				case !bugOn && found != "":
					t.Errorf("without %s the checks found %q, want none", tt.bug, found)
				}
			})
		}
	}
}
