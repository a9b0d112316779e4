package node

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/raftkv"
)

var markFanoutSilent = probe.Declare("node/client-fanout-silent-peer", "a ps/status/kill query went unanswered by a machine until its deadline")

// fanout is one ps, status or kill the contacted node asks its peers
// about (docs/client.md, "Fan-out").
type fanout struct {
	qid      uint64
	what     queryKind
	pid      uint64
	user     string
	all      bool
	waiting  map[netmodel.NodeID]bool
	answers  map[netmodel.NodeID]*ClientMsg
	deadline uint64
	resendAt uint64
	done     func(f *fanout, silent []netmodel.NodeID)
}

// startFanout asks every machine of to its part; done runs once, from a
// later event, when all answered or the deadline passed. With too many
// fan-outs under way, request seq of s is answered unavailable instead.
func (n *Node) startFanout(s *clientSession, seq uint64, f *fanout, to []netmodel.NodeID) {
	cs := &n.clients
	if len(cs.fanouts) >= cs.cfg.FanoutsMax {
		cs.stats.Busy++
		n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v has %d queries of its peers under way, its limit: try again", n.cfg.ID, len(cs.fanouts))})
		return
	}
	cs.nextQID++
	f.qid = cs.nextQID
	f.waiting, f.answers = map[netmodel.NodeID]bool{}, map[netmodel.NodeID]*ClientMsg{}
	f.deadline, f.resendAt = n.ticks+cs.cfg.QueryTicks, n.ticks+cs.cfg.QueryResendTicks
	for _, id := range to {
		if id != n.cfg.ID {
			f.waiting[id] = true
		}
	}
	cs.fanouts[f.qid] = f
	if len(f.waiting) == 0 {
		n.later(func() { n.finishFanout(f) })
		return
	}
	n.sendQueries(f)
}

func (n *Node) sendQueries(f *fanout) {
	for _, id := range sortedIDs(f.waiting) {
		n.clients.stats.Queries++
		n.send(id, ServiceClient, AppendClientMsg(nil, &ClientMsg{Kind: clientQuery, Seq: f.qid, Query: f.what, PID: f.pid, Text: f.user, Flag: f.all}))
	}
}

func (n *Node) finishFanout(f *fanout) {
	cs := &n.clients
	if cs.fanouts[f.qid] != f {
		return // finished already
	}
	delete(cs.fanouts, f.qid)
	silent := sortedIDs(f.waiting)
	if len(silent) > 0 {
		markFanoutSilent.Hit()
		cs.stats.QueriesUnanswered += int64(len(silent))
	}
	f.done(f, silent)
}

func (n *Node) tickFanouts() {
	cs := &n.clients
	for _, qid := range sortedKeys(cs.fanouts) {
		f := cs.fanouts[qid]
		switch {
		case n.ticks >= f.deadline:
			n.finishFanout(f)
		case n.ticks >= f.resendAt:
			f.resendAt = n.ticks + cs.cfg.QueryResendTicks
			n.sendQueries(f)
		}
	}
}

func sortedIDs[V any](m map[netmodel.NodeID]V) []netmodel.NodeID {
	ids := make([]netmodel.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// aliveIDs lists the machines the membership view holds alive.
func (n *Node) aliveIDs() []netmodel.NodeID {
	var ids []netmodel.NodeID
	for _, m := range n.ms.alive() {
		ids = append(ids, m.id)
	}
	return ids
}

// receiveClientPeer handles a client-service message from another machine:
// a query about its part of ps, status or kill, or a peer's answer to one
// of this node's.
func (n *Node) receiveClientPeer(from netmodel.NodeID, body []byte) {
	cs := &n.clients
	cs.init()
	m, err := DecodeClientMsg(body)
	if err != nil {
		cs.stats.Garbage++
		return
	}
	switch m.Kind {
	case clientQuery:
		ans := n.answerQuery(m)
		ans.Kind, ans.Seq = clientAnswer, m.Seq
		n.send(from, ServiceClient, AppendClientMsg(nil, ans))
	case clientAnswer:
		f := cs.fanouts[m.Seq]
		if f == nil || !f.waiting[from] {
			return // late, or a duplicate
		}
		delete(f.waiting, from)
		f.answers[from] = m
		if len(f.waiting) == 0 {
			n.finishFanout(f)
		}
	default:
		cs.stats.Garbage++
	}
}

// answerQuery is this node's part of a peer's fan-out. Each is read-only
// or idempotent, so a resent query is simply answered again.
func (n *Node) answerQuery(m *ClientMsg) *ClientMsg {
	switch m.Query {
	case queryPS:
		return &ClientMsg{Procs: n.processEntries(m.Flag)}
	case queryStatus:
		return &ClientMsg{Nodes: []MachineStatus{n.ownStatus()}}
	case queryKill:
		return n.killHere(m.PID, m.Text)
	}
	return &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf("query %v", m.Query)}
}

// processEntries lists the processes homed here (ended ones too if all).
func (n *Node) processEntries(all bool) []ProcessEntry {
	var out []ProcessEntry
	for _, p := range n.processes() {
		if p.Done && !all {
			continue
		}
		out = append(out, ProcessEntry{PID: p.PID, Parent: p.Parent, Home: n.cfg.ID, User: p.User, Program: p.Program,
			Threads: uint64(p.Threads), Done: p.Done, Status: p.Status})
	}
	return out
}

// clientPS gathers every machine's processes.
func (n *Node) clientPS(s *clientSession, m *ClientMsg) {
	seq := m.Seq
	own := n.processEntries(m.Flag)
	n.startFanout(s, seq, &fanout{what: queryPS, all: m.Flag, done: func(f *fanout, silent []netmodel.NodeID) {
		procs := own
		for _, id := range sortedIDs(f.answers) {
			procs = append(procs, f.answers[id].Procs...)
		}
		sortProcs(procs)
		n.answer(s, seq, &ClientMsg{Procs: procs, Text: silentText(silent)})
	}}, n.aliveIDs())
}

func sortProcs(p []ProcessEntry) {
	slices.SortFunc(p, func(a, b ProcessEntry) int { return cmp.Compare(a.PID, b.PID) })
}

// silentText names the machines that did not answer a fan-out ("" if all
// did).
func silentText(silent []netmodel.NodeID) string {
	if len(silent) == 0 {
		return ""
	}
	names := make([]string, len(silent))
	for i, id := range silent {
		names[i] = id.String()
	}
	return "no answer from " + strings.Join(names, ", ")
}

// clientStatus merges this node's membership view with every alive
// machine's own report.
func (n *Node) clientStatus(s *clientSession, m *ClientMsg) {
	seq := m.Seq
	n.startFanout(s, seq, &fanout{what: queryStatus, done: func(f *fanout, silent []netmodel.NodeID) {
		reports := map[netmodel.NodeID]MachineStatus{n.cfg.ID: n.ownStatus()}
		for id, a := range f.answers {
			if len(a.Nodes) == 1 && a.Nodes[0].ID == id {
				reports[id] = a.Nodes[0]
			}
		}
		rep := &ClientMsg{Nodes: n.mergeStatus(reports), Text: silentText(silent), Leader: uint64(leaderOf(reports))}
		for _, v := range n.voters() {
			rep.Voters = append(rep.Voters, uint64(v))
		}
		n.answer(s, seq, rep)
	}}, n.aliveIDs())
}

// ownStatus is what this machine reports of itself.
func (n *Node) ownStatus() MachineStatus {
	running := 0
	for _, pid := range n.table.PIDs() {
		if n.isRunning(pid) {
			running++
		}
	}
	st := MachineStatus{ID: n.cfg.ID, Reported: true, Address: n.clients.cfg.Address, ReportedIncarnation: n.inc,
		Joined: n.joined, Cores: uint64(n.cores.Len()), Threads: uint64(n.Threads()), Processes: uint64(running),
		ThreadsStarted: uint64(n.stats.ThreadsStarted), ThreadsPlacedRemote: uint64(n.stats.ThreadsPlacedRemote),
		ProcessesStarted: uint64(n.stats.ProcessesStarted), ProcessesLost: uint64(n.stats.ProcessesLost)}
	for _, pid := range sortedKeys(n.procs) {
		if p := n.procs[pid]; p.committed && p.acct != nil {
			st.MemoryBytes += p.acct.UsedBytes()
		}
	}
	if n.failure != nil {
		st.Failure = n.failure.Error()
	}
	st.Voter = n.isVoter()
	if rs, ok := n.metaStatus(); ok {
		st.Raft = RaftStatus{State: rs.State.String(), Term: rs.Term, Leader: uint64(rs.Leader), Commit: rs.Commit, Applied: rs.Applied}
	}
	if err := n.metaFailure(); err != nil {
		st.MetaFailure = err.Error()
	}
	return st
}

// MetaStatus is the raft view of this node's metadata replica; ok is false
// on a machine that is not a voter, or whose replica is down.
func (n *Node) MetaStatus() (raftkv.Status, bool) {
	defer n.enter()()
	return n.metaStatus()
}

// MetaStats returns the metadata replica's counters, if this node runs one.
func (n *Node) MetaStats() (raftkv.Stats, bool) {
	defer n.enter()()
	if n.meta == nil || n.meta.srv == nil {
		return raftkv.Stats{}, false
	}
	return n.meta.srv.Stats(), true
}

func (n *Node) metaStatus() (raftkv.Status, bool) {
	if n.meta == nil || n.meta.srv == nil {
		return raftkv.Status{}, false
	}
	return n.meta.srv.Status(), true
}

// leaderOf is the metadata leader the reports name: a voter that says it
// leads, else the leader most voters name.
func leaderOf(reports map[netmodel.NodeID]MachineStatus) netmodel.NodeID {
	votes := map[uint64]int{}
	for _, id := range sortedIDs(reports) {
		r := reports[id]
		if r.Raft.State == "leader" {
			return id
		}
		if r.Raft.Leader != 0 {
			votes[r.Raft.Leader]++
		}
	}
	best, bestVotes := uint64(0), 0
	for _, l := range sortedKeys(votes) {
		if votes[l] > bestVotes {
			best, bestVotes = l, votes[l]
		}
	}
	return netmodel.NodeID(best)
}

// mergeStatus lists every machine of the view or the reports, in id order.
func (n *Node) mergeStatus(reports map[netmodel.NodeID]MachineStatus) []MachineStatus {
	ids := map[netmodel.NodeID]bool{}
	for id := range n.ms.members {
		ids[id] = true
	}
	for id := range reports {
		ids[id] = true
	}
	var out []MachineStatus
	for _, id := range sortedIDs(ids) {
		st := reports[id]
		st.ID = id
		if m := n.ms.members[id]; m != nil {
			st.State, st.Incarnation, st.Provide = string(m.rec.State), m.rec.Incarnation, m.rec.Provide
			if m.rec.State == stateAlive && n.ms.dead[id] >= m.rec.Incarnation {
				st.State = string(stateDead)
			}
			st.LeaseAgeTicks = n.ticks - m.seenTick
		}
		out = append(out, st)
	}
	return out
}

// clientKill ends a process: here if it is homed here, else at the home
// its record in the metadata store names.
func (n *Node) clientKill(s *clientSession, m *ClientMsg) {
	pid, seq := m.PID, m.Seq
	if _, here := n.table.Process(pid); here {
		n.answer(s, seq, n.killHere(pid, s.user))
		return
	}
	if !n.joined {
		n.answer(s, seq, n.notJoined())
		return
	}
	key := keyProcPrefix + strconv.FormatUint(pid, 10)
	n.pushClientMeta(s, seq, "client-kill", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Get(key, done) },
		func(res raftkv.Result) {
			switch {
			case res.Err != nil:
				n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("reading the record of process %d: %v", pid, res.Err)})
			case !res.Found:
				n.killAnywhere(s, seq, pid)
			default:
				n.killAt(s, seq, pid, res.Value)
			}
		})
}

// killAt forwards a kill to the home a process record names.
func (n *Node) killAt(s *clientSession, seq, pid uint64, record string) {
	home, state := parseProcRecord(record)
	switch {
	case home == 0:
		n.answer(s, seq, &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf("process %d has a record that does not parse: %q", pid, record)})
		return
	case state != "running":
		n.answer(s, seq, &ClientMsg{Code: CodeNoProcess, Text: fmt.Sprintf("process %d has ended (%s)", pid, state)})
		return
	case home == n.cfg.ID:
		n.answer(s, seq, &ClientMsg{Code: CodeNoProcess, Text: fmt.Sprintf("process %d is not running", pid)})
		return
	}
	// A home this node has not heard of yet (it joined a moment ago) is
	// asked; one its view holds dead is not.
	if m := n.ms.members[home]; m != nil && (m.rec.State != stateAlive || n.ms.dead[home] >= m.rec.Incarnation) {
		n.answer(s, seq, &ClientMsg{Code: CodeNoProcess, Text: fmt.Sprintf("process %d was lost with its home, machine %v, which is down", pid, home)})
		return
	}
	n.startFanout(s, seq, &fanout{what: queryKill, pid: pid, user: s.user, done: func(f *fanout, silent []netmodel.NodeID) {
		if a := f.answers[home]; a != nil {
			n.answer(s, seq, &ClientMsg{Code: a.Code, Text: a.Text})
			return
		}
		n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("process %d's home, machine %v, did not answer", pid, home)})
	}}, []netmodel.NodeID{home})
}

// killAnywhere asks every live machine to kill a process whose record is
// not in the metadata store: its home may have started it a moment ago
// and not yet written the record.
func (n *Node) killAnywhere(s *clientSession, seq, pid uint64) {
	n.startFanout(s, seq, &fanout{what: queryKill, pid: pid, user: s.user, done: func(f *fanout, silent []netmodel.NodeID) {
		for _, id := range sortedIDs(f.answers) {
			if a := f.answers[id]; a.Code != CodeNoProcess {
				n.answer(s, seq, &ClientMsg{Code: a.Code, Text: a.Text})
				return
			}
		}
		text := fmt.Sprintf("no process %d", pid)
		if len(silent) > 0 {
			text += fmt.Sprintf(" on the machines that answered (%v did not)", silent)
		}
		n.answer(s, seq, &ClientMsg{Code: CodeNoProcess, Text: text})
	}}, n.aliveIDs())
}

// parseProcRecord reads the home and state of a p/<pid> record
// ("home=3 incarnation=2 state=running path=x.flasm"; a failed state's
// text has spaces).
func parseProcRecord(v string) (netmodel.NodeID, string) {
	var home uint64
	if f := strings.Fields(v); len(f) > 0 {
		if h, ok := strings.CutPrefix(f[0], "home="); ok {
			home, _ = strconv.ParseUint(h, 10, 64)
		}
	}
	_, state, _ := strings.Cut(v, " state=")
	state, _, _ = strings.Cut(state, " path=")
	return netmodel.NodeID(home), state
}

// killHere ends a process homed here on behalf of user: the process's own
// user, or the admin. It is idempotent: a resent query finds the process
// ended and says so.
func (n *Node) killHere(pid uint64, user string) *ClientMsg {
	rec, ok := n.table.Process(pid)
	if !ok {
		return &ClientMsg{Code: CodeNoProcess, Text: fmt.Sprintf("no process %d on machine %v", pid, n.cfg.ID)}
	}
	if rec.User != user && user != AdminUser {
		return &ClientMsg{Code: CodeDenied, Text: fmt.Sprintf("process %d runs as %q, not %q", pid, rec.User, user)}
	}
	if st, done := rec.Done(); done {
		how := "exit " + strconv.FormatUint(st.Code, 10)
		if err := st.Err(); err != nil {
			how = err.Error()
		}
		return &ClientMsg{Code: CodeNoProcess, Text: fmt.Sprintf("process %d has ended (%s)", pid, how)}
	}
	if err := n.kill(pid); err != nil {
		return &ClientMsg{Code: CodeNoProcess, Text: err.Error()}
	}
	return &ClientMsg{}
}
