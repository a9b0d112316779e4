package raftkv

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// The server's side of configuration changes (members.go).

var (
	markConfChanged = probe.Declare("raftkv/configuration-changed", "a configuration change applied: a member added, promoted or removed")
	markConfPending = probe.Declare("raftkv/configuration-change-pending", "a leader refused a configuration change while an earlier one was not applied yet")
	markConfRefused = probe.Declare("raftkv/configuration-change-refused", "a configuration change reached the log and was refused at apply (raft's rules, or made against an older configuration)")
	markJointLeft   = probe.Declare("raftkv/joint-configuration-left", "raft's own entry left a joint configuration")
	markLeaving     = probe.Declare("raftkv/leader-leaving", "a leader refused a proposal while a change that removes or demotes it was in its log")
)

// confChangeAllowed mirrors raft's rule of one configuration change at a
// time, so that a change raft would replace by an empty entry (losing the
// client's request) is refused before it is proposed: raft's leader
// accepts none until it has applied its pendingConfIndex, which is its
// last index when it was elected, then each accepted change's index; and
// none but raft's own leaving entry while the configuration is joint. The
// mirror is conservative: the last index when this leader first sees a
// change of its term is at least raft's, the state machine's applied index
// is at most raft's, and with raft's Ready handled (no unstable entry, and
// no Ready being persisted: during its sync, Config.SyncUnlocked, its
// entries are not in storage yet) the next entry's index is known.
func (s *Server) confChangeAllowed() bool {
	if !s.settled() {
		return false
	}
	last, _ := s.storage.LastIndex()
	if term := s.rn.BasicStatus().GetTerm(); term != s.confTerm {
		s.confTerm, s.confPendingIndex = term, last
	}
	return s.sm.applied >= s.confPendingIndex && !confJoint(s.sm.conf)
}

// propose hands a request to raft: a configuration change as an
// EntryConfChangeV2 whose context is the request, any other as a normal
// entry.
func (s *Server) propose(req *request) error {
	if req.op != OpChangeMembers {
		return s.rn.Propose(encodeCommand(req))
	}
	mc, err := decodeMemberChanges(req.value)
	if err != nil {
		panic(fmt.Sprintf("raftkv: %v: member changes passed validation, then: %v", s.cfg.ID, err))
	}
	last, _ := s.storage.LastIndex()
	cc := confChangeOf(mc, req)
	if err := s.rn.ProposeConfChange(cc); err != nil {
		return err
	}
	s.confPendingIndex = last + 1
	if s.demotesSelf(cc) {
		s.leaveIndex = last + 1
	}
	return nil
}

// leaving reports whether this leader must propose nothing more because
// its log holds, not applied yet, a configuration change that removes it
// or makes it a learner (or the joint configuration such a change
// entered, which raft leaves by itself).
//
// Why: raft applies a configuration when its entry applies, and a leader
// that applies its own removal steps down at once (StepDownOnRemoval),
// before the others learn that the entry committed. They then elect a
// leader in the configuration they applied, which may still need the old
// leader's vote, and the old leader, now no voter, grants it only to a log
// as long as its own. Had it appended anything after the change, no one
// could be elected: the group would stay without a leader for good (found
// by TestMembershipProperty: {n1 n2} demoting the leader n1 while it
// appended a write). Proposing nothing after the change keeps the old
// leader's log no longer than the new voters'.
//
// The first call in a term scans the unapplied log for such a change made
// in an earlier term (a leader re-elected with its own removal pending).
func (s *Server) leaving(term uint64) bool {
	if term != s.leaveTerm {
		if !s.settled() {
			return true // scan once raft's entries are in storage
		}
		s.leaveTerm, s.leaveIndex = term, s.lastSelfDemotion()
	}
	if s.leaveIndex == 0 {
		return false
	}
	if s.sm.applied < s.leaveIndex || confJoint(s.sm.conf) {
		markLeaving.Hit()
		return true
	}
	s.leaveIndex = 0 // applied and refused, or this server is still a voter
	return false
}

// lastSelfDemotion is the index of the last unapplied change in the log
// that removes or demotes this server, the applied one if the applied
// configuration is joint without it among the incoming voters, or 0.
func (s *Server) lastSelfDemotion() uint64 {
	var index uint64
	self := uint64(s.cfg.ID)
	if confJoint(s.sm.conf) && !slices.Contains(s.sm.conf.GetVoters(), self) {
		index = s.sm.applied
	}
	first, _ := s.storage.FirstIndex()
	last, _ := s.storage.LastIndex()
	for lo := max(s.sm.applied+1, first); lo <= last; {
		ents, err := s.storage.Entries(lo, last+1, s.cfg.MsgSizeMax)
		if err != nil || len(ents) == 0 {
			panic(fmt.Sprintf("raftkv: %v: unapplied entries [%d, %d] not in storage: %v", s.cfg.ID, lo, last, err))
		}
		for _, e := range ents {
			if e.GetType() != pb.EntryConfChangeV2 {
				continue
			}
			if cc, _, err := decodeConfEntry(e.GetData()); err == nil && s.demotesSelf(cc) {
				index = e.GetIndex()
			}
		}
		lo = ents[len(ents)-1].GetIndex() + 1
	}
	return index
}

// demotesSelf reports whether a change removes this server or makes it a
// learner.
func (s *Server) demotesSelf(cc *pb.ConfChangeV2) bool {
	for _, c := range cc.GetChanges() {
		if c.GetNodeId() == uint64(s.cfg.ID) &&
			(c.GetType() == pb.ConfChangeRemoveNode || c.GetType() == pb.ConfChangeAddLearnerNode) {
			return true
		}
	}
	return false
}

// decodeConfEntry decodes a committed EntryConfChangeV2: raft's own
// leaving of a joint configuration (no context), or a change request whose
// context carries exactly the change's steps.
func decodeConfEntry(data []byte) (*pb.ConfChangeV2, request, error) {
	cc := &pb.ConfChangeV2{}
	if err := proto.Unmarshal(data, cc); err != nil {
		return nil, request{}, fmt.Errorf("%w: configuration change: %v", errDecode, err)
	}
	if len(cc.GetContext()) == 0 {
		if !cc.LeaveJoint() {
			return nil, request{}, fmt.Errorf("%w: configuration change without a request", errDecode)
		}
		return cc, request{}, nil
	}
	req, err := decodeCommand(cc.GetContext())
	if err != nil {
		return nil, request{}, err
	}
	if req.op != OpChangeMembers {
		return nil, request{}, fmt.Errorf("%w: configuration change carrying a %v", errDecode, req.op)
	}
	mc, err := decodeMemberChanges(req.value)
	if err != nil {
		return nil, request{}, err
	}
	if !sameChanges(cc, mc) {
		return nil, request{}, fmt.Errorf("%w: configuration change differs from its request", errDecode)
	}
	return cc, req, nil
}

// applyConf hands raft a change the state machine applied; raft must reach
// the same configuration.
func (s *Server) applyConf(cc *pb.ConfChangeV2) {
	cs := s.rn.ApplyConfChange(cc)
	if err := cs.Equivalent(s.sm.conf); err != nil {
		panic(fmt.Sprintf("raftkv: %v: raft's configuration after the change at %d differs from the state machine's: %v",
			s.cfg.ID, s.sm.confIndex, err))
	}
	s.members = confMembers(s.sm.conf)
	s.stats.ConfChanges++
	markConfChanged.Hit()
}

// applyLeaveJoint applies raft's own entry that leaves a joint
// configuration.
func (s *Server) applyLeaveJoint(e *pb.Entry, ev ApplyEvent, cc *pb.ConfChangeV2) {
	ev.Kind, ev.LeaveJoint = ApplyRejected, true
	if s.sm.leaveJoint(e.GetIndex(), e.GetTerm()) {
		s.applyConf(cc)
		markJointLeft.Hit()
		ev.Kind = ApplyNoop
	}
	ev.Result.Members = *s.sm.membership()
	s.observe(ev)
}

// MemberProgress is how far a leader knows a member's log matches its own.
type MemberProgress struct {
	ID      netmodel.NodeID
	Learner bool
	Match   uint64 // the highest index known replicated there
	// Active: the member answered since the leader's last quorum check.
	Active bool
}

// progress is the leader's view of every member's log, in id order; nil
// on a follower.
func (s *Server) progress() []MemberProgress {
	if s.rn.BasicStatus().RaftState != raft.StateLeader {
		return nil
	}
	var out []MemberProgress
	s.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		out = append(out, MemberProgress{ID: netmodel.NodeID(id), Learner: typ == raft.ProgressTypeLearner || pr.IsLearner,
			Match: pr.Match, Active: pr.RecentActive})
	})
	return out
}
