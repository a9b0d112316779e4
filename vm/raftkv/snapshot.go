package raftkv

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A state snapshot (the Data of a raft snapshot), all checksummed:
//
//	"FLKV" version(1) applied(u64) appliedTerm(u64) confIndex(u64)
//	pairs(uvarint) {key value}*        keys strictly ascending
//	sessions(uvarint) {id lastSeq lastIndex status flags index}*   by lastIndex ascending
//	CRC-32C(u32) of everything before it
//
// The configuration itself is in the snapshot's raft metadata; confIndex
// is the index of the entry that made it.
var stateMagic = [4]byte{'F', 'L', 'K', 'V'}

const stateVersion = 2

func (sm *stateMachine) encode() []byte {
	out := make([]byte, 0, 64+sm.sizeBytes+int64(sm.kv.Len())*4+int64(len(sm.sessions))*24)
	out = append(out, stateMagic[:]...)
	out = append(out, stateVersion)
	out = binary.LittleEndian.AppendUint64(out, sm.applied)
	out = binary.LittleEndian.AppendUint64(out, sm.appliedTerm)
	out = binary.LittleEndian.AppendUint64(out, sm.confIndex)
	out = binary.AppendUvarint(out, uint64(sm.kv.Len()))
	sm.kv.Ascend(func(item KV) bool {
		out = appendString(out, item.Key)
		out = appendString(out, item.Value)
		return true
	})
	out = binary.AppendUvarint(out, uint64(len(sm.sessions)))
	sm.lru.Ascend(func(item lruItem) bool {
		s := sm.sessions[item.id]
		out = binary.AppendUvarint(out, s.id)
		out = binary.AppendUvarint(out, s.lastSeq)
		out = binary.AppendUvarint(out, s.lastIndex)
		flags := byte(0)
		if s.last.found {
			flags |= 1
		}
		if s.last.swapped {
			flags |= 2
		}
		out = append(out, byte(s.last.status), flags)
		out = binary.AppendUvarint(out, s.last.index)
		return true
	})
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// decodeState rebuilds a state machine from a snapshot's data and its
// configuration. It rejects any damage (checksum) and any content a state
// machine cannot have.
func decodeState(data []byte, conf *pb.ConfState, lim limits) (*stateMachine, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: state snapshot of %d bytes", errDecode, len(data))
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: state snapshot checksum mismatch", errDecode)
	}
	d := decoder{buf: body}
	var magic [4]byte
	for i := range magic {
		magic[i] = d.u8("magic")
	}
	if version := d.u8("version"); d.err == nil && (magic != stateMagic || version != stateVersion) {
		return nil, fmt.Errorf("%w: state snapshot magic %q version %d", errDecode, magic[:], version)
	}
	sm := newStateMachine(lim)
	sm.applied = d.u64("applied")
	sm.appliedTerm = d.u64("applied term")
	sm.confIndex = d.u64("configuration index")
	if d.err == nil && sm.confIndex > sm.applied {
		d.fail("configuration made at %d, after the applied index %d", sm.confIndex, sm.applied)
	}
	if d.err == nil {
		trk, err := restoreTracker(pb.EnsureConfState(conf))
		if err != nil {
			return nil, fmt.Errorf("%w: state snapshot: %v", errDecode, err)
		}
		sm.conf = trk.ConfState() // sorted
	}
	decodePairs(&d, sm)
	decodeSessions(&d, sm)
	if err := d.finish("state snapshot"); err != nil {
		return nil, err
	}
	return sm, nil
}

func decodePairs(d *decoder, sm *stateMachine) {
	n := d.count("pairs", 2)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		key, value := d.str("key"), d.str("value")
		switch {
		case d.err != nil:
		case key == "" || (i > 0 && key <= prev):
			d.fail("key %d %q not after %q", i, key, prev)
		default:
			sm.kv.ReplaceOrInsert(KV{Key: key, Value: value})
			sm.sizeBytes += pairSize(key, value)
			prev = key
		}
	}
	if d.err == nil && sm.sizeBytes > StateSizeMaxLimit {
		d.fail("state of %d bytes exceeds %d", sm.sizeBytes, StateSizeMaxLimit)
	}
}

func decodeSessions(d *decoder, sm *stateMachine) {
	n := d.count("sessions", 5)
	if n > SessionsMaxLimit {
		d.fail("%d sessions exceed %d", n, SessionsMaxLimit)
		return
	}
	prevIndex := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		s := &session{id: d.uvarint("session id"), lastSeq: d.uvarint("last seq"), lastIndex: d.uvarint("last index")}
		st, flags := status(d.u8("status")), d.u8("flags")
		s.last = cachedReply{status: st, found: flags&1 != 0, swapped: flags&2 != 0, index: d.uvarint("result index")}
		switch {
		case d.err != nil:
		case st >= statusEnd || flags > 3:
			d.fail("session %d: status %d flags %#x", s.id, st, flags)
		case s.id == 0 || s.id > s.lastIndex || s.lastIndex > sm.applied || s.last.index > sm.applied:
			d.fail("session %d: indexes (last %d, result %d) outside (0, applied %d]", s.id, s.lastIndex, s.last.index, sm.applied)
		case s.lastIndex <= prevIndex:
			d.fail("session %d: last index %d not after %d", s.id, s.lastIndex, prevIndex)
		case sm.sessions[s.id] != nil:
			d.fail("session %d twice", s.id)
		default:
			sm.sessions[s.id] = s
			sm.lru.ReplaceOrInsert(lruItem{lastIndex: s.lastIndex, id: s.id})
			prevIndex = s.lastIndex
		}
	}
}

// A snapshot file (snap/<index>.snap), written atomically:
//
//	"FLSN" version(1) index(u64) term(u64)
//	{count(uvarint) {id(uvarint)}*} for voters, learners, voters outgoing, learners next
//	autoLeave(u8) data(bytes)
//	CRC-32C(u32) of everything before it
var snapFileMagic = [4]byte{'F', 'L', 'S', 'N'}

const snapFileVersion = 2

// snapFile is a snapshot as stored: raft metadata and the state's bytes.
type snapFile struct {
	index, term uint64
	conf        *pb.ConfState // id lists ascending
	data        []byte
}

func confLists(cs *pb.ConfState) [4][]uint64 {
	return [4][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()}
}

func encodeSnapFile(s snapFile) []byte {
	lists := confLists(s.conf)
	out := make([]byte, 0, 64+len(confMembers(s.conf))*10+len(s.data))
	out = append(out, snapFileMagic[:]...)
	out = append(out, snapFileVersion)
	out = binary.LittleEndian.AppendUint64(out, s.index)
	out = binary.LittleEndian.AppendUint64(out, s.term)
	for _, ids := range lists {
		out = binary.AppendUvarint(out, uint64(len(ids)))
		for _, v := range ids {
			out = binary.AppendUvarint(out, v)
		}
	}
	if s.conf.GetAutoLeave() {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	out = appendBytes(out, s.data)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func decodeSnapFile(b []byte) (snapFile, error) {
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return snapFile{}, fmt.Errorf("%w: snapshot file checksum mismatch", errDecode)
	}
	d := decoder{buf: b[:len(b)-4]}
	var magic [4]byte
	for i := range magic {
		magic[i] = d.u8("magic")
	}
	if version := d.u8("version"); d.err == nil && (magic != snapFileMagic || version != snapFileVersion) {
		return snapFile{}, fmt.Errorf("%w: snapshot file magic %q version %d", errDecode, magic[:], version)
	}
	var s snapFile
	s.index = d.u64("index")
	s.term = d.u64("term")
	var lists [4][]uint64
	for l := range lists {
		n := d.count("members", 1)
		for i := 0; i < n && d.err == nil; i++ {
			lists[l] = append(lists[l], d.uvarint("member"))
		}
		if d.err == nil && (!strictlyAscending(lists[l]) || slices.Contains(lists[l], 0)) {
			d.fail("members %v not ascending non-zero ids", lists[l])
		}
	}
	auto := d.u8("auto leave")
	s.data = d.bytes("data")
	if err := d.finish("snapshot file"); err != nil {
		return snapFile{}, err
	}
	s.conf = &pb.ConfState{Voters: lists[0], Learners: lists[1], VotersOutgoing: lists[2], LearnersNext: lists[3], AutoLeave: new(auto == 1)}
	if s.index == 0 || s.term == 0 || auto > 1 {
		return snapFile{}, fmt.Errorf("%w: snapshot file index %d term %d auto leave %d", errDecode, s.index, s.term, auto)
	}
	if err := checkConfState(s.conf); err != nil {
		return snapFile{}, fmt.Errorf("%w: snapshot file: %v", errDecode, err)
	}
	return s, nil
}

func strictlyAscending(v []uint64) bool {
	for i := 1; i < len(v); i++ {
		if v[i] <= v[i-1] {
			return false
		}
	}
	return true
}
