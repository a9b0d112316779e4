package interp

import (
	"encoding/binary"
	"fmt"
	"strconv"

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
			m.trapThread(t, r.Trap, m.trapDetail(t))
			return actGone
		}
		act := m.stage(t, r)
		if act != actAgain {
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
	switch sc := &t.sc; sc.op {
	case isa.LOAD, isa.LOADB, isa.STORE, isa.STOREB:
		return m.stageMemory(t, r)
	case isa.ALLOC, isa.GALLOC, isa.FREE, isa.CAS, isa.FAA, isa.FENCE, isa.WAIT, isa.WAKE:
		return m.stageAtomic(t, r)
	case isa.SPAWN, isa.JOIN, isa.TID, isa.YIELD, isa.TEXIT, isa.PID, isa.EXIT, isa.ARGC, isa.ARG, isa.ATOI, isa.PSTART, isa.PWAIT:
		return m.stageProcess(t, r)
	case isa.PRINT, isa.PRINTU, isa.PUTC, isa.PRINTS:
		return m.stageOutput(t, r)
	case isa.OPEN, isa.CLOSE, isa.READ, isa.WRITE, isa.FSIZE, isa.LIST, isa.REMOVE, isa.MKDIR:
		return m.stageStorage(t, r)
	}
	return m.trap(t, sys.TrapBadInstruction, fmt.Sprintf("%s has no implementation", t.sc.op))
}

func (m *Machine) stageMemory(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == 1 {
		if sc.op == isa.LOAD || sc.op == isa.LOADB {
			m.push(t, r.Val)
		}
		return actNext
	}
	g := t.p.Global
	switch sc.op {
	case isa.LOAD, isa.LOADB:
		addr := sc.args[0]
		width := uint8(8)
		if sc.op == isa.LOADB {
			width = 1
		}
		if isGlobal(addr) {
			return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, width) })
		}
		var v uint64
		var trap sys.Trap
		if width == 1 {
			v, trap = t.local.Load8(addr)
		} else {
			v, trap = t.local.Load64(addr)
		}
		if trap != sys.TrapNone {
			return m.trap(t, trap, fmt.Sprintf("address %#x", addr))
		}
		m.push(t, v)
		return actNext
	default:
		v, addr := sc.args[0], sc.args[1]
		width := uint8(8)
		if sc.op == isa.STOREB {
			width = 1
		}
		if isGlobal(addr) {
			return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, width, v) })
		}
		var trap sys.Trap
		if width == 1 {
			trap = t.local.Store8(addr, v)
		} else {
			trap = t.local.Store64(addr, v)
		}
		if trap != sys.TrapNone {
			return m.trap(t, trap, fmt.Sprintf("address %#x", addr))
		}
		return actNext
	}
}

func (m *Machine) stageAtomic(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	if sc.stage == 1 {
		if sc.op != isa.FREE && sc.op != isa.FENCE {
			m.push(t, r.Val)
		}
		return actNext
	}
	g := t.p.Global
	switch sc.op {
	case isa.ALLOC:
		addr, trap := t.local.Alloc(a[0])
		if trap != sys.TrapNone {
			return m.trap(t, trap, fmt.Sprintf("ALLOC %d", a[0]))
		}
		m.push(t, addr)
		return actNext
	case isa.GALLOC:
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return g.Alloc(c, a[0]) })
	case isa.FENCE:
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return g.Fence(c) })
	}
	addr := a[0]
	if isGlobal(addr) {
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) {
			switch sc.op {
			case isa.FREE:
				return g.Free(c, addr)
			case isa.CAS:
				return g.CAS(c, addr, a[1], a[2])
			case isa.FAA:
				return g.FetchAdd(c, addr, a[1])
			case isa.WAIT:
				return g.Wait(c, addr, a[1])
			}
			return g.Wake(c, addr, a[1])
		})
	}
	detail := fmt.Sprintf("address %#x", addr)
	switch sc.op {
	case isa.FREE:
		if trap := t.local.Free(addr); trap != sys.TrapNone {
			return m.trap(t, trap, detail)
		}
		return actNext
	case isa.WAIT, isa.WAKE:
		return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("%s needs a global address, got %#x", sc.op, addr))
	}
	old, trap := t.local.Load64(addr)
	if trap != sys.TrapNone {
		return m.trap(t, trap, detail)
	}
	nv, result := old+a[1], old
	if sc.op == isa.CAS {
		nv, result = a[2], 0
		if old != a[1] {
			m.push(t, 0)
			return actNext
		}
		result = 1
	}
	if trap := t.local.Store64(addr, nv); trap != sys.TrapNone {
		return m.trap(t, trap, detail)
	}
	m.push(t, result)
	return actNext
}

func (m *Machine) stageProcess(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	k := t.p.Kernel
	switch sc.op {
	case isa.SPAWN:
		if sc.stage == 1 {
			m.push(t, r.Val)
			return actNext
		}
		img := &ThreadImage{PID: t.pid, PC: int(sc.target), Stack: []uint64{a[0]}, Local: t.local.Snapshot()}
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return k.Spawn(c, img) })
	case isa.JOIN:
		if sc.stage == 1 {
			m.push(t, r.Val)
			return actNext
		}
		if a[0] == t.tid {
			return m.trap(t, sys.TrapBadThread, fmt.Sprintf("thread %d joins itself", a[0]))
		}
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return k.Join(c, a[0]) })
	case isa.TID:
		m.push(t, t.tid)
		return actNext
	case isa.PID:
		m.push(t, t.pid)
		return actNext
	case isa.ARGC:
		m.push(t, uint64(len(t.p.Args)))
		return actNext
	case isa.YIELD:
		return actYield
	case isa.TEXIT:
		m.exitThread(t, a[0])
		return actGone
	case isa.EXIT:
		pid := t.pid
		k.Exit(pid, t.tid, a[0])
		m.RemoveProcess(pid)
		return actGone
	case isa.ARG:
		return m.stageArg(t)
	case isa.ATOI:
		if sc.stage == 0 {
			return m.memRead(t, 1, a[0], a[1])
		}
		n, ok := parseInt(r.Data)
		m.push(t, n)
		m.push(t, ok)
		return actNext
	case isa.PSTART:
		switch sc.stage {
		case 0:
			return m.memRead(t, 1, a[0], a[1])
		case 1:
			sc.buf = r.Data
			return m.memRead(t, 2, a[2], a[3])
		case 2:
			path, args := string(sc.buf), splitArgs(r.Data)
			return m.request(t, 3, func(c sys.Caller) (sys.Reply, bool) { return k.StartProcess(c, path, args) })
		}
		m.push(t, r.Val)
		return actNext
	}
	// PWAIT
	switch sc.stage {
	case 0:
		if a[1] > ioLenMax/8 {
			return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("PWAIT of %d processes", a[1]))
		}
		return m.memRead(t, 1, a[0], 8*a[1])
	case 1:
		pids := make([]uint64, len(r.Data)/8)
		for i := range pids {
			pids[i] = binary.LittleEndian.Uint64(r.Data[8*i:])
		}
		return m.request(t, 2, func(c sys.Caller) (sys.Reply, bool) { return k.WaitProcs(c, pids) })
	case 2:
		if uint64(len(r.Data)) != 8*a[1] {
			panic(fmt.Sprintf("interp: WaitProcs answered %d bytes for %d pids", len(r.Data), a[1]))
		}
		return m.memWrite(t, 3, a[0], r.Data)
	}
	return actNext
}

func (m *Machine) stageArg(t *Thread) action {
	sc := &t.sc
	a := sc.args
	if sc.stage == 1 {
		m.push(t, a[3])
		return actNext
	}
	if a[0] >= uint64(len(t.p.Args)) {
		m.push(t, ^uint64(0))
		return actNext
	}
	arg := t.p.Args[a[0]]
	sc.args[3] = uint64(len(arg))
	n := min(uint64(len(arg)), a[2])
	return m.memWrite(t, 1, a[1], []byte(arg[:n]))
}

// parseInt reads an optionally signed decimal (or 0x hex) integer; ok is 0
// for anything else.
func parseInt(b []byte) (uint64, uint64) {
	v, err := strconv.ParseInt(string(b), 0, 64)
	if err != nil {
		if u, err := strconv.ParseUint(string(b), 0, 64); err == nil {
			return u, 1
		}
		return 0, 0
	}
	return uint64(v), 1
}

// splitArgs splits NUL-separated arguments; empty input is no arguments.
func splitArgs(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, string(b[start:]))
	}
	return out
}

func (m *Machine) stageOutput(t *Thread, r sys.Reply) action {
	sc := &t.sc
	k := t.p.Kernel
	if sc.stage == 2 {
		return actNext
	}
	var data []byte
	switch sc.op {
	case isa.PRINT:
		data = strconv.AppendInt(nil, int64(sc.args[0]), 10)
	case isa.PRINTU:
		data = strconv.AppendUint(nil, sc.args[0], 10)
	case isa.PUTC:
		data = []byte{byte(sc.args[0])}
	default:
		if sc.stage == 0 {
			return m.memRead(t, 1, sc.args[0], sc.args[1])
		}
		data = r.Data
	}
	return m.request(t, 2, func(c sys.Caller) (sys.Reply, bool) { return k.Output(c, data) })
}

func (m *Machine) stageStorage(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	s := t.p.Storage
	finish := func(v uint64) action {
		m.push(t, v)
		return actNext
	}
	switch sc.op {
	case isa.CLOSE, isa.FSIZE:
		if sc.stage == 1 {
			return finish(r.Val)
		}
		return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) {
			if sc.op == isa.CLOSE {
				return s.Close(c, a[0])
			}
			return s.Size(c, a[0])
		})
	case isa.OPEN, isa.REMOVE, isa.MKDIR:
		switch sc.stage {
		case 0:
			return m.memRead(t, 1, a[0], a[1])
		case 1:
			path := string(r.Data)
			return m.request(t, 2, func(c sys.Caller) (sys.Reply, bool) {
				switch sc.op {
				case isa.OPEN:
					return s.Open(c, path, sys.OpenMode(a[2]))
				case isa.REMOVE:
					return s.Remove(c, path)
				}
				return s.Mkdir(c, path)
			})
		}
		return finish(r.Val)
	case isa.READ:
		switch sc.stage {
		case 0:
			if a[3] > ioLenMax {
				return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("READ of %d bytes exceeds %d", a[3], ioLenMax))
			}
			return m.request(t, 1, func(c sys.Caller) (sys.Reply, bool) { return s.Read(c, a[0], a[1], a[3]) })
		case 1:
			if int64(r.Val) < 0 {
				return finish(r.Val)
			}
			data := r.Data[:min(uint64(len(r.Data)), a[3])]
			sc.args[3] = uint64(len(data))
			return m.memWrite(t, 2, a[2], data)
		}
		return finish(a[3])
	case isa.WRITE:
		switch sc.stage {
		case 0:
			return m.memRead(t, 1, a[2], a[3])
		case 1:
			data := r.Data
			return m.request(t, 2, func(c sys.Caller) (sys.Reply, bool) { return s.Write(c, a[0], a[1], data) })
		}
		return finish(r.Val)
	}
	// LIST
	switch sc.stage {
	case 0:
		return m.memRead(t, 1, a[0], a[1])
	case 1:
		path := string(r.Data)
		return m.request(t, 2, func(c sys.Caller) (sys.Reply, bool) { return s.List(c, path) })
	case 2:
		if int64(r.Val) < 0 {
			return finish(r.Val)
		}
		sc.args[1] = uint64(len(r.Data))
		return m.memWrite(t, 3, a[2], r.Data[:min(uint64(len(r.Data)), a[3])])
	}
	return finish(a[1])
}
