package raftkv

import (
	"errors"
	"maps"
	"slices"

	"github.com/flockvm/flock/netmodel"
)

// refConf is a reference model of configurations, written from raft's
// documented rules (confchange) apart from the code that uses confchange:
// replaying the agreed log's changes through it must give the
// configurations every replica reported.
type refConf struct {
	voters, outgoing, learners, learnersNext map[netmodel.NodeID]bool
	autoLeave                                bool
	index                                    uint64
}

func newRefConf(voters []netmodel.NodeID) *refConf {
	c := &refConf{voters: map[netmodel.NodeID]bool{}, outgoing: map[netmodel.NodeID]bool{},
		learners: map[netmodel.NodeID]bool{}, learnersNext: map[netmodel.NodeID]bool{}, index: 1}
	for _, id := range voters {
		c.voters[id] = true
	}
	return c
}

func (c *refConf) clone() *refConf {
	return &refConf{voters: maps.Clone(c.voters), outgoing: maps.Clone(c.outgoing), learners: maps.Clone(c.learners),
		learnersNext: maps.Clone(c.learnersNext), autoLeave: c.autoLeave, index: c.index}
}

func (c *refConf) joint() bool { return len(c.outgoing) > 0 }

var errRefConf = errors.New("refused")

// change applies the steps of one ChangeMembers: one step is a simple
// change, several enter a joint configuration left automatically.
func (c *refConf) change(steps []MemberChange, index uint64) (*refConf, error) {
	next := c.clone()
	if c.joint() {
		return nil, errRefConf // neither a simple change nor entering joint from joint
	}
	if len(steps) > 1 {
		if len(c.voters) == 0 {
			return nil, errRefConf
		}
		next.outgoing, next.autoLeave = maps.Clone(c.voters), true
	}
	for _, s := range steps {
		next.step(s)
	}
	if len(next.voters) == 0 {
		return nil, errRefConf // removed all voters
	}
	if len(steps) == 1 && symDiff(c.voters, next.voters) > 1 {
		return nil, errRefConf
	}
	next.index = index
	return next, nil
}

func (c *refConf) step(s MemberChange) {
	id := s.ID
	switch s.Kind {
	case MemberAddVoter:
		delete(c.learners, id)
		delete(c.learnersNext, id)
		c.voters[id] = true
	case MemberAddLearner:
		if c.learners[id] {
			return
		}
		delete(c.voters, id)
		delete(c.learnersNext, id)
		if c.outgoing[id] {
			c.learnersNext[id] = true // a learner once the joint configuration is left
		} else {
			c.learners[id] = true
		}
	case MemberRemove:
		delete(c.voters, id)
		delete(c.learners, id)
		delete(c.learnersNext, id)
	}
}

func (c *refConf) leaveJoint(index uint64) (*refConf, error) {
	if !c.joint() {
		return nil, errRefConf
	}
	next := c.clone()
	for id := range next.learnersNext {
		next.learners[id] = true
	}
	clear(next.learnersNext)
	clear(next.outgoing)
	next.autoLeave, next.index = false, index
	return next, nil
}

func symDiff(a, b map[netmodel.NodeID]bool) int {
	n := 0
	for id := range a {
		if !b[id] {
			n++
		}
	}
	for id := range b {
		if !a[id] {
			n++
		}
	}
	return n
}

func sortedIDs(m map[netmodel.NodeID]bool) []netmodel.NodeID {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

func (c *refConf) membership() Membership {
	return Membership{Voters: sortedIDs(c.voters), Learners: sortedIDs(c.learners), VotersOutgoing: sortedIDs(c.outgoing),
		LearnersNext: sortedIDs(c.learnersNext), AutoLeave: c.autoLeave, Index: c.index}
}

// applyChange is the model of an executed OpChangeMembers request.
func (m *refModel) applyChange(ev ApplyEvent, res *Result) ApplyKind {
	mc, err := decodeMemberChanges(ev.Value)
	if err != nil {
		res.Err = ErrInvalid
		return ApplyRejected
	}
	if mc.ifIndex != 0 && mc.ifIndex != m.conf.index {
		res.Err = ErrMembersChanged
		return ApplyRejected
	}
	next, err := m.conf.change(mc.changes, ev.Index)
	if err != nil {
		res.Err = ErrConfChangeRefused
		return ApplyRejected
	}
	m.conf = next
	return ApplyExecuted
}
