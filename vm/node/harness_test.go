package node

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

// cluster is a deterministic test world for nodes: a FIFO network that can
// drop and duplicate, ticks, and cores run in turn. (The simulator with
// every fault is the vm scenario; this is for focused tests.)
type cluster struct {
	mu       sync.Mutex // queue and started, which parallel cores reach too
	t        testing.TB
	rng      *rand.Rand
	nodes    map[netmodel.NodeID]*Node
	disks    map[netmodel.NodeID]diskmodel.FS
	ids      []netmodel.NodeID
	voters   []netmodel.NodeID
	queue    []envelope
	down     map[netmodel.NodeID]bool
	cut      map[[2]netmodel.NodeID]bool
	dropProb float64
	dupProb  float64
	started  map[[2]uint64]int // (pid, tid) → starts, for at-most-once
	bytes    int64             // payload bytes sent
	tweak    func(*Config)
	cores    int
	parallel bool
	burst    bool // deliver each step's messages with ReceiveBurst, then EndBurst, as the host does
	// express: the memory service's messages go to ReceiveExpress on a
	// goroutine of their own per step (as a transport's reader would),
	// concurrently with the step's other deliveries and ticks.
	express   bool
	expressed atomic.Int64
	memory    func(MemoryConfig) (Memory, error)
	step      int
	// filter, if set, sees every message before delivery: deliver false
	// drops it, dup delivers it twice (lazy_interaction_test.go).
	filter func(e envelope) (deliver, dup bool)
}

type envelope struct {
	from, to netmodel.NodeID
	payload  []byte
}

type clusterTransport struct {
	c    *cluster
	from netmodel.NodeID
}

func (t clusterTransport) Send(to netmodel.NodeID, payload []byte) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.queue = append(t.c.queue, envelope{from: t.from, to: to, payload: bytes.Clone(payload)})
	t.c.bytes += int64(len(payload))
}

func newCluster(t testing.TB, machines, voters int, seed uint64) *cluster {
	c := &cluster{t: t, rng: rand.New(rand.NewPCG(seed, 1)), nodes: map[netmodel.NodeID]*Node{},
		disks: map[netmodel.NodeID]diskmodel.FS{}, down: map[netmodel.NodeID]bool{}, cut: map[[2]netmodel.NodeID]bool{},
		started: map[[2]uint64]int{}, cores: 2, memory: newDelegateMem}
	for i := 1; i <= machines; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids[:voters]
	for _, id := range c.ids {
		c.disks[id] = c.newDisk(t)
		c.boot(id)
	}
	return c
}

// newClusterWith is newCluster with every node's Config adjusted by tweak;
// every machine is a metadata voter.
func newClusterWith(t testing.TB, machines int, tweak func(*Config)) *cluster {
	c := newCluster(t, 0, 0, 1)
	c.tweak = tweak
	for i := 1; i <= machines; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids
	for _, id := range c.ids {
		c.disks[id] = c.newDisk(t)
		c.boot(id)
	}
	return c
}

func (c *cluster) newDisk(t testing.TB) diskmodel.FS {
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return disk
}

// lockedBuffer is process output written from whichever goroutine the
// node's lock is held on.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (c *cluster) boot(id netmodel.NodeID) {
	cfg := Config{
		ID: id, Transport: clusterTransport{c: c, from: id}, Disk: c.disks[id], Rand: rand.New(rand.NewPCG(uint64(id), c.rng.Uint64())),
		Provide: Resources{Cores: c.cores, RAMBytes: 1 << 30, DiskBytes: 1 << 30}, Voters: c.voters, Memory: c.memory,
		OnThreadStart: func(pid, tid uint64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.started[[2]uint64{pid, tid}]++
		},
		ParallelCores: c.parallel,
		// Small: every boot writes it (TestMetaReserveOutlastsFullDisk
		// sets its own).
		MetaReserveBytes: 64 << 10,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		c.t.Fatalf("Open(node %v) = %v", id, err)
	}
	c.nodes[id] = n
	c.down[id] = false
	if c.parallel {
		n.StartCores()
		c.t.Cleanup(n.StopCores)
	}
}

func (c *cluster) crash(id netmodel.NodeID) {
	c.nodes[id].Close()
	delete(c.nodes, id)
	c.down[id] = true
}

// deliver hands every queued message to its node (in order, with drops and
// duplicates as set), then ticks every node every tickEvery steps and runs
// the cores.
func (c *cluster) run(steps int, tickEvery int) {
	for range steps {
		c.step++
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		var readers sync.WaitGroup
		q = c.offerExpress(q, &readers)
		for _, e := range q {
			n := c.nodes[e.to]
			if n == nil || c.cut[[2]netmodel.NodeID{e.from, e.to}] || c.rng.Float64() < c.dropProb {
				continue
			}
			dup := false
			if c.filter != nil {
				var deliver bool
				if deliver, dup = c.filter(e); !deliver {
					continue
				}
			}
			c.deliver(n, e)
			if dup {
				c.deliver(n, e)
			}
			if c.rng.Float64() < c.dupProb {
				c.deliver(n, e)
			}
		}
		if c.burst {
			for _, id := range c.ids {
				if n := c.nodes[id]; n != nil {
					n.EndBurst()
				}
			}
		}
		for _, id := range c.ids {
			if n := c.nodes[id]; n != nil && !c.parallel {
				n.RunCores(2000)
			}
		}
		if c.step%tickEvery == 0 {
			for _, id := range c.ids {
				if n := c.nodes[id]; n != nil {
					n.Tick()
				}
			}
		}
		readers.Wait()
	}
}

// offerExpress starts a reader goroutine that gives the memory service's
// messages of q to ReceiveExpress (c.express), and returns the others.
func (c *cluster) offerExpress(q []envelope, readers *sync.WaitGroup) []envelope {
	if !c.express {
		return q
	}
	var mem, rest []envelope
	for _, e := range q {
		h, _, err := DecodeHeader(e.payload)
		if n := c.nodes[e.to]; n != nil && err == nil && h.Service == ServiceMemory && !c.cut[[2]netmodel.NodeID{e.from, e.to}] {
			mem = append(mem, e)
		} else {
			rest = append(rest, e)
		}
	}
	nodes := make([]*Node, len(mem))
	for i, e := range mem {
		nodes[i] = c.nodes[e.to]
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for i, e := range mem {
			if !nodes[i].ReceiveExpress(e.from, e.payload) {
				c.t.Errorf("ReceiveExpress(%v, a memory message) = false, want true", e.from)
				return
			}
			c.expressed.Add(1)
		}
	}()
	return rest
}

// bootVoters boots machines 1..n, all voters with one core each, and
// waits until they have joined.
func (c *cluster) bootVoters(n int) {
	c.t.Helper()
	c.cores = 1
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids
	for _, id := range c.ids {
		c.disks[id] = c.newDisk(c.t)
		c.boot(id)
	}
	if !c.runUntil(c.allJoinedLocked, 40000) {
		c.t.Fatalf("nodes did not join")
	}
}

func (c *cluster) deliver(n *Node, e envelope) {
	if c.burst {
		n.ReceiveBurst(e.from, e.payload)
	} else {
		n.Receive(e.from, e.payload)
	}
}

// runUntil steps until cond holds or stepsMax steps have run.
func (c *cluster) runUntil(cond func() bool, stepsMax int) bool {
	for range stepsMax {
		if cond() {
			return true
		}
		c.run(1, 4)
	}
	return cond()
}

func (c *cluster) allJoined() bool {
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil && (!n.Joined() || len(n.ms.alive()) < c.liveCount()) {
			return false
		}
	}
	return true
}

func (c *cluster) liveCount() int {
	k := 0
	for _, id := range c.ids {
		if c.nodes[id] != nil {
			k++
		}
	}
	return k
}

// result of a program run through a node.
type runResult struct {
	pid     uint64
	started bool
	err     error
	ended   bool
	status  kernel.Status
	out     bytes.Buffer
}

func (c *cluster) start(on netmodel.NodeID, src string, args ...string) *runResult {
	c.t.Helper()
	prog, err := asm.Assemble("t.flasm", []byte(src), asm.Options{})
	if err != nil {
		c.t.Fatalf("assemble: %v", err)
	}
	r := &runResult{}
	c.nodes[on].Start(Run{Program: prog, Args: args, User: "root", Out: &r.out},
		func(pid uint64, err error) { r.pid, r.started, r.err = pid, true, err },
		func(pid uint64, st kernel.Status) { r.ended, r.status = true, st })
	return r
}

// answer is what a node's callback delivers, safe to read from the test
// while parallel cores run the callback on their goroutines.
type answer struct {
	mu   sync.Mutex
	done bool
	data []byte
	err  error
}

func (a *answer) set(data []byte, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done, a.data, a.err = true, data, err
}

func (a *answer) get() (bool, []byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done, a.data, a.err
}

// file runs a file operation through node on and waits for its answer;
// EAGAIN (the filesystem still starting) is tried again.
func (c *cluster) file(on netmodel.NodeID, op FileOp, user, path string, data []byte, change sys.AttrChange) ([]byte, error) {
	c.t.Helper()
	var got []byte
	var err error
	for range 50 {
		a := &answer{}
		c.nodes[on].File(op, user, path, data, change, a.set)
		if !c.runUntil(func() bool { done, _, _ := a.get(); return done }, 100000) {
			c.t.Fatalf("%v %s on %v did not answer\n%s", op, path, on, c.dump())
		}
		_, got, err = a.get()
		if fe := (*FileError)(nil); !errors.As(err, &fe) || fe.Errno != sys.EAGAIN {
			break
		}
		c.run(100, 4)
	}
	return got, err
}

// putFile stores a file through node on's filesystem, as user.
func (c *cluster) putFile(on netmodel.NodeID, user, path, content string) {
	c.t.Helper()
	if _, err := c.file(on, FilePut, user, path, []byte(content), sys.AttrChange{}); err != nil {
		c.t.Fatalf("PutFile(%s) on %v = %v", path, on, err)
	}
}

// readFile reads a file through node on's filesystem as user.
func (c *cluster) readFile(on netmodel.NodeID, user, path string) (string, error) {
	c.t.Helper()
	got, err := c.file(on, FileRead, user, path, nil, sys.AttrChange{})
	return string(got), err
}

func (c *cluster) threadsRanTwice() []string {
	var out []string
	keys := make([][2]uint64, 0, len(c.started))
	for k := range c.started {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]uint64) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1] - b[1])
	})
	for _, k := range keys {
		if c.started[k] > 1 {
			out = append(out, fmt.Sprintf("pid %d tid %d started %d times", k[0], k[1], c.started[k]))
		}
	}
	return out
}

// dump describes every node's waiting work, for a failing test's message.
func (c *cluster) dump() string {
	var b strings.Builder
	for _, id := range c.ids {
		n := c.nodes[id]
		if n == nil {
			fmt.Fprintf(&b, "%v: down\n", id)
			continue
		}
		fmt.Fprintf(&b, "%v: inc %d joined %v threads %d outbox %d starting %d procs %d mq %d stats %+v\n",
			id, n.inc, n.joined, n.Threads(), n.out.len(), len(n.starting), len(n.procs), n.mq.len(), n.stats)
		for _, pk := range n.cores.Parked() {
			fmt.Fprintf(&b, "  parked %v pid %d tid %d op %s\n", pk.Req, pk.PID, pk.TID, pk.Op)
		}
		n.out.pending.Ascend(func(r *outReq) bool {
			fmt.Fprintf(&b, "  out %v -> %v %s pid %d tid %d sends %d\n", r.id, r.to, r.msg.kind, r.msg.pid, r.msg.tid, r.sends)
			return true
		})
		if d, ok := n.mem.(*delegateMem); ok {
			for _, req := range sortedReqs(d.asked) {
				fmt.Fprintf(&b, "  mem asked %v -> %v\n", req, d.asked[req].to)
			}
			fmt.Fprintf(&b, "  mem pending %d\n", len(d.pending))
		}
	}
	return b.String()
}

func (c *cluster) totalThreads() int {
	k := 0
	for _, n := range c.nodes {
		k += n.Threads()
	}
	return k
}
