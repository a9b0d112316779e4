package interp

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// opHandler runs the current stage (t.sc.stage) of one slow operation given
// r, the answer of the previous stage. Every operation names its own stages,
// the first of each being 0 (a fresh sysCall).
type opHandler func(m *Machine, t *Thread, r sys.Reply) action

// opHandlers maps each slow operation to its handler, one by one: an
// operation missing here traps as having no implementation rather than
// running another's code.
var opHandlers = [isa.NumOps]opHandler{
	isa.LOAD:   (*Machine).opLoad,
	isa.LOADB:  (*Machine).opLoad,
	isa.STORE:  (*Machine).opStore,
	isa.STOREB: (*Machine).opStore,
	isa.ALLOC:  (*Machine).opAlloc,
	isa.GALLOC: (*Machine).opGlobalAlloc,
	isa.FENCE:  (*Machine).opFence,
	isa.FREE:   (*Machine).opAtomic,
	isa.CAS:    (*Machine).opAtomic,
	isa.FAA:    (*Machine).opAtomic,
	isa.WAIT:   (*Machine).opAtomic,
	isa.WAKE:   (*Machine).opAtomic,
	isa.SPAWN:  (*Machine).opSpawn,
	isa.JOIN:   (*Machine).opJoin,
	isa.TID:    (*Machine).opTID,
	isa.PID:    (*Machine).opPID,
	isa.ARGC:   (*Machine).opArgc,
	isa.YIELD:  (*Machine).opYield,
	isa.TEXIT:  (*Machine).opThreadExit,
	isa.EXIT:   (*Machine).opExit,
	isa.ARG:    (*Machine).opArg,
	isa.ATOI:   (*Machine).opAtoi,
	isa.PSTART: (*Machine).opProcessStart,
	isa.PWAIT:  (*Machine).opProcessWait,
	isa.PRINT:  (*Machine).opOutput,
	isa.PRINTU: (*Machine).opOutput,
	isa.PUTC:   (*Machine).opOutput,
	isa.PRINTS: (*Machine).opOutput,
	isa.OPEN:   (*Machine).opPathCall,
	isa.REMOVE: (*Machine).opPathCall,
	isa.MKDIR:  (*Machine).opPathCall,
	isa.CLOSE:  (*Machine).opFileCall,
	isa.FSIZE:  (*Machine).opFileCall,
	isa.READ:   (*Machine).opRead,
	isa.WRITE:  (*Machine).opWrite,
	isa.LIST:   (*Machine).opList,

	isa.RENAME:  (*Machine).opTwoStrings,
	isa.GETATTR: (*Machine).opList,
	isa.SETATTR: (*Machine).opTwoStrings,
}

// Stages of an operation that makes one request and pushes its answer.
const (
	oneCallAsk uint8 = iota
	oneCallDone
)

// finishWith pushes v and moves to the next instruction.
func (m *Machine) finishWith(t *Thread, v uint64) action {
	m.push(t, v)
	return actNext
}

func (m *Machine) opLoad(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		return m.finishWith(t, r.Val)
	}
	addr, width := sc.args[0], uint8(8)
	if sc.op == isa.LOADB {
		width = 1
	}
	if isGlobal(addr) {
		g := t.p.Global
		return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, width) })
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
	return m.finishWith(t, v)
}

func (m *Machine) opStore(t *Thread, _ sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		return actNext
	}
	v, addr, width := sc.args[0], sc.args[1], uint8(8)
	if sc.op == isa.STOREB {
		width = 1
	}
	if isGlobal(addr) {
		g := t.p.Global
		return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, width, v) })
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

func (m *Machine) opAlloc(t *Thread, _ sys.Reply) action {
	n := t.sc.args[0]
	addr, trap := t.local.Alloc(n)
	if trap != sys.TrapNone {
		return m.trap(t, trap, fmt.Sprintf("ALLOC %d", n))
	}
	return m.finishWith(t, addr)
}

func (m *Machine) opGlobalAlloc(t *Thread, r sys.Reply) action {
	if t.sc.stage == oneCallDone {
		return m.finishWith(t, r.Val)
	}
	g, n := t.p.Global, t.sc.args[0]
	return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return g.Alloc(c, n) })
}

func (m *Machine) opFence(t *Thread, _ sys.Reply) action {
	if t.sc.stage == oneCallDone {
		return actNext
	}
	g := t.p.Global
	return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return g.Fence(c) })
}

// opAtomic is FREE, CAS, FAA, WAIT and WAKE: on a global address one
// request to global memory; on a local one done here (WAIT and WAKE need a
// global address).
func (m *Machine) opAtomic(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		if sc.op == isa.FREE {
			return actNext
		}
		return m.finishWith(t, r.Val)
	}
	a, addr := sc.args, sc.args[0]
	if isGlobal(addr) {
		g, op := t.p.Global, sc.op
		return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return globalAtomic(g, c, op, a) })
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
	case isa.CAS, isa.FAA:
		return m.localAtomic(t, detail)
	}
	panic(fmt.Sprintf("interp: opAtomic reached with %s", sc.op))
}

func globalAtomic(g sys.Global, c sys.Caller, op isa.Op, a [4]uint64) (sys.Reply, bool) {
	switch op {
	case isa.FREE:
		return g.Free(c, a[0])
	case isa.CAS:
		return g.CAS(c, a[0], a[1], a[2])
	case isa.FAA:
		return g.FetchAdd(c, a[0], a[1])
	case isa.WAIT:
		return g.Wait(c, a[0], a[1])
	case isa.WAKE:
		return g.Wake(c, a[0], a[1])
	}
	panic(fmt.Sprintf("interp: globalAtomic reached with %s", op))
}

// localAtomic is CAS or FAA on thread-local memory.
func (m *Machine) localAtomic(t *Thread, detail string) action {
	a := t.sc.args
	old, trap := t.local.Load64(a[0])
	if trap != sys.TrapNone {
		return m.trap(t, trap, detail)
	}
	nv, result := old+a[1], old
	if t.sc.op == isa.CAS {
		if old != a[1] {
			return m.finishWith(t, 0)
		}
		nv, result = a[2], 1
	}
	if trap := t.local.Store64(a[0], nv); trap != sys.TrapNone {
		return m.trap(t, trap, detail)
	}
	return m.finishWith(t, result)
}

func (m *Machine) opSpawn(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		return m.finishWith(t, r.Val)
	}
	k := t.p.Kernel
	img := &ThreadImage{PID: t.pid, PC: int(sc.target), Stack: []uint64{sc.args[0]}, Local: t.local.Snapshot()}
	return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return k.Spawn(c, img) })
}

func (m *Machine) opJoin(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		return m.finishWith(t, r.Val)
	}
	tid := sc.args[0]
	if tid == t.tid {
		return m.trap(t, sys.TrapBadThread, fmt.Sprintf("thread %d joins itself", tid))
	}
	k := t.p.Kernel
	return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) { return k.Join(c, tid) })
}

func (m *Machine) opTID(t *Thread, _ sys.Reply) action { return m.finishWith(t, t.tid) }
func (m *Machine) opPID(t *Thread, _ sys.Reply) action { return m.finishWith(t, t.pid) }
func (m *Machine) opArgc(t *Thread, _ sys.Reply) action {
	return m.finishWith(t, uint64(len(t.p.Args)))
}
func (m *Machine) opYield(*Thread, sys.Reply) action { return actYield }

func (m *Machine) opThreadExit(t *Thread, _ sys.Reply) action {
	m.exitThread(t, t.sc.args[0])
	return actGone
}

func (m *Machine) opExit(t *Thread, _ sys.Reply) action {
	pid := t.pid
	t.p.Kernel.Exit(pid, t.tid, t.sc.args[0])
	m.RemoveProcess(pid)
	return actGone
}

// Stages of ARG: copy the argument into memory, then push its length.
const (
	argCopy uint8 = iota
	argDone
)

func (m *Machine) opArg(t *Thread, _ sys.Reply) action {
	sc := &t.sc
	a := sc.args
	if sc.stage == argDone {
		return m.finishWith(t, a[3])
	}
	if a[0] >= uint64(len(t.p.Args)) {
		return m.finishWith(t, ^uint64(0))
	}
	arg := t.p.Args[a[0]]
	sc.args[3] = uint64(len(arg))
	n := min(uint64(len(arg)), a[2])
	return m.memWrite(t, argDone, a[1], []byte(arg[:n]))
}

// Stages of ATOI: read the text, then parse it.
const (
	atoiRead uint8 = iota
	atoiParse
)

func (m *Machine) opAtoi(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == atoiRead {
		return m.memRead(t, atoiParse, sc.args[0], sc.args[1])
	}
	n, ok := parseInt(r.Data)
	m.push(t, n)
	return m.finishWith(t, ok)
}

// Stages of PSTART: read the path, read the arguments, start, push the pid.
const (
	pstartReadPath uint8 = iota
	pstartReadArgs
	pstartStart
	pstartDone
)

func (m *Machine) opProcessStart(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case pstartReadPath:
		return m.memRead(t, pstartReadArgs, a[0], a[1])
	case pstartReadArgs:
		sc.buf = r.Data
		return m.memRead(t, pstartStart, a[2], a[3])
	case pstartStart:
		k, path, args := t.p.Kernel, string(sc.buf), splitArgs(r.Data)
		return m.request(t, pstartDone, func(c sys.Caller) (sys.Reply, bool) { return k.StartProcess(c, path, args) })
	case pstartDone:
		return m.finishWith(t, r.Val)
	}
	panic(fmt.Sprintf("interp: PSTART at stage %d", sc.stage))
}

// Stages of PWAIT: read the pids, wait for them, write the statuses back.
const (
	pwaitReadPIDs uint8 = iota
	pwaitWait
	pwaitWriteStatuses
	pwaitDone
)

func (m *Machine) opProcessWait(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case pwaitReadPIDs:
		if a[1] > ioLenMax/8 {
			return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("PWAIT of %d processes", a[1]))
		}
		return m.memRead(t, pwaitWait, a[0], 8*a[1])
	case pwaitWait:
		pids := make([]uint64, len(r.Data)/8)
		for i := range pids {
			pids[i] = binary.LittleEndian.Uint64(r.Data[8*i:])
		}
		k := t.p.Kernel
		return m.request(t, pwaitWriteStatuses, func(c sys.Caller) (sys.Reply, bool) { return k.WaitProcs(c, pids) })
	case pwaitWriteStatuses:
		if uint64(len(r.Data)) != 8*a[1] {
			panic(fmt.Sprintf("interp: WaitProcs answered %d bytes for %d pids", len(r.Data), a[1]))
		}
		return m.memWrite(t, pwaitDone, a[0], r.Data)
	case pwaitDone:
		return actNext
	}
	panic(fmt.Sprintf("interp: PWAIT at stage %d", sc.stage))
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

// Stages of output: read the bytes (PRINTS only), hand them to the kernel,
// done.
const (
	outputFormat uint8 = iota
	outputWrite
	outputDone
)

func (m *Machine) opOutput(t *Thread, r sys.Reply) action {
	sc := &t.sc
	var data []byte
	switch sc.stage {
	case outputDone:
		return actNext
	case outputFormat:
		switch sc.op {
		case isa.PRINT:
			data = strconv.AppendInt(nil, int64(sc.args[0]), 10)
		case isa.PRINTU:
			data = strconv.AppendUint(nil, sc.args[0], 10)
		case isa.PUTC:
			data = []byte{byte(sc.args[0])}
		case isa.PRINTS:
			return m.memRead(t, outputWrite, sc.args[0], sc.args[1])
		default:
			panic(fmt.Sprintf("interp: opOutput reached with %s", sc.op))
		}
	case outputWrite:
		data = r.Data
	}
	k := t.p.Kernel
	return m.request(t, outputDone, func(c sys.Caller) (sys.Reply, bool) { return k.Output(c, data) })
}

// Stages of an operation on a path: read the path, call storage, push.
const (
	pathRead uint8 = iota
	pathCall
	pathDone
)

// opPathCall is OPEN, REMOVE and MKDIR.
func (m *Machine) opPathCall(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case pathRead:
		return m.memRead(t, pathCall, a[0], a[1])
	case pathCall:
		s, op, path := t.p.Storage, sc.op, string(r.Data)
		return m.request(t, pathDone, func(c sys.Caller) (sys.Reply, bool) {
			switch op {
			case isa.OPEN:
				return s.Open(c, path, sys.OpenMode(a[2]))
			case isa.REMOVE:
				return s.Remove(c, path)
			case isa.MKDIR:
				return s.Mkdir(c, path)
			}
			panic(fmt.Sprintf("interp: opPathCall reached with %s", op))
		})
	case pathDone:
		return m.finishWith(t, r.Val)
	}
	panic(fmt.Sprintf("interp: %s at stage %d", sc.op, sc.stage))
}

// opFileCall is CLOSE and FSIZE: one storage call on a descriptor.
func (m *Machine) opFileCall(t *Thread, r sys.Reply) action {
	sc := &t.sc
	if sc.stage == oneCallDone {
		return m.finishWith(t, r.Val)
	}
	s, op, fd := t.p.Storage, sc.op, sc.args[0]
	return m.request(t, oneCallDone, func(c sys.Caller) (sys.Reply, bool) {
		switch op {
		case isa.CLOSE:
			return s.Close(c, fd)
		case isa.FSIZE:
			return s.Size(c, fd)
		}
		panic(fmt.Sprintf("interp: opFileCall reached with %s", op))
	})
}

// Stages of READ: read from storage, copy into memory, push the count.
const (
	readCall uint8 = iota
	readCopy
	readDone
)

func (m *Machine) opRead(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case readCall:
		if a[3] > ioLenMax {
			return m.trap(t, sys.TrapBadAddress, fmt.Sprintf("READ of %d bytes exceeds %d", a[3], ioLenMax))
		}
		s := t.p.Storage
		return m.request(t, readCopy, func(c sys.Caller) (sys.Reply, bool) { return s.Read(c, a[0], a[1], a[3]) })
	case readCopy:
		if int64(r.Val) < 0 {
			return m.finishWith(t, r.Val)
		}
		data := r.Data[:min(uint64(len(r.Data)), a[3])]
		sc.args[3] = uint64(len(data))
		return m.memWrite(t, readDone, a[2], data)
	case readDone:
		return m.finishWith(t, a[3])
	}
	panic(fmt.Sprintf("interp: READ at stage %d", sc.stage))
}

// Stages of WRITE: read memory, write to storage, push the count.
const (
	writeRead uint8 = iota
	writeCall
	writeDone
)

func (m *Machine) opWrite(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case writeRead:
		return m.memRead(t, writeCall, a[2], a[3])
	case writeCall:
		s, data := t.p.Storage, r.Data
		return m.request(t, writeDone, func(c sys.Caller) (sys.Reply, bool) { return s.Write(c, a[0], a[1], data) })
	case writeDone:
		return m.finishWith(t, r.Val)
	}
	panic(fmt.Sprintf("interp: WRITE at stage %d", sc.stage))
}

// Stages of LIST and GETATTR: read the path, ask, copy the answer's text
// (the names; the attributes), push its length.
const (
	listReadPath uint8 = iota
	listCall
	listCopy
	listDone
)

func (m *Machine) opList(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case listReadPath:
		return m.memRead(t, listCall, a[0], a[1])
	case listCall:
		s, op, path := t.p.Storage, sc.op, string(r.Data)
		return m.request(t, listCopy, func(c sys.Caller) (sys.Reply, bool) {
			if op == isa.GETATTR {
				return s.GetAttr(c, path)
			}
			return s.List(c, path)
		})
	case listCopy:
		if int64(r.Val) < 0 {
			return m.finishWith(t, r.Val)
		}
		sc.args[1] = uint64(len(r.Data))
		return m.memWrite(t, listDone, a[2], r.Data[:min(uint64(len(r.Data)), a[3])])
	case listDone:
		return m.finishWith(t, a[1])
	}
	panic(fmt.Sprintf("interp: %s at stage %d", sc.op, sc.stage))
}

// Stages of an operation on two byte strings (RENAME: two paths;
// SETATTR: a path and a text): read the first, read the second, call,
// push.
const (
	twoReadFirst uint8 = iota
	twoReadSecond
	twoCall
	twoDone
)

// opTwoStrings runs RENAME and SETATTR.
func (m *Machine) opTwoStrings(t *Thread, r sys.Reply) action {
	sc := &t.sc
	a := sc.args
	switch sc.stage {
	case twoReadFirst:
		return m.memRead(t, twoReadSecond, a[0], a[1])
	case twoReadSecond:
		sc.buf = r.Data
		return m.memRead(t, twoCall, a[2], a[3])
	case twoCall:
		return m.twoStringsCall(t, string(sc.buf), r.Data)
	case twoDone:
		return m.finishWith(t, r.Val)
	}
	panic(fmt.Sprintf("interp: %s at stage %d", sc.op, sc.stage))
}

func (m *Machine) twoStringsCall(t *Thread, first string, second []byte) action {
	s := t.p.Storage
	switch t.sc.op {
	case isa.RENAME:
		to := string(second)
		return m.request(t, twoDone, func(c sys.Caller) (sys.Reply, bool) { return s.Rename(c, first, to) })
	case isa.SETATTR:
		change, err := sys.ParseAttrChange(second)
		if err != nil {
			return m.answer(t, twoDone, sys.ErrReply(sys.EINVAL))
		}
		return m.request(t, twoDone, func(c sys.Caller) (sys.Reply, bool) { return s.SetAttr(c, first, change) })
	}
	panic(fmt.Sprintf("interp: opTwoStrings reached with %s", t.sc.op))
}
