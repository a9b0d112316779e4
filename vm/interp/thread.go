package interp

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

type threadState uint8

const (
	stateRunnable threadState = iota
	stateParked
	stateDead
)

// frame is a saved return address and frame pointer.
type frame struct {
	ret int32
	fp  int32
	fl  int32
}

// initialStackWords is a new thread's stack; it grows by doubling up to
// Config.StackWordsMax. With no call frames yet, an idle thread holds the
// Thread struct, this stack and nothing else.
const initialStackWords = 16

// Thread is a green thread: registers, stacks and local memory.
type Thread struct {
	pid, tid uint64
	p        *procState
	pc       int
	sp       int // stack[:sp] is the data stack
	fp       int // frame base: local slot k is stack[fp+k]
	fl       int // local slots in the frame (set by ENTER)
	nf       int // frames[:nf] are the active call frames
	stack    []uint64
	frames   []frame
	local    *mem.Local
	state    threadState
	queued   bool
	// held: set aside for Detach (Hold): it finishes the operation it
	// waits for, if any, and then runs no further instruction.
	held bool
	// resume: reply holds the answer to the operation sc describes.
	resume bool
	reqSeq uint64 // the parked request's sequence number
	// pageWant: 1 + the local page being fetched for the operation in sc
	// (local_fault.go); 0: none.
	pageWant uint64
	reply    sys.Reply
	sc       sysCall
	opPC     int // pc of the operation in progress (for trap messages)
	// lostMachine: a TrapLost answer named this failed machine (0: none).
	lostMachine uint64
	// set by exec when it returns
	need      int      // exitGrow: words needed above sp
	trapKind  sys.Trap // exitTrap
	trapArg   uint64   // exitTrap: the bad code address
	exitValue uint64   // exitThread
}

type stopReason uint8

const (
	stopQuantum stopReason = iota // ran its ticks
	stopYield                     // YIELD
	stopPark                      // waiting for an answer
	stopGone                      // ended, trapped, or its process ended
	stopHeld                      // held for Detach, between two instructions
)

// runThread resumes an operation whose answer arrived, then executes.
func (m *Machine) runThread(t *Thread, ticks int) (int, stopReason) {
	if t.resume {
		t.resume = false
		r := t.reply
		t.reply = sys.Reply{}
		var act action
		if t.pageWant != 0 {
			if act = m.pagedIn(t, r); act == actAgain {
				in := t.sc.reply
				act = m.continueSys(t, in, true)
			}
		} else {
			act = m.continueSys(t, r, true)
		}
		switch act {
		case actPark:
			return 0, stopPark
		case actGone:
			return 0, stopGone
		case actYield:
			return 0, stopYield
		}
	}
	if t.held {
		return 0, stopHeld
	}
	return m.execLoop(t, ticks)
}

// execLoop runs exec and does what it returns for: slow operations, stack
// growth, thread exit and traps, until the thread stops.
func (m *Machine) execLoop(t *Thread, ticks int) (int, stopReason) {
	used := 0
	code := t.p.code
	for {
		n, why := exec(t, code, ticks-used)
		used += n
		switch why {
		case exitQuantum:
			return used, stopQuantum
		case exitGrow:
			if trap := m.growStack(t, t.sp, t.need); trap != sys.TrapNone {
				t.opPC = t.pc
				m.trapThread(t, trap, fmt.Sprintf("stack of %d words", t.sp+t.need))
				return used, stopGone
			}
		case exitGrowFrames:
			if trap := m.growFrames(t); trap != sys.TrapNone {
				t.opPC = t.pc
				m.trapThread(t, trap, fmt.Sprintf("call depth %d", t.nf+1))
				return used, stopGone
			}
		case exitThread:
			m.exitThread(t, t.exitValue)
			return used, stopGone
		case exitTrap:
			t.opPC = t.pc
			m.trapThread(t, t.trapKind, m.execTrapDetail(t))
			return used, stopGone
		case exitSlow:
			act, handled := m.globalWordOp(t)
			if !handled {
				act = m.slowOp(t)
			}
			switch act {
			case actYield:
				return used, stopYield
			case actPark:
				return used, stopPark
			case actGone:
				return used, stopGone
			}
		}
	}
}

// globalWordOp is the fast path of LOAD and STORE on a global address: no
// closure, no staging; when the backend answers at once the thread goes
// straight back to exec. handled is false for anything else.
func (m *Machine) globalWordOp(t *Thread) (act action, handled bool) {
	in := t.p.code[t.pc]
	pops := 1
	switch in.Op {
	case isa.LOAD:
	case isa.STORE:
		pops = 2
	default:
		return 0, false
	}
	if t.sp < pops || !isGlobal(t.stack[t.sp-1]) {
		return 0, false
	}
	addr := t.stack[t.sp-1]
	c := m.newCaller(t)
	var r sys.Reply
	var now bool
	if in.Op == isa.LOAD {
		r, now = t.p.Global.Load(c, addr, 8)
	} else {
		r, now = t.p.Global.Store(c, addr, 8, t.stack[t.sp-2])
	}
	if t.state == stateDead {
		return actGone, true
	}
	if now && r.Trap == sys.TrapNone {
		if in.Op == isa.LOAD {
			t.stack[t.sp-1] = r.Val
		} else {
			t.sp -= 2
		}
		t.pc++
		return actNext, true
	}
	// Trapped or answered later: become the operation slowOp would have made.
	t.opPC = t.pc
	t.sc = sysCall{op: in.Op, stage: oneCallDone}
	copy(t.sc.args[:pops], t.stack[t.sp-pops:t.sp])
	t.sp -= pops
	t.pc++
	if now {
		return m.continueSys(t, r, true), true
	}
	m.park(t, c.Req)
	return actPark, true
}

func (m *Machine) execTrapDetail(t *Thread) string {
	switch t.trapKind {
	case sys.TrapBadLocal:
		return fmt.Sprintf("frame has %d slots", t.fl)
	case sys.TrapBadJump:
		if t.p.code[t.pc].Op == opEnd {
			return "ran past the last instruction"
		}
		return fmt.Sprintf("code address %d", t.trapArg)
	}
	return ""
}

// Stacks are charged to the process's memory account.
const frameBytes = 12

// growStack makes room for need more words above sp: TrapStackOverflow at
// the stack limit, TrapOutOfMemory past the process's memory limit.
func (m *Machine) growStack(t *Thread, sp, need int) sys.Trap {
	want := sp + need
	if want > m.cfg.StackWordsMax || want < 0 {
		return sys.TrapStackOverflow
	}
	if want <= len(t.stack) {
		return sys.TrapNone
	}
	n := min(max(2*len(t.stack), want), m.cfg.StackWordsMax)
	if !charge(t.p.Account, uint64(n-len(t.stack))*8) {
		return sys.TrapOutOfMemory
	}
	s := make([]uint64, n)
	copy(s, t.stack[:sp])
	t.stack = s
	return sys.TrapNone
}

// growFrames makes room for one more call frame.
func (m *Machine) growFrames(t *Thread) sys.Trap {
	if t.nf >= m.cfg.CallDepthMax {
		return sys.TrapStackOverflow
	}
	if t.nf < len(t.frames) {
		return sys.TrapNone
	}
	n := min(max(2*len(t.frames), 8), m.cfg.CallDepthMax)
	if !charge(t.p.Account, uint64(n-len(t.frames))*frameBytes) {
		return sys.TrapOutOfMemory
	}
	f := make([]frame, n)
	copy(f, t.frames[:t.nf])
	t.frames = f
	return sys.TrapNone
}

func charge(a *mem.Account, n uint64) bool { return a == nil || a.Charge(n) }

func uncharge(a *mem.Account, n uint64) {
	if a != nil {
		a.Uncharge(n)
	}
}

// stackBytes is what a thread's stacks are charged.
func stackBytes(t *Thread) uint64 { return uint64(len(t.stack))*8 + uint64(len(t.frames))*frameBytes }

// trapThread ends the thread with a trap and tells the kernel, which ends
// the process.
func (m *Machine) trapThread(t *Thread, kind sys.Trap, detail string) {
	p := t.p
	err := &TrapError{PID: t.pid, TID: t.tid, PC: t.opPC, Kind: kind, Detail: detail}
	if kind == sys.TrapLost {
		err.LostMachine = t.lostMachine
	}
	if t.opPC == len(p.Program.Code) && len(p.Program.Code) > 0 {
		// Fell off the end (the sentinel): name the last instruction, the
		// one that ran and had no successor.
		err.PC = t.opPC - 1
	}
	if err.PC >= 0 && err.PC < len(p.Program.Code) {
		err.Op = p.Program.Code[err.PC].Op
		err.Where = p.Program.Where(err.PC)
	} else {
		err.Where = fmt.Sprintf("%s:?", p.Program.File)
	}
	m.dropThread(t)
	p.Kernel.Trapped(t.pid, err)
}

// exitThread ends the thread normally.
func (m *Machine) exitThread(t *Thread, value uint64) {
	m.dropThread(t)
	t.p.Kernel.ThreadExited(t.pid, t.tid, value)
}
