package node

import (
	"fmt"
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
	"pgregory.net/rapid"
)

// drawVoterView draws machines (state, leaving), a configuration over them
// and which learners are caught up, each drawn separately so that
// shrinking works.
func drawVoterView(t *rapid.T) voterView {
	n := rapid.IntRange(1, 8).Draw(t, "machines")
	v := voterView{commit: 100, machines: map[netmodel.NodeID]machineView{}}
	states := []machineState{stateAlive, stateDead, stateLeft, ""}
	var ids []netmodel.NodeID
	for i := 1; i <= n; i++ {
		id := netmodel.NodeID(i)
		ids = append(ids, id)
		st := rapid.SampledFrom(states).Draw(t, fmt.Sprintf("state-%d", i))
		if st == "" {
			continue // no record yet
		}
		leaving := st == stateAlive && rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("leaving-%d", i)) == 0
		v.machines[id] = machineView{state: st, leaving: leaving}
	}
	for _, id := range ids {
		switch rapid.IntRange(0, 2).Draw(t, fmt.Sprintf("role-%d", id)) {
		case 1:
			v.conf.Voters = append(v.conf.Voters, id)
		case 2:
			v.conf.Learners = append(v.conf.Learners, id)
		}
	}
	if len(v.conf.Voters) == 0 {
		v.conf.Voters = ids[:1]
		v.conf.Learners = slices.DeleteFunc(v.conf.Learners, func(id netmodel.NodeID) bool { return id == ids[0] })
	}
	v.conf.Index = 10
	for _, id := range v.conf.Learners {
		if rapid.Bool().Draw(t, fmt.Sprintf("caught-up-%d", id)) {
			v.progress = append(v.progress, raftkv.MemberProgress{ID: id, Learner: true, Match: 100})
		}
	}
	return v
}

// checkDecision: a change is one raft accepts and the rules allow.
func checkDecision(t *rapid.T, v voterView, d voterDecision) {
	if len(d.changes) == 2 && d.changes[0].Kind == raftkv.MemberAddVoter {
		if len(v.conf.Voters)%2 == 0 || d.changes[1].Kind != raftkv.MemberAddVoter {
			t.Fatalf("%v: two promotions must grow an odd group (%v)", d, v.conf)
		}
		checkChange(t, v, d.changes[0], d)
		checkChange(t, v, d.changes[1], d)
		return
	}
	if len(d.changes) == 1 && d.changes[0].Kind == raftkv.MemberAddVoter && len(v.conf.Voters)%2 == 1 {
		t.Fatalf("%v: one promotion grows odd group %v to an even size", d, v.conf)
	}
	if len(d.changes) == 2 {
		rm, add := d.changes[0], d.changes[1]
		m := v.machines[rm.ID]
		if rm.Kind != raftkv.MemberRemove || add.Kind != raftkv.MemberAddVoter || !v.conf.IsVoter(rm.ID) || (m.state == stateAlive && !m.leaving) {
			t.Fatalf("%v: a replacement must remove a voter over or leaving and promote (%+v in %v)", d, m, v.conf)
		}
		checkChange(t, v, add, d)
		return
	}
	if len(d.changes) != 1 {
		t.Fatalf("%v: %d changes", d, len(d.changes))
	}
	checkChange(t, v, d.changes[0], d)
}

func checkChange(t *rapid.T, v voterView, c raftkv.MemberChange, d voterDecision) {
	id, m := c.ID, v.machines[c.ID]
	switch c.Kind {
	case raftkv.MemberRemove:
		if !v.conf.IsMember(id) {
			t.Fatalf("%v: removes a non-member from %v", d, v.conf)
		}
		if v.conf.IsVoter(id) && len(v.conf.Voters) == 1 {
			t.Fatalf("%v: removes the last voter of %v", d, v.conf)
		}
		if m.state == stateAlive && !m.leaving {
			t.Fatalf("%v: removes an alive member that did not ask to leave (%+v)", d, m)
		}
		if v.conf.IsVoter(id) && m.state == stateDead && len(v.conf.Voters)%2 == 1 {
			t.Fatalf("%v: removes a dead voter alone from an odd group %v (the quorum stays, the voter may come back)", d, v.conf)
		}
	case raftkv.MemberAddVoter:
		caught := slices.ContainsFunc(v.progress, func(p raftkv.MemberProgress) bool { return p.ID == id && p.Match >= v.conf.Index })
		if !slices.Contains(v.conf.Learners, id) || m.state != stateAlive || m.leaving || !caught {
			t.Fatalf("%v: promotes %+v (caught up %v) in %v", d, m, caught, v.conf)
		}
	case raftkv.MemberAddLearner:
		if v.conf.IsMember(id) || m.state != stateAlive || m.leaving || len(v.conf.Members()) >= metaMembersMax {
			t.Fatalf("%v: adds %+v as a learner to %v", d, m, v.conf)
		}
	default:
		t.Fatalf("unknown change %v", d)
	}
}

func (v voterView) allCaughtUp() bool {
	for _, id := range v.conf.Members() {
		if !slices.ContainsFunc(v.progress, func(p raftkv.MemberProgress) bool { return p.ID == id && p.Match >= v.commit }) {
			return false
		}
	}
	return true
}

func (v voterView) caughtUp() voterView {
	v.progress = nil
	for _, id := range v.conf.Members() {
		v.progress = append(v.progress, raftkv.MemberProgress{ID: id, Match: v.commit})
	}
	return v
}

// apply is the configuration after a decision (what raft makes of it,
// once it left the joint configuration), with every member caught up
// afterwards.
func apply(v voterView, d voterDecision) voterView {
	for _, c := range d.changes {
		v = applyChange(v, c)
	}
	return v
}

func applyChange(v voterView, c raftkv.MemberChange) voterView {
	conf := v.conf
	conf.Voters = slices.DeleteFunc(slices.Clone(conf.Voters), func(id netmodel.NodeID) bool { return id == c.ID })
	conf.Learners = slices.DeleteFunc(slices.Clone(conf.Learners), func(id netmodel.NodeID) bool { return id == c.ID })
	switch c.Kind {
	case raftkv.MemberAddVoter:
		conf.Voters = append(conf.Voters, c.ID)
	case raftkv.MemberAddLearner:
		conf.Learners = append(conf.Learners, c.ID)
	}
	slices.Sort(conf.Voters)
	slices.Sort(conf.Learners)
	conf.Index++
	v.conf, v.commit = conf, max(v.commit, conf.Index)
	return v.caughtUp()
}

// TestDecideVotersProperty: every decision is allowed (checkDecision), and
// applying decisions while nothing else changes reaches, within a bound,
// a configuration the rules leave alone that has what the rules want: no
// member over or leaving beyond the last voter, every alive machine a
// member, enough voters staying.
func TestDecideVotersProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := drawVoterView(t)
		const stepsMax = 64
		steps := 0
		for ; steps < stepsMax; steps++ {
			d, ok := decideVoters(v)
			if !ok && !v.allCaughtUp() {
				v = v.caughtUp() // time passes: learners catch up
				continue
			}
			if !ok {
				break
			}
			checkDecision(t, v, d)
			v = apply(v, d)
		}
		if steps == stepsMax {
			t.Fatalf("no fixpoint after %d changes: %v", stepsMax, v.conf)
		}
		checkFixpoint(t, v)
	})
}

func checkFixpoint(t *rapid.T, v voterView) {
	usable := 0 // alive machines not leaving
	learnerUsable := false
	for _, id := range sortedMachineIDs(v.machines) {
		m := v.machines[id]
		switch {
		case slices.Contains(v.conf.Learners, id) && (v.over(id) || m.leaving):
			t.Fatalf("fixpoint %v keeps learner %v (%+v)", v.conf, id, m)
		case m.state == stateAlive && !m.leaving && !v.conf.IsMember(id):
			t.Fatalf("fixpoint %v leaves alive machine %v out", v.conf, id)
		}
		if m.state == stateAlive && !m.leaving {
			usable++
			learnerUsable = learnerUsable || slices.Contains(v.conf.Learners, id)
		}
	}
	for _, id := range v.conf.Voters {
		m := v.machines[id]
		if !v.over(id) && !m.leaving || len(v.conf.Voters) == 1 {
			continue
		}
		switch {
		case learnerUsable:
			t.Fatalf("fixpoint %v keeps voter %v (%+v) though a learner could replace it", v.conf, id, m)
		case m.state == stateLeft || m.leaving:
			t.Fatalf("fixpoint %v keeps voter %v (%+v)", v.conf, id, m)
		case m.state == stateDead && len(v.conf.Voters)%2 == 0:
			t.Fatalf("fixpoint %v keeps dead voter %v in an even group", v.conf, id)
		}
	}
	staying := 0
	for _, id := range v.conf.Voters {
		if !v.machines[id].leaving {
			staying++
		}
	}
	// Growth goes in pairs from an odd size: one usable learner short of a
	// pair waits.
	if want := min(v.votersWanted(), usable); staying < want && !(len(v.conf.Voters)%2 == 1 && staying+1 == want) {
		t.Fatalf("fixpoint %v: %d voters staying, want %d", v.conf, staying, want)
	}
}
