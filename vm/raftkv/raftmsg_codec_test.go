package raftkv

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// The codec is cross-checked against protobuf-go, its reference model:
// marshalRaftMessage must write proto's deterministic bytes and
// unmarshalRaftMessage must build what proto.Unmarshal builds, or fail
// where it fails.

func drawOptUint64(t *rapid.T, label string) *uint64 {
	if !rapid.Bool().Draw(t, label+"Set") {
		return nil
	}
	return new(rapid.Uint64().Draw(t, label))
}

func drawOptBool(t *rapid.T, label string) *bool {
	if !rapid.Bool().Draw(t, label+"Set") {
		return nil
	}
	return new(rapid.Bool().Draw(t, label))
}

// drawBytes draws absent (nil), present but empty, or some bytes: proto2
// tells the first two apart.
func drawBytes(t *rapid.T, label string, sizeMax int) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	default:
		return rapid.SliceOfN(rapid.Byte(), 1, sizeMax).Draw(t, label)
	}
}

// drawEnum draws raft's values and some it does not define, negative ones
// included (proto.Unmarshal keeps any int32).
func drawEnum(t *rapid.T, label string, last int32) int32 {
	return rapid.OneOf(rapid.Int32Range(0, last+2), rapid.Int32()).Draw(t, label)
}

func drawEntry(t *rapid.T) *pb.Entry {
	e := &pb.Entry{Term: drawOptUint64(t, "term"), Index: drawOptUint64(t, "index"), Data: drawBytes(t, "data", 300)}
	if rapid.Bool().Draw(t, "typeSet") {
		e.Type = new(pb.EntryType(drawEnum(t, "type", int32(pb.EntryConfChangeV2))))
	}
	return e
}

func drawIDs(t *rapid.T, label string) []uint64 {
	return rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, label)
}

func drawSnapshot(t *rapid.T) *pb.Snapshot {
	s := &pb.Snapshot{Data: drawBytes(t, "snapData", 200)}
	if !rapid.Bool().Draw(t, "metadataSet") {
		return s
	}
	s.Metadata = &pb.SnapshotMetadata{Index: drawOptUint64(t, "snapIndex"), Term: drawOptUint64(t, "snapTerm")}
	if rapid.Bool().Draw(t, "confStateSet") {
		s.Metadata.ConfState = &pb.ConfState{
			Voters: drawIDs(t, "voters"), Learners: drawIDs(t, "learners"),
			VotersOutgoing: drawIDs(t, "votersOutgoing"), LearnersNext: drawIDs(t, "learnersNext"),
			AutoLeave: drawOptBool(t, "autoLeave"),
		}
	}
	return s
}

// drawMessage draws any pb.Message, responses nested up to depth levels.
func drawMessage(t *rapid.T, depth int) *pb.Message {
	m := &pb.Message{
		To: drawOptUint64(t, "to"), From: drawOptUint64(t, "from"), Term: drawOptUint64(t, "term"),
		LogTerm: drawOptUint64(t, "logTerm"), Index: drawOptUint64(t, "index"), Commit: drawOptUint64(t, "commit"),
		Vote: drawOptUint64(t, "vote"), Reject: drawOptBool(t, "reject"), RejectHint: drawOptUint64(t, "rejectHint"),
		Context: drawBytes(t, "context", 16),
	}
	if rapid.Bool().Draw(t, "typeSet") {
		m.Type = new(pb.MessageType(drawEnum(t, "type", int32(pb.MsgForgetLeader))))
	}
	for range rapid.IntRange(0, 5).Draw(t, "entries") {
		m.Entries = append(m.Entries, drawEntry(t))
	}
	if rapid.Bool().Draw(t, "snapshotSet") {
		m.Snapshot = drawSnapshot(t)
	}
	if depth > 0 {
		for range rapid.IntRange(0, 2).Draw(t, "responses") {
			m.Responses = append(m.Responses, drawMessage(t, depth-1))
		}
	}
	return m
}

// checkCodec checks m's encoding against proto's and the decoding of it
// against proto.Unmarshal's.
func checkCodec(t fataler, m *pb.Message) {
	t.Helper()
	want, err := marshalOptions.Marshal(m)
	if err != nil {
		t.Fatalf("proto Marshal(%s) error = %v", describeWire(m), err)
	}
	if got := marshalRaftMessage(nil, m); !bytes.Equal(got, want) {
		t.Fatalf("marshalRaftMessage(%s) = %x, want %x", describeWire(m), got, want)
	}
	checkDecode(t, want)
}

// checkDecode checks that unmarshalRaftMessage(b) agrees with proto.Unmarshal.
func checkDecode(t fataler, b []byte) {
	t.Helper()
	want := &pb.Message{}
	wantErr := proto.Unmarshal(b, want)
	got, err := unmarshalRaftMessage(b)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("unmarshalRaftMessage(%x) error = %v, want error %v", b, err, wantErr)
	case err != nil:
		return
	case !proto.Equal(got, want):
		t.Fatalf("unmarshalRaftMessage(%x) = %s, want %s", b, describeWire(got), describeWire(want))
	case !reflect.DeepEqual(got, want):
		// proto.Equal has by now recorded the same message info in
		// both, so the structs compare field by field: what raft reads
		// (nil or not, empty or not) is the same.
		t.Fatalf("unmarshalRaftMessage(%x) differs field by field (reflect.DeepEqual) from what proto.Unmarshal gives", b)
	}
	// What was decoded encodes as proto encodes what it decoded (this
	// carries unknown fields through).
	again, err := marshalOptions.Marshal(want)
	if err != nil {
		t.Fatalf("proto Marshal(Unmarshal(%x)) error = %v", b, err)
	}
	if gotAgain := marshalRaftMessage(nil, got); !bytes.Equal(gotAgain, again) {
		t.Fatalf("marshalRaftMessage(unmarshalRaftMessage(%x)) = %x, want %x", b, gotAgain, again)
	}
}

// describeWire shows a message by its encoding: never String()/%v of
// protobufs (LIBRARIES.md), and the encoding is what the tests compare.
func describeWire(m proto.Message) string {
	b, err := marshalOptions.Marshal(m)
	if err != nil {
		return fmt.Sprintf("<unmarshalable: %v>", err)
	}
	return fmt.Sprintf("%x", b)
}

func TestRaftMessageCodecProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkCodec(t, drawMessage(t, 2))
	})
}

// TestRaftMessageDecodeWireProperty decodes encodings protobuf-go never
// writes but accepts: fields out of order or repeated, ids packed, unknown
// fields, known fields with other wire types, truncation.
func TestRaftMessageDecodeWireProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := marshalOptions.Marshal(drawMessage(t, 1))
		if err != nil {
			t.Fatalf("proto Marshal error = %v", err)
		}
		var fields [][]byte
		for r := (fieldReader{b: b}); len(r.b) > 0; {
			start := r.b
			num, typ, err := r.next()
			if err != nil {
				t.Fatalf("re-reading %x: %v", b, err)
			}
			r.skip(num, typ)
			fields = append(fields, start[:len(start)-len(r.b)])
		}
		var out []byte
		for range rapid.IntRange(0, 2*len(fields)+2).Draw(t, "fields") {
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0, 1:
				if len(fields) > 0 {
					out = append(out, fields[rapid.IntRange(0, len(fields)-1).Draw(t, "field")]...)
				}
			case 2:
				num := protowire.Number(rapid.IntRange(1, 20).Draw(t, "num"))
				out = protowire.AppendTag(out, num, protowire.VarintType)
				out = protowire.AppendVarint(out, rapid.Uint64().Draw(t, "value"))
			default:
				num := protowire.Number(rapid.IntRange(1, 20).Draw(t, "num"))
				out = protowire.AppendTag(out, num, protowire.BytesType)
				out = protowire.AppendBytes(out, rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "value"))
			}
		}
		out = out[:rapid.IntRange(0, len(out)).Draw(t, "length")]
		checkDecode(t, out)
	})
}

// seedRaftMessages are messages raft sends, and some it never sends, for
// the fuzz target's corpus and the benchmark.
func seedRaftMessages() []*pb.Message {
	data := bytes.Repeat([]byte{0xab}, 256)
	app := &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7)),
		LogTerm: new(uint64(6)), Index: new(uint64(100)), Commit: new(uint64(99))}
	for i := range 4 {
		app.Entries = append(app.Entries, &pb.Entry{Term: new(uint64(7)), Index: new(uint64(101 + i)),
			Type: pb.EntryNormal.Enum(), Data: data})
	}
	return []*pb.Message{
		app,
		{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7)),
			Commit: new(uint64(99)), Context: []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{Type: pb.MsgAppResp.Enum(), To: new(uint64(1)), From: new(uint64(2)), Term: new(uint64(7)),
			Index: new(uint64(50)), Reject: new(true), RejectHint: new(uint64(40)), LogTerm: new(uint64(3))},
		{Type: pb.MsgVote.Enum(), To: new(uint64(3)), From: new(uint64(1)), Term: new(uint64(8)),
			LogTerm: new(uint64(7)), Index: new(uint64(104)), Context: []byte("CampaignTransfer")},
		{Type: pb.MsgSnap.Enum(), To: new(uint64(3)), From: new(uint64(1)), Term: new(uint64(8)),
			Snapshot: &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(90)),
				Term: new(uint64(6)), ConfState: &pb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3},
					VotersOutgoing: []uint64{1, 2, 4}, LearnersNext: []uint64{4}, AutoLeave: new(true)}}}},
		{Type: pb.MsgReadIndex.Enum(), To: new(uint64(1)), From: new(uint64(2)),
			Entries: []*pb.Entry{{Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}},
		{Type: pb.MsgStorageAppend.Enum(), To: new(uint64(0xffffffffffffffff)), From: new(uint64(1)),
			Responses: []*pb.Message{{Type: pb.MsgStorageAppendResp.Enum(), Index: new(uint64(3)),
				Responses: []*pb.Message{{Type: pb.MsgAppResp.Enum()}}}}},
		{Type: new(pb.MessageType(-1)), Term: new(uint64(0)), Context: []byte{}, Snapshot: &pb.Snapshot{},
			Entries: []*pb.Entry{{}, {Type: new(pb.EntryType(9)), Data: []byte{}}}},
		{},
	}
}

// wire builds protobuf by hand, for inputs proto never writes.
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	return protowire.AppendVarint(protowire.AppendTag(w, num, protowire.VarintType), v)
}

func (w wire) bytes(num protowire.Number, v []byte) wire {
	return protowire.AppendBytes(protowire.AppendTag(w, num, protowire.BytesType), v)
}

func (w wire) raw(b ...byte) wire { return append(w, b...) }

// nestedResponses is a message whose responses nest depth levels deep.
func nestedResponses(depth int) []byte {
	var b wire
	for i := range depth {
		w := wire{}.varint(msgType, uint64(pb.MsgStorageAppendResp))
		if i > 0 {
			w = w.bytes(msgResponses, b)
		}
		b = w
	}
	return b
}

func TestUnmarshalRaftMessageEdges(t *testing.T) {
	snap := func(md []byte) []byte { return wire{}.bytes(snapMetadata, md) }
	cs := func(c []byte) []byte { return snap(wire{}.bytes(metaConfState, c)) }
	tests := []struct {
		name string
		in   []byte
		want *pb.Message // nil: an error
	}{
		{"empty", nil, &pb.Message{}},
		{"zeros are present", wire{}.varint(msgType, 0).varint(msgTerm, 0).varint(msgReject, 0),
			&pb.Message{Type: pb.MsgHup.Enum(), Term: new(uint64(0)), Reject: new(false)}},
		{"empty context is present", wire{}.bytes(msgContext, nil), &pb.Message{Context: []byte{}}},
		{"last scalar wins", wire{}.varint(msgTerm, 3).varint(msgTerm, 5), &pb.Message{Term: new(uint64(5))}},
		{"any non-zero bool is true", wire{}.varint(msgReject, 1<<40), &pb.Message{Reject: new(true)}},
		{"enum keeps an unknown value", wire{}.varint(msgType, 1<<32|99), &pb.Message{Type: new(pb.MessageType(99))}},
		{"negative enum", wire{}.varint(msgType, 1<<64-2), &pb.Message{Type: new(pb.MessageType(-2))}},
		{"non-minimal varint", wire{}.raw(0x20, 0x85, 0x80, 0x00), &pb.Message{Term: new(uint64(5))}},
		{"fields out of order", wire{}.varint(msgCommit, 4).varint(msgType, 8),
			&pb.Message{Type: pb.MsgHeartbeat.Enum(), Commit: new(uint64(4))}},
		{"snapshots merge", wire{}.bytes(msgSnapshot, wire{}.bytes(snapData, []byte{1})).
			bytes(msgSnapshot, snap(wire{}.varint(metaIndex, 3))),
			&pb.Message{Snapshot: &pb.Snapshot{Data: []byte{1}, Metadata: &pb.SnapshotMetadata{Index: new(uint64(3))}}}},
		{"packed and unpacked voters append", wire{}.bytes(msgSnapshot, cs(wire{}.varint(csVoters, 1).
			bytes(csVoters, []byte{2, 3}).bytes(csVoters, nil))),
			&pb.Message{Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}}},
		{"entries in order", wire{}.bytes(msgEntries, wire{}.varint(entryIndex, 1)).bytes(msgEntries, nil),
			&pb.Message{Entries: []*pb.Entry{{Index: new(uint64(1))}, {}}}},
		{"responses nest", nestedResponses(3), &pb.Message{Type: pb.MsgStorageAppendResp.Enum(),
			Responses: []*pb.Message{{Type: pb.MsgStorageAppendResp.Enum(), Responses: []*pb.Message{
				{Type: pb.MsgStorageAppendResp.Enum()}}}}}},
		{"truncated varint", wire{}.raw(0x20, 0x80), nil},
		{"truncated tag", wire{}.raw(0x80), nil},
		{"varint overflow", wire{}.raw(0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), nil},
		{"field number 0", wire{}.raw(0x00, 0x01), nil},
		{"end group", wire{}.raw(0x0c), nil},
		{"start group unclosed", wire{}.raw(0x0b), nil},
		{"reserved wire type", wire{}.raw(0x0e, 0x00), nil},
		{"reserved wire type unknown field", wire{}.raw(0x7f), nil},
		{"length past end", wire{}.raw(0x3a, 0x05, 0x08), nil},
		{"garbage in an entry", wire{}.bytes(msgEntries, []byte{0x10}), nil},
		{"garbage in a conf state", wire{}.bytes(msgSnapshot, cs([]byte{0x0a, 0x01, 0x80})), nil},
		{"responses beyond proto's recursion limit", nestedResponses(protowire.DefaultRecursionLimit + 1), nil},
	}
	for _, tt := range tests {
		got, err := unmarshalRaftMessage(tt.in)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("%s: unmarshalRaftMessage(%x) = %s, want an error", tt.name, tt.in, describeWire(got))
		case tt.want != nil && err != nil:
			t.Errorf("%s: unmarshalRaftMessage(%x) error = %v, want %s", tt.name, tt.in, err, describeWire(tt.want))
		case tt.want != nil && !proto.Equal(got, tt.want):
			t.Errorf("%s: unmarshalRaftMessage(%x) = %s, want %s", tt.name, tt.in, describeWire(got), describeWire(tt.want))
		}
		checkDecode(t, tt.in)
	}
}

// Entries' data share one arena: each must be a copy of its own bytes that
// neither aliases the input nor lets an append spill into the next entry.
func TestUnmarshalRaftMessageEntryData(t *testing.T) {
	in, err := marshalOptions.Marshal(seedRaftMessages()[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := unmarshalRaftMessage(in)
	if err != nil {
		t.Fatalf("unmarshalRaftMessage(MsgApp) error = %v", err)
	}
	want := bytes.Repeat([]byte{0xab}, 256)
	_ = append(m.Entries[0].Data, 1, 2, 3)
	clear(in)
	for i, e := range m.Entries {
		if !bytes.Equal(e.Data, want) || cap(e.Data) != len(e.Data) {
			t.Errorf("entry %d: Data = %x (cap %d), want %x (cap %d)", i, e.Data, cap(e.Data), want, len(want))
		}
	}
}

// Inputs the fast path leaves to proto.Unmarshal: the result is proto's,
// unknown fields kept, and they are encoded again where proto puts them.
func TestUnmarshalRaftMessageSlowPath(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"unknown field", wire{}.varint(msgType, 3).varint(99, 1).varint(msgTerm, 2)},
		{"unknown field in an entry", wire{}.bytes(msgEntries, wire{}.varint(entryIndex, 1).bytes(7, []byte("x")))},
		{"unknown field in a conf state", wire{}.bytes(msgSnapshot, wire{}.bytes(snapMetadata,
			wire{}.bytes(metaConfState, wire{}.varint(6, 1))))},
		{"unknown group", wire{}.raw(0xab, 0x01, 0x08, 0x01, 0xac, 0x01)},
		{"term as bytes", wire{}.bytes(msgTerm, []byte{1})},
		{"entries as a varint", wire{}.varint(msgEntries, 1)},
		{"auto leave as bytes", wire{}.bytes(msgSnapshot, wire{}.bytes(snapMetadata,
			wire{}.bytes(metaConfState, wire{}.bytes(csAutoLeave, nil))))},
		{"responses deeper than the fast path", nestedResponses(responsesDepthMax + 3)},
	}
	for _, tt := range tests {
		if _, err := decodeMessage(tt.in, 0); err != errSlowPath {
			t.Errorf("%s: decodeMessage(%x) error = %v, want %v", tt.name, tt.in, err, errSlowPath)
		}
		checkDecode(t, tt.in)
	}
}

func TestMarshalRaftMessageEdges(t *testing.T) {
	tests := []struct {
		name string
		m    *pb.Message
		want wire
	}{
		{"empty", &pb.Message{}, nil},
		{"zeros are written", &pb.Message{Type: pb.MsgHup.Enum(), To: new(uint64(0)), Reject: new(false)},
			wire{}.varint(msgType, 0).varint(msgTo, 0).varint(msgReject, 0)},
		{"empty context is written, nil is not", &pb.Message{Context: []byte{}, Entries: []*pb.Entry{{Data: nil}}},
			wire{}.bytes(msgEntries, nil).bytes(msgContext, nil)},
		{"fields in number order", &pb.Message{Vote: new(uint64(1)), Commit: new(uint64(2)), Type: pb.MsgApp.Enum()},
			wire{}.varint(msgType, 3).varint(msgCommit, 2).varint(msgVote, 1)},
		{"negative enum sign-extends", &pb.Message{Type: new(pb.MessageType(-1))}, wire{}.varint(msgType, 1<<64-1)},
		{"ids unpacked", &pb.Message{Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{
			Voters: []uint64{1, 2}, LearnersNext: []uint64{3}}}}},
			wire{}.bytes(msgSnapshot, wire{}.bytes(snapMetadata, wire{}.bytes(metaConfState,
				wire{}.varint(csVoters, 1).varint(csVoters, 2).varint(csLearnersNext, 3))))},
		{"empty snapshot is written", &pb.Message{Snapshot: &pb.Snapshot{}}, wire{}.bytes(msgSnapshot, nil)},
		{"entry fields in number order", &pb.Message{Entries: []*pb.Entry{{Data: []byte{7}, Index: new(uint64(5)),
			Term: new(uint64(4)), Type: pb.EntryConfChangeV2.Enum()}}},
			wire{}.bytes(msgEntries, wire{}.varint(entryType, 2).varint(entryTerm, 4).varint(entryIndex, 5).bytes(entryData, []byte{7}))},
	}
	for _, tt := range tests {
		if got := marshalRaftMessage(nil, tt.m); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: marshalRaftMessage(%s) = %x, want %x", tt.name, describeWire(tt.m), got, []byte(tt.want))
		}
		checkCodec(t, tt.m)
	}
}

func TestMarshalRaftMessageSeeds(t *testing.T) {
	for _, m := range seedRaftMessages() {
		checkCodec(t, m)
	}
	// A nil entry is written as an empty one, as protobuf-go does.
	m := &pb.Message{Entries: []*pb.Entry{nil, {Index: new(uint64(1))}}}
	want, err := marshalOptions.Marshal(m)
	if err != nil {
		t.Fatalf("proto Marshal(nil entry) error = %v", err)
	}
	if got := marshalRaftMessage([]byte{9}, m); !bytes.Equal(got[1:], want) || got[0] != 9 {
		t.Errorf("marshalRaftMessage(9, nil entry) = %x, want 09%x", got, want)
	}
}

// FuzzUnmarshalRaftMessage checks that for any input the codec and
// protobuf-go agree: both fail, or both decode proto.Equal messages that
// encode to the same bytes. There is no allowed difference.
func FuzzUnmarshalRaftMessage(f *testing.F) {
	for _, m := range seedRaftMessages() {
		b, err := marshalOptions.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(wire{}.varint(99, 1).varint(msgType, 3)))
	f.Add([]byte(wire{}.bytes(msgSnapshot, wire{}.bytes(snapMetadata, wire{}.bytes(metaConfState, []byte{0x0a, 0x02, 0x01, 0x02})))))
	f.Add(nestedResponses(responsesDepthMax + 1))
	f.Add([]byte{0x0b, 0x0c})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
	})
}

func BenchmarkRaftMessageCodec(b *testing.B) {
	seeds := seedRaftMessages()
	for _, c := range []struct {
		name string
		m    *pb.Message
	}{{"MsgApp4x256B", seeds[0]}, {"Heartbeat", seeds[1]}} {
		enc, err := marshalOptions.Marshal(c.m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/marshal/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				appendRaftEnvelope(c.m)
			}
		})
		b.Run(c.name+"/marshal/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := marshalOptions.MarshalAppend([]byte{wireVersion, kindRaft}, c.m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/unmarshal/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unmarshalRaftMessage(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/unmarshal/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := proto.Unmarshal(enc, &pb.Message{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Only the types peers send pass, whatever int32 a peer puts there.
func TestDecodeRaftMessageTypes(t *testing.T) {
	lim := Config{}.testLimits()
	tests := []struct {
		typ pb.MessageType
		ok  bool
	}{
		{pb.MsgHeartbeat, true}, {pb.MsgAppResp, true}, {pb.MsgTimeoutNow, true},
		{pb.MsgHup, false}, {pb.MsgProp, false}, {pb.MsgStorageAppend, false}, {pb.MsgForgetLeader, false},
		{pb.MsgForgetLeader + 1, false}, {-1, false}, {1 << 30, false}, {-1 << 31, false},
	}
	for _, tt := range tests {
		b, err := marshalOptions.Marshal(&pb.Message{Type: new(tt.typ), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(3))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRaftMessage(b, 2, 1, lim); (err == nil) != tt.ok {
			t.Errorf("decodeRaftMessage(type %d) error = %v, want ok %v", tt.typ, err, tt.ok)
		}
	}
}
