package node

import (
	"fmt"
	"sort"
	"sync"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// Lazy local memory (docs/node.md, "Lazy local memory"): a thread started
// on another machine takes a reference to a snapshot of its local memory
// that this machine (its source) keeps pinned, and fetches each page on
// first touch. The source pins the snapshot until the holder lets go
// (release-pin), the process ends, or the holder dies; the holder ends the
// process, naming the source, if the source dies while pages are absent.

var (
	markLocalPageFetched  = probe.Declare("node/local-page-fetched", "a thread fetched a page of its local memory from the machine it was spawned from")
	markLocalFetchResent  = probe.Declare("node/local-fetch-retransmitted", "a fetch of local-memory pages was sent again")
	markLocalSourceLost   = probe.Declare("node/local-source-lost", "a process ended because the machine holding pages of a thread's local memory died before they were fetched")
	markLocalSpawnLazy    = probe.Declare("node/spawn-lazy-local", "a thread went to another machine with a reference to its local memory, not a copy")
	markLocalPinsFull     = probe.Declare("node/lazy-pins-full", "a spawn stayed on its machine: no room to pin another local-memory snapshot")
	markLocalFetchedFirst = probe.Declare("node/lazy-local-fetched-before-leaving", "a thread whose local memory was still partly remote fetched the rest before moving on")
)

// Limits of lazy local memory.
const (
	// lazyEagerBytesMax: a local memory whose data pages total at most
	// this travels whole, in the image; pinning it would cost more
	// round trips than bytes saved.
	lazyEagerBytesMax = 64 << 10
	// LazyPinsMaxDefault bounds the snapshots a machine keeps pinned.
	LazyPinsMaxDefault = 1024
	// fetchPagesMax bounds the pages of one fetch.
	fetchPagesMax = 64
)

// pin is a snapshot this node keeps for a thread on another machine.
type pin struct {
	pid       uint64
	tid       uint64
	snap      *mem.Local
	holder    netmodel.NodeID
	holderInc uint64
}

// heldRef is a snapshot on another machine that Locals here still miss
// pages of.
type heldRef struct {
	pid, tid uint64
}

// lazyState is the node's part of lazy local memory: what it pins for
// others and what it holds of others'.
type lazyState struct {
	pins    map[uint64]*pin
	pinNext uint64
	held    map[mem.SnapshotRef]*heldRef
	// idle: refs whose last Local here let go, reported from any core
	// (mem.Remote.OnIdle); drained by Tick.
	idleMu sync.Mutex
	idle   []mem.SnapshotRef
}

func (z *lazyState) init() {
	z.pins = map[uint64]*pin{}
	z.held = map[mem.SnapshotRef]*heldRef{}
	z.idleMu.Lock()
	z.idle = nil
	z.idleMu.Unlock()
}

// bigLocal reports whether a local memory is worth leaving behind.
func bigLocal(l *mem.Local) bool { return l.Lazy() || l.DataPages()*mem.PageBytes > lazyEagerBytesMax }

// pinRoom reports whether another snapshot may be pinned here.
func (n *Node) pinRoom() bool { return len(n.lazy.pins) < n.cfg.LazyPinsMax }

// encodeForStart is the image to send to target. A small local memory goes
// whole (img.Local is released); a big one stays pinned here (pinID > 0;
// releasePin undoes it). With no room to pin, it goes whole too.
func (n *Node) encodeForStart(p *procHere, img *interp.ThreadImage, target netmodel.NodeID) (data []byte, pinID uint64) {
	if !bigLocal(img.Local) || !n.pinRoom() {
		data = interp.EncodeImage(img)
		img.Local.Release()
		return data, 0
	}
	n.lazy.pinNext++
	id := n.lazy.pinNext
	ref := mem.SnapshotRef{Machine: uint64(n.cfg.ID), Incarnation: n.inc, ID: id}
	// The page the spawn argument points at is certainly needed.
	argPage := ^uint64(0)
	if len(img.Stack) > 0 && img.Stack[0]&isa.GlobalBit == 0 {
		argPage = img.Stack[0] / mem.PageBytes
	}
	data, absent := interp.EncodeImageLazy(img, ref, func(index uint64) bool { return index == argPage })
	if absent == 0 {
		img.Local.Release()
		return data, 0
	}
	markLocalSpawnLazy.Hit()
	n.stats.ThreadsSpawnedLazy++
	n.lazy.pins[id] = &pin{pid: p.pid, tid: img.TID, snap: img.Local, holder: target, holderInc: n.incarnationOf(target)}
	n.cfg.Record("thread %d of process %d: local memory pinned as snapshot %d for %v (%d pages left here)", img.TID, p.pid, id, target, absent)
	return data, id
}

// releasePin lets a pinned snapshot go; an unknown id is ignored (a
// release may come twice: from the holder and after a refused start).
func (n *Node) releasePin(id uint64) {
	pn, ok := n.lazy.pins[id]
	if !ok {
		return
	}
	delete(n.lazy.pins, id)
	pn.snap.Release()
	n.cfg.Record("snapshot %d of thread %d of process %d released", id, pn.tid, pn.pid)
}

// releasePinsWhere releases the pins drop selects, in id order.
func (n *Node) releasePinsWhere(drop func(*pin) bool) {
	for _, id := range sortedKeys(n.lazy.pins) {
		if drop(n.lazy.pins[id]) {
			n.releasePin(id)
		}
	}
}

// handleFetchPages serves pages of a snapshot pinned here.
func (n *Node) handleFetchPages(m *procMsg) *procMsg {
	if m.where != n.inc {
		return refused(replyNotHere) // pinned by an earlier incarnation: lost with it
	}
	pn, ok := n.lazy.pins[m.value]
	if !ok || pn.pid != m.pid {
		if p, installed := n.procs[m.pid]; !installed || p.ending {
			return refused(replyEnded)
		}
		return refused(replyNoPin)
	}
	if len(m.span) == 0 || len(m.span) > fetchPagesMax {
		return refused(replyBadImage)
	}
	data, err := pn.snap.EncodePages(m.span)
	if err != nil {
		return refused(replyBadImage)
	}
	return &procMsg{data: data}
}

// adoptLazy links a lazy Local that arrived here to its source: pages come
// by fetch-pages, and the source hears when no Local here needs them.
func (n *Node) adoptLazy(p *procHere, tid uint64, l *mem.Local) {
	rem := l.Remote()
	if rem == nil {
		return
	}
	ref := rem.Ref
	rem.Source = pageSource{n}
	rem.OnIdle = func() {
		n.lazy.idleMu.Lock()
		n.lazy.idle = append(n.lazy.idle, ref)
		n.lazy.idleMu.Unlock()
	}
	n.lazy.held[ref] = &heldRef{pid: p.pid, tid: tid}
}

// tickLazy tells the sources of snapshots no Local here needs any more.
func (n *Node) tickLazy() {
	n.lazy.idleMu.Lock()
	idle := n.lazy.idle
	n.lazy.idle = nil
	n.lazy.idleMu.Unlock()
	for _, ref := range idle {
		h, ok := n.lazy.held[ref]
		if !ok {
			continue // its source died or restarted: nothing to release
		}
		delete(n.lazy.held, ref)
		n.sendRelease(h.pid, ref)
	}
}

func (n *Node) sendRelease(pid uint64, ref mem.SnapshotRef) {
	n.request(nodeID(ref.Machine), &procMsg{kind: msgReleasePin, pid: pid, value: ref.ID, where: ref.Incarnation}, func(*procMsg) {}, func() {})
}

// pageSource fetches absent local pages for threads on this node's cores.
type pageSource struct{ n *Node }

func (s pageSource) FetchPages(c sys.Caller, ref mem.SnapshotRef, indexes []uint64) (sys.Reply, bool) {
	n := s.n
	defer n.enter()()
	return n.fetchPages(c, ref, indexes)
}

// sourceGone reports whether the incarnation that pinned ref is dead or
// replaced.
func (n *Node) sourceGone(ref mem.SnapshotRef) bool {
	id := nodeID(ref.Machine)
	return n.ms.dead[id] >= ref.Incarnation || n.incarnationOf(id) > ref.Incarnation
}

// lostSource is the answer of a fetch whose source is gone.
func lostSource(ref mem.SnapshotRef) sys.Reply {
	return sys.Reply{Trap: sys.TrapLost, Val: ref.Machine}
}

// fetchPages asks the source for pages on behalf of a parked thread.
func (n *Node) fetchPages(c sys.Caller, ref mem.SnapshotRef, indexes []uint64) (sys.Reply, bool) {
	p, ok := n.procs[c.PID]
	if !ok || p.ending {
		return sys.Reply{}, false // the process is ending: the thread goes with it
	}
	if n.sourceGone(ref) {
		markLocalSourceLost.Hit()
		return lostSource(ref), true
	}
	markLocalPageFetched.Hit()
	n.stats.LocalPagesFetched += int64(len(indexes))
	m := &procMsg{kind: msgFetchPages, req: c.Req, pid: c.PID, value: ref.ID, where: ref.Incarnation, span: indexes}
	n.requestAs(nodeID(ref.Machine), m, func(r *procMsg) {
		switch r.errno {
		case replyOK:
			n.Complete(c.Req, sys.Reply{Data: r.data})
		case replyEnded:
			// The process ended at the source: this thread goes with it.
		default:
			n.cfg.Record("fetch of local pages %v of process %d from %v refused (%d)", indexes, c.PID, ref.Machine, r.errno)
			n.Complete(c.Req, lostSource(ref))
		}
	}, func() {
		markLocalSourceLost.Hit()
		n.Complete(c.Req, lostSource(ref))
	})
	return sys.Reply{}, false
}

// fetchAll brings every absent page of l here before l moves on (a lazy
// thread spawning onto a third machine, or migrating): done(true) once l
// is whole, done(false) if the source is gone (the process then ends
// naming it). One batch at a time: this is the rare path.
func (n *Node) fetchAll(p *procHere, tid uint64, l *mem.Local, done func(ok bool)) {
	markLocalFetchedFirst.Hit()
	absent := l.Absent()
	if len(absent) == 0 {
		done(true)
		return
	}
	ref := l.Remote().Ref
	fail := func() {
		n.endFromHere(p.pid, lostLocal(p.pid, tid, ref))
		done(false)
	}
	if n.sourceGone(ref) {
		fail()
		return
	}
	batch := absent[:min(len(absent), fetchPagesMax)]
	n.stats.LocalPagesFetched += int64(len(batch))
	n.request(nodeID(ref.Machine), &procMsg{kind: msgFetchPages, pid: p.pid, value: ref.ID, where: ref.Incarnation, span: batch},
		func(r *procMsg) {
			if r.errno == replyEnded {
				done(false)
				return
			}
			if r.errno != replyOK || l.InstallPages(batch, r.data) != nil {
				fail()
				return
			}
			n.fetchAll(p, tid, l, done)
		}, fail)
}

// lostLocal is the status of a process whose thread's local memory was
// lost with its source.
func lostLocal(pid, tid uint64, ref mem.SnapshotRef) kernel.Status {
	return kernel.Status{Lost: &kernel.LostError{PID: pid, Machine: ref.Machine, Incarnation: ref.Incarnation,
		What: fmt.Sprintf("local memory of thread %d: pages not yet fetched from it", tid)}}
}

// lazyMachineDown handles a dead incarnation for lazy local memory: the
// pins it held here are released, and the processes that still miss pages
// it pinned end naming it.
func (n *Node) lazyMachineDown(id netmodel.NodeID, inc uint64) {
	n.releasePinsWhere(func(pn *pin) bool { return pn.holder == id && pn.holderInc <= inc })
	refs := make([]mem.SnapshotRef, 0, len(n.lazy.held))
	for ref := range n.lazy.held {
		if nodeID(ref.Machine) == id && ref.Incarnation <= inc {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].ID < refs[j].ID || refs[i].ID == refs[j].ID && refs[i].Incarnation < refs[j].Incarnation
	})
	for _, ref := range refs {
		h := n.lazy.held[ref]
		delete(n.lazy.held, ref)
		if p, ok := n.procs[h.pid]; ok && !p.ending {
			markLocalSourceLost.Hit()
			n.cfg.Record("process %d: thread %d's local memory was on %v, which died", h.pid, h.tid, id)
			n.endFromHere(h.pid, lostLocal(h.pid, h.tid, ref))
		}
	}
}

// decodeImage decodes a thread image that came from another machine,
// charging p, and links a lazy local memory to its source.
func (n *Node) decodeImage(p *procHere, data []byte) (*interp.ThreadImage, error) {
	img, err := interp.DecodeImage(data, p.acct)
	if err != nil {
		return nil, err
	}
	n.adoptLazy(p, img.TID, img.Local)
	return img, nil
}
