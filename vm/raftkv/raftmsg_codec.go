package raftkv

import (
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A hand-written codec for raftpb.Message and what it carries (Entry,
// Snapshot, SnapshotMetadata, ConfState). protobuf-go's generic, table
// driven paths cost every raft message in and out a noticeable share of a
// server's CPU and allocations; this one knows the schema.
//
// The wire format does not change: the encoder writes exactly the bytes of
// proto.MarshalOptions{Deterministic: true}.Marshal (fields in number
// order, proto2 presence: a set pointer field is written even when zero, a
// non-nil bytes field even when empty, repeated scalars unpacked, unknown
// fields last), so old and new servers interoperate and the simulator's
// traces stay as they were.
//
// The decoder builds what proto.Unmarshal builds (proto.Equal, and field by
// field the same pointers set, the same bytes present). It decodes the
// shapes raft.proto defines itself; anything else that may still be valid
// protobuf (a field it does not know, a known field with another wire type,
// responses nested deeper than raft makes them) it hands whole to
// proto.Unmarshal. Unknown fields are thus neither refused nor skipped but
// kept, as proto.Unmarshal keeps them: a peer running a newer raftpb with a
// field added still interoperates, and a message relayed on (entries a new
// leader sends again) keeps its bytes. Garbage gets an error, as from
// proto.Unmarshal, never a panic.

// Field numbers and wire types, from raft.proto.
const (
	msgType       = 1
	msgTo         = 2
	msgFrom       = 3
	msgTerm       = 4
	msgLogTerm    = 5
	msgIndex      = 6
	msgEntries    = 7
	msgCommit     = 8
	msgSnapshot   = 9
	msgReject     = 10
	msgRejectHint = 11
	msgContext    = 12
	msgVote       = 13
	msgResponses  = 14

	entryType  = 1
	entryTerm  = 2
	entryIndex = 3
	entryData  = 4

	snapData     = 1
	snapMetadata = 2

	metaConfState = 1
	metaIndex     = 2
	metaTerm      = 3

	csVoters         = 1
	csLearners       = 2
	csVotersOutgoing = 3
	csLearnersNext   = 4
	csAutoLeave      = 5
)

// responsesDepthMax is how deeply the fast decoder follows Message.responses
// (raft fills them only in messages to local storage, one level deep);
// deeper nesting goes to proto.Unmarshal, which has its own recursion limit.
const responsesDepthMax = 4

// errSlowPath says the input is beyond what the fast decoder decodes; it is
// decoded by proto.Unmarshal instead. Never returned to callers.
var errSlowPath = errors.New("raft message: not on the fast path")

// errWire is malformed protobuf.
var errWire = errors.New("malformed protobuf")

// marshalRaftMessage returns prefix followed by m's deterministic protobuf
// encoding, in one buffer sized once.
func marshalRaftMessage(prefix []byte, m *pb.Message) []byte {
	n := sizeRaftMessage(m)
	b := append(make([]byte, 0, len(prefix)+n), prefix...)
	b = appendRaftMessage(b, m)
	if len(b) != len(prefix)+n {
		panic(fmt.Sprintf("raftkv: raft %v encoded in %d bytes, sized %d", m.GetType(), len(b)-len(prefix), n))
	}
	return b
}

// unmarshalRaftMessage decodes b as proto.Unmarshal would into a new Message.
func unmarshalRaftMessage(b []byte) (*pb.Message, error) {
	m, err := decodeMessage(b, 0)
	if errors.Is(err, errSlowPath) {
		m = &pb.Message{}
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Sizes.

func sizeTagVarint(v uint64) int { return 1 + protowire.SizeVarint(v) }

func sizeTagBytes(n int) int { return 1 + protowire.SizeBytes(n) }

func sizeOpt(p *uint64) int {
	if p == nil {
		return 0
	}
	return sizeTagVarint(*p)
}

func sizeOptBool(p *bool) int {
	if p == nil {
		return 0
	}
	return 2
}

func sizeOptBytes(v []byte) int {
	if v == nil {
		return 0
	}
	return sizeTagBytes(len(v))
}

// sizeEnum sizes an int32 enum as protobuf does: negative values sign-extend
// to ten bytes.
func sizeEnum(v int32) int { return sizeTagVarint(uint64(v)) }

func sizeRaftMessage(m *pb.Message) int {
	if m == nil {
		return 0
	}
	n := 0
	if m.Type != nil {
		n += sizeEnum(int32(*m.Type))
	}
	n += sizeOpt(m.To) + sizeOpt(m.From) + sizeOpt(m.Term) + sizeOpt(m.LogTerm) + sizeOpt(m.Index)
	for _, e := range m.Entries {
		n += sizeTagBytes(sizeEntry(e))
	}
	n += sizeOpt(m.Commit)
	if m.Snapshot != nil {
		n += sizeTagBytes(sizeSnapshot(m.Snapshot))
	}
	n += sizeOptBool(m.Reject) + sizeOpt(m.RejectHint) + sizeOptBytes(m.Context) + sizeOpt(m.Vote)
	for _, r := range m.Responses {
		n += sizeTagBytes(sizeRaftMessage(r))
	}
	return n + len(unknownOf(m))
}

func sizeEntry(e *pb.Entry) int {
	if e == nil {
		return 0
	}
	n := 0
	if e.Type != nil {
		n += sizeEnum(int32(*e.Type))
	}
	return n + sizeOpt(e.Term) + sizeOpt(e.Index) + sizeOptBytes(e.Data) + len(unknownOf(e))
}

func sizeSnapshot(s *pb.Snapshot) int {
	n := sizeOptBytes(s.Data)
	if s.Metadata != nil {
		n += sizeTagBytes(sizeSnapshotMetadata(s.Metadata))
	}
	return n + len(unknownOf(s))
}

func sizeSnapshotMetadata(md *pb.SnapshotMetadata) int {
	n := 0
	if md.ConfState != nil {
		n += sizeTagBytes(sizeConfState(md.ConfState))
	}
	return n + sizeOpt(md.Index) + sizeOpt(md.Term) + len(unknownOf(md))
}

func sizeConfState(cs *pb.ConfState) int {
	n := 0
	for _, ids := range [...][]uint64{cs.Voters, cs.Learners, cs.VotersOutgoing, cs.LearnersNext} {
		for _, id := range ids {
			n += sizeTagVarint(id)
		}
	}
	return n + sizeOptBool(cs.AutoLeave) + len(unknownOf(cs))
}

// unknownOf is what proto.Unmarshal kept of fields it did not know; only
// messages decoded on the slow path have any.
func unknownOf(m proto.Message) []byte { return m.ProtoReflect().GetUnknown() }

// Encoding, in field number order as protobuf-go writes.

func appendTag(b []byte, num protowire.Number, t protowire.Type) []byte {
	return append(b, byte(protowire.EncodeTag(num, t))) // every field number here is below 16
}

func appendOpt(b []byte, num protowire.Number, p *uint64) []byte {
	if p == nil {
		return b
	}
	return protowire.AppendVarint(appendTag(b, num, protowire.VarintType), *p)
}

func appendOptBool(b []byte, num protowire.Number, p *bool) []byte {
	if p == nil {
		return b
	}
	return protowire.AppendVarint(appendTag(b, num, protowire.VarintType), protowire.EncodeBool(*p))
}

func appendOptBytes(b []byte, num protowire.Number, v []byte) []byte {
	if v == nil {
		return b
	}
	return protowire.AppendBytes(appendTag(b, num, protowire.BytesType), v)
}

func appendEnum(b []byte, num protowire.Number, v int32) []byte {
	return protowire.AppendVarint(appendTag(b, num, protowire.VarintType), uint64(v))
}

func appendNested(b []byte, num protowire.Number, size int) []byte {
	return protowire.AppendVarint(appendTag(b, num, protowire.BytesType), uint64(size))
}

func appendRaftMessage(b []byte, m *pb.Message) []byte {
	if m == nil {
		return b
	}
	if m.Type != nil {
		b = appendEnum(b, msgType, int32(*m.Type))
	}
	b = appendOpt(b, msgTo, m.To)
	b = appendOpt(b, msgFrom, m.From)
	b = appendOpt(b, msgTerm, m.Term)
	b = appendOpt(b, msgLogTerm, m.LogTerm)
	b = appendOpt(b, msgIndex, m.Index)
	for _, e := range m.Entries {
		b = appendEntry(appendNested(b, msgEntries, sizeEntry(e)), e)
	}
	b = appendOpt(b, msgCommit, m.Commit)
	if m.Snapshot != nil {
		b = appendSnapshot(appendNested(b, msgSnapshot, sizeSnapshot(m.Snapshot)), m.Snapshot)
	}
	b = appendOptBool(b, msgReject, m.Reject)
	b = appendOpt(b, msgRejectHint, m.RejectHint)
	b = appendOptBytes(b, msgContext, m.Context)
	b = appendOpt(b, msgVote, m.Vote)
	for _, r := range m.Responses {
		b = appendRaftMessage(appendNested(b, msgResponses, sizeRaftMessage(r)), r)
	}
	return append(b, unknownOf(m)...)
}

func appendEntry(b []byte, e *pb.Entry) []byte {
	if e == nil {
		return b
	}
	if e.Type != nil {
		b = appendEnum(b, entryType, int32(*e.Type))
	}
	b = appendOpt(b, entryTerm, e.Term)
	b = appendOpt(b, entryIndex, e.Index)
	b = appendOptBytes(b, entryData, e.Data)
	return append(b, unknownOf(e)...)
}

func appendSnapshot(b []byte, s *pb.Snapshot) []byte {
	b = appendOptBytes(b, snapData, s.Data)
	if md := s.Metadata; md != nil {
		b = appendNested(b, snapMetadata, sizeSnapshotMetadata(md))
		if md.ConfState != nil {
			b = appendConfState(appendNested(b, metaConfState, sizeConfState(md.ConfState)), md.ConfState)
		}
		b = appendOpt(b, metaIndex, md.Index)
		b = appendOpt(b, metaTerm, md.Term)
		b = append(b, unknownOf(md)...)
	}
	return append(b, unknownOf(s)...)
}

func appendConfState(b []byte, cs *pb.ConfState) []byte {
	for i, ids := range [...][]uint64{cs.Voters, cs.Learners, cs.VotersOutgoing, cs.LearnersNext} {
		for _, id := range ids {
			b = protowire.AppendVarint(appendTag(b, protowire.Number(csVoters+i), protowire.VarintType), id)
		}
	}
	b = appendOptBool(b, csAutoLeave, cs.AutoLeave)
	return append(b, unknownOf(cs)...)
}

// Decoding.

// messageBlock holds a decoded Message and its scalar fields in one
// allocation (proto.Unmarshal makes one per field set).
type messageBlock struct {
	m                                                        pb.Message
	typ                                                      pb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
	ctx                                                      [heartbeatCtxBytes]byte
}

// copyContext copies a context, into the block if it is a heartbeat's.
func (blk *messageBlock) copyContext(v []byte) []byte {
	if len(v) == 0 || len(v) > len(blk.ctx) {
		return copyBytes(v)
	}
	c := blk.ctx[:len(v):len(v)]
	copy(c, v)
	return c
}

// entryBlock does the same for an Entry.
type entryBlock struct {
	e           pb.Entry
	typ         pb.EntryType
	term, index uint64
}

// fieldReader walks the fields of one encoded message.
type fieldReader struct {
	b []byte
}

// next reads a field's tag. Like proto.Unmarshal it refuses field number 0,
// numbers beyond the largest valid one, and an end-group tag where no group
// is open (no message here is a group).
func (r *fieldReader) next() (protowire.Number, protowire.Type, error) {
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		return 0, 0, errWire
	}
	r.b = r.b[n:]
	num, typ := v>>3, protowire.Type(v&7)
	if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) || typ == protowire.EndGroupType {
		return 0, 0, errWire
	}
	return protowire.Number(num), typ, nil
}

func (r *fieldReader) varint() (uint64, error) {
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		return 0, errWire
	}
	r.b = r.b[n:]
	return v, nil
}

// bytes returns a length-delimited value, aliasing the input.
func (r *fieldReader) bytes() ([]byte, error) {
	v, n := protowire.ConsumeBytes(r.b)
	if n < 0 {
		return nil, errWire
	}
	r.b = r.b[n:]
	return v, nil
}

// skip passes over a field's value.
func (r *fieldReader) skip(num protowire.Number, typ protowire.Type) {
	n := protowire.ConsumeFieldValue(num, typ, r.b)
	if n < 0 {
		r.b = nil
		return
	}
	r.b = r.b[n:]
}

// copyBytes copies a bytes field as proto.Unmarshal does: present but
// empty is non-nil.
func copyBytes(v []byte) []byte {
	c := make([]byte, len(v))
	copy(c, v)
	return c
}

// entryArena holds a message's entries and their data in two allocations
// (proto.Unmarshal makes four per entry): the blocks, and one copy of the
// encoding from the first entry on, into which the entries' data point
// (each a full slice expression, so appending to one never writes
// another's). What else that copy holds (entry headers, the fields after
// the entries) is a few bytes per entry.
type entryArena struct {
	blocks []entryBlock
	src    []byte // the copy
}

// newEntryArena makes an arena for the rest of a message, b, from its first
// entries field on. Malformed input ends the count early; decoding reports
// it, and an arena that falls short of blocks is only slower.
func newEntryArena(b []byte) entryArena {
	r, count := fieldReader{b: b}, 0
	for len(r.b) > 0 {
		num, typ, err := r.next()
		if err != nil {
			break
		}
		if num == msgEntries && typ == protowire.BytesType {
			count++
		}
		if typ == protowire.BytesType {
			_, err = r.bytes()
		} else {
			r.skip(num, typ)
		}
		if err != nil {
			break
		}
	}
	src := make([]byte, len(b))
	copy(src, b)
	return entryArena{blocks: make([]entryBlock, count), src: src}
}

func (a *entryArena) block() *entryBlock {
	if len(a.blocks) == 0 {
		return &entryBlock{}
	}
	blk := &a.blocks[0]
	a.blocks = a.blocks[1:]
	return blk
}

// data returns the arena's copy of v, a value in the encoding the arena
// copied followed there by tailBytes bytes.
func (a *entryArena) data(v []byte, tailBytes int) []byte {
	if len(v) == 0 {
		return []byte{} // present, as proto.Unmarshal makes it
	}
	end := len(a.src) - tailBytes
	if end < len(v) || end > len(a.src) {
		panic(fmt.Sprintf("raftkv: entry data of %d bytes ends at %d of a %d-byte arena", len(v), end, len(a.src)))
	}
	return a.src[end-len(v) : end : end]
}

// wantType checks a known field's wire type: another type is still valid
// protobuf (proto.Unmarshal keeps such a field as unknown), so it is left to
// the slow path.
func wantType(got, want protowire.Type) error {
	if got != want {
		return errSlowPath
	}
	return nil
}

func decodeMessage(b []byte, depth int) (*pb.Message, error) {
	blk := &messageBlock{}
	m := &blk.m
	var arena entryArena
	r := fieldReader{b: b}
	for len(r.b) > 0 {
		field := r.b
		num, typ, err := r.next()
		if err != nil {
			return nil, err
		}
		switch num {
		case msgType, msgTo, msgFrom, msgTerm, msgLogTerm, msgIndex, msgCommit, msgReject, msgRejectHint, msgVote:
			err = decodeMessageVarint(&r, blk, num, typ)
		case msgEntries:
			if err = wantType(typ, protowire.BytesType); err == nil {
				if m.Entries == nil {
					arena = newEntryArena(field)
					m.Entries = make([]*pb.Entry, 0, len(arena.blocks))
				}
				eb := arena.block()
				m.Entries = append(m.Entries, &eb.e)
				err = decodeEntry(&r, eb, &arena)
			}
		case msgSnapshot:
			if err = wantType(typ, protowire.BytesType); err == nil {
				if m.Snapshot == nil {
					m.Snapshot = &pb.Snapshot{}
				}
				err = decodeNested(&r, m.Snapshot, decodeSnapshot)
			}
		case msgContext:
			if err = wantType(typ, protowire.BytesType); err == nil {
				var v []byte
				if v, err = r.bytes(); err == nil {
					m.Context = blk.copyContext(v)
				}
			}
		case msgResponses:
			err = decodeResponse(&r, m, typ, depth)
		default:
			err = errSlowPath
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

func decodeMessageVarint(r *fieldReader, blk *messageBlock, num protowire.Number, typ protowire.Type) error {
	if err := wantType(typ, protowire.VarintType); err != nil {
		return err
	}
	v, err := r.varint()
	if err != nil {
		return err
	}
	m := &blk.m
	switch num {
	case msgType:
		blk.typ, m.Type = pb.MessageType(int32(v)), &blk.typ
	case msgTo:
		blk.to, m.To = v, &blk.to
	case msgFrom:
		blk.from, m.From = v, &blk.from
	case msgTerm:
		blk.term, m.Term = v, &blk.term
	case msgLogTerm:
		blk.logTerm, m.LogTerm = v, &blk.logTerm
	case msgIndex:
		blk.index, m.Index = v, &blk.index
	case msgCommit:
		blk.commit, m.Commit = v, &blk.commit
	case msgReject:
		blk.reject, m.Reject = protowire.DecodeBool(v), &blk.reject
	case msgRejectHint:
		blk.rejectHint, m.RejectHint = v, &blk.rejectHint
	case msgVote:
		blk.vote, m.Vote = v, &blk.vote
	default:
		panic(fmt.Sprintf("raftkv: message field %d is not a varint field", num))
	}
	return nil
}

func decodeResponse(r *fieldReader, m *pb.Message, typ protowire.Type, depth int) error {
	if err := wantType(typ, protowire.BytesType); err != nil {
		return err
	}
	if depth >= responsesDepthMax {
		return errSlowPath
	}
	v, err := r.bytes()
	if err != nil {
		return err
	}
	resp, err := decodeMessage(v, depth+1)
	if err != nil {
		return err
	}
	m.Responses = append(m.Responses, resp)
	return nil
}

// decodeNested decodes a length-delimited message into x, merging with what
// x holds as protobuf does when a non-repeated message field repeats.
func decodeNested[T any](r *fieldReader, x *T, decode func([]byte, *T) error) error {
	v, err := r.bytes()
	if err != nil {
		return err
	}
	return decode(v, x)
}

func decodeEntry(r *fieldReader, blk *entryBlock, arena *entryArena) error {
	v, err := r.bytes()
	if err != nil {
		return err
	}
	e, f := &blk.e, fieldReader{b: v}
	for len(f.b) > 0 {
		num, typ, err := f.next()
		if err != nil {
			return err
		}
		want := protowire.VarintType
		if num == entryData {
			want = protowire.BytesType
		}
		if num < entryType || num > entryData || typ != want {
			return errSlowPath
		}
		if num == entryData {
			v, err := f.bytes()
			if err != nil {
				return err
			}
			e.Data = arena.data(v, len(f.b)+len(r.b))
			continue
		}
		x, err := f.varint()
		if err != nil {
			return err
		}
		switch num {
		case entryType:
			blk.typ, e.Type = pb.EntryType(int32(x)), &blk.typ
		case entryTerm:
			blk.term, e.Term = x, &blk.term
		case entryIndex:
			blk.index, e.Index = x, &blk.index
		}
	}
	return nil
}

// eachField calls decode for each field of b. The hot decoders (message,
// entry) have loops of their own; snapshots are rare.
func eachField(b []byte, decode func(r *fieldReader, num protowire.Number, typ protowire.Type) error) error {
	r := fieldReader{b: b}
	for len(r.b) > 0 {
		num, typ, err := r.next()
		if err != nil {
			return err
		}
		if err := decode(&r, num, typ); err != nil {
			return err
		}
	}
	return nil
}

func decodeSnapshot(b []byte, s *pb.Snapshot) error {
	return eachField(b, func(r *fieldReader, num protowire.Number, typ protowire.Type) error {
		switch {
		case typ != protowire.BytesType:
			return errSlowPath
		case num == snapData:
			v, err := r.bytes()
			s.Data = copyBytes(v)
			return err
		case num == snapMetadata:
			if s.Metadata == nil {
				s.Metadata = &pb.SnapshotMetadata{}
			}
			return decodeNested(r, s.Metadata, decodeSnapshotMetadata)
		default:
			return errSlowPath
		}
	})
}

func decodeSnapshotMetadata(b []byte, md *pb.SnapshotMetadata) error {
	return eachField(b, func(r *fieldReader, num protowire.Number, typ protowire.Type) error {
		switch {
		case num == metaConfState && typ == protowire.BytesType:
			if md.ConfState == nil {
				md.ConfState = &pb.ConfState{}
			}
			return decodeNested(r, md.ConfState, decodeConfState)
		case (num == metaIndex || num == metaTerm) && typ == protowire.VarintType:
			v, err := r.varint()
			if num == metaIndex {
				md.Index = new(v)
			} else {
				md.Term = new(v)
			}
			return err
		default:
			return errSlowPath
		}
	})
}

func decodeConfState(b []byte, cs *pb.ConfState) error {
	return eachField(b, func(r *fieldReader, num protowire.Number, typ protowire.Type) error {
		switch num {
		case csVoters:
			return decodeIDs(r, typ, &cs.Voters)
		case csLearners:
			return decodeIDs(r, typ, &cs.Learners)
		case csVotersOutgoing:
			return decodeIDs(r, typ, &cs.VotersOutgoing)
		case csLearnersNext:
			return decodeIDs(r, typ, &cs.LearnersNext)
		case csAutoLeave:
			if typ != protowire.VarintType {
				return errSlowPath
			}
			v, err := r.varint()
			cs.AutoLeave = new(protowire.DecodeBool(v))
			return err
		default:
			return errSlowPath
		}
	})
}

// decodeIDs appends one id (unpacked, as protobuf-go writes proto2) or a
// packed run of them (which proto.Unmarshal accepts as well).
func decodeIDs(r *fieldReader, typ protowire.Type, ids *[]uint64) error {
	switch typ {
	case protowire.VarintType:
		v, err := r.varint()
		if err != nil {
			return err
		}
		*ids = append(*ids, v)
		return nil
	case protowire.BytesType:
		v, err := r.bytes()
		if err != nil {
			return err
		}
		packed := fieldReader{b: v}
		for len(packed.b) > 0 {
			id, err := packed.varint()
			if err != nil {
				return err
			}
			*ids = append(*ids, id)
		}
		return nil
	default:
		return errSlowPath
	}
}
