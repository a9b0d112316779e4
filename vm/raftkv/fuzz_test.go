package raftkv

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/flockvm/flock/netmodel"
	pb "go.etcd.io/raft/v3/raftpb"
)

func seedRequests() []request {
	return []request{
		{op: OpRegister, seq: 77, attempt: 1},
		{op: OpPut, session: 3, seq: 9, key: "k", value: "v", attempt: 2, client: 101},
		{op: OpCAS, session: 3, seq: 10, key: "k", expected: "v", expectedFound: true, value: "w"},
		{op: OpScan, session: 4, seq: 1, key: "pre", limit: 10},
		{op: OpGet, seq: 2, key: "k", attempt: 1},            // a read without a session (ReadIndex)
		{op: OpScan, seq: 4, key: "p", limit: 3, attempt: 2}, // likewise
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, r := range seedRequests() {
		f.Add(encodeRequestEnvelope(&r))
	}
	f.Add(encodeReplyEnvelope(&reply{session: 3, seq: 4, status: statusOK, found: true, value: "v", index: 9,
		pairs: []KV{{"a", "1"}, {"b", "2"}}, more: true}))
	f.Add(encodeReplyEnvelope(&reply{status: statusNotLeader, leader: 2, attempt: 3}))
	f.Add(encodeReplyEnvelope(&reply{seq: 6, status: statusOK, found: true, value: "v", index: 12, attempt: 1})) // a read's
	f.Add(encodeRaftEnvelope([]byte{8, 3}))
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, payload []byte) {
		env, err := decodeEnvelope(payload)
		if err != nil {
			return
		}
		var again []byte
		switch env.kind {
		case kindRequest:
			again = encodeRequestEnvelope(&env.request)
		case kindReply:
			again = encodeReplyEnvelope(&env.reply)
		default:
			return
		}
		env2, err := decodeEnvelope(again)
		if err != nil || !reflect.DeepEqual(normalize(env), normalize(env2)) {
			t.Fatalf("decode(encode(decode(x))) = (%+v, %v), want %+v", env2, err, env)
		}
	})
}

func normalize(e envelope) envelope {
	if len(e.reply.pairs) == 0 {
		e.reply.pairs = nil
	}
	return e
}

func FuzzDecodeCommand(f *testing.F) {
	for _, r := range seedRequests() {
		f.Add(encodeCommand(&r))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeCommand(data)
		if err != nil {
			return
		}
		r2, err := decodeCommand(encodeCommand(&r))
		if err != nil || !reflect.DeepEqual(r2, r) {
			t.Fatalf("decodeCommand(encodeCommand(%+v)) = (%+v, %v)", r, r2, err)
		}
	})
}

// seedState is a small state machine with pairs and sessions.
func seedState() *stateMachine {
	sm := newStateMachine(Config{}.testLimits())
	sm.applied, sm.appliedTerm = 1, 1
	reg := request{op: OpRegister, seq: 1}
	sm.apply(2, 1, &reg, false)
	for i, k := range []string{"a", "b", "c"} {
		put := request{op: OpPut, session: 2, seq: uint64(i + 1), key: k, value: "v" + k}
		sm.apply(uint64(3+i), 1, &put, false)
	}
	return sm
}

func (Config) testLimits() limits {
	cfg := Config{}
	setInt(&cfg.KeySizeMax, KeySizeMaxDefault)
	setInt(&cfg.ValueSizeMax, ValueSizeMaxDefault)
	setInt(&cfg.ScanLimitMax, ScanLimitMaxDefault)
	setInt(&cfg.ScanBytesMax, ScanBytesMaxDefault)
	setInt(&cfg.SessionsMax, SessionsMaxDefault)
	cfg.StateSizeMax = StateSizeMaxDefault
	return cfg.limits()
}

func FuzzDecodeState(f *testing.F) {
	f.Add(seedState().encode())
	f.Add(newStateMachine(Config{}.testLimits()).encode())
	f.Add([]byte("FLKV"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sm, err := decodeState(data, seedConf(), Config{}.testLimits())
		if err != nil {
			return
		}
		again, err := decodeState(sm.encode(), seedConf(), Config{}.testLimits())
		if err != nil || !bytes.Equal(again.encode(), sm.encode()) {
			t.Fatalf("decodeState(encode(decodeState(x))) = %v, want the same state", err)
		}
	})
}

// seedConf is the configuration of the seed states: three voters.
func seedConf() *pb.ConfState { return &pb.ConfState{Voters: []uint64{1, 2, 3}} }

func FuzzDecodeSnapFile(f *testing.F) {
	f.Add(encodeSnapFile(snapFile{index: 9, term: 2, conf: seedConf(), data: seedState().encode()}))
	f.Add(encodeSnapFile(snapFile{index: 1, term: 1, conf: &pb.ConfState{Voters: []uint64{7}}}))
	f.Add(encodeSnapFile(snapFile{index: 12, term: 3, conf: &pb.ConfState{Voters: []uint64{1, 2, 4}, Learners: []uint64{5},
		VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, AutoLeave: new(true)}, data: seedState().encode()}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeSnapFile(data)
		if err != nil {
			return
		}
		sf2, err := decodeSnapFile(encodeSnapFile(sf))
		if err != nil || sf2.index != sf.index || sf2.term != sf.term || sf2.conf.Equivalent(sf.conf) != nil ||
			!bytes.Equal(sf2.data, sf.data) {
			t.Fatalf("decodeSnapFile(encodeSnapFile(%+v)) = (%+v, %v)", sf, sf2, err)
		}
	})
}

// FuzzServerReceive feeds arbitrary payloads, as if from a peer or a
// client, to the leader or a follower of a live cluster: nothing may panic.
// (Agreement is not checked: a well-formed message forged in a peer's name
// is a Byzantine fault, outside the fault model; line noise never reaches
// Receive, since netmodel frames are checksummed.)
func FuzzServerReceive(f *testing.F) {
	h := newHarness(f, harnessOptions{seed: 3})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	h.startOp(1, &opRecord{op: OpPut, key: "b", value: "2"})
	for _, m := range h.queue { // real raft messages and requests as seeds
		f.Add(m.payload, uint8(m.from), true)
		f.Add(m.payload, uint8(m.from), false)
	}
	h.deliverAll()
	// A follower read on a cluster in the state the target starts from:
	// MsgReadIndex, heartbeats with a read position and their echoes,
	// MsgReadIndexResp, and the session-less request and reply.
	h = newHarness(f, harnessOptions{seed: 3, snapshotEntries: 3})
	h.run(25)
	h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
	f1 := h.followers()[0]
	h.setReadFrom(2, f1)
	h.startOp(2, &opRecord{op: OpGet, key: "a"})
	for i := 0; i < 1000 && len(h.queue) > 0; i++ {
		m := h.queue[0]
		f.Add(m.payload, uint8(m.from), m.to == h.leader())
		h.deliverAt(0)
	}
	for _, m := range forgedReadMessages(h.leader(), f1) {
		f.Add(m.payload, uint8(m.from), m.to == h.leader())
	}
	f.Add(encodeRaftEnvelope([]byte{0x08, 0x03, 0x10, 0x02}), uint8(2), true)
	f.Fuzz(func(t *testing.T, payload []byte, from uint8, toLeader bool) {
		h := newHarness(t, harnessOptions{seed: 3, snapshotEntries: 3})
		h.run(25)
		h.do(1, &opRecord{op: OpPut, key: "a", value: "1"})
		target := h.leader()
		if !toLeader {
			target = h.followers()[0]
		}
		h.servers[target].Receive(netmodel.NodeID(from), payload)
		h.run(5)
		// A heartbeat committing beyond the log is what a follower whose
		// disk lost acknowledged entries sees: it stops with ErrCorrupt.
		if err := h.servers[target].Err(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("after receiving %d bytes from %v, Err() = %v", len(payload), from, err)
		}
	})
}

// forgedReadMessages are read messages a correct peer never sends, which
// raft would index blindly (empty entries, short contexts) or trust
// (positions never sent).
func forgedReadMessages(leader, follower netmodel.NodeID) []message {
	lead, fol := uint64(leader), uint64(follower)
	msgs := []*pb.Message{
		{Type: pb.MsgReadIndex.Enum(), From: new(fol), To: new(lead)},
		{Type: pb.MsgReadIndex.Enum(), From: new(fol), To: new(lead), Entries: []*pb.Entry{{Data: []byte{1}}}},
		{Type: pb.MsgReadIndexResp.Enum(), From: new(lead), To: new(fol), Term: new(uint64(1)), Index: new(uint64(1 << 40))},
		{Type: pb.MsgHeartbeatResp.Enum(), From: new(fol), To: new(lead), Term: new(uint64(1)), Context: []byte{9}},
		{Type: pb.MsgHeartbeatResp.Enum(), From: new(fol), To: new(lead), Term: new(uint64(1)),
			Context: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	}
	var out []message
	for _, m := range msgs {
		b, err := marshalOptions.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, message{from: netmodel.NodeID(m.GetFrom()), to: netmodel.NodeID(m.GetTo()), payload: encodeRaftEnvelope(b)})
	}
	return out
}

// The largest state the limits allow (smallest keys, most sessions, the
// widest varints) still encodes into one netmodel frame, so a lagging
// follower can always be sent a snapshot.
func TestLargestSnapshotFitsAFrame(t *testing.T) {
	lim := Config{}.testLimits()
	lim.stateSizeMax, lim.sessionsMax = StateSizeMaxLimit, SessionsMaxLimit
	sm := newStateMachine(lim)
	sm.applied, sm.appliedTerm = 1<<62, 1<<62
	for i := 0; ; i++ {
		key := string([]byte{byte(i >> 16), byte(i >> 8), byte(i), 1})
		rep := reply{}
		if !sm.set(key, "", KV{}, false, &rep) {
			break
		}
	}
	for i := uint64(0); i < SessionsMaxLimit; i++ {
		s := &session{id: 1<<62 - i, lastSeq: 1 << 62, lastIndex: 1<<62 - i, last: cachedReply{index: 1 << 62}}
		sm.sessions[s.id] = s
		sm.lru.ReplaceOrInsert(lruItem{lastIndex: s.lastIndex, id: s.id})
	}
	size := len(sm.encode()) + 1024 // raft message and envelope framing
	if size > netmodel.FramePayloadMax {
		t.Errorf("largest snapshot takes %d bytes, more than a frame's %d", size, netmodel.FramePayloadMax)
	}
}
