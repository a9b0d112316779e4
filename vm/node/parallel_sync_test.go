package node

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/cores"
	"github.com/flockvm/flock/vm/sys"
)

// TestCoresRunThroughSyncs: while the node's driver waits in a disk sync
// (a chunk file's, which it makes holding the node's lock, or the
// metadata replica's WAL, which it makes with the lock released), a core
// running its own code goes on running: every sync of a file write is held
// until the core has run ten more slices. It fails if a core waits for the
// node's lock after its slices (it did, for chunk syncs), or makes the
// sync itself (it did: its after-slice drain delivered the metadata
// replica's messages to itself, and the replica synced its WAL there).
func TestCoresRunThroughSyncs(t *testing.T) {
	g := newGatedNode(t, nil)
	c, n, disk, driverDone := g.c, g.n, g.disk, g.driverDone
	c.start(1, spinSource)
	if !c.runUntil(func() bool { return n.CoreTicks() > 0 }, 20000) {
		t.Fatalf("the spinning thread never ran")
	}
	ans := g.write()
	var held []string
	for answered := false; !answered; {
		select {
		case name := <-disk.held:
			held = append(held, name)
			if len(held) > heldSyncsMax {
				t.Fatalf("more than %d syncs for one file write: %v", heldSyncsMax, held)
			}
			before := n.CoreTicks()
			if !waitUntil(func() bool { return n.CoreTicks() >= before+10*cores.SliceTicks }, 10*time.Second) {
				buf := make([]byte, 1<<20)
				t.Logf("%s", buf[:runtime.Stack(buf, true)])
				t.Fatalf("the core ran %d ticks while the driver waited in the sync of %s, want %d",
					n.CoreTicks()-before, name, 10*cores.SliceTicks)
			}
			disk.release <- struct{}{}
		case answered = <-driverDone:
			driverDone <- answered // for the cleanup
		}
	}
	disk.closed.Store(false)
	if done, _, err := ans.get(); !done || err != nil {
		t.Fatalf("the write answered (%v, %v), want done and no error", done, err)
	}
	if !anyHasPrefix(held, "meta/") || !anyHasPrefix(held, "chunks/") {
		t.Errorf("syncs held: %v, want one of the metadata WAL (meta/) and one of a chunk file (chunks/)", held)
	}
}

// TestChunkSyncLeavesLockFree: with Config.Offload, a chunk file's write
// and sync run on the worker's goroutine, so while one is held the node's
// lock is free: a core's call into the machine (here the driver asking
// HasQueued, which takes the lock) does not wait for the fsync. Without
// Offload the driver syncs chunk files holding the lock, and it fails.
func TestChunkSyncLeavesLockFree(t *testing.T) {
	g := newGatedNode(t, func(cfg *Config) { cfg.Offload = func(job func()) { go job() } })
	n, disk, driverDone := g.n, g.disk, g.driverDone
	ans := g.write()
	chunkSyncs := 0
	for answered := false; !answered; {
		select {
		case name := <-disk.held:
			if chunkSyncs > heldSyncsMax {
				t.Fatalf("more than %d syncs for one file write", heldSyncsMax)
			}
			if strings.HasPrefix(name, "chunks/") {
				chunkSyncs++
				locked := make(chan struct{})
				go func() { n.HasQueued(); close(locked) }()
				select {
				case <-locked:
				case <-time.After(10 * time.Second):
					t.Fatalf("the node's lock stayed taken while the sync of %s was held", name)
				}
			}
			disk.release <- struct{}{}
		case answered = <-driverDone:
			driverDone <- answered
		}
	}
	disk.closed.Store(false)
	if done, _, err := ans.get(); !done || err != nil {
		t.Fatalf("the write answered (%v, %v), want done and no error", done, err)
	}
	if chunkSyncs == 0 {
		t.Errorf("no chunk file sync was held")
	}
	if got := n.fs.svc.Stats().WritesOffloaded; got == 0 {
		t.Errorf("dfs WritesOffloaded = 0, want the write's chunk through Offload")
	}
}

// gatedNode is a one-machine VM with one parallel core on a gatedDisk, as
// the host runs it (the cores leave what the node queued for itself to the
// driver: here the harness's steps, whose ticks drain it).
type gatedNode struct {
	c          *cluster
	n          *Node
	disk       *gatedDisk
	driverDone chan bool
	started    bool
}

func newGatedNode(t *testing.T, tweak func(*Config)) *gatedNode {
	c := newCluster(t, 0, 0, 1)
	c.parallel, c.cores = true, 1
	c.tweak = func(cfg *Config) {
		cfg.Wake = func() {}
		if tweak != nil {
			tweak(cfg)
		}
	}
	c.ids = []netmodel.NodeID{1}
	c.voters = c.ids
	g := &gatedNode{c: c, driverDone: make(chan bool, 1),
		disk: &gatedDisk{FS: c.newDisk(t), held: make(chan string), release: make(chan struct{}), opened: make(chan struct{})}}
	c.disks[1] = g.disk
	c.boot(1)
	// Cleanups run last first: this one, before the cores stop, lets
	// every sync through and waits for the driver, so that a failure does
	// not leave a core waiting on a lock held by a sync no one releases.
	t.Cleanup(func() {
		close(g.disk.opened)
		if g.started {
			<-g.driverDone
		}
	})
	if !c.runUntil(c.allJoinedLocked, 40000) {
		t.Fatalf("the node did not join")
	}
	g.n = c.nodes[1]
	return g
}

// write holds every sync from now on and starts a file write on a driver
// goroutine, which runs the steps that carry it and reports on driverDone.
func (g *gatedNode) write() *answer {
	g.disk.closed.Store(true)
	ans := &answer{}
	g.started = true
	go func() {
		g.n.File(FilePut, "root", "f", []byte("held"), sys.AttrChange{}, ans.set)
		g.driverDone <- g.c.runUntil(func() bool { done, _, _ := ans.get(); return done }, 100000)
	}()
	return ans
}

// heldSyncsMax bounds the syncs one file write may make (chunk, its
// directory, WAL, and whatever ticks bring meanwhile).
const heldSyncsMax = 64

const spinSource = `
main:
    JMP main
`

// gatedDisk is a disk whose syncs, once closed is set, each wait until the
// test releases them, announcing the file or directory on held first;
// none waits once opened is closed.
type gatedDisk struct {
	diskmodel.FS
	closed  atomic.Bool
	held    chan string
	release chan struct{}
	opened  chan struct{}
}

func (d *gatedDisk) OpenFile(name string, mode diskmodel.OpenMode) (diskmodel.File, error) {
	f, err := d.FS.OpenFile(name, mode)
	if err != nil {
		return nil, err
	}
	return gatedFile{File: f, d: d, name: name}, nil
}

func (d *gatedDisk) SyncDir(dir string) error {
	d.hold(dir + "/")
	return d.FS.SyncDir(dir)
}

func (d *gatedDisk) hold(name string) {
	if !d.closed.Load() {
		return
	}
	select {
	case d.held <- name:
	case <-d.opened:
		return
	}
	select {
	case <-d.release:
	case <-d.opened:
	}
}

type gatedFile struct {
	diskmodel.File
	d    *gatedDisk
	name string
}

func (f gatedFile) Sync() error {
	f.d.hold(f.name)
	return f.File.Sync()
}

// waitUntil polls cond every millisecond for at most d (real time: the
// cores run on goroutines of their own).
func waitUntil(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func anyHasPrefix(names []string, prefix string) bool {
	for _, s := range names {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestParallelCoresAfterRebirth: a node cut off until the VM declares it
// dead rejoins as a new incarnation, with new cores: those must run too.
// They did not (a rebirth made the new incarnation's cores and never
// started them, so every thread placed there waited forever: the cluster
// round's programs on machines of two cores hung).
func TestParallelCoresAfterRebirth(t *testing.T) {
	c := newClusterParallel(t, 3, 7, func(cfg *Config) { cfg.PlaceLocalPerCore = 1 })
	if !c.runUntil(c.allJoinedLocked, 40000) {
		t.Fatalf("nodes did not join")
	}
	const lost = netmodel.NodeID(3)
	inc := c.nodes[lost].Incarnation()
	for _, id := range c.ids {
		if id != lost {
			c.cut[[2]netmodel.NodeID{id, lost}], c.cut[[2]netmodel.NodeID{lost, id}] = true, true
		}
	}
	c.run(4*int(c.nodes[lost].LeaseExpireTicks()+100), 4)
	clear(c.cut)
	reborn := func() bool { return c.nodes[lost].Stats().Rejoins > 0 && c.allJoinedLocked() }
	if !c.runUntil(reborn, 100000) {
		t.Fatalf("%v did not rejoin after being cut off (rejoins %d)", lost, c.nodes[lost].Stats().Rejoins)
	}
	if got := c.nodes[lost].Incarnation(); got == inc {
		t.Fatalf("%v rejoined at incarnation %d, want a new one", lost, got)
	}

	out, ended, failure := runProgramParallelFor(t, c, readCounterProgram(t, 12, 20), 400_000)
	if !ended || failure != nil {
		t.Fatalf("program after the rebirth: ended %v, failure %v, output %q; %v: %s", ended, failure, out, lost, c.nodes[lost].Summary())
	}
	if out != "240\n" {
		t.Errorf("program after the rebirth printed %q, want 240", out)
	}
	if c.nodes[lost].CoreTicks() == 0 {
		t.Errorf("the reborn %v's cores ran no ticks: no thread went there, the test shows nothing", lost)
	}
}
