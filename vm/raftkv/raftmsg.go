package raftkv

import (
	"fmt"

	"github.com/flockvm/flock/netmodel"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// marshalOptions make protobufs byte-identical from run to run. Raft
// messages are encoded by marshalRaftMessage, which writes the same bytes.
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// appendRaftEnvelope encodes m straight behind the envelope's bytes: one
// buffer, sized once.
func appendRaftEnvelope(m *pb.Message) []byte {
	return marshalRaftMessage([]byte{wireVersion, kindRaft}, m)
}

// remoteTypes are the raft messages one peer may send another here.
// Proposals are never forwarded (followers answer clients "not leader");
// read index requests are (a follower's MsgReadIndex goes to the leader,
// which answers with MsgReadIndexResp). An array: this is looked up for
// every message received.
var remoteTypes = [...]bool{
	pb.MsgApp: true, pb.MsgAppResp: true,
	pb.MsgVote: true, pb.MsgVoteResp: true,
	pb.MsgPreVote: true, pb.MsgPreVoteResp: true,
	pb.MsgSnap:      true,
	pb.MsgHeartbeat: true, pb.MsgHeartbeatResp: true,
	pb.MsgTimeoutNow: true,
	pb.MsgReadIndex:  true, pb.MsgReadIndexResp: true,
}

// heartbeatCtxBytes is the size of the context raft's ReadOnlySafe puts on
// heartbeats (a little-endian read position) and followers echo; raft
// decodes an echoed one without checking its length.
const heartbeatCtxBytes = 8

// decodeRaftMessage unmarshals and checks a raft message from a peer. raft
// trusts its peers to send well-formed messages (some malformed ones make
// it panic), so what a correct peer never sends is refused here.
//
// The sender need not be a member of the configuration this server has
// applied: that configuration may be older than the sender's (this server
// lags), and a lagging member that refused the current leader, or a
// candidate added after what it applied, could never catch up, or leave a
// group unable to elect anyone. raft's own rules keep a removed member
// harmless (a leader ignores answers from members it does not track; a
// removed member's log lacks its removal, so it cannot win an election,
// and its pre-votes are ignored while a leader is heard).
func decodeRaftMessage(b []byte, from, self netmodel.NodeID, lim limits) (*pb.Message, error) {
	m, err := unmarshalRaftMessage(b)
	if err != nil {
		return nil, fmt.Errorf("%w: raft message: %v", errDecode, err)
	}
	bad := func(format string, args ...any) (*pb.Message, error) {
		return nil, fmt.Errorf("%w: raft %v from %v: %s", errDecode, m.GetType(), from, fmt.Sprintf(format, args...))
	}
	switch {
	case m.GetType() < 0 || int(m.GetType()) >= len(remoteTypes) || !remoteTypes[m.GetType()]:
		return bad("not a peer message")
	case m.GetFrom() != uint64(from) || m.GetTo() != uint64(self) || from == self:
		return bad("addressed %d -> %d", m.GetFrom(), m.GetTo()) // raft panics on answering itself
	case m.GetType() == pb.MsgReadIndex && m.GetTerm() != 0:
		return bad("term %d (raft forwards it without one)", m.GetTerm())
	case m.GetTerm() == 0 && m.GetType() != pb.MsgPreVoteResp && m.GetType() != pb.MsgReadIndex:
		return bad("term 0")
	}
	switch m.GetType() {
	case pb.MsgApp:
		if err := checkAppendEntries(m); err != nil {
			return bad("%v", err)
		}
	case pb.MsgReadIndex, pb.MsgReadIndexResp:
		// raft indexes the single entry without checking it is there.
		es := m.GetEntries()
		if len(es) != 1 || len(es[0].GetData()) != readCtxBytes || es[0].GetIndex() != 0 || es[0].GetTerm() != 0 ||
			es[0].GetType() != pb.EntryNormal {
			return bad("not one read context of %d bytes", readCtxBytes)
		}
	default:
		if len(m.GetEntries()) > 0 {
			return bad("carries entries")
		}
	}
	if t := m.GetType(); (t == pb.MsgHeartbeat || t == pb.MsgHeartbeatResp) && len(m.GetContext()) != 0 &&
		len(m.GetContext()) != heartbeatCtxBytes {
		return bad("heartbeat context of %d bytes", len(m.GetContext()))
	}
	if m.GetType() == pb.MsgSnap {
		if err := checkSnapshotMessage(m.GetSnapshot(), lim); err != nil {
			return bad("%v", err)
		}
	} else if m.Snapshot != nil {
		return bad("carries a snapshot")
	}
	return m, nil
}

// checkAppendEntries checks that a MsgApp's entries follow on from its
// index one by one, with terms that never go down nor pass the message's.
func checkAppendEntries(m *pb.Message) error {
	prevTerm := m.GetLogTerm()
	for i, e := range m.GetEntries() {
		if e.GetIndex() != m.GetIndex()+1+uint64(i) || e.GetTerm() > m.GetTerm() || e.GetTerm() < prevTerm {
			return fmt.Errorf("entry %d (index %d, term %d) out of place after (index %d, log term %d)",
				i, e.GetIndex(), e.GetTerm(), m.GetIndex(), m.GetLogTerm())
		}
		switch e.GetType() {
		case pb.EntryNormal:
		case pb.EntryConfChangeV2:
			// Decoded at apply; raft itself never looks inside a follower's.
			if err := proto.Unmarshal(e.GetData(), &pb.ConfChangeV2{}); err != nil {
				return fmt.Errorf("entry %d: configuration change: %v", i, err)
			}
		default:
			return fmt.Errorf("entry %d has type %v", i, e.GetType())
		}
		prevTerm = e.GetTerm()
	}
	return nil
}

// checkSnapshotMessage checks a leader's snapshot: a configuration raft
// can restore (it panics on one it cannot), a state that decodes, at the
// snapshot's index.
func checkSnapshotMessage(s *pb.Snapshot, lim limits) error {
	md := s.GetMetadata()
	if md.GetIndex() == 0 || md.GetTerm() == 0 {
		return fmt.Errorf("snapshot at index %d term %d", md.GetIndex(), md.GetTerm())
	}
	cs := md.GetConfState()
	if err := checkConfState(cs); err != nil {
		return err
	}
	sm, err := decodeState(s.GetData(), cs, lim)
	if err != nil {
		return err
	}
	if sm.applied != md.GetIndex() {
		return fmt.Errorf("snapshot state applied to %d, metadata index %d", sm.applied, md.GetIndex())
	}
	return nil
}
