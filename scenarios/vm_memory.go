package scenarios

import (
	"fmt"
	"sort"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/node"
	"github.com/flockvm/flock/vm/sys"
)

// vmMemoryLog records every word operation the programs' threads make on
// global memory, on every machine, as porcupine histories (one per
// process: each has its own address space), by wrapping each node's
// memory agent: the call when a thread issues it, the return when its
// answer comes (at once, or later through the completer).
type vmMemoryLog struct {
	run     *vmRun
	hist    map[uint64]*checker.WordHistory // by pid
	clients map[[2]uint64]int               // (pid, tid) → client id
	pending map[sys.ReqID]vmPendingOp
	// bytewise holds words touched by byte or bulk operations: a word
	// history cannot describe them, so those words are left out.
	bytewise  map[[2]uint64]bool
	perAddr   map[[2]uint64]int // operations seen per (pid, address)
	next      int
	unchecked int // addresses left unchecked (over a bound)
}

type vmPendingOp struct {
	pid  uint64
	id   checker.OpID
	kind checker.WordKind
	exp  uint64
}

func newVMMemoryLog(r *vmRun) *vmMemoryLog {
	return &vmMemoryLog{run: r, hist: map[uint64]*checker.WordHistory{}, clients: map[[2]uint64]int{},
		pending: map[sys.ReqID]vmPendingOp{}, bytewise: map[[2]uint64]bool{}, perAddr: map[[2]uint64]int{}}
}

// factory makes a node's memory: the coherence agent, wrapped.
func (l *vmMemoryLog) factory(cfg node.MemoryConfig) (node.Memory, error) {
	w := &vmRecordingMemory{log: l}
	inner := cfg
	inner.Completer = vmCompleter{log: l, next: cfg.Completer}
	m, err := node.CoherenceMemory(l.run.bugs.memory)(inner)
	if err != nil {
		return nil, err
	}
	w.Memory = m
	return w, nil
}

type vmCompleter struct {
	log  *vmMemoryLog
	next sys.Completer
}

func (c vmCompleter) Complete(id sys.ReqID, r sys.Reply) {
	c.log.returned(id, r)
	c.next.Complete(id, r)
}

type vmRecordingMemory struct {
	node.Memory
	log *vmMemoryLog
}

func (m *vmRecordingMemory) AddProcess(pid uint64, span []netmodel.NodeID, incs []uint64, acct *mem.Account) error {
	return m.Memory.AddProcess(pid, span, incs, acct)
}

func (m *vmRecordingMemory) Global(pid uint64) sys.Global {
	return &vmRecordingGlobal{Global: m.Memory.Global(pid), log: m.log, pid: pid}
}

type vmRecordingGlobal struct {
	sys.Global
	log *vmMemoryLog
	pid uint64
}

func (g *vmRecordingGlobal) Load(c sys.Caller, addr uint64, width uint8) (sys.Reply, bool) {
	if width != 8 {
		g.log.touchBytes(g.pid, addr, 1)
		return g.Global.Load(c, addr, width)
	}
	id := g.log.call(c, checker.WordInput{Kind: checker.WordRead, Addr: addr})
	r, now := g.Global.Load(c, addr, width)
	return g.log.issued(c, id, checker.WordRead, 0, r, now)
}

func (g *vmRecordingGlobal) Store(c sys.Caller, addr uint64, width uint8, v uint64) (sys.Reply, bool) {
	if width != 8 {
		g.log.touchBytes(g.pid, addr, 1)
		return g.Global.Store(c, addr, width, v)
	}
	id := g.log.call(c, checker.WordInput{Kind: checker.WordWrite, Addr: addr, Value: v})
	r, now := g.Global.Store(c, addr, width, v)
	return g.log.issued(c, id, checker.WordWrite, 0, r, now)
}

func (g *vmRecordingGlobal) CAS(c sys.Caller, addr, expected, replacement uint64) (sys.Reply, bool) {
	id := g.log.call(c, checker.WordInput{Kind: checker.WordCAS, Addr: addr, Expect: expected, Value: replacement})
	r, now := g.Global.CAS(c, addr, expected, replacement)
	return g.log.issued(c, id, checker.WordCAS, expected, r, now)
}

func (g *vmRecordingGlobal) FetchAdd(c sys.Caller, addr, delta uint64) (sys.Reply, bool) {
	id := g.log.call(c, checker.WordInput{Kind: checker.WordFetchAdd, Addr: addr, Delta: delta})
	r, now := g.Global.FetchAdd(c, addr, delta)
	return g.log.issued(c, id, checker.WordFetchAdd, 0, r, now)
}

func (g *vmRecordingGlobal) ReadBytes(c sys.Caller, addr, n uint64) (sys.Reply, bool) {
	g.log.touchBytes(g.pid, addr, n)
	return g.Global.ReadBytes(c, addr, n)
}

func (g *vmRecordingGlobal) WriteBytes(c sys.Caller, addr uint64, data []byte) (sys.Reply, bool) {
	g.log.touchBytes(g.pid, addr, uint64(len(data)))
	return g.Global.WriteBytes(c, addr, data)
}

// vmHistoryOpsMax bounds the operations recorded per process, and
// vmAddrOpsMax per address: a spinning thread makes millions, and
// porcupine's cost grows with the operations of one address. An address
// over its bound is left out of the check whole (a prefix of a history is
// not a history) and counted as unchecked.
const (
	vmHistoryOpsMax = 200_000
	vmAddrOpsMax    = 20_000
)

func (l *vmMemoryLog) call(c sys.Caller, in checker.WordInput) checker.OpID {
	addr := [2]uint64{c.PID, in.Addr}
	if l.perAddr[addr]++; l.perAddr[addr] > vmAddrOpsMax {
		return -1
	}
	h := l.hist[c.PID]
	if h == nil {
		h = &checker.WordHistory{}
		l.hist[c.PID] = h
	}
	if h.Len() >= vmHistoryOpsMax {
		return -1
	}
	key := [2]uint64{c.PID, c.TID}
	client, ok := l.clients[key]
	if !ok {
		l.next++
		client = l.next
		l.clients[key] = client
	}
	return h.Call(client, in, int64(l.run.world.Now()))
}

// issued records an answer given at once, or remembers the operation until
// its answer comes.
func (l *vmMemoryLog) issued(c sys.Caller, id checker.OpID, kind checker.WordKind, exp uint64, r sys.Reply, now bool) (sys.Reply, bool) {
	if id < 0 {
		return r, now
	}
	op := vmPendingOp{pid: c.PID, id: id, kind: kind, exp: exp}
	if now {
		l.finish(op, r)
	} else {
		l.pending[c.Req] = op
	}
	return r, now
}

func (l *vmMemoryLog) returned(id sys.ReqID, r sys.Reply) {
	op, ok := l.pending[id]
	if !ok {
		return
	}
	delete(l.pending, id)
	l.finish(op, r)
}

func (l *vmMemoryLog) finish(op vmPendingOp, r sys.Reply) {
	h := l.hist[op.pid]
	switch r.Trap {
	case sys.TrapNone:
	case sys.TrapLost:
		h.Unknown(op.id) // it may have applied before the loss was noticed
		return
	default:
		h.Return(op.id, checker.WordOutput{Err: r.Trap.String()}, int64(l.run.world.Now()))
		return
	}
	out := checker.WordOutput{Value: r.Val}
	if op.kind == checker.WordCAS {
		// CAS tells the thread only whether it swapped.
		out = checker.WordOutput{Swapped: r.Val == 1, Value: op.exp, FoundUnknown: r.Val != 1}
	}
	h.Return(op.id, out, int64(l.run.world.Now()))
}

func (l *vmMemoryLog) touchBytes(pid, addr, n uint64) {
	for w := addr &^ 7; w < addr+n && w >= addr&^7; w += 8 {
		l.bytewise[[2]uint64{pid, w}] = true
		if len(l.bytewise) > 1<<20 {
			return
		}
	}
}

func (l *vmMemoryLog) ops() int {
	n := 0
	for _, h := range l.hist {
		n += h.Len()
	}
	return n
}

// check runs porcupine over each process's history.
func (l *vmMemoryLog) check(vizDir string) []string {
	var out []string
	pids := make([]uint64, 0, len(l.hist))
	for pid := range l.hist {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	for _, pid := range pids {
		h := l.withoutBytewise(pid, l.hist[pid])
		res := checker.CheckWords(h, checker.Options{MaxSteps: vmCheckStepsMax, VizDir: vizDir})
		switch err := res.Err(); {
		case err == nil:
		case res.TimedOut:
			l.unchecked++
		default:
			out = append(out, fmt.Sprintf("global memory of process %d: %v", pid, err))
		}
	}
	return out
}

// withoutBytewise drops the operations on words also touched bytewise, and
// on addresses over their bound.
func (l *vmMemoryLog) withoutBytewise(pid uint64, h *checker.WordHistory) *checker.WordHistory {
	kept := &checker.WordHistory{}
	dropped := map[uint64]bool{}
	for _, op := range h.Ops() {
		key := [2]uint64{pid, op.Input.Addr}
		if l.bytewise[key] || l.perAddr[key] > vmAddrOpsMax {
			if !dropped[op.Input.Addr] && !l.bytewise[key] {
				dropped[op.Input.Addr] = true
				l.unchecked++
			}
			continue
		}
		id := kept.Call(op.Client, op.Input, op.Call)
		switch op.Status {
		case checker.StatusReturned, checker.StatusFailed:
			kept.Return(id, op.Output, op.Return)
		case checker.StatusUnknown:
			kept.Unknown(id)
		}
	}
	return kept
}
