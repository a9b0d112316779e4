package raftkv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// raftElectionTicksDisabled keeps raft's own election timer (drawn from a
// process-global crypto-seeded source) from ever firing: the Server's seeded
// timer campaigns instead (LIBRARIES.md fix B).
const raftElectionTicksDisabled = 1 << 30

// readyLoopMax bounds the Ready/Advance rounds one input may cause.
const readyLoopMax = 16

// When the buggify site "raftkv.apply-late" fires, the server's apply runs
// one entry behind commit for applyLateTicks ticks: the newest committed
// entry of each Ready is applied only at the next tick (or with the next
// Ready), as by an apply loop that has not caught up. applyLateMax bounds
// what it holds back.
const (
	applyLateTicks = 20
	applyLateMax   = 1024
)

// Coverage marks (package probe) of the server's rare paths: a simulator
// sweep counts how many seeds reach each one.
var (
	markSessionEvicted  = probe.Declare("raftkv/session-evicted", "a registration found the session table full and evicted the least recently used session")
	markSessionExpired  = probe.Declare("raftkv/session-expired-request", "a request of a session the table no longer holds was refused as expired")
	markDeduplicated    = probe.Declare("raftkv/request-deduplicated", "a retried or duplicated request was answered from the session table, not applied again")
	markStaleRequest    = probe.Declare("raftkv/stale-request", "a request older than its session's last was refused")
	markRetryPending    = probe.Declare("raftkv/retry-joined-pending", "a retry reached the leader while its first attempt was still pending in the log")
	markOverloaded      = probe.Declare("raftkv/request-overloaded", "a request or read was refused because a bounded queue was full")
	markPendingExpired  = probe.Declare("raftkv/pending-expired", "a proposed request was forgotten after its timeout without its entry applying")
	markSnapshotSent    = probe.Declare("raftkv/snapshot-sent", "a leader sent a snapshot to a follower that lagged behind its log")
	markSnapshotInstall = probe.Declare("raftkv/snapshot-installed", "a follower replaced its state with a snapshot from the leader")
	markQuorumLost      = probe.Declare("raftkv/leader-lost-quorum", "a leader stepped down because no quorum answered within an election timeout")
	markAckedLost       = probe.Declare("raftkv/acknowledged-entries-lost", "a heartbeat named a commit index beyond this server's log: its disk lost acknowledged entries")
	markApplyLate       = probe.Declare("raftkv/apply-late", "committed entries were held back and applied at a later tick (buggify raftkv.apply-late)")
)

// campaignTransfer is the context raft puts on votes of a leadership
// transfer, which must not be ignored in the lease.
var campaignTransfer = []byte("CampaignTransfer")

type pendingKey struct {
	client  netmodel.NodeID
	session uint64
	seq     uint64
}

// pendingReq is a client request this server proposed and must answer
// when its entry applies.
type pendingReq struct {
	attempt  uint32
	term     uint64 // the term it was proposed in
	deadline uint64 // tick after which it is forgotten
	acked    bool   // answered early (the ack-before-commit bug)
}

type pendingDeadline struct {
	key      pendingKey
	deadline uint64
}

// Server is one replica of the store. Drive it with Tick and Receive from
// one goroutine; it sends through Config.Transport and persists through
// Config.Disk. After a disk error it stops (Err reports why) and must be
// reopened.
type Server struct {
	rounds  readRounds // read_rounds.go
	cfg     Config
	lim     limits
	members []uint64 // of the applied configuration
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	p       *persister
	sm      *stateMachine

	ticks                uint64
	electionElapsed      int // ticks without leader contact, for campaigning
	electionTimeout      int // drawn from cfg.Rand in [E, 2E)
	leaderContactElapsed int // ticks since the leader was last heard, for the vote lease
	quorumElapsed        int // ticks as leader since the last quorum check
	lastTerm             uint64
	commit               uint64 // last persisted commit index
	// confTerm and confPendingIndex mirror raft's rule of one
	// configuration change at a time (members_server.go).
	confTerm, confPendingIndex uint64
	// leaveTerm and leaveIndex: in term leaveTerm, the log holds at
	// leaveIndex a change that removes or demotes this leader, which then
	// proposes nothing more (leaving, members_server.go).
	leaveTerm, leaveIndex uint64

	pending      map[pendingKey]*pendingReq
	pendingQueue []pendingDeadline // by deadline
	proposals    []queuedProposal  // stepped, to be proposed together (proposeQueued)
	// applyLate holds committed entries not applied yet (buggify
	// raftkv.apply-late): raft counts them as applied, the state machine
	// has not seen them, and reads must wait for them. applyLagTicks counts
	// down the ticks the apply stays behind.
	applyLate     []*pb.Entry
	applyLagTicks int
	reads         readQueue
	snapsSent     []uint64

	// readying: a Ready is being handled (its sync may run with the
	// driver's lock released, Config.SyncUnlocked); inputs that arrive
	// meanwhile are stepped, and that call handles their output.
	readying bool
	// closeDeferred: Close was called during a sync; the WAL is closed once
	// the Ready is done.
	closeDeferred bool
	// syncing: a Ready's fsync runs elsewhere (Config.SyncAsync); readying
	// stays set until its done. closed: Close was called (a done after it
	// is ignored).
	syncing, closed bool

	err   error
	stats Stats
}

// Open recovers a server from its snapshot and WAL under cfg.Dir, or
// bootstraps a new cluster member there. Persisted state that a crash
// cannot explain yields an error wrapping ErrCorrupt: the machine must then
// fail-stop rather than serve.
func Open(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p, rec, err := openPersister(cfg)
	if err != nil {
		return nil, err
	}
	s, err := newServer(cfg, p, rec)
	if err != nil {
		p.wal.Close()
		return nil, err
	}
	return s, nil
}

func newServer(cfg Config, p *persister, rec recovered) (*Server, error) {
	sm := newStateMachine(cfg.limits()) // a new member's, before the leader's snapshot
	storage := raft.NewMemoryStorage()
	if !raft.IsEmptySnap(rec.snap) {
		var err error
		if sm, err = decodeState(rec.snap.GetData(), rec.snap.GetMetadata().GetConfState(), cfg.limits()); err != nil {
			return nil, corrupt("snapshot state: %v", err)
		}
		if err := storage.ApplySnapshot(rec.snap); err != nil {
			return nil, fmt.Errorf("raftkv: restore snapshot: %w", err)
		}
	}
	if !raft.IsEmptyHardState(rec.hs) {
		if err := storage.SetHardState(rec.hs); err != nil {
			return nil, fmt.Errorf("raftkv: restore hard state: %w", err)
		}
	}
	if err := storage.Append(rec.ents); err != nil {
		return nil, fmt.Errorf("raftkv: restore entries: %w", err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        uint64(cfg.ID),
		ElectionTick:              raftElectionTicksDisabled,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   storage,
		Applied:                   rec.snap.GetMetadata().GetIndex(),
		MaxSizePerMsg:             cfg.MsgSizeMax,
		MaxCommittedSizePerReady:  cfg.MsgSizeMax,
		MaxUncommittedEntriesSize: uint64(cfg.PendingMax) * cfg.MsgSizeMax,
		MaxInflightMsgs:           cfg.InflightMsgsMax,
		CheckQuorum:               false, // emulated: see checkQuorum
		PreVote:                   true,
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{w: cfg.RaftLog, id: cfg.ID},
	})
	if err != nil {
		return nil, fmt.Errorf("raftkv: start raft: %w", err)
	}
	s := &Server{
		cfg: cfg, lim: cfg.limits(), members: confMembers(sm.conf),
		rn: rn, storage: storage, p: p, sm: sm,
		leaderContactElapsed: cfg.ElectionTicks, // no leader heard yet: not in lease
		commit:               rec.hs.GetCommit(),
		pending:              make(map[pendingKey]*pendingReq),
		reads:                newReadQueue(),
	}
	s.electionTimeout = s.drawElectionTimeout()
	s.lastTerm = rn.BasicStatus().GetTerm()
	p.syncVia = cfg.SyncUnlocked
	return s, nil
}

func (s *Server) drawElectionTimeout() int {
	return s.cfg.ElectionTicks + s.cfg.Rand.IntN(s.cfg.ElectionTicks)
}

// Tick advances the server's clock by one tick.
func (s *Server) Tick() {
	if s.err != nil {
		return
	}
	s.ticks++
	s.rounds.fromTick = true
	defer func() { s.rounds.fromTick = false }()
	s.rn.Tick()
	s.tickElection()
	s.expirePending()
	if s.applyLagTicks > 0 {
		s.applyLagTicks--
	}
	s.applyHeld(0)
	s.tickReads()
	s.process()
}

// tickElection runs the seeded election timer of a follower or candidate
// and the quorum check of a leader.
func (s *Server) tickElection() {
	st := s.rn.BasicStatus()
	if st.GetTerm() != s.lastTerm {
		s.lastTerm, s.electionElapsed = st.GetTerm(), 0
	}
	if st.RaftState == raft.StateLeader {
		s.quorumElapsed++
		if s.quorumElapsed >= s.cfg.ElectionTicks {
			s.quorumElapsed = 0
			s.checkQuorum()
		}
		return
	}
	s.quorumElapsed = 0
	s.leaderContactElapsed++
	s.electionElapsed++
	if s.electionElapsed < s.electionTimeout {
		return
	}
	if !confIsVoter(s.sm.conf, uint64(s.cfg.ID)) {
		s.electionElapsed = 0 // a learner, a removed or a new member never campaigns
		return
	}
	s.electionElapsed, s.electionTimeout = 0, s.drawElectionTimeout()
	s.stats.Campaigns++
	if err := s.rn.Campaign(); err != nil {
		s.stats.RaftStepErrors++
	}
}

// checkQuorum emulates raft's CheckQuorum (off, because its timer draws
// from a global source): stepping MsgCheckQuorum from a local sender reaches
// stepLeader, which steps down unless a quorum answered (RecentActive, set
// by MsgAppResp and MsgHeartbeatResp) since the previous check, then clears
// the marks.
func (s *Server) checkQuorum() {
	m := &pb.Message{From: new(raft.LocalAppendThread), Type: pb.MsgCheckQuorum.Enum()}
	if err := s.rn.Step(m); err != nil {
		panic(fmt.Sprintf("raftkv: %v: raft refused the local quorum check: %v", s.cfg.ID, err))
	}
	if s.rn.BasicStatus().RaftState != raft.StateLeader {
		s.stats.CheckQuorumLosses++
		markQuorumLost.Hit()
	}
}

// Receive handles one message: a raft message from a peer or a client
// request. Garbage is counted and dropped. It is Step and Flush at once.
func (s *Server) Receive(from netmodel.NodeID, payload []byte) {
	s.Step(from, payload)
	s.Flush()
}

// Step handles one message as Receive does, but leaves raft's output (the
// Ready: WAL append and sync, sends, apply) to the next Flush, Tick or
// Receive. A driver that steps every message that has arrived, then
// flushes once, makes one WAL append and one sync cover all the proposals
// and acknowledgements among them (group commit). Messages raft is to send
// wait in it meanwhile, so nothing leaves before what it vouches for is
// durable.
func (s *Server) Step(from netmodel.NodeID, payload []byte) {
	if s.err != nil {
		s.stats.DroppedWhileFailed++
		return
	}
	s.stats.MessagesReceived++
	env, err := decodeEnvelope(payload)
	if err != nil {
		s.stats.Garbage++
		return
	}
	switch env.kind {
	case kindRaft:
		s.stepRaft(from, env.raft)
	case kindRequest:
		s.handleRequest(from, &env.request)
	default:
		s.stats.Garbage++ // replies go to clients
	}
	// Reads waiting for an index learn of a change of role at once, as
	// when every message was followed by its Ready.
	s.checkRole()
}

// Flush handles raft's output of what was stepped since the last Flush,
// Tick or Receive.
func (s *Server) Flush() { s.process() }

func (s *Server) stepRaft(from netmodel.NodeID, b []byte) {
	m, err := decodeRaftMessage(b, from, s.cfg.ID, s.lim)
	if err != nil {
		s.stats.Garbage++
		return
	}
	if !slices.Contains(s.members, m.GetFrom()) {
		s.stats.FromNonMembers++
	}
	if s.inLease(m) {
		s.stats.VotesIgnoredInLease++
		return
	}
	if !s.admitReadMessage(m) || !s.admitHeartbeat(m) {
		return
	}
	s.noteHeartbeatAnswer(m)
	if err := s.rn.Step(m); err != nil {
		s.stats.RaftStepErrors++
		return
	}
	switch m.GetType() {
	case pb.MsgApp, pb.MsgHeartbeat, pb.MsgSnap:
		if st := s.rn.BasicStatus(); st.Lead == m.GetFrom() && st.GetTerm() == m.GetTerm() {
			s.electionElapsed, s.leaderContactElapsed = 0, 0
		}
	}
}

// admitHeartbeat stops at a heartbeat whose commit index is beyond this
// server's log. A correct leader never sends one: it sends min(match,
// commit), and a follower keeps what it acknowledged. So this server's disk
// lost acknowledged entries (it lied about a sync) or the leader is broken;
// either way serving on could break safety (this server might vote as if it
// had never held them), and raft itself would panic. The server fails with
// an error wrapping ErrCorrupt.
func (s *Server) admitHeartbeat(m *pb.Message) bool {
	if m.GetType() != pb.MsgHeartbeat {
		return true
	}
	last, _ := s.storage.LastIndex()
	if m.GetCommit() <= last || m.GetTerm() < s.rn.BasicStatus().GetTerm() {
		return true // raft ignores heartbeats of older terms
	}
	markAckedLost.Hit()
	s.fail(corrupt("leader %v (term %d) says index %d is committed here, beyond this log's last index %d: acknowledged entries were lost",
		netmodel.NodeID(m.GetFrom()), m.GetTerm(), m.GetCommit(), last))
	return false
}

// inLease reports whether a (pre-)vote must be ignored because a leader is
// still heard from: what raft does itself with CheckQuorum on. It keeps a
// node that merely missed some heartbeats from deposing a healthy leader.
func (s *Server) inLease(m *pb.Message) bool {
	if t := m.GetType(); t != pb.MsgVote && t != pb.MsgPreVote {
		return false
	}
	st := s.rn.BasicStatus()
	if m.GetTerm() <= st.GetTerm() || bytes.Equal(m.GetContext(), campaignTransfer) {
		return false
	}
	if st.RaftState == raft.StateLeader {
		return true // a leader without a quorum steps down through checkQuorum
	}
	return st.Lead != raft.None && s.leaderContactElapsed < s.cfg.ElectionTicks
}

func (s *Server) handleRequest(from netmodel.NodeID, req *request) {
	s.stats.Requests++
	req.client = from
	rep := reply{session: req.session, seq: req.seq, attempt: req.attempt}
	if err := validateRequest(req, s.lim); err != nil {
		rep.status = statusInvalid
		s.sendReply(from, &rep)
		return
	}
	if req.op.isRead() && req.session == 0 {
		s.handleRead(from, req, &rep)
		return
	}
	st := s.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		s.refuse(from, &rep, statusNotLeader, st.Lead)
		return
	}
	key := pendingKey{client: from, session: req.session, seq: req.seq}
	if p := s.pending[key]; p != nil && p.term == st.GetTerm() {
		p.attempt = req.attempt // a retry of what is already in the log
		markRetryPending.Hit()
		return
	}
	if s.leaving(st.GetTerm()) {
		s.refuse(from, &rep, statusNotLeader, 0)
		return
	}
	if s.pendingFull() || s.buggify("raftkv.refuse-request") {
		s.refuse(from, &rep, statusOverloaded, 0)
		return
	}
	if req.op == OpChangeMembers && !s.confChangeAllowed() {
		s.refuse(from, &rep, statusConfPending, 0)
		return
	}
	if req.op == OpChangeMembers {
		if err := s.propose(req); err != nil {
			s.refuseProposal(from, &rep, err)
			return
		}
		s.stats.Proposals++
	}
	p := &pendingReq{attempt: req.attempt, term: st.GetTerm(), deadline: s.ticks + uint64(s.cfg.PendingTimeoutTicks)}
	s.pending[key] = p
	s.pendingQueue = append(s.pendingQueue, pendingDeadline{key: key, deadline: p.deadline})
	s.stats.PendingHighWater = max(s.stats.PendingHighWater, len(s.pending))
	if req.op != OpChangeMembers {
		s.proposals = append(s.proposals, queuedProposal{key: key, p: p, data: encodeCommand(req)})
	}
	if s.cfg.Bugs.AckBeforeCommit && (req.op == OpPut || req.op == OpDelete) {
		_, found := s.sm.kv.Get(KV{Key: req.key}) // BUG: answers before the entry commits
		rep.found = found
		p.acked = true
		s.sendReply(from, &rep)
	}
}

// refuseProposal answers a request raft did not take.
func (s *Server) refuseProposal(to netmodel.NodeID, rep *reply, err error) {
	if errors.Is(err, raft.ErrProposalDropped) && s.rn.BasicStatus().RaftState == raft.StateLeader {
		s.refuse(to, rep, statusOverloaded, 0)
	} else {
		s.refuse(to, rep, statusNotLeader, s.rn.BasicStatus().Lead)
	}
}

// queuedProposal is a client request (not a configuration change) waiting
// to be proposed with the others stepped since the last Ready: one MsgProp
// for all of them makes one append per follower, not one per request.
type queuedProposal struct {
	key  pendingKey
	p    *pendingReq
	data []byte
}

// proposeQueued hands raft the queued requests as one proposal. If raft
// drops it, each is refused as a single one would have been.
func (s *Server) proposeQueued() {
	if len(s.proposals) == 0 {
		return
	}
	ents := make([]*pb.Entry, len(s.proposals))
	for i, q := range s.proposals {
		ents[i] = &pb.Entry{Data: q.data}
	}
	err := s.rn.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(uint64(s.cfg.ID)), Entries: ents})
	term := s.rn.BasicStatus().GetTerm()
	for i, q := range s.proposals {
		s.proposals[i] = queuedProposal{}
		if s.pending[q.key] != q.p {
			continue // forgotten meanwhile (its timeout passed)
		}
		if err == nil {
			s.stats.Proposals++
			q.p.term = term
			continue
		}
		delete(s.pending, q.key)
		rep := reply{session: q.key.session, seq: q.key.seq, attempt: q.p.attempt}
		s.refuseProposal(q.key.client, &rep, err)
	}
	s.proposals = s.proposals[:0]
}

func (s *Server) refuse(to netmodel.NodeID, rep *reply, st status, leader uint64) {
	rep.status, rep.leader = st, netmodel.NodeID(leader)
	switch st {
	case statusNotLeader:
		s.stats.NotLeaderReplies++
	case statusConfPending:
		s.stats.ConfChangesPending++
		markConfPending.Hit()
	default:
		s.stats.Overloaded++
		markOverloaded.Hit()
	}
	s.sendReply(to, rep)
}

func (s *Server) sendReply(to netmodel.NodeID, rep *reply) {
	s.stats.RepliesSent++
	s.stats.MessagesSent++
	s.cfg.Transport.Send(to, encodeReplyEnvelope(rep))
}

// pendingFull reports whether PendingMax requests await their entries. The
// deadline queue also holds requests answered since (they leave it only at
// their deadline), so a full queue is first cleared of them: counting those
// refused every request for a whole timeout after PendingMax proposals
// (found by the kv sweep once it drew small PendingMax values).
func (s *Server) pendingFull() bool {
	if len(s.pendingQueue) < s.cfg.PendingMax {
		return false
	}
	live := s.pendingQueue[:0]
	for _, d := range s.pendingQueue {
		if p := s.pending[d.key]; p != nil && p.deadline == d.deadline {
			live = append(live, d)
		}
	}
	clear(s.pendingQueue[len(live):])
	s.pendingQueue = live
	return len(s.pendingQueue) >= s.cfg.PendingMax
}

func (s *Server) expirePending() {
	for len(s.pendingQueue) > 0 && s.pendingQueue[0].deadline <= s.ticks {
		d := s.pendingQueue[0]
		s.pendingQueue = s.pendingQueue[1:]
		if p := s.pending[d.key]; p != nil && p.deadline == d.deadline {
			delete(s.pending, d.key)
			s.stats.PendingExpired++
			markPendingExpired.Hit()
		}
	}
}

// process handles raft's Ready output until there is none (bounded). A
// call made while a Ready is being handled (during its sync) returns at
// once: the call handling it takes the new output in its next round.
func (s *Server) process() {
	if s.readying {
		return
	}
	s.readying = true
	defer s.endReadying()
	for i := 0; s.err == nil && !s.closeDeferred; i++ {
		s.proposeQueued()
		s.checkRole()
		if !s.rn.HasReady() {
			return
		}
		if i == readyLoopMax {
			s.stats.ReadyLoops++ // the next input continues
			return
		}
		s.handleReady(s.rn.Ready())
		if s.syncing {
			return // its done goes on
		}
	}
}

// syncDone is Config.SyncAsync's done for the Ready whose sync it ran: it
// handles the rest of that Ready, then what came meanwhile.
func (s *Server) syncDone(syncErr error, rest func(error)) {
	if !s.syncing {
		panic(fmt.Sprintf("raftkv: %v: a sync's done with no sync under way", s.cfg.ID))
	}
	s.syncing = false
	if s.closed {
		return
	}
	rest(syncErr)
	s.endReadying()
	s.process()
}

// handleReady follows raft's order: persist (snapshot, entries, hard state,
// sync), then send, then apply, then Advance. With Config.SendBeforeSync
// a leader's appends and heartbeats leave before the sync (sendEarly), so
// that the followers' fsyncs run while the leader's does.
func (s *Server) handleReady(rd raft.Ready) {
	s.stats.Readys++
	s.checkReady(&rd)
	prev := s.p.hs
	hs := rd.HardState
	switch {
	case s.cfg.Bugs.SendBeforePersist:
		s.sendAll(rd.Messages) // BUG: acks and votes leave before what they vouch for is durable
	case s.cfg.SendBeforeSync:
		s.sendEarly(rd.Messages, hs, prev)
	}
	// Entries that were committed and durable here before this Ready are
	// applied, and their clients answered, before the sync of the new
	// ones, which they do not depend on.
	applyFirst := s.appliesBeforeSync(&rd)
	if applyFirst {
		s.apply(rd.CommittedEntries)
	}
	mustSync := !raft.IsEmptyHardState(hs) && raft.MustSync(hs, prev, len(rd.Entries)) || len(rd.Entries) > 0
	fsync, err := s.p.saveStart(rd.Snapshot, rd.Entries, hs, mustSync)
	if err != nil {
		s.fail(err)
		return
	}
	fromTick := s.rounds.fromTick
	rest := func(syncErr error) {
		if err := s.p.saveFinish(rd.Snapshot, hs, fsync != nil, syncErr); err != nil {
			s.fail(err)
			return
		}
		was := s.rounds.fromTick
		s.rounds.fromTick = fromTick // what raft sends now came from that Ready
		s.afterSave(rd, hs, prev, applyFirst)
		s.rounds.fromTick = was
	}
	switch {
	case fsync == nil:
		rest(nil)
	case s.cfg.SyncAsync != nil:
		s.syncing = true
		s.stats.SyncsAsync++
		s.cfg.SyncAsync(fsync, func(err error) { s.syncDone(err, rest) })
	default:
		rest(runSync(s.p.syncVia, fsync))
	}
}

// afterSave is the rest of handleReady once rd is durable: storage, send,
// apply, Advance.
func (s *Server) afterSave(rd raft.Ready, hs, prev *pb.HardState, applyFirst bool) {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := s.storage.ApplySnapshot(rd.Snapshot); err != nil {
			panic(fmt.Sprintf("raftkv: %v: storing snapshot %d: %v", s.cfg.ID, rd.Snapshot.GetMetadata().GetIndex(), err))
		}
	}
	if err := s.storage.Append(rd.Entries); err != nil {
		panic(fmt.Sprintf("raftkv: %v: storing entries: %v", s.cfg.ID, err))
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.storage.SetHardState(hs); err != nil {
			panic(fmt.Sprintf("raftkv: %v: storing hard state: %v", s.cfg.ID, err))
		}
		s.commit = hs.GetCommit()
	}
	switch {
	case s.cfg.Bugs.SendBeforePersist:
	case s.cfg.SendBeforeSync:
		s.sendLate(rd.Messages, hs, prev)
	default:
		s.sendAll(rd.Messages)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		s.restoreSnapshot(rd.Snapshot)
	}
	if !applyFirst {
		s.apply(rd.CommittedEntries)
	}
	s.takeReadStates(rd.ReadStates)
	s.serveReads()
	s.rn.Advance(rd)
	for _, to := range s.snapsSent {
		// The transport gives no delivery report: let raft probe the
		// follower again, and resend if the snapshot was lost.
		s.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
	s.snapsSent = s.snapsSent[:0]
	s.maybeSnapshot()
}

// appliesBeforeSync reports whether rd's committed entries may be applied
// before rd is persisted: there are some, no snapshot comes with them, and
// every one lies in the log this server had already synced (its storage
// holds only what a previous Ready made durable, and raft never replaces
// committed entries). Applying them needs nothing of rd's entries or hard
// state; answering their clients tells what a quorum holds durably.
func (s *Server) appliesBeforeSync(rd *raft.Ready) bool {
	n := len(rd.CommittedEntries)
	if n == 0 || !raft.IsEmptySnap(rd.Snapshot) {
		return false
	}
	last, err := s.storage.LastIndex()
	return err == nil && rd.CommittedEntries[n-1].GetIndex() <= last
}

// settled makes raft's whole log be in storage, if it can, and reports
// whether it is: the output of messages stepped since the last Flush is
// handled now (a configuration change in a burst of proposals must know
// the next entry's index), but not during a Ready's sync, whose entries
// reach storage only after it.
func (s *Server) settled() bool {
	if s.readying {
		return false
	}
	if s.rn.HasReady() || len(s.proposals) > 0 {
		s.process()
	}
	return !s.readying && !s.rn.HasReady() && len(s.proposals) == 0
}

func (s *Server) endReadying() {
	if s.syncing {
		return // the sync's done ends it
	}
	s.readying = false
	if s.closeDeferred {
		s.closeDeferred = false
		s.closeWAL()
	}
}

// checkReady asserts what raft promises about a Ready.
func (s *Server) checkReady(rd *raft.Ready) {
	if hs := rd.HardState; !raft.IsEmptyHardState(hs) {
		if hs.GetTerm() < s.p.hs.GetTerm() || hs.GetCommit() < s.commit {
			panic(fmt.Sprintf("raftkv: %v: hard state (term %d, commit %d) goes back from (term %d, commit %d)",
				s.cfg.ID, hs.GetTerm(), hs.GetCommit(), s.p.hs.GetTerm(), s.commit))
		}
	}
	for _, e := range rd.Entries {
		if e.GetIndex() > s.commit {
			break
		}
		if term, err := s.storage.Term(e.GetIndex()); err == nil && term != e.GetTerm() {
			panic(fmt.Sprintf("raftkv: %v: committed entry %d (term %d) rewritten with term %d",
				s.cfg.ID, e.GetIndex(), term, e.GetTerm()))
		}
	}
	if n := len(rd.CommittedEntries); n > 0 {
		commit := max(s.commit, rd.HardState.GetCommit())
		if last := rd.CommittedEntries[n-1].GetIndex(); last > commit {
			panic(fmt.Sprintf("raftkv: %v: entry %d handed out to apply beyond commit %d", s.cfg.ID, last, commit))
		}
	}
}

// earlyOK reports whether m may leave before this Ready's entries and
// hard state hs are durable (durable is the hard state on disk before
// it). A leader's MsgApp and MsgHeartbeat vouch for nothing on this
// server's disk: raft counts the leader's own entries toward a quorum only
// at Advance, after the sync (as etcd's leader, which sends its appends in
// parallel with its own fsync; raft thesis §10.2.1). They must still be of
// a term already durable here, so the hard state may change only its
// commit index, which raft never needs to read back. Acknowledgements and
// votes (MsgAppResp, MsgVoteResp, ...) always wait.
func earlyOK(m *pb.Message, hs, durable *pb.HardState) bool {
	if t := m.GetType(); t != pb.MsgApp && t != pb.MsgHeartbeat {
		return false
	}
	if !raft.IsEmptyHardState(hs) && (hs.GetTerm() != durable.GetTerm() || hs.GetVote() != durable.GetVote()) {
		return false
	}
	return m.GetTerm() == durable.GetTerm()
}

// sendEarly sends the messages that may leave before the sync.
func (s *Server) sendEarly(msgs []*pb.Message, hs, durable *pb.HardState) {
	for _, m := range msgs {
		if earlyOK(m, hs, durable) {
			s.stats.SentBeforeSync++
			s.send(m)
		}
	}
}

// sendLate sends the messages sendEarly left, now that the Ready is durable.
func (s *Server) sendLate(msgs []*pb.Message, hs, durable *pb.HardState) {
	for _, m := range msgs {
		if !earlyOK(m, hs, durable) {
			s.send(m)
		}
	}
}

func (s *Server) sendAll(msgs []*pb.Message) {
	for _, m := range msgs {
		s.send(m)
	}
}

func (s *Server) send(m *pb.Message) {
	if s.dropFromReadRound(m) {
		return
	}
	s.noteHeartbeatSent(m)
	payload := appendRaftEnvelope(m)
	if len(payload) > netmodel.FramePayloadMax {
		panic(fmt.Sprintf("raftkv: %v: raft %v of %d bytes exceeds a frame; limits are misconfigured",
			s.cfg.ID, m.GetType(), len(payload)))
	}
	s.stats.MessagesSent++
	s.noteHeartbeatCtx(m)
	s.cfg.Transport.Send(netmodel.NodeID(m.GetTo()), payload)
	if m.GetType() == pb.MsgSnap {
		markSnapshotSent.Hit()
		s.stats.SnapshotsSent++
		s.snapsSent = append(s.snapsSent, m.GetTo())
	}
}

// restoreSnapshot replaces the state machine with a snapshot from the
// leader (checked when its message arrived).
func (s *Server) restoreSnapshot(snap *pb.Snapshot) {
	// Entries held back are older than the snapshot (raft installs only a
	// snapshot beyond its commit index): it holds their effects.
	s.applyLate = nil
	sm, err := decodeState(snap.GetData(), snap.GetMetadata().GetConfState(), s.lim)
	if err != nil {
		panic(fmt.Sprintf("raftkv: %v: snapshot %d was checked on receipt and now fails: %v",
			s.cfg.ID, snap.GetMetadata().GetIndex(), err))
	}
	if sm.applied <= s.sm.applied {
		panic(fmt.Sprintf("raftkv: %v: snapshot at %d would move applied index back from %d", s.cfg.ID, sm.applied, s.sm.applied))
	}
	s.sm = sm
	s.members = confMembers(sm.conf)
	s.stats.SnapshotsInstalled++
	markSnapshotInstall.Hit()
	s.observe(ApplyEvent{Node: s.cfg.ID, Index: sm.applied, Term: sm.appliedTerm, Kind: ApplySnapshot})
}

// apply applies committed entries, or, when the buggify site
// "raftkv.apply-late" fires, holds them back to a later tick: the state
// machine then runs behind what raft knows is committed, as on a machine
// whose apply loop is slow, and reads must wait for it.
func (s *Server) apply(ents []*pb.Entry) {
	s.applyLate = append(s.applyLate, ents...)
	if len(s.applyLate) == 0 {
		return
	}
	if s.applyLagTicks == 0 && s.buggify("raftkv.apply-late") {
		s.applyLagTicks = applyLateTicks
	}
	if s.applyLagTicks > 0 && len(s.applyLate) <= applyLateMax {
		markApplyLate.Hit()
		s.applyHeld(1)
		return
	}
	s.applyHeld(0)
}

// applyHeld applies the entries held back but the last keep.
func (s *Server) applyHeld(keep int) {
	n := len(s.applyLate) - keep
	if n <= 0 {
		return
	}
	for _, e := range s.applyLate[:n] {
		s.applyEntry(e)
	}
	s.applyLate = append(s.applyLate[:0], s.applyLate[n:]...)
	s.serveReads()
}

func (s *Server) applyEntry(e *pb.Entry) {
	s.stats.EntriesApplied++
	ev := ApplyEvent{Node: s.cfg.ID, Index: e.GetIndex(), Term: e.GetTerm()}
	if s.cfg.OnApply != nil {
		ev.Digest = entryDigest(e) // only observers read it
	}
	var req request
	var cc *pb.ConfChangeV2
	var err error
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) == 0 {
			s.sm.applyNoop(e.GetIndex(), e.GetTerm())
			s.observe(ev)
			return
		}
		req, err = decodeCommand(e.GetData())
		if err == nil && req.op == OpChangeMembers {
			err = fmt.Errorf("%w: a configuration change in a normal entry", errDecode)
		}
	case pb.EntryConfChangeV2:
		if cc, req, err = decodeConfEntry(e.GetData()); err == nil && len(cc.GetContext()) == 0 {
			s.applyLeaveJoint(e, ev, cc)
			return
		}
	default:
		panic(fmt.Sprintf("raftkv: %v: committed entry %d has type %v, which decoding refuses",
			s.cfg.ID, e.GetIndex(), e.GetType()))
	}
	if err != nil {
		s.stats.BadEntries++
		s.sm.applyNoop(e.GetIndex(), e.GetTerm())
		ev.Kind = ApplyRejected
		s.observe(ev)
		return
	}
	if s.cfg.Bugs.EvictLiveSession {
		s.sm.reviveSession(&req, e.GetIndex())
	}
	tableFull := req.op == OpRegister && len(s.sm.sessions) >= s.lim.sessionsMax
	kind, rep := s.sm.apply(e.GetIndex(), e.GetTerm(), &req, s.cfg.Bugs.ApplyRetryTwice)
	if cc != nil && kind == ApplyExecuted && rep.status == statusOK {
		s.applyConf(cc)
	}
	s.markApplied(kind, &rep, tableFull)
	if s.cfg.OnApply != nil {
		ev.Kind, ev.Op, ev.Session, ev.Seq, ev.Client = kind, req.op, req.session, req.seq, req.client
		ev.Key, ev.Value, ev.Expected, ev.ExpectedFound = req.key, req.value, req.expected, req.expectedFound
		ev.Limit, ev.Result = int(req.limit), resultFromReply(&rep)
		s.cfg.OnApply(ev)
	}
	s.answer(&req, &rep)
}

// markApplied counts what applying one request did, for the marks.
func (s *Server) markApplied(kind ApplyKind, rep *reply, tableFull bool) {
	switch {
	case kind == ApplyDuplicate:
		s.stats.Duplicates++
		markDeduplicated.Hit()
	case kind == ApplyExecuted && tableFull:
		markSessionEvicted.Hit()
	case rep.status == statusSessionExpired:
		markSessionExpired.Hit()
	case rep.status == statusStale:
		markStaleRequest.Hit()
	case rep.status == statusConfRefused || rep.status == statusMembersChanged:
		markConfRefused.Hit()
	}
}

func (s *Server) observe(ev ApplyEvent) {
	if s.cfg.OnApply != nil {
		s.cfg.OnApply(ev)
	}
}

// answer replies to the client whose request this server proposed.
func (s *Server) answer(req *request, rep *reply) {
	key := pendingKey{client: req.client, session: req.session, seq: req.seq}
	p := s.pending[key]
	if p == nil {
		return
	}
	delete(s.pending, key)
	if p.acked {
		return
	}
	rep.attempt = p.attempt
	s.sendReply(req.client, rep)
}

// maybeSnapshot snapshots the state and compacts storage and WAL once
// SnapshotEntries entries were applied since the last snapshot.
func (s *Server) maybeSnapshot() {
	applied := s.sm.applied
	if s.err != nil || applied == s.p.snapIndex {
		return
	}
	// A snapshot right after a configuration change: a member added now
	// that needs one must find itself in it (raft drops a snapshot that
	// does not name its receiver).
	confChanged := s.sm.confIndex > s.p.snapIndex
	if applied < s.p.snapIndex+s.cfg.SnapshotEntries && !confChanged && !s.buggify("raftkv.snapshot-early") {
		return
	}
	snap, err := s.storage.CreateSnapshot(applied, s.sm.conf, s.sm.encode())
	if err != nil {
		panic(fmt.Sprintf("raftkv: %v: snapshot at applied %d: %v", s.cfg.ID, applied, err))
	}
	if err := s.p.saveLocalSnapshot(snap); err != nil {
		s.fail(err)
		return
	}
	s.stats.SnapshotsTaken++
	if applied <= s.cfg.SnapshotCatchUpEntries {
		return
	}
	compact := applied - s.cfg.SnapshotCatchUpEntries
	if first, _ := s.storage.FirstIndex(); compact >= first {
		if err := s.storage.Compact(compact); err != nil {
			panic(fmt.Sprintf("raftkv: %v: compact storage to %d: %v", s.cfg.ID, compact, err))
		}
	}
}

func (s *Server) buggify(site string) bool {
	return s.cfg.Buggify != nil && s.cfg.Buggify(site)
}

func (s *Server) fail(err error) {
	s.err = fmt.Errorf("%w: %v: %w", ErrFailed, s.cfg.ID, err)
}

// Err is nil while the server works. After a disk error it is an error
// wrapping ErrFailed: the server ignores every input from then on, and the
// driver must Close it and Open it again (as after a crash). If it also
// wraps ErrCorrupt, the server learned that its persisted state lost
// entries it had acknowledged (a disk that lied about a sync): as after
// Open fails with ErrCorrupt, the machine should fail-stop; reopened, it
// will fail again at the leader's next heartbeat.
func (s *Server) Err() error { return s.err }

// Close releases the server's files. It does not sync: what was not synced
// is what a crash would lose. Called during a sync (Config.SyncUnlocked),
// it takes effect when the Ready being handled is done.
func (s *Server) Close() error {
	s.closed = true
	if s.syncing {
		return s.closeWAL() // the fsync under way fails or is moot; its done is ignored
	}
	if s.readying {
		s.closeDeferred = true
		return nil
	}
	return s.closeWAL()
}

func (s *Server) closeWAL() error { return s.p.wal.Close() }

// Status reports the server's raft state and progress.
func (s *Server) Status() Status {
	st := s.rn.BasicStatus()
	last, _ := s.storage.LastIndex()
	return Status{
		ID: s.cfg.ID, State: stateOf(st.RaftState), Term: st.GetTerm(), Leader: netmodel.NodeID(st.Lead),
		Commit: st.GetCommit(), Applied: s.sm.applied, LastIndex: last, SnapshotIndex: s.p.snapIndex, Err: s.err,
		Members: *s.sm.membership(), Progress: s.progress(),
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := s.stats
	st.WAL = s.p.wal.Stats()
	return st
}

// entryDigest is FNV-1a (64 bit) over the entry's term and data.
func entryDigest(e *pb.Entry) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	term := e.GetTerm()
	for i := 0; i < 8; i++ {
		h = (h ^ uint64(byte(term>>(8*i)))) * prime
	}
	for _, c := range e.GetData() {
		h = (h ^ uint64(c)) * prime
	}
	return h
}

var _ netmodel.Receiver = (*Server)(nil)
