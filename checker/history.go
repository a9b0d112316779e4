package checker

import (
	"fmt"
	"math"
)

// OpID names one operation of a History: ids are dense and in call order.
type OpID int

// Status is where an operation of a History stands.
type Status uint8

// Operation statuses.
const (
	// StatusPending: called, no outcome recorded yet. A check treats a
	// pending operation exactly like StatusUnknown.
	StatusPending Status = iota
	// StatusReturned: the client saw a definite result.
	StatusReturned
	// StatusUnknown: the client gave up without learning the outcome
	// (timeout, lost reply, crash of the server it talked to). The operation
	// may or may not have taken effect, at any moment after its call.
	StatusUnknown
	// StatusFailed: the client saw a definite error that guarantees the
	// operation had no effect. It is excluded from the check.
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusReturned:
		return "returned"
	case StatusUnknown:
		return "unknown"
	case StatusFailed:
		return "failed"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Op is one recorded operation.
type Op[I, O any] struct {
	Client int // the logical client id given to Call
	Input  I
	Output O     // zero unless Status is StatusReturned or StatusFailed
	Call   int64 // virtual time of the call
	// Return is the virtual time of the result; math.MaxInt64 while the
	// operation is pending and when its outcome is unknown.
	Return int64
	Status Status
}

// outcome is implemented by the output types of the models: a non-empty
// definite error marks an operation that had no effect.
type outcome interface {
	definiteErr() string
}

type clientState struct {
	// slot is the porcupine client id the client's next operation uses.
	slot    int
	pending OpID // -1: none
	lastAt  int64
}

// History records the operations of a run, in call order, with virtual call
// and return times. Each logical client is sequential: it calls, then waits
// for Return, Unknown or a failure before its next Call. The zero value is an
// empty history ready to use. A History is not safe for concurrent use (the
// simulator has one goroutine).
//
// Times only need to be consistent with real order: virtual nanoseconds, or
// any finer monotonic clock (for example ns*1024 + event sequence). Intervals
// are closed: an operation called at the very instant another returned is
// concurrent with it.
//
// Use the instantiations KVHistory and WordHistory.
type History[I any, O outcome] struct {
	ops       []Op[I, O]
	slots     []int // porcupine client id of each op
	clients   map[int]*clientState
	slotsNext int
	// claims[id] is when the system says op id took effect (Claim), or
	// claimNone or claimMany; nil until the first claim.
	claims  []int64
	claimed bool
}

// Claim records that the system under test says op id took effect at
// virtual time at (on the clock of Call and Return). A check uses the
// claims as a candidate linearization and proves a partition with them in
// linear time when they hold (claims.go); otherwise, and for any operation
// claimed twice, it searches as without claims. A claim may come after the
// client gave up (Unknown): the operation still took effect then. It
// panics if id was not returned by Call or at is negative.
func (h *History[I, O]) Claim(id OpID, at int64) {
	h.mustExist("Claim", id)
	if at < 0 {
		panic(fmt.Sprintf("checker: Claim: op %d claimed at %d", id, at))
	}
	for len(h.claims) < len(h.ops) {
		h.claims = append(h.claims, claimNone)
	}
	h.claimed = true
	if h.claims[id] != claimNone {
		h.claims[id] = claimMany
		return
	}
	h.claims[id] = at
}

func (h *History[I, O]) claimAt(id OpID) int64 {
	if int(id) >= len(h.claims) {
		return claimNone
	}
	return h.claims[id]
}

// Call records that client invoked in at virtual time at and returns the
// operation's id. It panics if the client still has an operation pending (a
// client is sequential), if at is before the client's previous event, or if
// at is negative or math.MaxInt64.
func (h *History[I, O]) Call(client int, in I, at int64) OpID {
	if client < 0 {
		panic(fmt.Sprintf("checker: Call: client %d is negative", client))
	}
	if at < 0 || at == math.MaxInt64 {
		panic(fmt.Sprintf("checker: Call: client %d: time %d out of range", client, at))
	}
	if h.clients == nil {
		h.clients = make(map[int]*clientState)
	}
	cs, ok := h.clients[client]
	if !ok {
		cs = &clientState{slot: h.newSlot(), pending: -1}
		h.clients[client] = cs
	}
	if cs.pending >= 0 {
		panic(fmt.Sprintf("checker: Call: client %d calls at %d while op %d (called at %d) is pending; "+
			"record Return or Unknown first", client, at, cs.pending, h.ops[cs.pending].Call))
	}
	if at < cs.lastAt {
		panic(fmt.Sprintf("checker: Call: client %d calls at %d, before its previous event at %d", client, at, cs.lastAt))
	}
	id := OpID(len(h.ops))
	if len(h.ops) == cap(h.ops) {
		h.grow()
	}
	h.ops = append(h.ops, Op[I, O]{Client: client, Input: in, Call: at, Return: math.MaxInt64, Status: StatusPending})
	h.slots = append(h.slots, cs.slot)
	cs.pending = id
	cs.lastAt = at
	return id
}

// grow doubles the room for operations: append's growth slows to 1.25x
// for long slices, and a run records hundreds of thousands of them. It
// starts small: a scenario may keep thousands of short histories (the fs
// scenario has one per file).
func (h *History[I, O]) grow() {
	n := max(2*cap(h.ops), 16)
	h.ops = append(make([]Op[I, O], 0, n), h.ops...)
	h.slots = append(make([]int, 0, n), h.slots...)
}

// Return records the result the client received for id at virtual time at.
// An output carrying a definite error (its Err field non-empty) marks the
// operation StatusFailed: the system guarantees it had no effect, so the
// check leaves it out. An error that does not guarantee "no effect" (a
// timeout, a broken connection) must be recorded with Unknown instead.
// It panics if id is not pending or at precedes the call.
func (h *History[I, O]) Return(id OpID, out O, at int64) {
	op := h.pendingOp("Return", id)
	if at < op.Call || at == math.MaxInt64 {
		panic(fmt.Sprintf("checker: Return: op %d of client %d returns at %d, called at %d", id, op.Client, at, op.Call))
	}
	op.Output = out
	op.Return = at
	op.Status = StatusReturned
	if out.definiteErr() != "" {
		op.Status = StatusFailed
	}
	cs := h.clients[op.Client]
	cs.pending = -1
	cs.lastAt = at
}

// Unknown records that the client gave up on id without learning its
// outcome. The operation stays in the history with Return = math.MaxInt64:
// the checker lets it take effect at any moment after its call, or never.
//
// The client may then call again, and History does what porcupine requires
// for that: the client's later operations are checked under a fresh
// porcupine client id, because the unknown operation never ends and porcupine
// assumes the operations of one client id do not overlap. Callers just keep
// using the same logical client id.
func (h *History[I, O]) Unknown(id OpID) {
	op := h.pendingOp("Unknown", id)
	op.Status = StatusUnknown
	cs := h.clients[op.Client]
	cs.pending = -1
	cs.slot = h.newSlot()
}

// Len returns the number of operations recorded.
func (h *History[I, O]) Len() int { return len(h.ops) }

// Pending returns the operations without an outcome, in call order. A check
// treats them as unknown; a caller that ends a run usually calls Unknown on
// each first.
func (h *History[I, O]) Pending() []OpID {
	var ids []OpID
	for i := range h.ops {
		if h.ops[i].Status == StatusPending {
			ids = append(ids, OpID(i))
		}
	}
	return ids
}

// Op returns the operation id. It panics if id was not returned by Call.
func (h *History[I, O]) Op(id OpID) Op[I, O] {
	h.mustExist("Op", id)
	return h.ops[id]
}

// Ops returns a copy of every operation, in call order (index = OpID).
func (h *History[I, O]) Ops() []Op[I, O] {
	return append([]Op[I, O](nil), h.ops...)
}

func (h *History[I, O]) failed() int {
	n := 0
	for i := range h.ops {
		if h.ops[i].Status == StatusFailed {
			n++
		}
	}
	return n
}

func (h *History[I, O]) newSlot() int {
	s := h.slotsNext
	h.slotsNext++
	return s
}

func (h *History[I, O]) mustExist(fn string, id OpID) {
	if id < 0 || int(id) >= len(h.ops) {
		panic(fmt.Sprintf("checker: %s: no op %d (history has %d)", fn, id, len(h.ops)))
	}
}

func (h *History[I, O]) pendingOp(fn string, id OpID) *Op[I, O] {
	h.mustExist(fn, id)
	op := &h.ops[id]
	if op.Status != StatusPending {
		panic(fmt.Sprintf("checker: %s: op %d of client %d is %v, not pending", fn, id, op.Client, op.Status))
	}
	return op
}
