package node

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

// The node is every core's interp.Kernel. Each method is the vproc switch
// of docs/node.md: if the process's home (or the thread's target) is this
// node, do it here; otherwise send the request and park the thread until
// the answer comes.
var _ interp.Kernel = (*Node)(nil)

// proc finds the process a kernel call is for. ok is false only with
// parallel cores, when a core ran a thread of a process whose removal was
// still on its way to it: the call is dropped (its thread goes next).
func (n *Node) proc(pid uint64) (*procHere, bool) {
	p, ok := n.procs[pid]
	if !ok && !n.cores.Parallel() {
		panic(fmt.Sprintf("node %v: kernel call for process %d, which is not installed here", n.cfg.ID, pid))
	}
	return p, ok
}

func (n *Node) homeHere(p *procHere) bool { return p.home == n.cfg.ID }

// Spawn places the thread, registers it with the home and starts it.
func (n *Node) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	p, ok := n.proc(c.PID)
	if !ok || p.ending {
		img.Local.Release()
		return sys.Reply{}, false // the process is ending: this thread goes with it
	}
	target := n.placeSpawn(p, c.TID, img)
	img.TID = p.tidFor(n.homeHere(p))
	tid := img.TID
	answer := func() { n.Complete(c.Req, sys.Reply{Val: tid}) }
	fail := func(tr sys.Trap) { n.Complete(c.Req, sys.Reply{Trap: tr}) }
	if n.homeHere(p) {
		if err := n.table.Reserve(c.PID); err != nil {
			img.Local.Release()
			return sys.Reply{Trap: sys.TrapThreadLimit}, true
		}
		if err := n.table.Register(c.PID, tid, uint64(target)); err != nil {
			panic(fmt.Sprintf("node %v: registering thread %d of process %d: %v", n.cfg.ID, tid, c.PID, err))
		}
		if target == n.cfg.ID {
			if tr := n.addLocalThread(p, img); tr != sys.TrapNone {
				n.table.ThreadExited(c.PID, tid, 0)
				return sys.Reply{Trap: tr}, true
			}
			return sys.Reply{Val: tid}, true
		}
		n.startThread(p, img, target, answer, fail)
		return sys.Reply{}, false
	}
	// Register first: once SPAWN answers, any thread of the process may
	// JOIN the tid at the home.
	n.request(p.home, &procMsg{kind: msgRegister, pid: p.pid, tid: tid, where: uint64(target)},
		func(m *procMsg) {
			if m.errno != replyOK {
				n.cfg.Record("register of thread %d of process %d refused by %v (%d)", tid, p.pid, p.home, m.errno)
				img.Local.Release()
				if m.errno != replyEnded {
					fail(registerTrap(m.errno))
				}
				return // ended: the spawning thread goes with its process
			}
			n.startThread(p, img, target, answer, fail)
		},
		func() {
			n.cfg.Record("register of thread %d of process %d: home %v lost", tid, p.pid, p.home)
			img.Local.Release()
			fail(sys.TrapLost)
		})
	return sys.Reply{}, false
}

func registerTrap(errno uint64) sys.Trap {
	if errno == replyLimit {
		return sys.TrapThreadLimit
	}
	return sys.TrapLost
}

// Join waits at the home for the thread to end.
func (n *Node) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	p, ok := n.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	if n.homeHere(p) {
		return n.table.Join(c, tid)
	}
	n.threadRequest(p.home, c, &procMsg{kind: msgJoin, pid: c.PID, tid: tid})
	return sys.Reply{}, false
}

// threadRequest sends a request on behalf of a parked thread: the request
// id is the thread's, and the answer completes it.
func (n *Node) threadRequest(to netmodel.NodeID, c sys.Caller, m *procMsg) {
	m.req = c.Req
	n.requestAs(to, m, func(r *procMsg) {
		if r.errno != replyOK {
			n.cfg.Record("%s of process %d refused by %v (%d)", m.kind, m.pid, to, r.errno)
		}
		if r.errno == replyEnded {
			return // the process ended at its home: this thread goes with it
		}
		n.Complete(c.Req, replyOf(r))
	}, func() {
		n.cfg.Record("%s of process %d: %v lost", m.kind, m.pid, to)
		n.Complete(c.Req, sys.Reply{Trap: sys.TrapLost, Val: uint64(to)})
	})
}

// replyOf is the sys.Reply a reply message carries.
func replyOf(m *procMsg) sys.Reply {
	r := sys.Reply{Val: m.value, Data: m.data}
	if m.hasTrap {
		r.Trap = m.trap
	}
	if m.errno != replyOK && r.Trap == sys.TrapNone {
		r.Trap = sys.TrapLost // the process ended meanwhile; its thread is being removed
	}
	return r
}

// ThreadExited tells the home.
func (n *Node) ThreadExited(pid, tid, value uint64) {
	p, ok := n.proc(pid)
	if !ok {
		return
	}
	if n.homeHere(p) {
		if n.table.ThreadExited(pid, tid, value) {
			n.endProcess(pid, kernel.Status{Code: value})
		}
		return
	}
	n.request(p.home, &procMsg{kind: msgExited, pid: pid, tid: tid, value: value}, func(*procMsg) {}, func() {})
}

// Exit ends the process with status.
func (n *Node) Exit(pid, _, status uint64) { n.endFromHere(pid, kernel.Status{Code: status}) }

// Trapped ends the process with the trap.
func (n *Node) Trapped(pid uint64, trap *interp.TrapError) {
	st := kernel.Status{Trap: trap}
	if trap.Kind == sys.TrapLost {
		st = kernel.Status{Lost: n.lostWhat(pid, trap)}
	}
	n.endFromHere(pid, st)
}

// lostWhat names the machine whose death made a memory operation fail.
func (n *Node) lostWhat(pid uint64, trap *interp.TrapError) *kernel.LostError {
	l := &kernel.LostError{PID: pid, What: fmt.Sprintf("%s at %s", trap.Op, trap.Where)}
	switch {
	case trap.PC < 0:
		l.What = trap.Detail // not at an instruction: starting a thread, say
	case trap.Detail != "":
		l.What += " (" + trap.Detail + ")"
	}
	// The machine the trap names, unless it is alive here while another
	// member of the span is known gone: a live member refuses a thread
	// of a process it already dropped because that other one died (vm
	// seed 368: the home died, a member dropped the process, and a
	// spawn onto that member was refused).
	named := nodeID(trap.LostMachine)
	if named != 0 && (n.namedGone(pid, named) || n.goneMember(pid) < 0) {
		l.Machine, l.Incarnation = uint64(named), n.lostIncarnation(pid, named)
		return l
	}
	if id, ok := n.mem.LostMachine(pid); ok {
		l.Machine, l.Incarnation = uint64(id), n.lostIncarnation(pid, id)
		return l
	}
	if p, ok := n.procs[pid]; ok {
		// A span member whose incarnation of the start died or restarted
		// since (never one whose earlier incarnation died before).
		for i, id := range p.span {
			if n.spanMemberGone(p, i) {
				l.Machine, l.Incarnation = uint64(id), p.spanInc[i]
				return l
			}
		}
		if p.startLost != 0 {
			l.Machine, l.Incarnation = uint64(p.startLost), n.incarnationOf(p.startLost)
		}
	}
	return l
}

// namedGone reports whether id, as a member of pid's span, is gone (dead
// or restarted since the start), or, if not one, known dead at all.
func (n *Node) namedGone(pid uint64, id netmodel.NodeID) bool {
	if p, ok := n.procs[pid]; ok {
		if i := slices.Index(p.span, id); i >= 0 {
			return n.spanMemberGone(p, i)
		}
	}
	return n.ms.dead[id] > 0
}

// goneMember is the index of a member of pid's span known gone, or -1.
func (n *Node) goneMember(pid uint64) int {
	p, ok := n.procs[pid]
	if !ok {
		return -1
	}
	for i := range p.span {
		if n.spanMemberGone(p, i) {
			return i
		}
	}
	return -1
}

// lostIncarnation is the incarnation of id that pid lost: the one of its
// span, else the highest known dead.
func (n *Node) lostIncarnation(pid uint64, id netmodel.NodeID) uint64 {
	if p, ok := n.procs[pid]; ok {
		for i, m := range p.span {
			if m == id && i < len(p.spanInc) {
				return p.spanInc[i]
			}
		}
	}
	return n.ms.dead[id]
}

// endFromHere ends a process from one of its threads on this node: at the
// home directly, elsewhere by telling the home (and stopping the threads
// here at once).
func (n *Node) endFromHere(pid uint64, st kernel.Status) {
	p, ok := n.proc(pid)
	if !ok {
		return
	}
	if n.homeHere(p) {
		n.endProcess(pid, st)
		return
	}
	if p.ending {
		return
	}
	p.ending = true
	n.cores.DoAll(func(m *interp.Machine) { m.RemoveProcess(pid) })
	n.request(p.home, &procMsg{kind: msgEnd, pid: pid, status: st}, func(*procMsg) {}, func() {})
}

// Output appends to the process's output at its home.
func (n *Node) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	p, ok := n.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	if n.homeHere(p) {
		return n.writeOutput(c.PID, data), true
	}
	n.threadRequest(p.home, c, &procMsg{kind: msgOutput, pid: c.PID, data: data})
	return sys.Reply{}, false
}

func (n *Node) writeOutput(pid uint64, data []byte) sys.Reply {
	rec, ok := n.table.Process(pid)
	if !ok || rec.Out == nil {
		return sys.Reply{Val: uint64(len(data))}
	}
	if _, err := rec.Out.Write(data); err != nil {
		return sys.ErrReply(sys.EIO)
	}
	return sys.Reply{Val: uint64(len(data))}
}

// StartProcess starts a child homed where its parent is.
func (n *Node) StartProcess(c sys.Caller, path string, args []string) (sys.Reply, bool) {
	p, ok := n.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	if n.homeHere(p) {
		n.startChild(c.PID, path, args, func(r sys.Reply) { n.Complete(c.Req, r) })
		return sys.Reply{}, false
	}
	n.threadRequest(p.home, c, &procMsg{kind: msgStartChild, pid: c.PID, path: path, args: args})
	return sys.Reply{}, false
}

// startChild loads path from the filesystem, as the parent's user, and
// starts it with parent's output.
func (n *Node) startChild(parent uint64, path string, args []string, done func(sys.Reply)) {
	rec, ok := n.table.Process(parent)
	if !ok {
		n.later(func() { done(sys.Reply{Trap: sys.TrapLost}) })
		return
	}
	n.loadProgram(rec.User, path, func(prog *isa.Program, err error) {
		if err != nil {
			fmt.Fprintf(n.cfg.Diag, "flock: PSTART %s: %v\n", path, err)
			done(sys.ErrReply(loadErrno(err)))
			return
		}
		if !n.isRunning(parent) {
			done(sys.Reply{Trap: sys.TrapLost}) // the parent ended while its child loaded
			return
		}
		n.startLoaded(rec, prog, path, args, parent, done)
	})
}

// startLoaded starts a loaded child program.
func (n *Node) startLoaded(rec *kernel.Process, prog *isa.Program, path string, args []string, parent uint64, done func(sys.Reply)) {
	n.startProcess(startReq{prog: prog, args: args, user: rec.User, out: rec.Out, parent: parent}, func(pid uint64, err error) {
		if err != nil {
			fmt.Fprintf(n.cfg.Diag, "flock: PSTART %s: %v\n", path, err)
			done(sys.ErrReply(sys.EINVAL))
			return
		}
		done(sys.Reply{Val: pid})
	})
}

// WaitProcs waits at the process's home.
func (n *Node) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	p, ok := n.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	if n.homeHere(p) {
		return n.table.Wait(c, pids)
	}
	n.threadRequest(p.home, c, &procMsg{kind: msgWait, pid: c.PID, span: pids})
	return sys.Reply{}, false
}
