package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/sys"
)

// request sends a node-originated request (not on behalf of a parked
// thread) and keeps retransmitting it; onReply or onLost runs once.
func (n *Node) request(to netmodel.NodeID, m *procMsg, onReply func(*procMsg), onLost func()) {
	n.nextSeq++
	m.req = sys.ReqID{Machine: uint64(n.cfg.ID), Incarnation: uint32(n.inc), Core: nodeCore, Seq: n.nextSeq}
	n.requestAs(to, m, onReply, onLost)
}

// requestAs sends m under its own m.req.
func (n *Node) requestAs(to netmodel.NodeID, m *procMsg, onReply func(*procMsg), onLost func()) {
	if n.out.full() {
		n.stats.OutboxFull++
		n.later(onLost) // bounded: a node that cannot keep track fails the request
		return
	}
	if n.ms.dead[to] > 0 && n.ms.newest[to] <= n.ms.dead[to] {
		if mem := n.ms.members[to]; mem == nil || mem.rec.State != stateAlive {
			n.later(onLost)
			return
		}
	}
	toInc := n.incarnationOf(to)
	if p, ok := n.procs[m.pid]; ok && p.home == to {
		// The process's install named its home's incarnation, which this
		// node's membership view may not have caught up with: a request
		// to the home is lost only with that incarnation (vm seed 174: a
		// register tagged with the home's previous incarnation failed the
		// SPAWN when that one was declared dead, naming no machine).
		toInc = max(toInc, p.homeInc)
	}
	r := &outReq{id: m.req, to: to, toInc: toInc, msg: m, dueTick: n.ticks + retryTicksFirst, backoff: retryTicksFirst, onReply: onReply, onLost: onLost}
	n.out.add(r)
	n.sendRequest(r)
}

func (n *Node) sendRequest(r *outReq) {
	r.sends++
	r.msg.low = n.out.low(r.id, r.id.Seq)
	n.send(r.to, ServiceProcs, encodeProcMsg(nil, r.msg))
}

// retransmit resends the requests whose backoff has run out.
func (n *Node) retransmit() {
	for _, r := range n.out.due(n.ticks) {
		n.stats.Retransmits++
		if r.msg.kind == msgFetchPages {
			markLocalFetchResent.Hit()
		}
		n.sendRequest(r)
	}
}

// cancelRequests stops the requests drop selects; their callbacks never run.
func (n *Node) cancelRequests(drop func(*outReq) bool) {
	var gone []*outReq
	n.out.pending.Ascend(func(r *outReq) bool {
		if drop(r) {
			gone = append(gone, r)
		}
		return true
	})
	for _, r := range gone {
		n.out.take(r.id)
	}
}

// receiveProcs handles one process-service message.
func (n *Node) receiveProcs(from netmodel.NodeID, body []byte) {
	m, err := decodeProcMsg(body)
	if err != nil {
		n.stats.Garbage++
		return
	}
	if m.kind == msgReply {
		if r, ok := n.out.take(m.req); ok && r.to == from {
			r.onReply(m)
		} else if ok {
			n.out.add(r) // a reply from a machine the request did not go to: keep waiting
			n.stats.Garbage++
		}
		return
	}
	if m.req.Machine != uint64(from) {
		n.stats.Garbage++ // a request speaks for its own machine only
		return
	}
	verdict, ans := n.in.admit(m)
	switch verdict {
	case verdictDrop:
		n.stats.Duplicates++
		return
	case verdictAnswer:
		n.stats.Duplicates++
		n.send(from, ServiceProcs, encodeProcMsg(nil, ans))
		return
	}
	if rep, now := n.handle(from, m); now {
		n.reply(from, m.req, rep)
		if m.kind == msgJoin && n.cfg.Bugs.ForgetJoinAnswers {
			n.in.forget(m.req) // the planted bug: a JOIN's answer is not kept
		}
	}
}

// reply answers request id now and keeps the answer for retransmissions.
func (n *Node) reply(to netmodel.NodeID, id sys.ReqID, rep *procMsg) {
	rep.kind, rep.req = msgReply, id
	n.in.answered(id, rep)
	n.send(to, ServiceProcs, encodeProcMsg(nil, rep))
}

// answerRemote is Complete for a request a remote thread made (JOIN, PWAIT
// answered by the process table later).
func (n *Node) answerRemote(id sys.ReqID, r sys.Reply) {
	rep := &procMsg{value: r.Val, data: r.Data}
	if r.Trap != sys.TrapNone {
		rep.hasTrap, rep.trap = true, r.Trap
	}
	n.reply(netmodel.NodeID(id.Machine), id, rep)
	if n.cfg.Bugs.ForgetJoinAnswers {
		n.in.forget(id) // the planted bug: a late JOIN (or PWAIT) answer is not kept
	}
}

func okMsg() *procMsg { return &procMsg{} }

func refused(errno uint64) *procMsg { return &procMsg{errno: errno} }

// handle applies a request; now is false when the answer comes later.
func (n *Node) handle(from netmodel.NodeID, m *procMsg) (*procMsg, bool) {
	switch m.kind {
	case msgPrepare:
		return n.handlePrepare(from, m), true
	case msgCommit:
		return n.handleCommit(m), true
	case msgStartThread:
		return n.handleStartThread(m, false), true
	case msgMigrate:
		return n.handleStartThread(m, true), true
	case msgEnded:
		if p, installed := n.procs[m.pid]; installed && p.home == from {
			n.uninstall(m.pid)
		}
		return okMsg(), true
	case msgFetchPages:
		return n.handleFetchPages(m), true
	case msgReleasePin:
		if pn, ok := n.lazy.pins[m.value]; ok && m.where == n.inc && pn.pid == m.pid && pn.holder == from {
			n.releasePin(m.value)
		}
		return okMsg(), true
	}
	// The rest go to the process's home: this node.
	if _, running := n.table.Process(m.pid); !running || !n.isRunning(m.pid) {
		markLateForEnded.Hit()
		return refused(replyEnded), true
	}
	switch m.kind {
	case msgRegister:
		if err := n.table.Reserve(m.pid); err != nil {
			return refused(replyLimit), true
		}
		if err := n.table.Register(m.pid, m.tid, m.where); err != nil {
			return refused(replyEnded), true
		}
		return okMsg(), true
	case msgExited:
		if !n.table.Registered(m.pid, m.tid) {
			markExitBeforeRegister.Hit()
		}
		if n.table.ThreadExited(m.pid, m.tid, m.value) {
			n.endProcess(m.pid, kernel.Status{Code: m.value})
		}
		return okMsg(), true
	case msgEnd:
		n.endProcess(m.pid, m.status)
		return okMsg(), true
	case msgMoved:
		n.table.Moved(m.pid, m.tid, m.where)
		return okMsg(), true
	case msgOutput:
		r := n.writeOutput(m.pid, m.data)
		return &procMsg{value: r.Val}, true
	case msgJoin:
		r, now := n.table.Join(sys.Caller{PID: m.pid, Req: m.req}, m.tid)
		return replyMsg(r), now
	case msgWait:
		r, now := n.table.Wait(sys.Caller{PID: m.pid, Req: m.req}, m.span)
		return replyMsg(r), now
	case msgStartChild:
		id := m.req
		n.startChild(m.pid, m.path, m.args, func(r sys.Reply) { n.reply(from, id, replyMsg(r)) })
		return nil, false
	}
	n.stats.Garbage++
	return refused(replyEnded), true
}

func (n *Node) isRunning(pid uint64) bool {
	p, ok := n.table.Process(pid)
	if !ok {
		return false
	}
	_, done := p.Done()
	return !done
}

func replyMsg(r sys.Reply) *procMsg {
	m := &procMsg{value: r.Val, data: r.Data}
	if r.Trap != sys.TrapNone {
		m.hasTrap, m.trap = true, r.Trap
	}
	return m
}

// handlePrepare installs the program of a process another node starts, to
// be committed (or forgotten) later.
func (n *Node) handlePrepare(from netmodel.NodeID, m *procMsg) *procMsg {
	if _, dup := n.procs[m.pid]; dup {
		return okMsg()
	}
	prog, err := isa.Decode(m.data)
	if err != nil {
		return refused(replyBadImage)
	}
	n.procs[m.pid] = &procHere{pid: m.pid, home: from, homeInc: n.ms.newest[from], parent: m.parent, prog: prog,
		args: m.args, user: m.user, prepared: n.ticks}
	return okMsg()
}

// handleCommit makes a prepared process runnable here.
func (n *Node) handleCommit(m *procMsg) *procMsg {
	p, prepared := n.procs[m.pid]
	if !prepared {
		return refused(replyEnded)
	}
	if p.committed {
		return okMsg()
	}
	p.span = make([]netmodel.NodeID, len(m.span))
	for i, id := range m.span {
		p.span[i] = netmodel.NodeID(id)
	}
	p.spanInc = m.spanInc
	p.index = slices.Index(p.span, n.cfg.ID)
	if p.index < 0 || !slices.IsSorted(p.span) || len(p.spanInc) != len(p.span) {
		delete(n.procs, m.pid)
		return refused(replyBadImage)
	}
	delete(n.procs, m.pid)
	if err := n.install(p); err != nil {
		return refused(replyLimit)
	}
	return okMsg()
}

// handleStartThread runs a thread another node placed here, or one that
// moved here (migrated: it has run before; it is not a new start).
func (n *Node) handleStartThread(m *procMsg, migrated bool) *procMsg {
	p, installed := n.procs[m.pid]
	switch {
	case !installed && n.uninstalled[m.pid]:
		markLateForEnded.Hit()
		return refused(replyEnded)
	case !installed || !p.committed:
		return refused(replyNotHere)
	case p.ending:
		markLateForEnded.Hit()
		return refused(replyEnded)
	}
	img, err := n.decodeImage(p, m.data)
	if err != nil {
		return refused(replyBadImage)
	}
	if img.PID != m.pid || img.TID != m.tid {
		img.Local.Release()
		return refused(replyBadImage)
	}
	if tr := n.addThreadHere(p, img, !migrated); tr != sys.TrapNone {
		return refused(replyLimit)
	}
	return okMsg()
}

// loadProgram reads a program file from the filesystem as user and
// compiles it by its extension, as flock run does (bytecode, assembly or
// the language; a .fl program's own imports are not read from the
// filesystem: the standard library's are); done runs later, once.
func (n *Node) loadProgram(user, path string, done func(*isa.Program, error)) {
	n.readFile(user, path, FileBytesMax, func(src []byte, err error) {
		if err != nil {
			done(nil, err)
			return
		}
		prog, err := proc.Compile(path, src, nil, proc.LoadOptions{})
		if err != nil {
			err = fmt.Errorf("%w: %w", errNotProgram, err)
		}
		done(prog, err)
	})
}

// errNotProgram: PSTART's file is neither bytecode nor valid assembly.
var errNotProgram = errors.New("not a program")

func loadErrno(err error) sys.Errno {
	var fe *FileError
	switch {
	case errors.Is(err, errNotProgram):
		return sys.ENOEXEC
	case errors.As(err, &fe):
		return fe.Errno
	}
	return sys.EIO
}
