package raftkv

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/google/btree"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Reads without log entries: raft's ReadIndex with ReadOnlySafe.
//
// A server that takes a read (a Get or Scan without a session), leader or
// follower, asks raft for a read index. The leader records its commit index
// when the request reaches it (a follower's MsgReadIndex is forwarded to the
// leader it knows, which answers with MsgReadIndexResp) and releases it
// once a heartbeat round shows that a quorum still follows it in its term;
// a leader that has not yet committed an entry of its own term holds the
// request until it has, since only then does its commit index cover every
// entry committed before. The server then waits until it has applied that
// index and answers from its state machine. Nothing here depends on clocks
// or leases (raft's CheckQuorum stays off), so a deposed leader that does
// not know it yet cannot confirm the read: its read waits, then is refused,
// and the client retries elsewhere.
//
// Reads are batched: one ReadIndex request is in flight per server, and it
// covers every read that arrived before it was made. Its context is the
// server's incarnation nonce and the newest read id it covers; an answer to
// any request for (nonce, id) is valid for every read up to id, because
// each of those reads arrived before the request was first made. A round
// a read starts goes to a quorum and a spare of the followers only
// (read_rounds.go).

// Coverage marks of the read path.
var (
	markFollowerRead     = probe.Declare("raftkv/read-served-by-follower", "a follower served a read at a read index the leader confirmed")
	markReadWaitsApply   = probe.Declare("raftkv/read-waited-for-apply", "a read index arrived beyond what the server had applied, so the read waited for apply")
	markReadRoleChanged  = probe.Declare("raftkv/leader-changed-during-read", "the server's role, leader or term changed while reads waited for a read index")
	markReadIndexRetried = probe.Declare("raftkv/read-index-retried", "a read index request went unanswered and was made again")
	markReadExpired      = probe.Declare("raftkv/read-expired", "a read was refused after waiting ReadTimeoutTicks")
)

// readCtxBytes is the size of a ReadIndex context: nonce, newest read id.
const readCtxBytes = 16

// pendingRead is a read this server is serving.
type pendingRead struct {
	id       uint64 // arrival order at this server, from 1
	client   netmodel.NodeID
	req      request
	deadline uint64 // tick at which it is refused
	index    uint64 // its read index once raft released one; 0 before
}

func readLess(a, b *pendingRead) bool { return a.id < b.id }

// roleKey is what, when it changes, makes a ReadIndex request in flight
// hopeless: its answer comes from a leader this server no longer follows.
type roleKey struct {
	state      raft.StateType
	lead, term uint64
}

// readQueue holds a server's pending reads. Reads with id <= answered hold
// a read index; the others (unindexed) wait for one.
type readQueue struct {
	nonce         uint64 // tells this incarnation's contexts from an earlier one's; 0 until the first read
	lastID        uint64
	pending       *btree.BTreeG[*pendingRead] // by id: arrival and deadline order
	unindexed     int
	answered      uint64 // newest read id covered by a read index
	requested     uint64 // newest read id covered by a ReadIndex request
	requestedTick uint64
	applyMin      uint64 // least read index among pending reads; MaxUint64 if none
	role          roleKey
	// heldRemote bounds the followers' requests raft holds while this
	// leader has not committed an entry in its term (raft keeps them in a
	// list of its own, released at that first commit).
	heldRemote int
	// The highest heartbeat context (read position) this leader sent in
	// hbCtxTerm: an echo beyond it is forged.
	hbCtxTerm, hbCtxMax uint64
}

func newReadQueue() readQueue {
	return readQueue{pending: btree.NewG(btreeDegree, readLess), applyMin: math.MaxUint64}
}

// readRetryTicks is how long a ReadIndex request may stay unanswered before
// the server asks again (its message or the answer may have been lost).
func (s *Server) readRetryTicks() uint64 { return uint64(max(2, s.cfg.ElectionTicks/2)) }

func encodeReadCtx(nonce, newest uint64) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, readCtxBytes), nonce)
	return binary.LittleEndian.AppendUint64(b, newest)
}

func decodeReadCtx(b []byte) (nonce, newest uint64, ok bool) {
	if len(b) != readCtxBytes {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), true
}

// handleRead takes a read that needs no log entry.
func (s *Server) handleRead(from netmodel.NodeID, req *request, rep *reply) {
	s.stats.Reads++
	if s.cfg.Bugs.StaleFollowerRead {
		s.answerRead(from, req) // BUG: no read index: a lagging replica answers from its past
		return
	}
	if !s.canServeReads() {
		s.stats.ReadsRefused++
		lead := s.rn.BasicStatus().Lead
		if lead == uint64(s.cfg.ID) {
			lead = 0 // a leader that is leaving: none to point at yet
		}
		s.refuse(from, rep, statusNotLeader, lead)
		return
	}
	q := &s.reads
	if q.pending.Len() >= s.cfg.ReadPendingMax || s.buggify("raftkv.refuse-request") {
		s.refuse(from, rep, statusOverloaded, 0)
		return
	}
	q.lastID++
	q.pending.ReplaceOrInsert(&pendingRead{
		id: q.lastID, client: from, req: *req, deadline: s.ticks + uint64(s.cfg.ReadTimeoutTicks),
	})
	q.unindexed++
	s.stats.ReadsHighWater = max(s.stats.ReadsHighWater, q.pending.Len())
	if q.requested <= q.answered {
		s.requestReadIndex() // else it joins the next request, made when the one in flight returns
	}
}

// canServeReads: this server can get a read index now, as leader or as a
// follower that hears its leader. A leader whose own removal or demotion
// is in its log (leaving) cannot: once the change commits, the new voters
// may elect a leader and commit writes before this one applies the change
// and steps down, and this one, still counting only the old voters (alone
// when it was the only one), would confirm its own stale read index (found
// by TestMembershipProperty: a members read answered at index 8 after a put
// at index 9 was acknowledged).
func (s *Server) canServeReads() bool {
	st := s.rn.BasicStatus()
	switch st.RaftState {
	case raft.StateLeader:
		return !s.leaving(st.GetTerm())
	case raft.StateFollower:
		return st.Lead != raft.None && s.leaderContactElapsed < s.cfg.ElectionTicks
	}
	return false
}

// leaderHoldsReadIndex: this leader has not committed an entry in its term,
// so raft holds ReadIndex requests until it has.
func (s *Server) leaderHoldsReadIndex() bool {
	st := s.rn.BasicStatus()
	if st.RaftState != raft.StateLeader {
		return false
	}
	term, err := s.storage.Term(st.GetCommit())
	return err == nil && term != st.GetTerm()
}

// requestReadIndex asks raft for a read index covering every unindexed read.
func (s *Server) requestReadIndex() {
	q := &s.reads
	newest, ok := q.pending.Max()
	if !ok || q.unindexed == 0 || newest.index != 0 {
		panic(fmt.Sprintf("raftkv: %v: read index requested with %d unindexed of %d pending reads",
			s.cfg.ID, q.unindexed, q.pending.Len()))
	}
	if q.nonce == 0 {
		q.nonce = s.cfg.Rand.Uint64() | 1
	}
	q.requested, q.requestedTick = newest.id, s.ticks
	s.stats.ReadIndexRequests++
	s.rn.ReadIndex(encodeReadCtx(q.nonce, newest.id))
}

// takeReadStates gives the reads raft released their read index.
func (s *Server) takeReadStates(rss []raft.ReadState) {
	q := &s.reads
	for _, rs := range rss {
		nonce, newest, ok := decodeReadCtx(rs.RequestCtx)
		if !ok || q.nonce == 0 || nonce != q.nonce || newest > q.lastID {
			s.stats.ReadStatesIgnored++ // an earlier incarnation's
			continue
		}
		if newest <= q.answered {
			continue // an earlier request's answer; its reads have one
		}
		if rs.Index > s.sm.applied {
			markReadWaitsApply.Hit()
		}
		q.pending.AscendRange(&pendingRead{id: q.answered + 1}, &pendingRead{id: newest + 1}, func(r *pendingRead) bool {
			r.index = rs.Index
			q.unindexed--
			q.applyMin = min(q.applyMin, rs.Index)
			return true
		})
		q.answered = newest
	}
	if q.unindexed > 0 && q.requested <= q.answered && s.canServeReads() {
		s.requestReadIndex()
	}
}

// serveReads answers every read whose read index is applied.
func (s *Server) serveReads() {
	q := &s.reads
	applied := s.readsApplied()
	if applied < q.applyMin {
		return
	}
	q.applyMin = math.MaxUint64
	var ready []*pendingRead
	q.pending.Ascend(func(r *pendingRead) bool {
		if r.index == 0 {
			return false // unindexed: so is every later read
		}
		if r.index <= applied {
			ready = append(ready, r)
		} else {
			q.applyMin = min(q.applyMin, r.index)
		}
		return true
	})
	follower := len(ready) > 0 && s.rn.BasicStatus().RaftState != raft.StateLeader
	for _, r := range ready {
		q.pending.Delete(r)
		s.stats.ReadsServed++
		if follower {
			markFollowerRead.Hit()
		}
		s.answerRead(r.client, &r.req)
	}
}

// readsApplied is the index up to which reads may be served: the applied
// index (one more with the read-index-off-by-one bug).
func (s *Server) readsApplied() uint64 {
	if s.cfg.Bugs.ReadIndexOffByOne {
		return s.sm.applied + 1 // BUG: the entry at the read index may not be applied yet
	}
	return s.sm.applied
}

// answerRead answers a read from the local state machine.
func (s *Server) answerRead(to netmodel.NodeID, req *request) {
	rep := reply{seq: req.seq, attempt: req.attempt, index: s.sm.applied}
	s.sm.read(req, &rep)
	s.sendReply(to, &rep)
}

// tickReads refuses reads past their deadline and asks again for a read
// index that did not come.
func (s *Server) tickReads() {
	q := &s.reads
	for {
		r, ok := q.pending.Min()
		if !ok || r.deadline > s.ticks {
			break
		}
		q.pending.DeleteMin()
		if r.index == 0 {
			q.unindexed--
		}
		s.stats.ReadsExpired++
		markReadExpired.Hit()
		s.refuseRead(r)
	}
	if q.unindexed > 0 && s.ticks-q.requestedTick >= s.readRetryTicks() && !s.leaderHoldsReadIndex() {
		markReadIndexRetried.Hit()
		s.retryReadIndex()
	}
}

// retryReadIndex asks again for the unindexed reads, or refuses them if
// this server cannot get a read index now.
func (s *Server) retryReadIndex() {
	if !s.canServeReads() {
		s.refuseUnindexed()
		return
	}
	s.stats.ReadIndexRetries++
	s.requestReadIndex()
}

// checkRole notices a change of role, leader or term: the answer to a
// ReadIndex request in flight will not come (raft drops it, or ignores it
// for its old term), so the unindexed reads need a new request, or a
// refusal if there is no leader to ask. Reads holding a read index keep
// it: it stays valid whoever leads now.
func (s *Server) checkRole() {
	st := s.rn.BasicStatus()
	role := roleKey{state: st.RaftState, lead: st.Lead, term: st.GetTerm()}
	if role == s.reads.role {
		return
	}
	s.reads.role = role
	if s.reads.unindexed > 0 {
		markReadRoleChanged.Hit()
		s.retryReadIndex()
	}
}

func (s *Server) refuseUnindexed() {
	q := &s.reads
	var refused []*pendingRead
	q.pending.AscendGreaterOrEqual(&pendingRead{id: q.answered + 1}, func(r *pendingRead) bool {
		refused = append(refused, r)
		return true
	})
	for _, r := range refused {
		q.pending.Delete(r)
		s.stats.ReadsRefused++
		s.refuseRead(r)
	}
	q.unindexed = 0
	q.answered, q.requested = q.lastID, q.lastID // late answers cover none of the reads to come
}

// refuseRead tells a read's client to try elsewhere (the leader, if known).
func (s *Server) refuseRead(r *pendingRead) {
	rep := reply{seq: r.req.seq, attempt: r.req.attempt}
	s.refuse(r.client, &rep, statusNotLeader, s.rn.BasicStatus().Lead)
}

// admitReadMessage decides whether a peer's read-related raft message may
// reach raft: a read index request only at a leader (a follower would
// forward it in the requester's name, which the leader refuses), and no
// more of them than ReadPendingMax while raft holds them; a heartbeat
// echo only with a context this leader sent.
func (s *Server) admitReadMessage(m *pb.Message) bool {
	q := &s.reads
	switch m.GetType() {
	case pb.MsgReadIndex:
		if s.rn.BasicStatus().RaftState != raft.StateLeader {
			s.stats.ReadIndexDropped++
			return false
		}
		if !s.leaderHoldsReadIndex() {
			q.heldRemote = 0 // raft released what it held
			return true
		}
		if q.heldRemote >= s.cfg.ReadPendingMax {
			s.stats.ReadIndexDropped++
			return false
		}
		q.heldRemote++
	case pb.MsgHeartbeatResp:
		ctx := m.GetContext()
		if len(ctx) == 0 || m.GetTerm() != s.rn.BasicStatus().GetTerm() {
			return true // raft ignores contexts of other terms
		}
		if m.GetTerm() != q.hbCtxTerm || binary.LittleEndian.Uint64(ctx) > q.hbCtxMax {
			s.stats.Garbage++
			return false
		}
	}
	return true
}

// noteHeartbeatCtx records the read position a heartbeat carries.
func (s *Server) noteHeartbeatCtx(m *pb.Message) {
	ctx := m.GetContext()
	if m.GetType() != pb.MsgHeartbeat || len(ctx) != heartbeatCtxBytes {
		return
	}
	q := &s.reads
	if m.GetTerm() != q.hbCtxTerm {
		q.hbCtxTerm, q.hbCtxMax = m.GetTerm(), 0
	}
	q.hbCtxMax = max(q.hbCtxMax, binary.LittleEndian.Uint64(ctx))
}
