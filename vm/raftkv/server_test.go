package raftkv

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"github.com/flockvm/flock/vm/wal"
	pb "go.etcd.io/raft/v3/raftpb"
)

func TestConfigValidation(t *testing.T) {
	disk := simdisk.New(rand.New(rand.NewPCG(1, 1)), simdisk.Faults{})
	good := Config{ID: 1, Peers: []netmodel.NodeID{1, 2, 3}, Disk: disk, Dir: "kv",
		Transport: harnessTransport{}, Rand: rand.New(rand.NewPCG(1, 2))}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"zero ID", func(c *Config) { c.ID = 0 }},
		{"ID not a peer", func(c *Config) { c.ID = 4 }},
		{"duplicate peer", func(c *Config) { c.Peers = []netmodel.NodeID{1, 2, 2} }},
		{"no disk", func(c *Config) { c.Disk = nil }},
		{"bad dir", func(c *Config) { c.Dir = "/abs" }},
		{"no transport", func(c *Config) { c.Transport = nil }},
		{"no rand", func(c *Config) { c.Rand = nil }},
		{"heartbeat not below election", func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 3, 3 }},
		{"state too large for a frame", func(c *Config) { c.StateSizeMax = StateSizeMaxLimit + 1 }},
		{"too many sessions", func(c *Config) { c.SessionsMax = SessionsMaxLimit + 1 }},
		{"entry larger than a message", func(c *Config) { c.ValueSizeMax, c.MsgSizeMax = 1<<20, 1<<20 }},
	}
	for _, tt := range tests {
		cfg := good
		tt.mutate(&cfg)
		if _, err := Open(cfg); err == nil {
			t.Errorf("Open(%s) succeeded, want a configuration error", tt.name)
		}
	}
	if _, err := Open(good); err != nil {
		t.Fatalf("Open(valid config) error = %v", err)
	}
}

func TestClientRejectsBadOperations(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 1})
	cl := h.client(1)
	noop := func(Result) {}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"empty key", func() error { return cl.Put("", "v", noop) }, ErrInvalid},
		{"key too large", func() error { return cl.Get(strings.Repeat("k", KeySizeMaxDefault+1), noop) }, ErrInvalid},
		{"value too large", func() error { return cl.Put("k", strings.Repeat("v", ValueSizeMaxDefault+1), noop) }, ErrInvalid},
		{"expected value for an absent key", func() error { return cl.CAS("k", "x", false, "v", noop) }, ErrInvalid},
		{"scan limit 0", func() error { return cl.Scan("", 0, noop) }, ErrInvalid},
		{"nil done", func() error { return cl.Get("k", nil) }, ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := cl.Get("k", noop); err != nil {
		t.Fatalf("Get error = %v", err)
	}
	if err := cl.Get("k", noop); !errors.Is(err, ErrBusy) {
		t.Errorf("second Get while busy error = %v, want ErrBusy", err)
	}
	if err := cl.NewSession(); !errors.Is(err, ErrBusy) {
		t.Errorf("NewSession while busy error = %v, want ErrBusy", err)
	}
}

// With no server answering, an operation ends after AttemptsMax attempts
// with ErrUnknownOutcome; refused every time, with ErrUnavailable.
func TestClientGivesUp(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 2})
	for _, a := range h.ids { // servers never hear each other: no leader, every attempt refused
		for _, b := range h.ids {
			h.setCut(a, b, true)
		}
	}
	o := &opRecord{op: OpPut, key: "a", value: "1"}
	h.startOp(1, o)
	for i := 0; i < 2000 && !o.done; i++ {
		h.tick()
		h.deliverAll()
	}
	if !errors.Is(o.res.Err, ErrUnavailable) {
		t.Fatalf("put on a cluster without a leader = (done %v, %v), want ErrUnavailable", o.done, o.res.Err)
	}
	h2 := newHarness(t, harnessOptions{seed: 2})
	h2.run(25)
	h2.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	for _, id := range h2.ids {
		h2.crash(id)
	}
	lost := &opRecord{op: OpPut, key: "a", value: "2"}
	h2.startOp(1, lost)
	for i := 0; i < 2000 && !lost.done; i++ {
		h2.tick()
		h2.deliverAll()
	}
	if !errors.Is(lost.res.Err, ErrUnknownOutcome) {
		t.Errorf("put to a crashed cluster error = %v, want ErrUnknownOutcome", lost.res.Err)
	}
	if got := h2.clients[clientBase+1].Stats().Timeouts; got != 20 {
		t.Errorf("Stats().Timeouts = %d, want AttemptsMax (20)", got)
	}
}

// A leader cut off from both followers steps down within two election
// timeouts (the emulated CheckQuorum), and the others elect a new leader.
func TestIsolatedLeaderStepsDown(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 3})
	h.run(25)
	old := h.leader()
	if old == 0 {
		t.Fatal("no leader after 25 ticks")
	}
	h.isolate(old, true)
	h.run(2 * h.base.ElectionTicks)
	if st := h.servers[old].Status(); st.State == StateLeader {
		t.Errorf("isolated %v after %d ticks: %v, want it to have stepped down", old, 2*h.base.ElectionTicks, st.State)
	}
	if got := h.servers[old].Stats().CheckQuorumLosses; got != 1 {
		t.Errorf("Stats().CheckQuorumLosses = %d, want 1", got)
	}
	h.run(2 * h.base.ElectionTicks)
	if now := h.leader(); now == 0 || now == old {
		t.Errorf("leader after isolating %v = %v, want another", old, now)
	}
}

// A follower that stops hearing the leader campaigns, but the other
// follower, which still hears it, ignores the pre-votes: the healthy leader
// keeps its term.
func TestVotesIgnoredWhileLeaderHeard(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 4})
	h.run(25)
	leader := h.leader()
	term := h.servers[leader].Status().Term
	lonely := h.followers()[0]
	h.setCut(leader, lonely, true)
	h.run(100)
	if got := h.leader(); got != leader {
		t.Fatalf("leader after cutting %v->%v = %v, want %v kept", leader, lonely, got, leader)
	}
	if got := h.servers[leader].Status().Term; got != term {
		t.Errorf("leader's term = %d, want %d unchanged", got, term)
	}
	ignored := uint64(0)
	for _, id := range h.ids {
		ignored += h.servers[id].Stats().VotesIgnoredInLease
	}
	if ignored == 0 || h.servers[lonely].Stats().Campaigns == 0 {
		t.Errorf("campaigns %d, votes ignored %d, want the lonely follower's pre-votes ignored",
			h.servers[lonely].Stats().Campaigns, ignored)
	}
}

// traceHash runs a fixed random workload and hashes everything the
// servers sent and applied.
func traceHash(t *testing.T, seed uint64) uint64 {
	h := newHarness(t, harnessOptions{seed: seed, snapshotEntries: 5,
		faults: simdisk.Faults{LoseUnsyncedProb: 0.5, TornWrites: true}})
	sum := fnv.New64a()
	rng := rand.New(rand.NewPCG(seed, 99))
	for step := 0; step < 400; step++ {
		switch r := rng.IntN(20); {
		case r < 4:
			h.startOp(1+rng.IntN(3), &opRecord{op: OpPut, key: fmt.Sprint(rng.IntN(3)), value: fmt.Sprint(step)})
		case r < 12:
			h.tick()
		case r == 12:
			h.crash(h.ids[rng.IntN(3)])
		case r == 13:
			h.restart(h.ids[rng.IntN(3)])
		default:
			for len(h.queue) > 0 && rng.IntN(8) != 0 {
				i := rng.IntN(len(h.queue))
				fmt.Fprintf(sum, "%v>%v:%x;", h.queue[i].from, h.queue[i].to, h.queue[i].payload)
				h.deliverAt(i)
			}
		}
	}
	for i := uint64(1); i < 1000; i++ {
		if ev, ok := h.canon[i]; ok {
			fmt.Fprintf(sum, "%d:%x;", i, ev.Digest)
		}
	}
	return sum.Sum64()
}

func TestDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		if a, b := traceHash(t, seed), traceHash(t, seed); a != b {
			t.Errorf("seed %d: trace hash %x then %x, want equal runs", seed, a, b)
		}
	}
	if traceHash(t, 1) == traceHash(t, 2) {
		t.Errorf("seeds 1 and 2 give the same trace hash: the seed is ignored")
	}
}

func TestGarbageIsCounted(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 5})
	h.run(25)
	s := h.servers[h.leader()]
	junk := [][]byte{nil, {0}, {wireVersion}, {wireVersion, kindRaft, 0xff, 0xff}, {wireVersion, kindReply},
		{wireVersion, 9}, {2, kindRequest}, encodeRequestEnvelope(&request{op: OpGet, session: 0, key: "k"})[:5]}
	before := s.Stats().Garbage
	for _, b := range junk {
		s.Receive(2, b)
	}
	if got := s.Stats().Garbage - before; got != uint64(len(junk)) {
		t.Errorf("Stats().Garbage grew by %d after %d junk messages", got, len(junk))
	}
	if o := h.do(1, &opRecord{op: OpPut, key: "a", value: "1"}); o.res.Err != nil {
		t.Errorf("put after garbage error = %v", o.res.Err)
	}
}

// A disk that fails a write stops the server (Err); reopened on a healthy
// disk it recovers what it had synced.
func TestDiskErrorStopsServer(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 6})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	victim := h.followers()[0]
	h.disks[victim].SetFaults(simdisk.Faults{WriteErrorProb: 1})
	h.do(1, &opRecord{op: OpPut, key: "b", value: "2"})
	s := h.servers[victim]
	if err := s.Err(); !errors.Is(err, ErrFailed) || !errors.Is(err, diskmodel.ErrIO) {
		t.Fatalf("Err() after a failed write = %v, want ErrFailed wrapping ErrIO", err)
	}
	applied := s.Status().Applied
	h.run(5)
	if got := s.Status().Applied; got != applied || s.Stats().DroppedWhileFailed == 0 {
		t.Errorf("failed server applied %d -> %d, dropped %d: want it to ignore input", applied, got, s.Stats().DroppedWhileFailed)
	}
	h.disks[victim].SetFaults(simdisk.Faults{})
	h.crash(victim)
	h.restart(victim)
	h.settle(200)
	h.check()
}

func TestRestartRecoversSyncedState(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 7, snapshotEntries: 4,
		faults: simdisk.Faults{LoseUnsyncedProb: 1, TornWrites: true}})
	h.run(25)
	for i := 0; i < 10; i++ {
		h.do(1+i%2, &opRecord{op: OpPut, key: fmt.Sprint("k", i), value: fmt.Sprint(i)})
	}
	for _, id := range h.ids {
		h.crash(id)
	}
	h.settle(300)
	h.check()
	get := h.do(3, &opRecord{op: OpGet, key: "k9"})
	if get.res.Value != "9" {
		t.Errorf("get k9 after a whole-cluster crash = %q, want 9", get.res.Value)
	}
}

func TestSnapshotsCompactWAL(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 8, snapshotEntries: 5, segmentBytes: 512})
	h.run(25)
	for i := 0; i < 40; i++ {
		h.do(1, &opRecord{op: OpPut, key: "k", value: fmt.Sprint(i)})
	}
	for _, id := range h.ids {
		st := h.servers[id].Stats()
		if st.SnapshotsTaken < 5 || st.WAL.SegmentsRemoved == 0 || st.WAL.Segments > 4 {
			t.Errorf("%v: %d snapshots, %d segments removed, %d live: want the WAL compacted",
				id, st.SnapshotsTaken, st.WAL.SegmentsRemoved, st.WAL.Segments)
		}
		snaps, err := h.disks[id].ReadDir("raftkv/snap")
		if err != nil || len(snaps) != 1 {
			t.Errorf("%v: snapshot files %v (%v), want exactly one", id, snaps, err)
		}
	}
}

// corruptFile flips one byte of a file on a server's disk.
func corruptFile(t *testing.T, disk diskmodel.FS, name string, at func(size int) int) {
	b, err := diskmodel.ReadFile(disk, name)
	if err != nil {
		t.Fatalf("ReadFile(%s) error = %v", name, err)
	}
	b[at(len(b))] ^= 0x20
	if err := diskmodel.WriteFileAtomic(disk, name, b); err != nil {
		t.Fatalf("WriteFileAtomic(%s) error = %v", name, err)
	}
}

func TestOpenDetectsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, disk *simdisk.Disk)
		wantWAL bool // the error also wraps wal.ErrCorrupt
	}{
		{"snapshot file bit flip", func(t *testing.T, disk *simdisk.Disk) {
			infos, _ := disk.ReadDir("raftkv/snap")
			corruptFile(t, disk, path.Join("raftkv/snap", infos[0].Name), func(n int) int { return n / 2 })
		}, false},
		{"snapshot file missing", func(t *testing.T, disk *simdisk.Disk) {
			infos, _ := disk.ReadDir("raftkv/snap")
			if err := disk.Remove(path.Join("raftkv/snap", infos[0].Name)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"WAL record bit flip", func(t *testing.T, disk *simdisk.Disk) {
			infos, _ := disk.ReadDir("raftkv/wal")
			corruptFile(t, disk, path.Join("raftkv/wal", infos[0].Name), func(n int) int { return 60 })
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{seed: 9, snapshotEntries: 1000})
			h.run(25)
			for i := 0; i < 5; i++ {
				h.do(1, &opRecord{op: OpPut, key: "k", value: fmt.Sprint(i)})
			}
			victim := h.followers()[0]
			h.crash(victim)
			tt.damage(t, h.disks[victim])
			cfg := h.base
			cfg.ID, cfg.Disk, cfg.Transport = victim, h.disks[victim], harnessTransport{h: h, from: victim}
			cfg.Rand = rand.New(rand.NewPCG(1, 1))
			_, err := Open(cfg)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, wal.ErrCorrupt) != tt.wantWAL {
				t.Fatalf("Open after %s error = %v, want ErrCorrupt (wal.ErrCorrupt: %v)", tt.name, err, tt.wantWAL)
			}
		})
	}
}

func TestSingleServer(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 1, seed: 11, snapshotEntries: 3})
	h.run(25)
	if h.leader() != 1 {
		t.Fatalf("a lone server is %v, want leader", h.servers[1].Status().State)
	}
	for i := 0; i < 10; i++ {
		h.do(1, &opRecord{op: OpPut, key: "k", value: fmt.Sprint(i)})
	}
	h.crash(1)
	h.restart(1)
	h.run(25)
	if get := h.do(1, &opRecord{op: OpGet, key: "k"}); get.res.Value != "9" {
		t.Errorf("get after restart = (%q, %v), want 9", get.res.Value, get.res.Err)
	}
	h.settle(100)
	h.check()
}

// TestStepFlushGroupCommits: proposals stepped one by one and flushed once
// share one WAL sync, and nothing of raft's leaves before the flush.
func TestStepFlushGroupCommits(t *testing.T) {
	const clients = 5
	h := newHarness(t, harnessOptions{seed: 11})
	h.run(25)
	for c := 1; c <= clients; c++ {
		h.do(c, &opRecord{op: OpPut, key: "warm", value: fmt.Sprint(c)}) // each client learns the leader
	}
	leader := h.leader()
	ops := make([]*opRecord, clients)
	for c := 1; c <= clients; c++ {
		ops[c-1] = &opRecord{op: OpPut, key: fmt.Sprint("k", c), value: fmt.Sprint(c)}
		if !h.startOp(c, ops[c-1]) {
			t.Fatalf("client %d busy", c)
		}
	}
	if len(h.queue) != clients {
		t.Fatalf("queued %d messages after %d puts, want one request each", len(h.queue), clients)
	}
	srv := h.servers[leader]
	before := srv.Stats()
	for len(h.queue) > 0 {
		if m := h.queue[0]; m.to != leader {
			t.Fatalf("request %s not to the leader %v", describeMessage(m), leader)
		}
		h.stepAt(0)
	}
	if got := srv.Stats(); len(h.queue) != 0 || got.WAL.Syncs != before.WAL.Syncs {
		t.Fatalf("after Step: %d messages sent, %d syncs, want none before Flush", len(h.queue), got.WAL.Syncs-before.WAL.Syncs)
	}
	srv.Flush()
	after := srv.Stats()
	if syncs := after.WAL.Syncs - before.WAL.Syncs; syncs != 1 {
		t.Errorf("Flush of %d stepped proposals made %d WAL syncs, want 1", clients, syncs)
	}
	if got := after.Proposals - before.Proposals; got != clients {
		t.Errorf("Flush proposed %d, want %d", got, clients)
	}
	// One proposal for the burst: one append to each follower.
	var apps []string
	for _, m := range h.queue {
		if d := describeMessage(m); strings.Contains(d, "MsgApp ") {
			apps = append(apps, d)
		}
	}
	if len(apps) != 2 || !strings.Contains(apps[0], fmt.Sprintf("entries=%d", clients)) {
		t.Errorf("appends after the Flush: %q, want one of %d entries to each follower", apps, clients)
	}
	h.settle(200)
	for _, o := range ops {
		if !o.done || o.res.Err != nil {
			t.Errorf("%s = (done %v, %v), want done", o, o.done, o.res.Err)
		}
	}
	h.check()
}

// TestEarlySend: only a leader's appends and heartbeats of a durable term
// may leave before the sync; acknowledgements and votes never do.
func TestEarlySend(t *testing.T) {
	hs := func(term, vote, commit uint64) *pb.HardState {
		return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
	}
	msg := func(typ pb.MessageType, term uint64) *pb.Message {
		return &pb.Message{Type: typ.Enum(), Term: new(term)}
	}
	durable := hs(3, 1, 10)
	tests := []struct {
		name string
		m    *pb.Message
		hs   *pb.HardState
		want bool
	}{
		{"append, no hard state", msg(pb.MsgApp, 3), &pb.HardState{}, true},
		{"heartbeat, commit moves", msg(pb.MsgHeartbeat, 3), hs(3, 1, 12), true},
		{"append of a term not durable", msg(pb.MsgApp, 4), hs(4, 1, 10), false},
		{"append while the vote changes", msg(pb.MsgApp, 3), hs(3, 2, 10), false},
		{"append of an older term", msg(pb.MsgApp, 2), &pb.HardState{}, false},
		{"append response", msg(pb.MsgAppResp, 3), &pb.HardState{}, false},
		{"vote response", msg(pb.MsgVoteResp, 3), &pb.HardState{}, false},
		{"vote", msg(pb.MsgVote, 3), &pb.HardState{}, false},
		{"snapshot", msg(pb.MsgSnap, 3), &pb.HardState{}, false},
		{"heartbeat response", msg(pb.MsgHeartbeatResp, 3), &pb.HardState{}, false},
	}
	for _, tt := range tests {
		if got := earlyOK(tt.m, tt.hs, durable); got != tt.want {
			t.Errorf("%s: earlyOK(%v term %d) = %v, want %v", tt.name, tt.m.GetType(), tt.m.GetTerm(), got, tt.want)
		}
	}
}

// TestCloseDuringSyncWaitsForTheReady: a Close made while the server syncs
// with the driver's lock released (another goroutine's) takes effect only
// once the Ready is done, which still finishes persisting it.
func TestCloseDuringSyncWaitsForTheReady(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 1, seed: 5})
	h.run(25)
	id := h.ids[0]
	srv := h.servers[id]
	closed := 0
	srv.p.syncVia = func(fsync func() error) error {
		if closed > 0 {
			t.Errorf("a sync after Close")
			return fsync()
		}
		closed++
		if err := srv.Close(); err != nil {
			t.Errorf("Close during a sync error = %v, want nil (deferred)", err)
		}
		err := fsync()
		if err != nil {
			t.Errorf("fsync after a deferred Close error = %v, want nil", err)
		}
		return err
	}
	o := &opRecord{op: OpPut, key: "k", value: "v"}
	h.startOp(1, o)
	h.deliverAll()
	if closed != 1 || srv.Err() != nil {
		t.Fatalf("the sync hook closed %d times, server error %v, want 1 and nil", closed, srv.Err())
	}
	if _, err := srv.p.wal.Append(nil, []wal.Record{{Type: recEntry, Data: []byte{1}}}); !errors.Is(err, wal.ErrClosed) {
		t.Errorf("WAL Append after the Ready error = %v, want ErrClosed", err)
	}
	h.servers[id] = nil
	h.disks[id].Crash() // keeps only what was synced
	h.open(id)
	for i := 0; i < 200 && !o.done; i++ {
		h.tick()
		h.deliverAll()
	}
	if get := h.do(2, &opRecord{op: OpGet, key: "k"}); !o.done || o.res.Err != nil || get.res.Value != "v" {
		t.Errorf("after reopening: put (done %v, %v), get k = %q, want the put durable and answered", o.done, o.res.Err, get.res.Value)
	}
	h.check()
}

// TestNoConfChangeDuringSync: while a Ready's entries are being synced
// (Config.SyncUnlocked), they are not in storage yet, so the next entry's
// index is unknown: a configuration change is refused then, and a leader
// new to its term counts itself as leaving until it can scan its log.
func TestNoConfChangeDuringSync(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 1, seed: 6})
	h.run(25)
	srv := h.servers[h.ids[0]]
	if !srv.confChangeAllowed() {
		t.Fatalf("confChangeAllowed() = false on an idle leader, want true")
	}
	syncs := 0
	srv.p.syncVia = func(fsync func() error) error {
		syncs++
		if srv.confChangeAllowed() {
			t.Errorf("confChangeAllowed() = true during a sync, want false")
		}
		if term := srv.rn.BasicStatus().GetTerm(); !srv.leaving(term + 1) {
			t.Errorf("leaving(a new term) = false during a sync, want true")
		}
		return fsync()
	}
	h.do(1, &opRecord{op: OpPut, key: "k", value: "v"})
	if syncs == 0 {
		t.Fatalf("the put made no sync")
	}
}

// TestConfChangeInABurstOfProposals: a configuration change stepped after
// other proposals of the same burst is proposed (the server handles their
// Ready first, so the change's index is known), not refused as pending.
func TestConfChangeInABurstOfProposals(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 3, spares: 1, seed: 12})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "warm", value: "1"})
	// A first change of the term, applied: the next may follow at once.
	if o := h.do(2, &opRecord{op: OpChangeMembers, changes: []MemberChange{{Kind: MemberAddLearner, ID: 4}}}); o.res.Err != nil {
		t.Fatalf("%s = %v", o, o.res.Err)
	}
	h.settle(300)
	leader := h.leader()
	put := &opRecord{op: OpPut, key: "k", value: "v"}
	change := &opRecord{op: OpChangeMembers, changes: []MemberChange{{Kind: MemberRemove, ID: 4}}}
	h.startOp(1, put)
	h.startOp(2, change)
	if len(h.queue) != 2 {
		t.Fatalf("queued %d messages after two operations, want their requests", len(h.queue))
	}
	for range 2 {
		if m := h.queue[0]; m.to != leader {
			t.Fatalf("request %s not to the leader %v", describeMessage(m), leader)
		}
		h.stepAt(0)
	}
	h.servers[leader].Flush()
	h.settle(300)
	if !put.done || put.res.Err != nil || !change.done || change.res.Err != nil {
		t.Errorf("put (done %v, %v), change (done %v, %v) stepped in one burst, want both done",
			put.done, put.res.Err, change.done, change.res.Err)
	}
	h.check()
}

// TestAsyncSyncAnswersOnceDurable: with the WAL's fsyncs run elsewhere
// (Config.SyncAsync), a put is not answered while the fsync of its entry
// is under way, the server takes inputs meanwhile, and the put is answered
// once the fsync's done came back.
func TestAsyncSyncAnswersOnceDurable(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 1, seed: 7, asyncSync: true})
	h.asyncRng = nil // the test finishes the syncs itself
	finishAll := func() {
		for len(h.syncs) > 0 {
			p := h.syncs[0]
			h.syncs = h.syncs[1:]
			p.done(p.fsync())
		}
	}
	for i := 0; i < 200 && h.leader() == 0; i++ {
		h.tick()
		h.deliverAll()
		finishAll()
	}
	if h.leader() == 0 {
		t.Fatalf("no leader elected")
	}
	put := &opRecord{op: OpPut, key: "k", value: "v"}
	h.startOp(1, put)
	for range 5 {
		h.tick()
		h.deliverAll()
	}
	s := h.servers[h.leader()]
	if put.done || len(h.syncs) != 1 || s.Stats().SyncsAsync == 0 {
		t.Fatalf("during the put's fsync: done %v, %d syncs under way, %d async syncs; want not done, 1, > 0",
			put.done, len(h.syncs), s.Stats().SyncsAsync)
	}
	other := &opRecord{op: OpPut, key: "j", value: "w"}
	h.startOp(2, other) // taken meanwhile, answered after
	for i := 0; i < 50 && !(put.done && other.done); i++ {
		finishAll()
		h.tick()
		h.deliverAll()
	}
	if !put.done || put.res.Err != nil || !other.done || other.res.Err != nil {
		t.Fatalf("after the fsync: put done %v (%v), the put made meanwhile done %v (%v); want both done",
			put.done, put.res.Err, other.done, other.res.Err)
	}
	get := &opRecord{op: OpGet, key: "k"}
	h.startOp(1, get)
	for i := 0; i < 50 && !get.done; i++ {
		finishAll()
		h.tick()
		h.deliverAll()
	}
	if !get.done || !get.res.Found || get.res.Value != "v" {
		t.Fatalf("get after the put = done %v, %q (found %v), want v", get.done, get.res.Value, get.res.Found)
	}
}
