package node

import (
	"github.com/flockvm/flock/vm/sys"
)

// inbox makes every process-service request apply at most once. For each
// origin (machine, incarnation, core) it keeps the answers of the requests
// it applied, and the origin's low-water mark: the requester promises never
// to send again a request below it (procMsg.low), so answers below are
// forgotten and a request below is a stale duplicate, dropped. A request
// whose answer is not known yet (a JOIN waiting for its thread) is marked
// in progress, so a retransmission neither applies it again nor answers it
// early.
type inbox struct {
	origins map[origin]*originState
	entries int
	max     int
}

type origin struct {
	machine     uint64
	incarnation uint32
	core        uint32
}

func originOf(id sys.ReqID) origin {
	return origin{machine: id.Machine, incarnation: id.Incarnation, core: id.Core}
}

type originState struct {
	low     uint64
	answers map[uint64]*procMsg // by seq; nil value: in progress
}

func newInbox(max int) *inbox { return &inbox{origins: map[origin]*originState{}, max: max} }

// verdict is what to do with an incoming request.
type verdict uint8

const (
	verdictApply  verdict = iota // new: apply it
	verdictAnswer                // applied before: send the kept answer again
	verdictDrop                  // stale, in progress, or no room: ignore it
)

// admit classifies request m and, for a new one, marks it in progress.
func (in *inbox) admit(m *procMsg) (verdict, *procMsg) {
	o := originOf(m.req)
	st := in.origins[o]
	if st == nil {
		st = &originState{answers: map[uint64]*procMsg{}}
		in.origins[o] = st
	}
	in.raiseLow(st, m.low)
	if m.req.Seq < st.low {
		return verdictDrop, nil
	}
	if ans, seen := st.answers[m.req.Seq]; seen {
		if ans == nil {
			return verdictDrop, nil
		}
		return verdictAnswer, ans
	}
	if in.entries >= in.max {
		return verdictDrop, nil // the requester retransmits once room is made
	}
	st.answers[m.req.Seq] = nil
	in.entries++
	return verdictApply, nil
}

// answered records the answer of an applied request.
func (in *inbox) answered(id sys.ReqID, ans *procMsg) {
	st := in.origins[originOf(id)]
	if st == nil {
		return // its origin was forgotten (declared dead) meanwhile
	}
	if _, ok := st.answers[id.Seq]; ok {
		st.answers[id.Seq] = ans
	}
}

// raiseLow forgets answers below the origin's new low-water mark. Marks
// only rise: a reordered older message cannot lower them.
func (in *inbox) raiseLow(st *originState, low uint64) {
	if low <= st.low {
		return
	}
	st.low = low
	for seq := range st.answers {
		if seq < low {
			delete(st.answers, seq)
			in.entries--
		}
	}
}

// forgetMachine drops what is kept for every incarnation of machine up to
// incarnation (declared dead, or superseded by a restart).
func (in *inbox) forgetMachine(machine uint64, incarnation uint64) {
	for o, st := range in.origins {
		if o.machine == machine && uint64(o.incarnation) <= incarnation {
			in.entries -= len(st.answers)
			delete(in.origins, o)
		}
	}
}

// forget drops what is kept of one request (only the planted bug
// ForgetJoinAnswers calls it).
func (in *inbox) forget(id sys.ReqID) {
	if st := in.origins[originOf(id)]; st != nil {
		if _, ok := st.answers[id.Seq]; ok {
			delete(st.answers, id.Seq)
			in.entries--
		}
	}
}
