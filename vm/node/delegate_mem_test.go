package node

import (
	"encoding/binary"
	"fmt"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// delegateMem is the simplest correct Memory, used to test the node on its
// own: every process's global memory lives whole on the first machine of
// its span, and every operation elsewhere is shipped there and answered
// (delegation, at most once by request id). No caching, no coherence
// protocol: the real agent is package coherence.
type delegateMem struct {
	cfg   MemoryConfig
	procs map[uint64]*delegateProc
	// the owner side: answers kept for retransmissions, by request
	answers map[sys.ReqID][]byte
	pending map[sys.ReqID]bool
	// the asking side
	asked map[sys.ReqID]*delegateAsk
	tick  uint64
}

type delegateProc struct {
	pid   uint64
	owner netmodel.NodeID
	local *mem.LocalGlobal // on the owner only
	acct  *mem.Account
}

type delegateAsk struct {
	to      netmodel.NodeID
	payload []byte
	due     uint64
}

func newDelegateMem(cfg MemoryConfig) (Memory, error) {
	return &delegateMem{cfg: cfg, procs: map[uint64]*delegateProc{}, answers: map[sys.ReqID][]byte{},
		pending: map[sys.ReqID]bool{}, asked: map[sys.ReqID]*delegateAsk{}}, nil
}

func (d *delegateMem) AddProcess(pid uint64, span []netmodel.NodeID, _ []uint64, acct *mem.Account) error {
	p := &delegateProc{pid: pid, owner: span[0], acct: acct}
	if p.owner == d.cfg.Self {
		p.local = mem.NewLocalGlobal(acct, delegateCompleter{d})
	}
	d.procs[pid] = p
	return nil
}

func (d *delegateMem) RemoveProcess(pid uint64) {
	if p, ok := d.procs[pid]; ok && p.local != nil {
		p.local.Release(pid)
	}
	delete(d.procs, pid)
}

func (d *delegateMem) MachineDown(id netmodel.NodeID, _ uint64) {
	for req, a := range d.asked {
		if a.to == id {
			delete(d.asked, req)
			d.cfg.Completer.Complete(req, sys.Reply{Trap: sys.TrapLost})
		}
	}
}

func (d *delegateMem) Global(pid uint64) sys.Global { return &delegateGlobal{d: d, pid: pid} }

func (d *delegateMem) Tick() {
	d.tick++
	for _, req := range sortedReqs(d.asked) {
		if a := d.asked[req]; a.due <= d.tick {
			a.due = d.tick + 8
			d.cfg.Transport.Send(a.to, a.payload)
		}
	}
}

func sortedReqs(m map[sys.ReqID]*delegateAsk) []sys.ReqID {
	out := make([]sys.ReqID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Less(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Messages: kind, req (4 words), pid, op, then op arguments / the reply.
const (
	delegateAskKind   = 1
	delegateReplyKind = 2
)

func putReq(b []byte, r sys.ReqID) []byte {
	for _, v := range []uint64{r.Machine, uint64(r.Incarnation), uint64(r.Core), r.Seq} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func getReq(b []byte) sys.ReqID {
	return sys.ReqID{Machine: binary.LittleEndian.Uint64(b), Incarnation: uint32(binary.LittleEndian.Uint64(b[8:])),
		Core: uint32(binary.LittleEndian.Uint64(b[16:])), Seq: binary.LittleEndian.Uint64(b[24:])}
}

func (d *delegateMem) Receive(from netmodel.NodeID, payload []byte) {
	if len(payload) < 33 {
		return
	}
	req := getReq(payload[1:])
	switch payload[0] {
	case delegateReplyKind:
		if _, ok := d.asked[req]; !ok {
			return
		}
		delete(d.asked, req)
		d.cfg.Completer.Complete(req, decodeDelegateReply(payload[33:]))
	case delegateAskKind:
		if ans, ok := d.answers[req]; ok {
			d.cfg.Transport.Send(from, ans)
			return
		}
		if d.pending[req] {
			return
		}
		d.apply(from, req, payload[33:])
	}
}

func (d *delegateMem) apply(from netmodel.NodeID, req sys.ReqID, b []byte) {
	pid, op := binary.LittleEndian.Uint64(b), b[8]
	args := b[9:]
	arg := func(i int) uint64 { return binary.LittleEndian.Uint64(args[8*i:]) }
	p, ok := d.procs[pid]
	if !ok || p.local == nil {
		d.answer(from, req, sys.Reply{Trap: sys.TrapLost})
		return
	}
	c := sys.Caller{PID: pid, Req: req}
	var r sys.Reply
	var now bool
	switch op {
	case 'A':
		r, now = p.local.Alloc(c, arg(0))
	case 'F':
		r, now = p.local.Free(c, arg(0))
	case 'L':
		r, now = p.local.Load(c, arg(0), uint8(arg(1)))
	case 'S':
		r, now = p.local.Store(c, arg(0), uint8(arg(1)), arg(2))
	case 'C':
		r, now = p.local.CAS(c, arg(0), arg(1), arg(2))
	case '+':
		r, now = p.local.FetchAdd(c, arg(0), arg(1))
	case 'R':
		r, now = p.local.ReadBytes(c, arg(0), arg(1))
	case 'W':
		r, now = p.local.WriteBytes(c, arg(0), args[8:])
	case 'w':
		r, now = p.local.Wait(c, arg(0), arg(1))
	case 'k':
		r, now = p.local.Wake(c, arg(0), arg(1))
	default:
		panic(fmt.Sprintf("delegateMem: op %q", op))
	}
	if now {
		d.answer(from, req, r)
		return
	}
	d.pending[req] = true
}

func (d *delegateMem) answer(to netmodel.NodeID, req sys.ReqID, r sys.Reply) {
	delete(d.pending, req)
	msg := putReq([]byte{delegateReplyKind}, req)
	msg = binary.LittleEndian.AppendUint64(msg, r.Val)
	msg = append(msg, byte(r.Trap))
	msg = append(msg, r.Data...)
	d.answers[req] = msg
	if to == d.cfg.Self {
		d.cfg.Completer.Complete(req, r)
		return
	}
	d.cfg.Transport.Send(to, msg)
}

func decodeDelegateReply(b []byte) sys.Reply {
	r := sys.Reply{Val: binary.LittleEndian.Uint64(b), Trap: sys.Trap(b[8])}
	if len(b) > 9 {
		r.Data = append([]byte(nil), b[9:]...)
	}
	return r
}

// delegateCompleter answers the owner's parked operations (waits) to
// whoever asked.
type delegateCompleter struct{ d *delegateMem }

func (c delegateCompleter) Complete(req sys.ReqID, r sys.Reply) {
	to := netmodel.NodeID(req.Machine)
	c.d.answer(to, req, r)
}

type delegateGlobal struct {
	d   *delegateMem
	pid uint64
}

func (g *delegateGlobal) do(c sys.Caller, op byte, data []byte, args ...uint64) (sys.Reply, bool) {
	d := g.d
	p, ok := d.procs[g.pid]
	if !ok {
		return sys.Reply{Trap: sys.TrapLost}, true
	}
	b := binary.LittleEndian.AppendUint64(nil, g.pid)
	b = append(b, op)
	for _, a := range args {
		b = binary.LittleEndian.AppendUint64(b, a)
	}
	b = append(b, data...)
	if p.owner == d.cfg.Self {
		if _, seen := d.answers[c.Req]; seen {
			panic("delegateMem: a request id used twice")
		}
		d.pending[c.Req] = true
		d.applyLater(c.Req, b)
		return sys.Reply{}, false
	}
	msg := append(putReq([]byte{delegateAskKind}, c.Req), b...)
	d.asked[c.Req] = &delegateAsk{to: p.owner, payload: msg, due: d.tick + 8}
	d.cfg.Transport.Send(p.owner, msg)
	return sys.Reply{}, false
}

// applyLater applies an operation of a thread on the owner itself at the
// next tick, so the answer never comes inside the call that asked.
func (d *delegateMem) applyLater(req sys.ReqID, b []byte) {
	msg := append(putReq([]byte{delegateAskKind}, req), b...)
	delete(d.pending, req)
	d.cfg.Transport.Send(d.cfg.Self, msg)
}

func (g *delegateGlobal) Alloc(c sys.Caller, n uint64) (sys.Reply, bool) { return g.do(c, 'A', nil, n) }
func (g *delegateGlobal) Free(c sys.Caller, a uint64) (sys.Reply, bool)  { return g.do(c, 'F', nil, a) }
func (g *delegateGlobal) Load(c sys.Caller, a uint64, w uint8) (sys.Reply, bool) {
	return g.do(c, 'L', nil, a, uint64(w))
}
func (g *delegateGlobal) Store(c sys.Caller, a uint64, w uint8, v uint64) (sys.Reply, bool) {
	return g.do(c, 'S', nil, a, uint64(w), v)
}
func (g *delegateGlobal) CAS(c sys.Caller, a, e, r uint64) (sys.Reply, bool) {
	return g.do(c, 'C', nil, a, e, r)
}
func (g *delegateGlobal) FetchAdd(c sys.Caller, a, delta uint64) (sys.Reply, bool) {
	return g.do(c, '+', nil, a, delta)
}
func (g *delegateGlobal) Fence(sys.Caller) (sys.Reply, bool) { return sys.Reply{}, true }
func (g *delegateGlobal) ReadBytes(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	return g.do(c, 'R', nil, a, n)
}
func (g *delegateGlobal) WriteBytes(c sys.Caller, a uint64, data []byte) (sys.Reply, bool) {
	return g.do(c, 'W', data, a)
}
func (g *delegateGlobal) Wait(c sys.Caller, a, e uint64) (sys.Reply, bool) {
	return g.do(c, 'w', nil, a, e)
}
func (g *delegateGlobal) Wake(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	return g.do(c, 'k', nil, a, n)
}
func (g *delegateGlobal) Release(uint64) {}

func (d *delegateMem) LostMachine(uint64) (netmodel.NodeID, bool) { return 0, false }
func (d *delegateMem) Poll()                                      {}
