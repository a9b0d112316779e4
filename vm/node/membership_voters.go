package node

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/raftkv"
)

// The metadata group's configuration follows the VM's membership
// (docs/node.md, "Metadata voters"): joining machines become learners, the
// oldest caught-up learner is promoted while the group has fewer voters
// than it should, voters declared dead or left are removed, a voter that
// leaves is replaced first. One node decides at a time, the one whose
// replica leads, and every decision is a ChangeMembers conditional on the
// configuration it was made against, so it applies at most once whoever
// else decides meanwhile.

var (
	markLearnerAdded       = probe.Declare("node/meta-learner-added", "the deciding node added a joined machine to the metadata group as a learner")
	markVoterPromoted      = probe.Declare("node/meta-voter-promoted", "the deciding node promoted a caught-up learner to metadata voter")
	markVoterRemoved       = probe.Declare("node/meta-voter-removed", "the deciding node removed a voter alone (no learner to replace it) where that does not weaken the group")
	markLearnerRemoved     = probe.Declare("node/meta-learner-removed", "the deciding node removed a metadata learner declared dead or left")
	markVoterReplaced      = probe.Declare("node/meta-voter-replaced", "a voter dead, left or leaving was replaced by a learner in one joint change")
	markReplicaOpened      = probe.Declare("node/meta-replica-opened-as-member", "a node found itself a member of the metadata group and opened its replica")
	markReplicaClosed      = probe.Declare("node/meta-replica-closed-removed", "a node found itself no member of the metadata group and closed its replica")
	markReplaceAsked       = probe.Declare("node/meta-replica-replacement-asked", "a member whose replica stopped for good asked to be replaced")
	markServersFromReplica = probe.Declare("node/meta-servers-from-replica", "the sessions followed the voters this machine's own replica applied, newer than what the node had read")
	markChangeLost         = probe.Declare("node/meta-change-superseded", "a configuration change was refused: another decision applied first, or one was in flight")
)

// Targets of the metadata group.
const (
	votersSmall = 3 // voters wanted while fewer than votersLargeAt machines are alive
	votersLarge = 5
	// votersLargeAt: alive machines from which the group wants votersLarge
	// voters.
	votersLargeAt = 5
	// metaMembersMax bounds voters plus learners: beyond it, machines reach
	// the store as clients only (every member receives the whole log).
	metaMembersMax = 16
	// catchUpSlackEntries: a learner whose log is within this many entries
	// of the leader's commit is caught up, and may be promoted.
	catchUpSlackEntries = 64
)

// voterState is what the node knows of the metadata group's
// configuration. It survives a rebirth (the group does not change when
// this machine's incarnation does).
type voterState struct {
	conf raftkv.Membership // the latest configuration read; Index 0: none yet
	// servers is what the client was last told, and persisted: the
	// voters of conf.
	servers []netmodel.NodeID
	// persisted is what metaServersFile holds (nil: not written yet).
	persisted []netmodel.NodeID
	leave     *voterLeave
	deciding  *voterDecision // the change in flight, if any
	// replaceAsked is the incarnation that asked, its replica stopped for
	// good, to be replaced.
	replaceAsked uint64
	memberMarked bool // metaMemberFile is written
}

// machineView is what the decision needs of one machine.
type machineView struct {
	state   machineState // "" when it has no record (a bootstrap voter not joined yet)
	leaving bool         // its alive incarnation asked to leave (m/leave/<id>)
}

// voterView is everything one decision is made from: the leader's applied
// configuration and its view of every member's log, and the membership.
type voterView struct {
	conf     raftkv.Membership
	progress []raftkv.MemberProgress
	commit   uint64
	machines map[netmodel.NodeID]machineView
}

// voterDecision is one configuration change and why: one step, or two
// (a replacement: remove a voter and promote a learner at once, through
// raft's joint configuration).
type voterDecision struct {
	changes []raftkv.MemberChange
	why     string
	mark    *probe.Mark
	// ifIndex is the configuration it was decided against.
	ifIndex uint64
}

func (d voterDecision) String() string {
	parts := make([]string, len(d.changes))
	for i, c := range d.changes {
		parts[i] = c.String()
	}
	return strings.Join(parts, " + ")
}

func decision(kind raftkv.MemberChangeKind, id netmodel.NodeID, why string, mark *probe.Mark) voterDecision {
	return voterDecision{changes: []raftkv.MemberChange{{Kind: kind, ID: id}}, why: why, mark: mark}
}

// decideVoters is the next change the group needs, if any (rules in
// docs/node.md). It is a pure function of the view, so that any node that
// leads makes the same decision from the same facts.
func decideVoters(v voterView) (voterDecision, bool) {
	if v.conf.Index == 0 || v.conf.Joint() {
		return voterDecision{}, false // nothing applied yet, or raft is leaving a joint configuration
	}
	if d, ok := v.removeLearner(); ok {
		return d, true
	}
	if d, ok := v.replaceVoter(); ok {
		return d, true
	}
	if d, ok := v.promote(); ok {
		return d, true
	}
	return v.addLearner()
}

// over reports whether a machine's record says it is over (declared dead,
// or left).
func (v voterView) over(id netmodel.NodeID) bool {
	st := v.machines[id].state
	return st == stateDead || st == stateLeft
}

// removeLearner: rule 1, learners over or leaving.
func (v voterView) removeLearner() (voterDecision, bool) {
	for _, id := range v.conf.Learners {
		if v.over(id) {
			return decision(raftkv.MemberRemove, id, "learner "+string(v.machines[id].state), markLearnerRemoved), true
		}
		if v.machines[id].leaving {
			return decision(raftkv.MemberRemove, id, "learner leaving", markLearnerRemoved), true
		}
	}
	return voterDecision{}, false
}

// replaceVoter: rule 2, a voter over or leaving is replaced by the oldest
// caught-up learner in one joint change. Without one, it is removed alone
// only where that does not weaken the group: a voter that left (it never
// comes back), a dead one from an even number of voters (the quorum
// shrinks), a leaving one when no learner could ever replace it. Never
// the last voter.
func (v voterView) replaceVoter() (voterDecision, bool) {
	candidate, anyLearner := v.promotable()
	for _, id := range v.conf.Voters {
		m := v.machines[id]
		if !v.over(id) && !m.leaving {
			continue
		}
		why := "voter " + string(m.state)
		if m.leaving {
			why = "voter leaving"
		}
		if candidate != 0 {
			d := decision(raftkv.MemberRemove, id, why+": replaced by "+candidate.String(), markVoterReplaced)
			d.changes = append(d.changes, raftkv.MemberChange{Kind: raftkv.MemberAddVoter, ID: candidate})
			return d, true
		}
		alone := m.state == stateLeft || (m.state == stateDead && len(v.conf.Voters)%2 == 0) || (m.leaving && !anyLearner)
		if alone && len(v.conf.Voters) > 1 {
			return decision(raftkv.MemberRemove, id, why, markVoterRemoved), true
		}
	}
	return voterDecision{}, false
}

// promote: rule 3, the oldest caught-up learners while too few voters
// stay: from an odd number of voters two at once (one joint change), so
// that growth skips the even sizes, which need more voters up for no more
// failures tolerated; from an even number one.
func (v voterView) promote() (voterDecision, bool) {
	staying := 0 // voters not leaving
	for _, id := range v.conf.Voters {
		if !v.machines[id].leaving {
			staying++
		}
	}
	want := v.votersWanted()
	cands, _ := v.caughtUpLearners()
	if staying >= want || len(cands) == 0 {
		return voterDecision{}, false
	}
	why := fmt.Sprintf("%d voters staying, want %d", staying, want)
	if len(v.conf.Voters)%2 == 0 {
		return decision(raftkv.MemberAddVoter, cands[0], why, markVoterPromoted), true
	}
	if len(cands) < 2 || staying+2 > want {
		return voterDecision{}, false // wait for a second learner rather than grow to an even size
	}
	d := decision(raftkv.MemberAddVoter, cands[0], why, markVoterPromoted)
	d.changes = append(d.changes, raftkv.MemberChange{Kind: raftkv.MemberAddVoter, ID: cands[1]})
	return d, true
}

// addLearner: rule 4, the lowest-id alive machine that is no member.
func (v voterView) addLearner() (voterDecision, bool) {
	if len(v.conf.Members()) >= metaMembersMax {
		return voterDecision{}, false
	}
	for _, id := range sortedMachineIDs(v.machines) {
		if m := v.machines[id]; m.state == stateAlive && !m.leaving && !v.conf.IsMember(id) {
			return decision(raftkv.MemberAddLearner, id, "joined", markLearnerAdded), true
		}
	}
	return voterDecision{}, false
}

// votersWanted: 3, or 5 once 5 machines are alive (and not leaving).
// Fewer machines than that simply leave no learner to promote.
func (v voterView) votersWanted() int {
	alive := 0
	for _, m := range v.machines {
		if m.state == stateAlive && !m.leaving {
			alive++
		}
	}
	if alive >= votersLargeAt {
		return votersLarge
	}
	return votersSmall
}

// caughtUpLearners lists, oldest first, the alive learners whose log is
// caught up: it holds the configuration's entry (so the learner opened
// its replica and answers) and is within catchUpSlackEntries of the
// commit. any says whether an alive learner not leaving exists at all.
// Machine ids grow with joins, so the lowest id is the oldest.
func (v voterView) caughtUpLearners() (ids []netmodel.NodeID, any bool) {
	for _, id := range v.conf.Learners {
		if m := v.machines[id]; m.state != stateAlive || m.leaving {
			continue
		}
		any = true
		for _, p := range v.progress {
			if p.ID == id && p.Match >= v.conf.Index && p.Match+catchUpSlackEntries >= v.commit {
				ids = append(ids, id)
				break
			}
		}
	}
	return ids, any
}

// promotable is the oldest caught-up learner (0: none), and whether any
// alive learner not leaving exists.
func (v voterView) promotable() (netmodel.NodeID, bool) {
	ids, any := v.caughtUpLearners()
	if len(ids) == 0 {
		return 0, any
	}
	return ids[0], any
}

func sortedMachineIDs(ms map[netmodel.NodeID]machineView) []netmodel.NodeID {
	ids := make([]netmodel.NodeID, 0, len(ms))
	for id := range ms {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// voterView gathers the facts of a decision on the node whose replica
// leads; ok is false elsewhere.
func (n *Node) voterView() (voterView, bool) {
	if n.meta == nil || n.meta.srv == nil || n.meta.failStop != nil {
		return voterView{}, false
	}
	st := n.meta.srv.Status()
	if st.State != raftkv.StateLeader || st.Err != nil {
		return voterView{}, false
	}
	v := voterView{conf: st.Members, progress: st.Progress, commit: st.Commit, machines: map[netmodel.NodeID]machineView{}}
	for _, id := range n.ms.sortedIDs() {
		m := n.ms.members[id]
		state := m.rec.State
		if n.ms.dead[id] >= m.rec.Incarnation {
			state = stateDead // this node knows the incarnation over
		}
		v.machines[id] = machineView{state: state, leaving: state == stateAlive && m.leaveInc == m.rec.Incarnation}
	}
	return v, true
}

// decideVoterChange runs one decision if this node leads the group and
// none of its own is in flight.
func (n *Node) decideVoterChange() {
	const name = "voters-change"
	if n.mq.pendingNamed(name) {
		return
	}
	v, ok := n.voterView()
	if !ok {
		return
	}
	d, ok := decideVoters(v)
	if !ok {
		return
	}
	d.ifIndex = v.conf.Index
	ifIndex := d.ifIndex
	n.vs.deciding = &d
	n.pushMeta(name, true, func(c *raftkv.Client, done func(raftkv.Result)) error {
		return c.ChangeMembers(d.changes, ifIndex, done)
	}, func(res raftkv.Result) {
		n.vs.deciding = nil
		if res.Err != nil {
			n.cfg.Record("metadata group: %v against index %d not applied: %v", d, ifIndex, res.Err)
			markChangeLost.Hit()
			n.metaFailed(name, res.Err)
			return
		}
		d.mark.Hit()
		n.stats.VoterChanges++
		n.cfg.Record("metadata group: %v (%s): %v", d, d.why, res.Members)
		n.learnConf(res.Members)
	})
}

// readConf reads the group's configuration (after every membership poll):
// every node follows it, and the leading one decides the next change.
func (n *Node) readConf() {
	const name = "members"
	if n.mq.pendingNamed(name) {
		return
	}
	n.pushMeta(name, true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Members(done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed(name, res.Err)
				return
			}
			n.learnConf(res.Members)
			n.decideVoterChange()
		})
}

// learnConf follows a configuration read from the store (linearizable):
// open the replica on becoming a member, close it on being removed, send
// to the members, and go on with a voter's departure once it is replaced.
func (n *Node) learnConf(m raftkv.Membership) {
	if m.Index < n.vs.conf.Index || m.Index == 0 {
		return // an older answer overtaken by a newer one
	}
	n.vs.conf = m
	self := n.cfg.ID
	switch member := m.IsMember(self); {
	case member && n.meta == nil:
		markReplicaOpened.Hit()
		n.cfg.Record("metadata group: member (%v): opening the replica", m)
		n.openReplica()
	case !member && n.meta != nil:
		markReplicaClosed.Hit()
		n.cfg.Record("metadata group: no member (%v): closing the replica", m)
		n.meta.close()
		n.meta = nil
	}
	n.followServers(n.voters())
	n.tickVoterLeave()
}

// openReplica opens this node's metadata replica: a bootstrap voter with
// the bootstrap configuration (ignored once its disk holds state), any
// other as a new member that the leader catches up by snapshot.
func (n *Node) openReplica() {
	mc := n.cfg.Meta
	mc.ID, mc.Peers, mc.Disk, mc.Dir = n.cfg.ID, nil, n.cfg.Disk, metaDir
	if slices.Contains(n.cfg.Voters, n.cfg.ID) && !n.wasMember() {
		mc.Peers = n.cfg.Voters
	}
	mc.Transport, mc.Rand = metaServerTransport{n}, n.cfg.Rand
	mc.SyncUnlocked = n.syncUnlocked
	if n.cfg.OffloadWAL != nil {
		mc.SyncAsync = n.syncAsync
	}
	n.meta = newMetaReplica(mc, n.cfg.Record, n.markMember, n.metaDiskFull)
}

// metaMemberFile records that this disk held a replica of the group: a
// bootstrap voter whose replica directory is then found empty (lost, or
// moved away) opens as a new member to be caught up, never as the
// bootstrap of a second, empty group.
const metaMemberFile = "node/meta-member"

func (n *Node) wasMember() bool {
	_, err := n.cfg.Disk.Stat(metaMemberFile)
	return err == nil
}

// markMember writes metaMemberFile after a replica opened (tried again at
// every open until it is written).
func (n *Node) markMember() {
	if n.vs.memberMarked || n.wasMember() {
		n.vs.memberMarked = true
		return
	}
	if err := diskmodel.WriteFileAtomic(n.cfg.Disk, metaMemberFile, []byte("member\n")); err != nil {
		n.cfg.Record("meta: writing %s: %v", metaMemberFile, err)
		return
	}
	n.vs.memberMarked = true
}

// tickReplicaHealth: a member whose replica stopped for good (its state
// is corrupt) asks to be replaced, as a leaving voter does; the group
// then removes it once enough voters stay without it.
func (n *Node) tickReplicaHealth() {
	if n.meta == nil || n.meta.failStop == nil || !n.joined || n.vs.replaceAsked == n.inc ||
		!n.vs.conf.IsMember(n.cfg.ID) || n.mq.pendingNamed("replace-request") {
		return
	}
	key, val, inc := leaveKey(n.cfg.ID), strconv.FormatUint(n.inc, 10), n.inc
	n.pushMeta("replace-request", true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, val, done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed("replace-request", res.Err)
				return
			}
			markReplaceAsked.Hit()
			n.vs.replaceAsked = inc
			n.cfg.Record("metadata group: replica stopped for good: asked to be replaced")
		})
}

// metaDir holds the replica's WAL and snapshots.
const metaDir = "meta"

// replicaAtBoot reports whether a starting node opens its replica before
// it can read the configuration: a bootstrap voter, or a machine that was
// a member (its replica may be needed for the group's quorum).
func (n *Node) replicaAtBoot() bool {
	if n.vs.conf.Index > 0 {
		return n.vs.conf.IsMember(n.cfg.ID)
	}
	if slices.Contains(n.cfg.Voters, n.cfg.ID) {
		return true
	}
	_, err := n.cfg.Disk.Stat(metaDir)
	return err == nil
}

// followServers points the client at the group's voters (a learner may
// be far behind, or unable to catch up at all on a full disk: it is no
// server to wait for) and persists them, so that a restarted node reaches
// the store after the bootstrap voters are gone.
func (n *Node) followServers(servers []netmodel.NodeID) {
	if len(servers) == 0 {
		return
	}
	if !slices.Equal(servers, n.vs.servers) {
		readFrom := netmodel.NodeID(0)
		if n.meta != nil && slices.Contains(servers, n.cfg.ID) { // servers are the voters
			readFrom = n.cfg.ID
		}
		for _, c := range n.metaClients() {
			if err := c.SetServers(servers, readFrom); err != nil {
				panic(fmt.Sprintf("node %v: metadata servers %v from the configuration: %v", n.cfg.ID, servers, err))
			}
		}
		n.vs.servers = slices.Clone(servers)
	}
	if !slices.Equal(servers, n.vs.persisted) {
		if err := writeMetaServers(n.cfg.Disk, servers); err != nil {
			n.cfg.Record("meta: persisting the servers: %v", err) // tried again at the next read
			return
		}
		n.vs.persisted = slices.Clone(servers)
	}
}

// followLocalReplica points the sessions at the voters this machine's
// own replica has applied, when that configuration is newer than the one
// the node read from the store. The node learns configurations through
// its sessions; sessions pointed at voters that are gone (servers kept
// from before a restart, while the group moved on) reach no one and read
// nothing, and a node that hosts the group's only voter then could not
// renew its lease or learn it was declared dead (the vm sweep, a 1-voter
// store whose voter had moved). A configuration its replica applied is
// committed: good enough to know whom to ask.
func (n *Node) followLocalReplica() {
	if n.meta == nil || n.meta.srv == nil {
		return
	}
	m := n.meta.srv.Status().Members
	if m.Index <= n.vs.conf.Index || len(m.Voters) == 0 {
		return
	}
	voters := slices.Concat(m.Voters, m.VotersOutgoing)
	slices.Sort(voters)
	voters = slices.Compact(voters)
	if !slices.Equal(voters, n.vs.servers) {
		markServersFromReplica.Hit()
		n.followServers(voters)
	}
}

// metaClients are every metadata session of this incarnation: the
// node's own, the filesystem's and the clients' (they all follow the
// group's voters).
func (n *Node) metaClients() []*raftkv.Client {
	cs := []*raftkv.Client{n.client}
	if n.fs != nil {
		cs = append(cs, n.fs.sessions...)
	}
	if n.clientMeta != nil {
		cs = append(cs, n.clientMeta.sessions...)
	}
	return cs
}

// sessionServers are the servers, and the replica to read from, that a
// metadata session made now starts with.
func (n *Node) sessionServers() ([]netmodel.NodeID, netmodel.NodeID) {
	servers := n.serversAtBoot()
	readFrom := netmodel.NodeID(0)
	if n.meta != nil && slices.Contains(servers, n.cfg.ID) {
		readFrom = n.cfg.ID
	}
	return servers, readFrom
}

// serversAtBoot are the replicas a starting client sends to: the ones
// known last (in memory after a rebirth, on disk after a restart), else
// the bootstrap voters.
func (n *Node) serversAtBoot() []netmodel.NodeID {
	if len(n.vs.servers) > 0 {
		return n.vs.servers
	}
	if ids, err := readMetaServers(n.cfg.Disk); err == nil && len(ids) > 0 {
		n.vs.servers, n.vs.persisted = ids, slices.Clone(ids)
		return ids
	} else if err != nil {
		n.cfg.Record("meta: %v: starting from the bootstrap voters", err)
	}
	return n.cfg.Voters
}

// MetaMembers is the metadata group's configuration as this node last
// read it (Index 0: not read yet).
func (n *Node) MetaMembers() raftkv.Membership {
	defer n.enter()()
	return n.vs.conf
}

// voters lists the group's voters as known here: the configuration read,
// else the bootstrap voters.
func (n *Node) voters() []netmodel.NodeID {
	if n.vs.conf.Index > 0 {
		ids := slices.Concat(n.vs.conf.Voters, n.vs.conf.VotersOutgoing)
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	return n.cfg.Voters
}

// isVoter reports whether this machine votes, as known here.
func (n *Node) isVoter() bool { return slices.Contains(n.voters(), n.cfg.ID) }
