package interp

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// action is what the dispatch loop does after a slow operation.
type action uint8

const (
	actNext  action = iota // continue with the next instruction
	actPark                // the thread waits for an answer
	actYield               // the thread gives up the rest of its quantum
	actGone                // the thread ended, trapped, or its process ended
	actAgain               // internal: the stage's answer is in sc.reply
)

// sysCall is an operation in progress: its popped operands, the stage it
// reached, and what earlier stages produced.
type sysCall struct {
	op     isa.Op
	target int32
	stage  uint8
	args   [4]uint64
	buf    []byte
	reply  sys.Reply
}

// ioLenMax bounds the bytes one operation moves between memory and the
// world.
const ioLenMax = 64 << 20

// stagesMax bounds the requests one operation makes.
const stagesMax = 8

// slowOp starts the operation at t.pc: pops its operands, commits the pc,
// and runs its first stages.
func (m *Machine) slowOp(t *Thread) action {
	in := t.p.code[t.pc]
	t.opPC = t.pc
	if !in.Op.Valid() {
		m.trapThread(t, sys.TrapBadInstruction, fmt.Sprintf("opcode %d", in.Op))
		return actGone
	}
	info := in.Op.Info()
	pops, pushes := int(info.Pops), int(info.Pushes)
	if pops < 0 || pops > len(t.sc.args) {
		panic(fmt.Sprintf("interp: %s reached the slow path with %d pops", in.Op, pops))
	}
	if t.sp < pops {
		m.trapThread(t, sys.TrapStackUnderflow, "")
		return actGone
	}
	if trap := m.growStack(t, t.sp-pops, pushes); trap != sys.TrapNone {
		m.trapThread(t, trap, "")
		return actGone
	}
	t.sc = sysCall{op: in.Op, target: in.A}
	copy(t.sc.args[:pops], t.stack[t.sp-pops:t.sp])
	t.sp -= pops
	t.pc++
	return m.continueSys(t, sys.Reply{}, false)
}

// continueSys runs stages of the operation in t.sc; resumed: r answers the
// previous stage's request.
func (m *Machine) continueSys(t *Thread, r sys.Reply, resumed bool) action {
	for range stagesMax {
		if resumed && r.Trap != sys.TrapNone {
			if r.Trap == sys.TrapLost {
				// The backend names the failed machine in Val.
				t.lostMachine = r.Val
			}
			m.trapThread(t, r.Trap, m.trapDetail(t))
			return actGone
		}
		// The stage's input stays in sc.reply while it runs: a local page
		// still on another machine makes it run again, with the same
		// input, once the page is here (local_fault.go).
		t.sc.reply = r
		act := m.stage(t, r)
		if act != actAgain {
			if t.pageWant == 0 {
				t.sc.reply = sys.Reply{}
			}
			return act
		}
		r, resumed = t.sc.reply, true
		t.sc.reply = sys.Reply{}
	}
	panic(fmt.Sprintf("interp: %s took more than %d stages", t.sc.op, stagesMax))
}

func (m *Machine) trapDetail(t *Thread) string {
	switch t.sc.op {
	case isa.LOAD, isa.LOADB, isa.FREE, isa.WAIT, isa.WAKE, isa.FAA, isa.CAS:
		return fmt.Sprintf("address %#x", t.sc.args[0])
	case isa.STORE, isa.STOREB:
		return fmt.Sprintf("address %#x", t.sc.args[1])
	}
	return ""
}

// request issues one request; when it answers at once the operation moves
// on to stage next with the answer, otherwise the thread parks.
func (m *Machine) request(t *Thread, next uint8, call func(c sys.Caller) (sys.Reply, bool)) action {
	c := m.newCaller(t)
	r, now := call(c)
	if t.state == stateDead {
		return actGone
	}
	t.sc.stage = next
	if now {
		t.sc.reply = r
		return actAgain
	}
	m.park(t, c.Req)
	return actPark
}

// answer moves on to stage next with an answer computed here.
func (m *Machine) answer(t *Thread, next uint8, r sys.Reply) action {
	t.sc.stage, t.sc.reply = next, r
	return actAgain
}

func (m *Machine) push(t *Thread, v uint64) {
	t.stack[t.sp] = v
	t.sp++
}

func (m *Machine) trap(t *Thread, kind sys.Trap, detail string) action {
	if kind == sys.TrapUnmapped && t.local != nil && t.local.Lazy() {
		if index, ok := t.local.Fault(); ok {
			return m.pageIn(t, index)
		}
	}
	m.trapThread(t, kind, detail)
	return actGone
}

func isGlobal(addr uint64) bool { return addr&isa.GlobalBit != 0 }

// memRead reads n bytes at addr, local or global, into the next stage's
// reply Data.
func (m *Machine) memRead(t *Thread, next uint8, addr, n uint64) action {
	if n > ioLenMax {
		return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("length %d exceeds %d", n, ioLenMax))
	}
	if !isGlobal(addr) {
		data, trap := t.local.ReadBytes(addr, n)
		if trap != sys.TrapNone {
			return m.trap(t, trap, fmt.Sprintf("address %#x, %d bytes", addr, n))
		}
		return m.answer(t, next, sys.Reply{Data: data})
	}
	g := t.p.Global
	return m.request(t, next, func(c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, n) })
}

// memWrite writes data at addr, local or global.
func (m *Machine) memWrite(t *Thread, next uint8, addr uint64, data []byte) action {
	if !isGlobal(addr) {
		if trap := t.local.WriteBytes(addr, data); trap != sys.TrapNone {
			return m.trap(t, trap, fmt.Sprintf("address %#x, %d bytes", addr, len(data)))
		}
		return m.answer(t, next, sys.Reply{})
	}
	g := t.p.Global
	return m.request(t, next, func(c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, data) })
}

// stage runs the current stage of t.sc given r, the previous stage's answer.
func (m *Machine) stage(t *Thread, r sys.Reply) action {
	if h := opHandlers[t.sc.op]; h != nil {
		return h(m, t, r)
	}
	return m.trap(t, sys.TrapBadInstruction, fmt.Sprintf("%s has no implementation", t.sc.op))
}
