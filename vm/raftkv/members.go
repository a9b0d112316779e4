package raftkv

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"go.etcd.io/raft/v3/confchange"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Membership changes: raft configuration changes (ConfChangeV2) through the
// log.
//
// A change is a client operation (Client.ChangeMembers) that runs in the
// client's session like a write, so a retried or duplicated change is
// applied at most once. Its log entry is an EntryConfChangeV2 whose Context
// is the request. Every replica, at apply, computes the next configuration
// from the one it has applied with raft's own rules (package confchange):
// a change raft would refuse (removing every voter, a simple change of two
// voters, leaving a configuration that is not joint) is refused as an
// answer to the client, identically everywhere, and never reaches
// RawNode.ApplyConfChange (which would panic). A change may be made
// conditional on the configuration it was decided against (its Index): it
// is refused if another change applied since.
//
// One change is in flight at a time (raft's rule): a leader refuses a
// change while an earlier one is not applied, or while the configuration
// is joint (raft leaves it by itself), before it reaches the log, so that
// raft never silently replaces it with an empty entry.
//
// A leader whose log holds a change that removes it or makes it a learner
// proposes nothing more until the change applies (Server.leaving): it
// steps down when it applies the change, before the others hear that it
// committed, and must not hold a longer log than the voters that elect
// its successor. Nor does it serve reads meanwhile: the new voters may
// elect a leader and commit writes before it applies the change, and it
// would confirm its own stale read index (testdata/interaction/
// members_leader_demoted_read.txt).
//
// A change of one member is raft's simple change; several at once enter a
// joint configuration, which the leader leaves by itself once it applied
// it (ConfChangeTransitionAuto).
//
// The configuration is part of the replicated state: the state machine
// holds it with the index of the entry that made it, snapshots carry it
// (their metadata, and the index in the state), and Open recovers it from
// the snapshot and the log after it, not from Config.Peers (which only
// bootstrap an empty disk). A server opened with no Peers on an empty disk
// is a new member: it has an empty configuration until the leader, which
// added it (as a learner first), sends it a snapshot. A replica that has
// applied its own removal stops campaigning, and the leader stops sending
// to it. One that never learns of its removal (it was cut off) still
// campaigns in its old configuration: raft keeps it harmless (see
// decodeRaftMessage), and the node that runs it closes it once the
// metadata says it is no member.

// MemberChangeKind is what a MemberChange does.
type MemberChangeKind uint8

// The member changes.
const (
	// MemberAddLearner adds ID as a learner: it receives the log but does
	// not vote. Also demotes a voter (in a joint change).
	MemberAddLearner MemberChangeKind = iota + 1
	// MemberAddVoter adds ID as a voter, or promotes a learner.
	MemberAddVoter
	// MemberRemove removes ID, voter or learner.
	MemberRemove
	memberChangeEnd
)

var memberChangeNames = [...]string{"", "add-learner", "add-voter", "remove"}

func (k MemberChangeKind) String() string {
	if k == 0 || k >= memberChangeEnd {
		return fmt.Sprintf("member-change(%d)", uint8(k))
	}
	return memberChangeNames[k]
}

func (k MemberChangeKind) confChangeType() pb.ConfChangeType {
	switch k {
	case MemberAddLearner:
		return pb.ConfChangeAddLearnerNode
	case MemberAddVoter:
		return pb.ConfChangeAddNode
	case MemberRemove:
		return pb.ConfChangeRemoveNode
	}
	panic(fmt.Sprintf("raftkv: no raft change for %v", k))
}

// MemberChange is one step of a configuration change.
type MemberChange struct {
	Kind MemberChangeKind
	ID   netmodel.NodeID
}

func (c MemberChange) String() string { return fmt.Sprintf("%v %v", c.Kind, c.ID) }

// Limits of configurations.
const (
	// MemberChangesMax bounds the changes of one ChangeMembers.
	MemberChangesMax = 8
	// MembersMax bounds the members (voters and learners) of a
	// configuration.
	MembersMax = 64
)

// Membership is a configuration of the group as of an applied index.
type Membership struct {
	Voters   []netmodel.NodeID // ascending
	Learners []netmodel.NodeID // ascending
	// VotersOutgoing and LearnersNext are set only in a joint
	// configuration (between the two steps of a change of several
	// members): decisions need a majority of Voters and one of
	// VotersOutgoing; LearnersNext become learners when it is left.
	VotersOutgoing []netmodel.NodeID
	LearnersNext   []netmodel.NodeID
	AutoLeave      bool
	// Index is the log index of the entry that made this configuration:
	// 1 for the bootstrap voters, 0 for a new member's empty one.
	Index uint64
}

// Joint reports whether the configuration is joint.
func (m Membership) Joint() bool { return len(m.VotersOutgoing) > 0 }

// IsVoter reports whether id votes (in either half of a joint
// configuration).
func (m Membership) IsVoter(id netmodel.NodeID) bool {
	return slices.Contains(m.Voters, id) || slices.Contains(m.VotersOutgoing, id)
}

// IsMember reports whether id is a voter or a learner.
func (m Membership) IsMember(id netmodel.NodeID) bool {
	return m.IsVoter(id) || slices.Contains(m.Learners, id) || slices.Contains(m.LearnersNext, id)
}

// Members lists every voter and learner, ascending.
func (m Membership) Members() []netmodel.NodeID {
	out := slices.Concat(m.Voters, m.Learners, m.VotersOutgoing, m.LearnersNext)
	slices.Sort(out)
	return slices.Compact(out)
}

func (m Membership) String() string {
	s := fmt.Sprintf("voters=%s learners=%s", idList(m.Voters), idList(m.Learners))
	if m.Joint() {
		s += fmt.Sprintf(" outgoing=%s learners-next=%s auto-leave=%v", idList(m.VotersOutgoing), idList(m.LearnersNext), m.AutoLeave)
	}
	return s + fmt.Sprintf(" (index %d)", m.Index)
}

func idList(ids []netmodel.NodeID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// membershipOf converts a ConfState (sorted, as the tracker makes them).
func membershipOf(cs *pb.ConfState, index uint64) Membership {
	return Membership{
		Voters: nodeIDs(cs.GetVoters()), Learners: nodeIDs(cs.GetLearners()),
		VotersOutgoing: nodeIDs(cs.GetVotersOutgoing()), LearnersNext: nodeIDs(cs.GetLearnersNext()),
		AutoLeave: cs.GetAutoLeave(), Index: index,
	}
}

func nodeIDs(ids []uint64) []netmodel.NodeID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]netmodel.NodeID, len(ids))
	for i, id := range ids {
		out[i] = netmodel.NodeID(id)
	}
	return out
}

// confMembers lists every member of a configuration, ascending: the peers
// whose raft messages a server takes.
func confMembers(cs *pb.ConfState) []uint64 {
	out := slices.Concat(cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext())
	slices.Sort(out)
	return slices.Compact(out)
}

func confIsVoter(cs *pb.ConfState, id uint64) bool {
	return slices.Contains(cs.GetVoters(), id) || slices.Contains(cs.GetVotersOutgoing(), id)
}

func confJoint(cs *pb.ConfState) bool { return len(cs.GetVotersOutgoing()) > 0 }

// restoreTracker builds raft's tracker for a configuration, checking that
// it is one raft can hold: raft panics on a snapshot whose ConfState does
// not restore to itself.
func restoreTracker(cs *pb.ConfState) (tracker.ProgressTracker, error) {
	if n := len(cs.GetVoters()) + len(cs.GetLearners()) + len(cs.GetVotersOutgoing()) + len(cs.GetLearnersNext()); n > 4*MembersMax {
		return tracker.ProgressTracker{}, fmt.Errorf("configuration of %d ids", n)
	}
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}
	cfg, prs, err := confchange.Restore(chg, cs)
	if err != nil {
		return tracker.ProgressTracker{}, fmt.Errorf("configuration %v: %v", membershipOf(cs, 0), err)
	}
	trk := chg.Tracker
	trk.Config, trk.Progress = cfg, prs
	if err := trk.ConfState().Equivalent(pb.EnsureConfState(cs)); err != nil {
		return tracker.ProgressTracker{}, fmt.Errorf("configuration %v is not one raft can hold: %v", membershipOf(cs, 0), err)
	}
	if slices.Contains(confMembers(cs), 0) || len(confMembers(cs)) > MembersMax {
		return tracker.ProgressTracker{}, fmt.Errorf("configuration %v: zero id or more than %d members", membershipOf(cs, 0), MembersMax)
	}
	return trk, nil
}

// checkConfState accepts a configuration from a snapshot (the disk's or a
// leader's): one raft can restore, with at least one voter.
func checkConfState(cs *pb.ConfState) error {
	if len(cs.GetVoters()) == 0 {
		return fmt.Errorf("configuration %v has no voter", membershipOf(cs, 0))
	}
	_, err := restoreTracker(cs)
	return err
}

// nextConfState is the configuration after cc, by raft's rules, or why
// raft would refuse it.
func nextConfState(cs *pb.ConfState, cc *pb.ConfChangeV2) (*pb.ConfState, error) {
	trk, err := restoreTracker(cs)
	if err != nil {
		panic(fmt.Sprintf("raftkv: the applied configuration does not restore: %v", err))
	}
	chg := confchange.Changer{Tracker: trk, LastIndex: 1}
	var cfg tracker.Config
	var prs tracker.ProgressMap
	if cc.LeaveJoint() {
		cfg, prs, err = chg.LeaveJoint()
	} else if autoLeave, joint := cc.EnterJoint(); joint {
		cfg, prs, err = chg.EnterJoint(autoLeave, cc.GetChanges()...)
	} else {
		cfg, prs, err = chg.Simple(cc.GetChanges()...)
	}
	if err != nil {
		return nil, err
	}
	next := tracker.ProgressTracker{Config: cfg, Progress: prs}
	out := next.ConfState()
	if len(confMembers(out)) > MembersMax {
		return nil, fmt.Errorf("the configuration would have more than %d members", MembersMax)
	}
	return out, nil
}

// memberChanges is the value of an OpChangeMembers request:
//
//	ifIndex(uvarint) count(uvarint) {kind(u8) id(uvarint)}*
type memberChanges struct {
	ifIndex uint64 // 0: whatever the configuration
	changes []MemberChange
}

func encodeMemberChanges(mc memberChanges) string {
	b := binary.AppendUvarint(nil, mc.ifIndex)
	b = binary.AppendUvarint(b, uint64(len(mc.changes)))
	for _, c := range mc.changes {
		b = append(b, byte(c.Kind))
		b = binary.AppendUvarint(b, uint64(c.ID))
	}
	return string(b)
}

func decodeMemberChanges(s string) (memberChanges, error) {
	d := decoder{buf: []byte(s)}
	mc := memberChanges{ifIndex: d.uvarint("if index")}
	n := d.count("member changes", 2)
	for i := 0; i < n && d.err == nil; i++ {
		mc.changes = append(mc.changes, MemberChange{Kind: MemberChangeKind(d.u8("kind")), ID: netmodel.NodeID(d.uvarint("id"))})
	}
	if err := d.finish("member changes"); err != nil {
		return memberChanges{}, err
	}
	if err := validateMemberChanges(mc.changes); err != nil {
		return memberChanges{}, fmt.Errorf("%w: %v", errDecode, err)
	}
	return mc, nil
}

// validateMemberChanges checks the form of a change: 1 to
// MemberChangesMax steps, known kinds, distinct non-zero ids. Whether the
// configuration allows it is decided at apply.
func validateMemberChanges(changes []MemberChange) error {
	if len(changes) == 0 || len(changes) > MemberChangesMax {
		return fmt.Errorf("%d member changes, want 1 to %d", len(changes), MemberChangesMax)
	}
	seen := make([]netmodel.NodeID, 0, len(changes))
	for _, c := range changes {
		switch {
		case c.Kind == 0 || c.Kind >= memberChangeEnd:
			return fmt.Errorf("unknown member change kind %d", c.Kind)
		case c.ID == 0:
			return fmt.Errorf("%v of the zero id", c.Kind)
		case slices.Contains(seen, c.ID):
			return fmt.Errorf("%v changed twice", c.ID)
		}
		seen = append(seen, c.ID)
	}
	return nil
}

// confChangeOf is the raft change a request carries, with the request as
// its context.
func confChangeOf(mc memberChanges, req *request) *pb.ConfChangeV2 {
	cc := &pb.ConfChangeV2{Context: encodeCommand(req)}
	for _, c := range mc.changes {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: c.Kind.confChangeType().Enum(), NodeId: new(uint64(c.ID))})
	}
	return cc
}

// sameChanges reports whether a raft change carries exactly the steps of
// the request in its context.
func sameChanges(cc *pb.ConfChangeV2, mc memberChanges) bool {
	if len(cc.GetChanges()) != len(mc.changes) || cc.GetTransition() != pb.ConfChangeTransitionAuto {
		return false
	}
	for i, c := range cc.GetChanges() {
		if c.GetType() != mc.changes[i].Kind.confChangeType() || c.GetNodeId() != uint64(mc.changes[i].ID) {
			return false
		}
	}
	return true
}

// appendMembership encodes a configuration in a reply.
func appendMembership(dst []byte, m *Membership) []byte {
	dst = binary.AppendUvarint(dst, m.Index)
	for _, ids := range [][]netmodel.NodeID{m.Voters, m.Learners, m.VotersOutgoing, m.LearnersNext} {
		dst = binary.AppendUvarint(dst, uint64(len(ids)))
		for _, id := range ids {
			dst = binary.AppendUvarint(dst, uint64(id))
		}
	}
	if m.AutoLeave {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func decodeMembership(d *decoder) *Membership {
	m := &Membership{Index: d.uvarint("membership index")}
	for _, ids := range []*[]netmodel.NodeID{&m.Voters, &m.Learners, &m.VotersOutgoing, &m.LearnersNext} {
		n := d.count("members", 1)
		if n > MembersMax {
			d.fail("%d members exceed %d", n, MembersMax)
		}
		for i := 0; i < n && d.err == nil; i++ {
			id := netmodel.NodeID(d.uvarint("member"))
			if id == 0 || (i > 0 && id <= (*ids)[i-1]) {
				d.fail("member %v out of order", id)
			}
			*ids = append(*ids, id)
		}
	}
	switch auto := d.u8("auto leave"); {
	case d.err != nil:
	case auto > 1:
		d.fail("auto leave %d", auto)
	default:
		m.AutoLeave = auto == 1
	}
	return m
}
