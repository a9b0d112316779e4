package node

import (
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/cores"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

var (
	markExitBeforeRegister = probe.Declare("node/exit-before-register", "a thread's exit reached its home before its spawner's registration")
	markProcessLost        = probe.Declare("node/process-lost", "a process ended because a machine it used died")
	markSpawnRemote        = probe.Declare("node/spawn-remote", "a thread was spawned onto another machine")
	markLateForEnded       = probe.Declare("node/late-message-for-ended-process", "a request for a process that had ended was refused")
	markSpanShrunk         = probe.Declare("node/span-shrunk", "a process started without a machine that did not answer its prepare in time")
	markStartAgain         = probe.Declare("node/start-again", "a member refused a process's commit (it restarted since the prepare) and the start was made again")
)

// procHere is a process installed on this node: its home, its span, its
// program, and its interpreter view (one per core).
type procHere struct {
	pid       uint64
	home      netmodel.NodeID
	homeInc   uint64
	parent    uint64
	span      []netmodel.NodeID
	spanInc   []uint64 // the span members' incarnations at the start
	index     int      // this node's position in span
	prog      *isa.Program
	args      []string
	user      string
	acct      *mem.Account
	storage   sys.Storage // its files as threads here see them (storage.go)
	ip        *interp.Process
	committed bool
	ending    bool // an EXIT or trap ran here; the home has been told
	// startLost is the last machine a thread of the process could not
	// start on: the machine a TrapLost of SPAWN names.
	startLost netmodel.NodeID
	nextTID   uint64 // the next tid this node gives a thread of the process
	prepared  uint64 // the tick it was prepared
}

// tidFor is the tid this node gives the next thread it spawns of p: the
// home numbers 1, 2, 3, ...; the member at position k of the span numbers
// (k+1)<<32 | 1, 2, ... (so no two nodes ever give the same tid).
func (p *procHere) tidFor(home bool) uint64 {
	p.nextTID++
	if home {
		return p.nextTID
	}
	return uint64(p.index+1)<<32 | p.nextTID
}

// startReq is a process to start with this node as its home.
type startReq struct {
	prog   *isa.Program
	args   []string
	user   string
	out    io.Writer
	parent uint64
	// attempt counts the starts of this request: a start whose commit a
	// member refused is made again, at most startAttemptsMax times.
	attempt int
}

// startAttemptsMax bounds the starts of one process: a member that
// restarted between prepare and commit refuses the commit (its new
// incarnation never prepared it), and a fresh start with the membership
// of then usually succeeds.
const startAttemptsMax = 3

// startingProc is a process being started here: its span is being prepared
// and committed (docs/node.md, "Processes and threads anywhere").
type startingProc struct {
	pid        uint64
	req        startReq
	candidates []netmodel.NodeID // remote candidates
	answered   map[netmodel.NodeID]bool
	acked      map[netmodel.NodeID]bool
	deadline   uint64
	span       []netmodel.NodeID // set when committing
	spanInc    []uint64
	commits    int               // commit answers still awaited
	committed  []netmodel.NodeID // members that committed
	refusedBy  netmodel.NodeID   // a member that could not install it
	done       func(pid uint64, err error)
}

// startProcess starts a process homed here; done runs once, from a later
// event, with its pid once its main thread runs or with the reason it could
// not start.
func (n *Node) startProcess(r startReq, done func(uint64, error)) {
	n.allocPID(func(pid uint64, err error) {
		if err != nil {
			done(0, err)
			return
		}
		n.prepare(pid, r, done)
	})
}

// failStarts answers the process starts a previous incarnation left
// waiting (for a pid, or for its span), as boot replaces everything: they
// are lost with it, and whoever asked must hear so.
func (n *Node) failStarts(inc uint64) {
	err := fmt.Errorf("node %v: restarted as incarnation %d while the process was starting", n.cfg.ID, inc)
	for _, cb := range n.pidWaiters {
		n.later(func() { cb(0, err) })
	}
	for _, pid := range sortedKeys(n.starting) {
		done := n.starting[pid].done
		n.later(func() { done(0, err) })
	}
}

// allocPID hands out the next pid of the node's block, reserving a new
// block in the metadata store when it runs out.
func (n *Node) allocPID(cb func(uint64, error)) {
	n.pidWaiters = append(n.pidWaiters, cb)
	n.servePIDs()
}

func (n *Node) servePIDs() {
	for len(n.pidWaiters) > 0 && n.pidNext < n.pidEnd {
		cb := n.pidWaiters[0]
		n.pidWaiters = n.pidWaiters[1:]
		pid := n.pidNext
		n.pidNext++
		n.later(func() { cb(pid, nil) })
	}
	if len(n.pidWaiters) > 0 {
		n.reservePIDBlock()
	}
}

func (n *Node) prepare(pid uint64, r startReq, done func(uint64, error)) {
	sp := &startingProc{pid: pid, req: r, answered: map[netmodel.NodeID]bool{}, acked: map[netmodel.NodeID]bool{},
		deadline: n.ticks + n.cfg.PrepareTicksMax, done: done}
	for _, m := range n.ms.alive() {
		if m.id != n.cfg.ID && m.rec.Provide.Cores > 0 {
			sp.candidates = append(sp.candidates, m.id)
		}
	}
	n.starting[pid] = sp
	prog := isa.Encode(r.prog)
	for _, to := range sp.candidates {
		to := to
		n.request(to, &procMsg{kind: msgPrepare, pid: pid, parent: r.parent, user: r.user, args: r.args, data: prog},
			func(m *procMsg) {
				sp.answered[to] = true
				if m.errno == replyOK {
					sp.acked[to] = true
				}
				n.checkPrepared(sp)
			},
			func() { sp.answered[to] = true; n.checkPrepared(sp) })
	}
	n.checkPrepared(sp)
}

// tickStarts ends the prepare phase of starts whose deadline passed.
func (n *Node) tickStarts() {
	for _, pid := range sortedKeys(n.starting) {
		if sp := n.starting[pid]; sp.span == nil && n.ticks >= sp.deadline {
			n.commit(sp)
		}
	}
}

func (n *Node) checkPrepared(sp *startingProc) {
	if sp.span != nil || n.starting[sp.pid] != sp {
		return
	}
	for _, c := range sp.candidates {
		if !sp.answered[c] {
			return
		}
	}
	n.commit(sp)
}

// commit fixes the span: this node and the candidates that prepared.
func (n *Node) commit(sp *startingProc) {
	sp.span = []netmodel.NodeID{n.cfg.ID}
	for _, c := range sp.candidates {
		if sp.acked[c] {
			sp.span = append(sp.span, c)
		} else {
			markSpanShrunk.Hit()
			n.cancelRequests(func(r *outReq) bool { return r.to == c && r.msg.kind == msgPrepare && r.msg.pid == sp.pid })
		}
	}
	slices.Sort(sp.span)
	span := make([]uint64, len(sp.span))
	sp.spanInc = make([]uint64, len(sp.span))
	for i, id := range sp.span {
		span[i] = uint64(id)
		sp.spanInc[i] = n.incarnationOf(id)
	}
	for _, to := range sp.span {
		if to == n.cfg.ID {
			continue
		}
		sp.commits++
		n.request(to, &procMsg{kind: msgCommit, pid: sp.pid, span: span, spanInc: sp.spanInc},
			func(m *procMsg) {
				sp.commits--
				if m.errno == replyOK {
					sp.committed = append(sp.committed, to)
				} else {
					sp.refusedBy = to
				}
				n.checkCommitted(sp)
			},
			// A member that died meanwhile: its part of the span is lost,
			// as if it had died after the start.
			func() { sp.commits--; n.checkCommitted(sp) })
	}
	n.checkCommitted(sp)
}

func (n *Node) checkCommitted(sp *startingProc) {
	if n.cfg.Bugs.LaunchBeforeCommit && n.starting[sp.pid] == sp {
		sp.commits = 0 // the planted bug: do not wait for the members
	}
	if sp.commits > 0 || n.starting[sp.pid] != sp {
		return
	}
	delete(n.starting, sp.pid)
	if sp.refusedBy != 0 {
		// A live member could not install the process: it cannot run
		// with that span. The members that did install it drop it.
		for _, to := range sp.committed {
			n.request(to, &procMsg{kind: msgEnded, pid: sp.pid}, func(*procMsg) {}, func() {})
		}
		if r := sp.req; r.attempt+1 < startAttemptsMax {
			markStartAgain.Hit()
			n.cfg.Record("process %d: %v refused the commit; starting again", sp.pid, sp.refusedBy)
			r.attempt++
			n.startProcess(r, sp.done)
			return
		}
		sp.done(0, fmt.Errorf("node %v could not install process %d", sp.refusedBy, sp.pid))
		return
	}
	n.launch(sp)
}

// launch installs the process here, enters it in the process table and
// starts its main thread.
func (n *Node) launch(sp *startingProc) {
	r := sp.req
	p := &procHere{pid: sp.pid, home: n.cfg.ID, homeInc: n.inc, parent: r.parent, span: sp.span, spanInc: sp.spanInc,
		prog: r.prog, args: r.args, user: r.user}
	p.index = slices.Index(sp.span, n.cfg.ID)
	p.nextTID = 1 // the main thread is tid 1
	if err := n.install(p); err != nil {
		sp.done(0, err)
		return
	}
	local, trap := mem.NewLocal(r.prog, p.acct)
	if trap != sys.TrapNone {
		n.uninstall(p.pid)
		sp.done(0, fmt.Errorf("%s: loading the program's data: %s", r.prog.File, trap))
		return
	}
	target := n.place(p)
	rec := &kernel.Process{PID: p.pid, Parent: r.parent, User: r.user, Program: r.prog, Args: r.args, Out: r.out}
	if err := n.table.Add(rec, uint64(target)); err != nil {
		panic(fmt.Sprintf("node %v: process %d: %v", n.cfg.ID, p.pid, err))
	}
	n.stats.ProcessesStarted++
	n.recordProcess(p.pid, "running", r.prog.File)
	n.startThread(p, &interp.ThreadImage{PID: p.pid, TID: 1, PC: r.prog.Entry, Local: local}, target, func() {}, func(tr sys.Trap) {
		te := &interp.TrapError{PID: p.pid, TID: 1, PC: -1, Kind: tr, Detail: "starting the main thread", LostMachine: uint64(p.startLost)}
		st := kernel.Status{Trap: te}
		if tr == sys.TrapLost {
			// The machine it was to run on died: the machine-loss error,
			// as for any other thread (vm seed 552 reported it as a trap).
			st = kernel.Status{Lost: n.lostWhat(p.pid, te)}
		}
		n.endProcess(p.pid, st)
	})
	sp.done(p.pid, nil)
}

// install makes a committed process runnable on this node: its memory, its
// interpreter view on every core.
func (n *Node) install(p *procHere) error {
	p.acct = &mem.Account{LimitBytes: n.cfg.MemoryBytesMax}
	if err := n.mem.AddProcess(p.pid, p.span, p.spanInc, p.acct); err != nil {
		return fmt.Errorf("node %v: installing process %d: %w", n.cfg.ID, p.pid, err)
	}
	var g sys.Global = n.mem.Global(p.pid)
	if n.cfg.MigrateMissesMin >= 0 {
		g = &migratingGlobal{Global: g, n: n, pid: p.pid}
	}
	p.storage = n.processStorage(p.pid, p.user)
	// Callers carry the filesystem's name of the user (the storage
	// checks it; nothing else reads it).
	p.ip = &interp.Process{PID: p.pid, User: fsUser(p.user), Program: p.prog, Args: p.args, Global: g,
		Storage: p.storage, Kernel: n, Account: p.acct, BudgetTicks: n.cfg.BudgetTicks}
	if n.cfg.ParallelCores {
		ip := p.ip
		ip.Global, ip.Storage, ip.Kernel = n.lockedGlobal(ip.Global), cores.LockedStorage(ip.Storage, &n.mu), cores.LockedKernel(ip.Kernel, &n.mu)
	}
	if err := p.prog.Validate(); err != nil {
		n.mem.RemoveProcess(p.pid)
		p.storage.Release(p.pid)
		return fmt.Errorf("node %v: process %d: %w", n.cfg.ID, p.pid, err)
	}
	ip, pid := p.ip, p.pid
	n.cores.DoAll(func(m *interp.Machine) {
		if err := m.AddProcess(ip); err != nil {
			panic(fmt.Sprintf("node: process %d on a core: %v", pid, err))
		}
	})
	p.committed = true
	n.procs[p.pid] = p
	n.cfg.Record("process %d installed (home %v, span %v)", p.pid, p.home, p.span)
	return nil
}

// uninstall removes every trace of a process from this node.
func (n *Node) uninstall(pid uint64) {
	p, ok := n.procs[pid]
	if !ok {
		return
	}
	n.cfg.Record("process %d uninstalled", pid)
	delete(n.procs, pid)
	n.releasePinsWhere(func(pn *pin) bool { return pn.pid == pid })
	if p.committed {
		n.noteUninstalled(pid)
		n.cores.DoAll(func(m *interp.Machine) { m.RemoveProcess(pid) })
		n.mem.RemoveProcess(pid)
		p.storage.Release(pid)
	}
	n.cancelRequests(func(r *outReq) bool { return r.msg.pid == pid && r.msg.kind != msgEnded })
}

// uninstalledMax bounds the pids a node remembers it dropped.
const uninstalledMax = 4096

// noteUninstalled remembers that a committed process was dropped here, so
// that a late start of one of its threads hears "ending" (the asking
// thread goes with the process, whose end names what was lost) rather
// than "not here", which would blame this live machine.
func (n *Node) noteUninstalled(pid uint64) {
	if n.uninstalled == nil {
		n.uninstalled = map[uint64]bool{}
	}
	if len(n.uninstalledOrder) >= uninstalledMax {
		delete(n.uninstalled, n.uninstalledOrder[0])
		n.uninstalledOrder = n.uninstalledOrder[1:]
	}
	n.uninstalled[pid] = true
	n.uninstalledOrder = append(n.uninstalledOrder, pid)
}

// place picks the machine of the span for a new thread of p: this node
// while its cores have room, else the least loaded member of the span.
func (n *Node) place(p *procHere) netmodel.NodeID {
	cores := uint64(n.cores.Len())
	if uint64(n.Threads()) < cores*uint64(n.cfg.PlaceLocalPerCore) || len(p.span) == 1 {
		return n.cfg.ID
	}
	best, bestLoad := n.cfg.ID, float64(n.Threads())/float64(cores)
	for i, id := range p.span {
		if id == n.cfg.ID {
			continue
		}
		if load, ok := n.memberLoad(p, i); ok && load < bestLoad {
			best, bestLoad = id, load
		}
	}
	n.noteSent(best)
	return best
}

// memberLoad is the threads per core of span member i as its lease last
// said (plus those placed there since); ok is false for a member that
// cannot take threads (no cores, dead, restarted since the start).
func (n *Node) memberLoad(p *procHere, i int) (float64, bool) {
	id := p.span[i]
	m := n.ms.members[id]
	if m == nil || m.lease.Cores == 0 || n.spanMemberGone(p, i) {
		return 0, false
	}
	if m.rec.State != stateAlive || n.ms.dead[id] >= m.rec.Incarnation {
		return 0, false
	}
	return float64(m.lease.Threads+m.sentThreads) / float64(m.lease.Cores), true
}

// noteSent counts a thread placed on another machine until its next lease
// says how loaded it is.
func (n *Node) noteSent(to netmodel.NodeID) {
	if m := n.ms.members[to]; to != n.cfg.ID && m != nil {
		m.sentThreads++
	}
}

// placeLocalPerCoreDefault: threads per core a node keeps before it
// spreads new ones over the span.
const placeLocalPerCoreDefault = 4

// startThread runs img on target: at once if it is here, else by a
// start-thread request. started or fail (with the trap) runs once; for a
// thread started here, inside this call (callers that park a thread call
// this only from a later event).
func (n *Node) startThread(p *procHere, img *interp.ThreadImage, target netmodel.NodeID, started func(), fail func(sys.Trap)) {
	if target == n.cfg.ID {
		if tr := n.addLocalThread(p, img); tr != sys.TrapNone {
			fail(tr)
			return
		}
		started()
		return
	}
	if img.Local.Lazy() {
		// Its pages come from a third machine: fetched here first, so
		// that the target fetches from one source only. A failed fetch
		// ends the process (the spawning thread goes with it).
		n.fetchAll(p, img.TID, img.Local, func(ok bool) {
			if !ok {
				img.Local.Release()
				return
			}
			n.startThread(p, img, target, started, fail)
		})
		return
	}
	markSpawnRemote.Hit()
	n.stats.ThreadsPlacedRemote++
	data, pinID := n.encodeForStart(p, img, target)
	if n.cfg.Bugs.RerunLostThreads {
		n.keptImages[threadKey{p.pid, img.TID}] = keptImage{to: target, data: data}
	}
	n.request(target, &procMsg{kind: msgStartThread, pid: p.pid, tid: img.TID, data: data},
		func(m *procMsg) {
			if m.errno != replyOK || n.cfg.Bugs.ReleasePinAtSpawn {
				n.releasePin(pinID)
			}
			switch m.errno {
			case replyOK:
			case replyEnded:
				// The process is ending there: the spawning thread goes
				// with it; nothing to report.
				n.cfg.Record("start of thread %d of process %d on %v: the process is ending", img.TID, p.pid, target)
				return
			default:
				n.cfg.Record("start of thread %d of process %d on %v refused (%d)", img.TID, p.pid, target, m.errno)
				p.startLost = target
				fail(replyTrap(m.errno))
				return
			}
			started()
		},
		func() {
			n.releasePin(pinID)
			n.cfg.Record("start of thread %d of process %d: %v lost", img.TID, p.pid, target)
			p.startLost = target
			fail(sys.TrapLost)
		})
}

// keptImage is a thread image kept by the planted bug RerunLostThreads.
type keptImage struct {
	to   netmodel.NodeID
	data []byte
}

// rerunLostThreads is the planted bug RerunLostThreads: the threads this
// node started on a dead machine start again, here.
func (n *Node) rerunLostThreads(dead netmodel.NodeID) {
	for _, k := range sortedThreadKeys(n.keptImages) {
		ki := n.keptImages[k]
		p, ok := n.procs[k.pid]
		if ki.to != dead || !ok || p.ending {
			continue
		}
		delete(n.keptImages, k)
		if img, err := n.decodeImage(p, ki.data); err == nil {
			n.addLocalThread(p, img)
		}
	}
}

// ignoreLostThreads is the planted bug IgnoreLostThreads: the threads of
// pid on a dead machine count as finished with value 0.
func (n *Node) ignoreLostThreads(pid, machine uint64) {
	for _, ref := range n.table.ThreadsOn(machine) {
		if ref.PID == pid && n.table.ThreadExited(pid, ref.TID, 0) {
			n.endProcess(pid, kernel.Status{})
		}
	}
}

func replyTrap(errno uint64) sys.Trap {
	switch errno {
	case replyLimit:
		return sys.TrapOutOfMemory
	case replyBadImage:
		return sys.TrapBadAddress
	}
	return sys.TrapLost
}

// addLocalThread runs a thread on the core with the fewest threads. With
// parallel cores the thread starts on that core's goroutine a little later;
// a thread that does not fit in memory then ends its process.
func (n *Node) addLocalThread(p *procHere, img *interp.ThreadImage) sys.Trap {
	return n.addThreadHere(p, img, true)
}

// addThreadHere is addLocalThread; fresh is false for a thread that moved
// here (it started elsewhere before).
func (n *Node) addThreadHere(p *procHere, img *interp.ThreadImage, fresh bool) sys.Trap {
	best := 0
	for i := 1; i < n.cores.Len(); i++ {
		if n.cores.CoreThreads(i) < n.cores.CoreThreads(best) {
			best = i
		}
	}
	if fresh {
		n.stats.ThreadsStarted++
		if n.cfg.OnThreadStart != nil {
			n.cfg.OnThreadStart(p.pid, img.TID)
		}
	}
	if !n.cores.Parallel() {
		if err := n.machines[best].AddThread(img); err != nil {
			img.Local.Release()
			return sys.TrapOutOfMemory
		}
		return sys.TrapNone
	}
	// Place, not Do: the core counts the thread at once, so a burst of
	// spawns within one slice sees this machine fill up and spreads.
	pid, tid := p.pid, img.TID
	n.cores.Place(func(m *interp.Machine) {
		if err := m.AddThread(img); err != nil {
			img.Local.Release()
			n.mu.Lock()
			defer n.mu.Unlock()
			if _, running := n.procs[pid]; running {
				n.endFromHere(pid, kernel.Status{Trap: &interp.TrapError{PID: pid, TID: tid, PC: -1, Kind: sys.TrapOutOfMemory, Detail: err.Error()}})
			}
		}
	})
	return sys.TrapNone
}

// endProcess ends a process homed here: the table answers its waiters,
// every node of its span drops it, its client hears.
func (n *Node) endProcess(pid uint64, st kernel.Status) {
	rec, _ := n.table.Process(pid)
	if !n.table.End(pid, st) {
		return
	}
	if st.Lost != nil {
		n.stats.ProcessesLost++
		markProcessLost.Hit()
	}
	if st.Trap != nil && rec != nil && rec.Parent != 0 {
		// The parent sees only -1 from PWAIT: the trap must reach the user.
		fmt.Fprintf(n.cfg.Diag, "flock: %v (process %d, started by process %d)\n", st.Trap, pid, rec.Parent)
	}
	if p, ok := n.procs[pid]; ok {
		for _, to := range p.span {
			if to != n.cfg.ID {
				n.request(to, &procMsg{kind: msgEnded, pid: pid, status: st}, func(*procMsg) {}, func() {})
			}
		}
	}
	n.uninstall(pid)
	state := "exited"
	if err := st.Err(); err != nil {
		state = "failed: " + err.Error()
	}
	n.recordProcess(pid, state, "")
	if j, ok := n.jobs[pid]; ok {
		delete(n.jobs, pid)
		n.later(func() { j.done(pid, st) })
	}
}

// machineDown handles an incarnation of a machine known dead: its requests
// fail, processes homed here that had threads there end with the error
// naming it, and processes homed there are gone from here.
func (n *Node) machineDown(id netmodel.NodeID, inc uint64) {
	n.cfg.Record("machine %v incarnation %d down", id, inc)
	n.mem.MachineDown(id, inc)
	n.storageMachineDown(id)
	n.in.forgetMachine(uint64(id), inc)
	n.lazyMachineDown(id, inc)
	for _, r := range n.out.to(id) {
		if r.toInc > inc {
			continue // meant for a later incarnation, which is alive
		}
		if _, ok := n.out.take(r.id); ok {
			r.onLost()
		}
	}
	if n.cfg.Bugs.RerunLostThreads {
		n.rerunLostThreads(id)
	}
	for _, ref := range n.table.ThreadsOn(uint64(id)) {
		if n.cfg.Bugs.RerunLostThreads {
			continue // the planted bug: the threads are "recovered" instead
		}
		if n.cfg.Bugs.IgnoreLostThreads {
			n.ignoreLostThreads(ref.PID, uint64(id))
			continue
		}
		n.endProcess(ref.PID, kernel.Status{Lost: &kernel.LostError{PID: ref.PID, Machine: uint64(id), Incarnation: inc, What: fmt.Sprintf("thread %d", ref.TID)}})
	}
	for _, pid := range sortedKeys(n.procs) {
		if p := n.procs[pid]; p.home == id && p.homeInc <= inc {
			n.uninstall(pid)
			n.stats.ProcessesLost++
			n.recordProcess(pid, fmt.Sprintf("failed: lost with machine %d (incarnation %d): the process's home", id, inc), "")
		}
	}
}

// spanMemberGone reports whether the incarnation of span member i that the
// process started with has died or been replaced by a restart.
func (n *Node) spanMemberGone(p *procHere, i int) bool {
	if i >= len(p.spanInc) {
		return false
	}
	id, inc := p.span[i], p.spanInc[i]
	return n.ms.dead[id] >= inc || n.ms.newest[id] > inc || (n.ms.members[id] != nil && n.ms.members[id].rec.Incarnation > inc)
}

// incarnationOf is the incarnation this node knows a machine at.
func (n *Node) incarnationOf(id netmodel.NodeID) uint64 {
	if id == n.cfg.ID {
		return n.inc
	}
	if m := n.ms.members[id]; m != nil {
		return m.rec.Incarnation
	}
	return n.ms.newest[id]
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
