package raftkv

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Reads on the leader and on followers take no log entry.
func TestReadsTakeNoLogEntry(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 21})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	last := h.servers[h.leader()].Status().LastIndex
	for c, id := range h.ids { // clients 2, 3 and 4: without a session
		h.setReadFrom(c+2, id)
		get := h.do(c+2, &opRecord{op: OpGet, key: "a"})
		if get.res.Err != nil || get.res.Value != "1" || get.res.Session != 0 || get.res.Index != last {
			t.Errorf("get via %v = (%q, %v, session %d, index %d), want (1, nil, session 0, index %d)",
				id, get.res.Value, get.res.Err, get.res.Session, get.res.Index, last)
		}
		scan := h.do(c+2, &opRecord{op: OpScan, key: "", limit: 5})
		if scan.res.Err != nil || len(scan.res.Pairs) != 1 {
			t.Errorf("scan via %v = (%v, %v), want [a=1]", id, scan.res.Pairs, scan.res.Err)
		}
	}
	for _, id := range h.ids {
		s := h.servers[id]
		if got := s.Status().LastIndex; got != last {
			t.Errorf("%v last index = %d after reads, want %d: reads took log entries", id, got, last)
		}
		if st := s.Stats(); st.ReadsServed != 2 || st.Reads != 2 {
			t.Errorf("%v Stats() reads %d served %d, want 2 and 2", id, st.Reads, st.ReadsServed)
		}
	}
	for c := 2; c <= len(h.ids)+1; c++ {
		if got := h.clients[netmodel.NodeID(clientBase+c)].Session(); got != 0 {
			t.Errorf("client %d session = %d after reads only, want 0 (reads need none)", c, got)
		}
	}
	h.settle(100)
	h.check()
}

// After an operation with an unknown outcome, the session's next read goes
// through the log, so the earlier request can no longer apply after it;
// the read after that is served by ReadIndex again.
func TestReadAfterUnknownOutcomeIsFenced(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 22})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	for _, id := range h.ids {
		h.crash(id)
	}
	lost := h.do(1, &opRecord{op: OpPut, key: "a", value: "2"})
	if !errors.Is(lost.res.Err, ErrUnknownOutcome) {
		t.Fatalf("put to a crashed cluster error = %v, want ErrUnknownOutcome", lost.res.Err)
	}
	for _, id := range h.ids {
		h.restart(id)
	}
	h.run(40)
	fenced := h.do(1, &opRecord{op: OpGet, key: "a"})
	if fenced.res.Err != nil || fenced.res.Session == 0 {
		t.Fatalf("read after an unknown outcome = (session %d, %v), want it in the session (through the log)",
			fenced.res.Session, fenced.res.Err)
	}
	free := h.do(1, &opRecord{op: OpGet, key: "a"})
	if free.res.Err != nil || free.res.Session != 0 {
		t.Errorf("second read = (session %d, %v), want a session-less read", free.res.Session, free.res.Err)
	}
	if got := h.clients[clientBase+1].Stats().FencedReads; got != 1 {
		t.Errorf("Stats().FencedReads = %d, want 1", got)
	}
	h.settle(200)
	h.check()
}

// A ReadFrom that leaves a read unanswered is skipped for a while: the
// next read goes straight to the leader.
func TestReadFromSuspectedAfterTimeout(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 23})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	down := h.followers()[0]
	h.crash(down)
	h.setReadFrom(1, down)
	cl := h.clients[clientBase+1]
	for i := 0; i < 2; i++ {
		if get := h.do(1, &opRecord{op: OpGet, key: "a"}); get.res.Err != nil || get.res.Value != "1" {
			t.Fatalf("get %d with ReadFrom down = (%q, %v), want 1", i, get.res.Value, get.res.Err)
		}
	}
	if st := cl.Stats(); st.ReadsFrom != 1 || st.Timeouts != 1 {
		t.Errorf("Stats() ReadsFrom %d Timeouts %d, want 1 and 1 (the second read skips the suspect)", st.ReadsFrom, st.Timeouts)
	}
	h.run(readFromSuspectTimeouts * 20)
	h.do(1, &opRecord{op: OpGet, key: "a"})
	if got := cl.Stats().ReadsFrom; got != 2 {
		t.Errorf("Stats().ReadsFrom = %d after the suspicion ended, want 2", got)
	}
}

// A server holds at most ReadPendingMax reads; the next is refused as
// overloaded and its client reads from the leader at once.
func TestReadsBounded(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 24})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	leader, f := h.leader(), h.followers()[0]
	h.servers[f].cfg.ReadPendingMax = 1
	h.setCut(f, leader, true) // f's read index requests are lost
	h.setReadFrom(2, f)
	h.setReadFrom(3, f)
	first := &opRecord{op: OpGet, key: "a"}
	h.startOp(2, first)
	h.deliverAll()
	h.client(3).leader = leader
	second := h.do(3, &opRecord{op: OpGet, key: "a"})
	if second.res.Err != nil || h.servers[f].Stats().Overloaded != 1 || h.clients[clientBase+3].Stats().Redirects != 1 {
		t.Errorf("second read: %v, overloaded %d, redirects %d; want it refused by %v and served by the leader",
			second.res.Err, h.servers[f].Stats().Overloaded, h.clients[clientBase+3].Stats().Redirects, f)
	}
	if first.done {
		t.Errorf("first read done = %v before %v could confirm a read index", first.res, f)
	}
	clear(h.cut)
	h.settle(200)
	h.check()
}

// Peers' read messages that raft would index blindly, or that a correct
// peer never sends, are refused before they reach raft.
func TestReadMessagesChecked(t *testing.T) {
	ctx := encodeReadCtx(7, 3)
	lim := Config{}.testLimits()
	ent := func(data []byte) []*pb.Entry { return []*pb.Entry{{Data: data}} }
	tests := []struct {
		name string
		m    *pb.Message
		ok   bool
	}{
		{"read index", &pb.Message{Type: pb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: ent(ctx)}, true},
		{"read index with a term", &pb.Message{Type: pb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)), Entries: ent(ctx)}, false},
		{"read index without context", &pb.Message{Type: pb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1))}, false},
		{"read index with two", &pb.Message{Type: pb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: append(ent(ctx), ent(ctx)...)}, false},
		{"read index short context", &pb.Message{Type: pb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: ent(ctx[:3])}, false},
		{"read index response", &pb.Message{Type: pb.MsgReadIndexResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)), Index: new(uint64(9)), Entries: ent(ctx)}, true},
		{"read index response without term", &pb.Message{Type: pb.MsgReadIndexResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: ent(ctx)}, false},
		{"read index response without context", &pb.Message{Type: pb.MsgReadIndexResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3))}, false},
		{"heartbeat response with position", &pb.Message{Type: pb.MsgHeartbeatResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)), Context: make([]byte, 8)}, true},
		{"heartbeat response short position", &pb.Message{Type: pb.MsgHeartbeatResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)), Context: make([]byte, 3)}, false},
		{"heartbeat short position", &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3)), Context: make([]byte, 9)}, false},
	}
	for _, tt := range tests {
		b, err := marshalOptions.Marshal(tt.m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = decodeRaftMessage(b, 2, 1, lim)
		if (err == nil) != tt.ok {
			t.Errorf("decodeRaftMessage(%s) error = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// A follower does not pass a peer's read index request on (raft would, in
// the requester's name), and a leader refuses a heartbeat echo with a read
// position it never sent; neither reaches raft.
func TestReadMessagesRefusedByRole(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 25})
	h.run(25)
	leader, f := h.leader(), h.followers()[0]
	other := h.followers()[1]
	send := func(to, from netmodel.NodeID, m *pb.Message) {
		m.From, m.To = new(uint64(from)), new(uint64(to))
		b, err := marshalOptions.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		h.servers[to].Receive(from, encodeRaftEnvelope(b))
	}
	send(f, other, &pb.Message{Type: pb.MsgReadIndex.Enum(), Entries: []*pb.Entry{{Data: encodeReadCtx(1, 1)}}})
	if got := h.servers[f].Stats().ReadIndexDropped; got != 1 {
		t.Errorf("follower Stats().ReadIndexDropped = %d after a peer's read index request, want 1", got)
	}
	term := h.servers[leader].Status().Term
	before := h.servers[leader].Stats().Garbage
	send(leader, f, &pb.Message{Type: pb.MsgHeartbeatResp.Enum(), Term: new(term), Context: []byte{0, 0, 0, 0, 0, 0, 0, 1}})
	if got := h.servers[leader].Stats().Garbage - before; got != 1 {
		t.Errorf("leader garbage grew by %d after a forged read position, want 1", got)
	}
	h.do(1, &opRecord{op: OpGet, key: "a"})
	h.settle(100)
	h.check()
}

func TestReadConfigValidation(t *testing.T) {
	disk := simdisk.New(rand.New(rand.NewPCG(1, 1)), simdisk.Faults{})
	cfg := Config{ID: 1, Peers: []netmodel.NodeID{1, 2, 3}, Disk: disk, Dir: "kv",
		Transport: harnessTransport{}, Rand: rand.New(rand.NewPCG(1, 2)), ReadTimeoutTicks: -1}
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "ReadTimeoutTicks") {
		t.Errorf("Open(ReadTimeoutTicks -1) error = %v, want a configuration error", err)
	}
	ccfg := ClientConfig{Self: 100, Servers: []netmodel.NodeID{1, 2, 3}, ReadFrom: 4,
		Transport: harnessTransport{}, Rand: rand.New(rand.NewPCG(1, 3))}
	if _, err := NewClient(ccfg); err == nil || !strings.Contains(err.Error(), "ReadFrom") {
		t.Errorf("NewClient(ReadFrom not a server) error = %v, want a configuration error", err)
	}
	ccfg.ReadFrom = 2
	if _, err := NewClient(ccfg); err != nil {
		t.Errorf("NewClient(ReadFrom 2) error = %v", err)
	}
}

// A heartbeat that commits beyond the follower's log means the follower
// lost entries it acknowledged: it stops with ErrCorrupt (raft would
// panic), and a heartbeat within the log is fine.
func TestHeartbeatBeyondLogStopsServer(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 26})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	leader, f := h.leader(), h.followers()[0]
	if leader == 0 {
		t.Fatal("no leader")
	}
	st := h.servers[f].Status()
	for _, tt := range []struct {
		commit  uint64
		corrupt bool
	}{{st.LastIndex, false}, {st.LastIndex + 1, true}} {
		m := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(leader)), To: new(uint64(f)),
			Term: new(st.Term), Commit: new(tt.commit)}
		b, err := marshalOptions.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		h.servers[f].Receive(leader, encodeRaftEnvelope(b))
		if err := h.servers[f].Err(); errors.Is(err, ErrCorrupt) != tt.corrupt || errors.Is(err, ErrFailed) != tt.corrupt {
			t.Errorf("heartbeat with commit %d (last index %d): Err() = %v, want ErrCorrupt %v",
				tt.commit, st.LastIndex, err, tt.corrupt)
		}
	}
}
