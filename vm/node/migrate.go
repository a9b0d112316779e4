package node

import (
	"fmt"
	"sort"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

// Migration (compute goes to data): a thread whose global-memory misses go
// mostly to pages homed on one other machine of its span moves there, when
// the traffic it would save outweighs the bytes of its image.
//
// The node counts, per thread and per home, the operations its memory
// answered later (a miss: the page was not here); every MigrateCheckTicks
// it looks at the window just ended. A thread is moved when its misses in
// the window number at least MigrateMissesMin, at least three quarters of
// them went to one home h other than this machine, and the misses times the
// page size exceed twice its encoded image (checked after detaching it: a
// thread not worth moving goes back to its core). The move is a start-thread
// request to h with the image; the thread's home hears where it went.

var (
	markMigrated            = probe.Declare("node/thread-migrated", "a thread moved to the machine holding the data it missed on")
	markMigrateKeep         = probe.Declare("node/migration-not-worth-it", "a thread detached for migration was worth less than its image and stayed")
	markMigrateKeptForFiles = probe.Declare("node/migration-kept-for-files", "a thread detached for migration stayed: its process has files open on this machine")
	markMigrateFailed       = probe.Declare("node/migration-target-lost", "the machine a thread was moving to died before it started there")
)

// Migration defaults.
const (
	MigrateCheckTicksDefault = 10
	MigrateMissesMinDefault  = 4
	migrateTriesMax          = 20 // ticks a marked thread may stay unmovable (parked) before the mark is dropped
	migratePageBytes         = 4096
)

type threadKey struct{ pid, tid uint64 }

// missWindow is one thread's misses in the current window, by span index.
type missWindow struct {
	byHome map[int]uint32
	total  uint32
}

// noteMiss counts an operation answered later on addr for a thread.
func (n *Node) noteMiss(pid, tid, addr uint64) {
	if n.cfg.MigrateMissesMin < 0 {
		return // migration off
	}
	k := threadKey{pid, tid}
	w := n.misses[k]
	if w == nil {
		if len(n.misses) >= missThreadsMax {
			return
		}
		w = &missWindow{byHome: map[int]uint32{}}
		n.misses[k] = w
	}
	region := int((addr &^ (1 << 63)) >> coherence.RegionShift)
	w.byHome[region]++
	w.total++
}

// missThreadsMax bounds the threads whose misses are counted per window.
const missThreadsMax = 1 << 16

// tickMigration ends a window every MigrateCheckTicks: it marks the threads
// worth moving and tries to move the marked ones.
func (n *Node) tickMigration() {
	if n.cfg.MigrateMissesMin < 0 {
		return
	}
	if n.ticks%n.cfg.MigrateCheckTicks == 0 {
		n.markMigrations()
	}
	n.tryMigrations()
}

func (n *Node) markMigrations() {
	for _, k := range sortedThreadKeys(n.misses) {
		w := n.misses[k]
		p, ok := n.procs[k.pid]
		if !ok || p.ending || w.total < uint32(n.cfg.MigrateMissesMin) {
			continue
		}
		region, most := -1, uint32(0)
		for r, c := range w.byHome {
			if c > most || (c == most && r < region) {
				region, most = r, c
			}
		}
		if region < 0 || region >= len(p.span) || most*4 < w.total*3 {
			continue
		}
		to := p.span[region]
		if to == n.cfg.ID || !n.aliveMember(to) {
			continue
		}
		n.migrating[k] = &migration{to: to, missBytes: uint64(w.total) * migratePageBytes}
	}
	clear(n.misses)
}

type migration struct {
	to        netmodel.NodeID
	missBytes uint64
	tries     int
}

func (n *Node) aliveMember(id netmodel.NodeID) bool {
	m := n.ms.members[id]
	return m != nil && m.rec.State == stateAlive && n.ms.dead[id] < m.rec.Incarnation
}

// tryMigrations detaches each marked thread that is between two
// instructions and not waiting for an answer, and moves it; one that is
// not is held (interp.Machine.Hold) for the next try.
func (n *Node) tryMigrations() {
	for _, k := range sortedThreadKeys(n.migrating) {
		mg := n.migrating[k]
		mg.tries++
		if mg.tries > migrateTriesMax {
			delete(n.migrating, k)
			n.unhold(k)
			continue
		}
		core := n.coreOf(k)
		if core < 0 {
			delete(n.migrating, k) // it ended, or moved already
			continue
		}
		n.cores.Do(core, func(m *interp.Machine) {
			img, err := m.Detach(k.pid, k.tid)
			if err != nil {
				// Parked or mid-operation (a scanner waits on the network
				// nearly all the time): held, it stops after its
				// operation, and the next tick finds it between two
				// instructions.
				_ = m.Hold(k.pid, k.tid)
				return
			}
			unlock := n.enterFromCore()
			defer unlock()
			n.moveThread(k, img, mg, m)
		})
	}
}

// unhold lets a thread whose migration was given up run again, on
// whichever core holds it.
func (n *Node) unhold(k threadKey) {
	for i := range n.cores.Len() {
		n.cores.Do(i, func(m *interp.Machine) { m.Unhold(k.pid, k.tid) })
	}
}

// enterFromCore takes the node's lock from a core's goroutine (parallel
// cores); in sequential mode the caller already runs under the node's
// control.
func (n *Node) enterFromCore() func() { return n.enter() }

// coreOf finds the core running a thread, or -1.
func (n *Node) coreOf(k threadKey) int {
	if n.cores.Parallel() {
		return n.coreHint(k)
	}
	for i, m := range n.machines {
		for _, tid := range m.ProcessThreads(k.pid) {
			if tid == k.tid {
				return i
			}
		}
	}
	return -1
}

// coreHint: with parallel cores the node cannot look into a running core;
// it asks each in turn (Detach fails harmlessly on the others).
func (n *Node) coreHint(k threadKey) int {
	mg := n.migrating[k]
	return mg.tries % n.cores.Len()
}

// moveThread sends a detached thread to mg.to, or puts it back when its
// image outweighs the traffic it would save.
func (n *Node) moveThread(k threadKey, img *interp.ThreadImage, mg *migration, m *interp.Machine) {
	delete(n.migrating, k)
	p, ok := n.procs[k.pid]
	if !ok || p.ending {
		img.Local.Release()
		return
	}
	putBack := func() {
		if err := m.AddThread(img); err != nil {
			panic(fmt.Sprintf("node %v: putting back thread %d of process %d: %v", n.cfg.ID, k.tid, k.pid, err))
		}
	}
	if img.Local.Lazy() {
		// Part of its local memory is still on the machine it was
		// spawned from: fetched first, so that it moves whole (the
		// thread waits off its core meanwhile).
		n.fetchAll(p, k.tid, img.Local, func(ok bool) {
			if q, live := n.procs[k.pid]; !ok || !live || q != p || p.ending {
				img.Local.Release()
				return
			}
			n.sendMigrant(p, k, img, mg, func() {
				if tr := n.addThreadHere(p, img, false); tr != sys.TrapNone {
					n.endFromHere(k.pid, kernel.Status{Trap: &interp.TrapError{PID: k.pid, TID: k.tid, PC: -1, Kind: tr, Detail: "putting back a thread that did not migrate"}})
				}
			})
		})
		return
	}
	n.sendMigrant(p, k, img, mg, putBack)
}

// sendMigrant sends a detached thread to mg.to, or puts it back when its
// image outweighs the traffic it would save.
func (n *Node) sendMigrant(p *procHere, k threadKey, img *interp.ThreadImage, mg *migration, putBack func()) {
	data := interp.EncodeImage(img)
	// Descriptors belong to the machine a thread runs on (docs/node.md,
	// "Storage"): a process with files open here keeps its threads here.
	if files := n.openFilesHere(k.pid); uint64(len(data))*2 > mg.missBytes || files > 0 {
		if files > 0 {
			markMigrateKeptForFiles.Hit()
		} else {
			markMigrateKeep.Hit()
		}
		putBack()
		return
	}
	img.Local.Release()
	markMigrated.Hit()
	n.stats.ThreadsMigrated++
	n.stats.MigratedImageBytes += int64(len(data))
	n.cfg.Record("thread %d of process %d moves to %v (%d image bytes, %d missed)", k.tid, k.pid, mg.to, len(data), mg.missBytes)
	to := mg.to
	n.request(to, &procMsg{kind: msgMigrate, pid: k.pid, tid: k.tid, data: data},
		func(r *procMsg) {
			if r.errno != replyOK {
				n.endFromHere(k.pid, lostThread(k, to, n.ms.dead[to], "refused the migrating thread"))
				return
			}
			n.threadMoved(p, k, to)
		},
		func() {
			markMigrateFailed.Hit()
			n.endFromHere(k.pid, lostThread(k, to, n.ms.dead[to], "died while the thread was moving to it"))
		})
}

// threadMoved tells the process's home where the thread runs now.
func (n *Node) threadMoved(p *procHere, k threadKey, to netmodel.NodeID) {
	if n.homeHere(p) {
		n.table.Moved(k.pid, k.tid, uint64(to))
		return
	}
	n.request(p.home, &procMsg{kind: msgMoved, pid: k.pid, tid: k.tid, where: uint64(to)}, func(*procMsg) {}, func() {})
}

// migratingGlobal counts the misses of each thread for migration. Hits
// need not be seen: it lets the interpreter reach held pages directly.
type migratingGlobal struct {
	sys.Global
	n   *Node
	pid uint64
}

// Table forwards the hot path of the memory it wraps, if it has one.
func (g *migratingGlobal) Table() *coherence.Table {
	if d, ok := g.Global.(interface{ Table() *coherence.Table }); ok {
		return d.Table()
	}
	return nil
}

func (g *migratingGlobal) note(c sys.Caller, addr uint64, now bool) {
	if !now {
		g.n.noteMiss(g.pid, c.TID, addr)
	}
}

func (g *migratingGlobal) Load(c sys.Caller, addr uint64, width uint8) (sys.Reply, bool) {
	r, now := g.Global.Load(c, addr, width)
	g.note(c, addr, now)
	return r, now
}

func (g *migratingGlobal) Store(c sys.Caller, addr uint64, width uint8, v uint64) (sys.Reply, bool) {
	r, now := g.Global.Store(c, addr, width, v)
	g.note(c, addr, now)
	return r, now
}

func (g *migratingGlobal) ReadBytes(c sys.Caller, addr, n uint64) (sys.Reply, bool) {
	r, now := g.Global.ReadBytes(c, addr, n)
	g.note(c, addr, now)
	return r, now
}

// lostThread is the status of a process whose thread died in a move.
func lostThread(k threadKey, to netmodel.NodeID, inc uint64, what string) kernel.Status {
	return kernel.Status{Lost: &kernel.LostError{PID: k.pid, Machine: uint64(to), Incarnation: inc, What: fmt.Sprintf("thread %d: machine %v %s", k.tid, to, what)}}
}

// sortedThreadKeys lists a map's threads in (pid, tid) order: never depend
// on map order.
func sortedThreadKeys[V any](m map[threadKey]V) []threadKey {
	keys := make([]threadKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].pid < keys[j].pid || keys[i].pid == keys[j].pid && keys[i].tid < keys[j].tid
	})
	return keys
}
