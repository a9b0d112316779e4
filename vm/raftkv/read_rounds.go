package raftkv

import (
	"slices"

	"github.com/flockvm/flock/probe"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Read rounds to a quorum and a spare.
//
// A ReadIndex request makes raft's leader send a heartbeat carrying the
// request's context to every follower; the read is released once a quorum
// (the leader counting itself) has echoed it. With five voters that is four
// heartbeats and four answers where two of each decide. So the heartbeats
// of a round a read started go only to the quorum's worth of voters that
// answered the leader's last periodic heartbeat round first, and one more
// (the spare: one follower that died or slowed since then does not hold the
// read back); the others are dropped here, as the network may drop any
// message. Dropping is all this does: raft still counts the echoes, so
// safety is raft's own. With three voters the spare is the last follower:
// nothing is dropped. If two chosen followers fail, the read is released by
// the next periodic round (every HeartbeatTicks), which goes to every
// follower and carries the newest pending context, or by the retry after
// readRetryTicks, made from Tick and also sent to all.
//
// Not trimmed: rounds raft sends from Tick (periodic ones, retries),
// rounds of a leader whose last periodic round in its term was answered by
// too few (a new leader does not know yet who answers), rounds under a
// joint configuration (a quorum must then be a majority of both voter
// sets), and heartbeats without a read context. (Without the spare, a
// follower that answered a periodic round first and then died, or whose
// late answer to one round was taken as the first of the next, held reads
// back for up to a periodic round: the fs sweep completed 7% fewer
// operations.)

var markReadRoundTrimmed = probe.Declare("raftkv/read-round-trimmed", "a read's heartbeat round went only to a quorum and a spare of the followers that answered the last periodic round first")

// readRounds is the leader's view of which followers answer heartbeats
// first, in its current term.
type readRounds struct {
	fromTick bool     // what raft sends now came from a Ready made in Tick
	term     uint64   // of the rounds below
	roundAt  uint64   // tick of the last periodic round sent
	answered []uint64 // followers in the order they answered since that round
	fastest  []uint64 // the order of the round before
	targets  []uint64 // scratch of readRoundTargets
}

// noteHeartbeatSent: a periodic round starts the order anew; a new term
// forgets the old one's.
func (s *Server) noteHeartbeatSent(m *pb.Message) {
	rr := &s.rounds
	if m.GetType() != pb.MsgHeartbeat {
		return
	}
	if m.GetTerm() != rr.term {
		rr.term, rr.roundAt = m.GetTerm(), 0
		rr.answered, rr.fastest = rr.answered[:0], rr.fastest[:0]
	}
	if !rr.fromTick || rr.roundAt == s.ticks {
		return
	}
	rr.roundAt = s.ticks
	rr.fastest = append(rr.fastest[:0], rr.answered...)
	rr.answered = rr.answered[:0]
}

// noteHeartbeatAnswer records the order followers answer in.
func (s *Server) noteHeartbeatAnswer(m *pb.Message) {
	rr := &s.rounds
	if m.GetType() != pb.MsgHeartbeatResp || m.GetTerm() != rr.term ||
		slices.Contains(rr.answered, m.GetFrom()) || len(rr.answered) >= MembersMax {
		return
	}
	rr.answered = append(rr.answered, m.GetFrom())
}

// dropFromReadRound reports whether m, a heartbeat of a round a read
// started, goes to a follower the round does not need. Until a periodic
// round of this term has been answered by a quorum, none is dropped: a new
// leader does not know yet who answers.
func (s *Server) dropFromReadRound(m *pb.Message) bool {
	if m.GetType() != pb.MsgHeartbeat || len(m.GetContext()) == 0 || s.rounds.fromTick ||
		m.GetTerm() != s.rounds.term || len(s.sm.conf.GetVotersOutgoing()) > 0 {
		return false
	}
	voters := s.sm.conf.GetVoters()
	if !slices.Contains(voters, uint64(s.cfg.ID)) {
		return false
	}
	targets, ok := s.readRoundTargets(voters)
	if !ok || slices.Contains(targets, m.GetTo()) {
		return false
	}
	markReadRoundTrimmed.Hit()
	s.stats.ReadRoundsTrimmed++
	return true
}

// readRoundTargets are the voters other than this leader whose echoes make
// a quorum with its own, and the spare: the first to answer the last
// periodic round; ok is false if fewer than that many answered it.
func (s *Server) readRoundTargets(voters []uint64) (targets []uint64, ok bool) {
	need := len(voters)/2 + 1 // a majority less the leader's own echo, and the spare
	chosen := s.rounds.targets[:0]
	for _, id := range s.rounds.fastest {
		if len(chosen) < need && id != uint64(s.cfg.ID) && slices.Contains(voters, id) {
			chosen = append(chosen, id)
		}
	}
	s.rounds.targets = chosen
	return chosen, len(chosen) == need
}
