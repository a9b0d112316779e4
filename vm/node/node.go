package node

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/cores"
	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Memory is the global memory of every process with threads on this node:
// the node's memory agent. It is driven like the node itself: Tick, Receive
// for messages of ServiceMemory, answers through the Completer it was made
// with, sends through the Transport it was made with.
type Memory interface {
	Tick()
	Receive(from netmodel.NodeID, payload []byte)
	// AddProcess installs a process whose global memory is spread over span
	// (the same list, in the same order, on every node of the span);
	// incarnations are the span members' incarnations when it started.
	AddProcess(pid uint64, span []netmodel.NodeID, incarnations []uint64, acct *mem.Account) error
	// Global is the process's memory as threads on this node see it.
	Global(pid uint64) sys.Global
	// RemoveProcess frees everything of the process held here.
	RemoveProcess(pid uint64)
	// MachineDown says an incarnation of a machine is dead: what only it
	// held is lost.
	MachineDown(id netmodel.NodeID, incarnation uint64)
	// LostMachine names the machine whose death lost memory of pid.
	LostMachine(pid uint64) (netmodel.NodeID, bool)
	// Poll runs after the cores' quanta: work the agent defers until no
	// core runs (revocations whose grace period has passed).
	Poll()
}

// MemoryConfig is what a Memory is made with.
type MemoryConfig struct {
	Self        netmodel.NodeID
	Incarnation uint64
	Transport   netmodel.Transport // prefixes the ServiceMemory header
	Completer   sys.Completer
	Rand        *rand.Rand
	RAMBytes    uint64 // the page cache's bound (what the machine provides)
	// Record receives rare protocol events for the trace.
	Record func(format string, args ...any)
}

// Config configures a Node. Zero limits take their defaults.
type Config struct {
	ID        netmodel.NodeID
	Transport netmodel.Transport
	Disk      diskmodel.FS
	Rand      *rand.Rand
	// Provide is what the machine lends the VM; Cores ≥ 1.
	Provide Resources
	// Voters are the metadata voters the VM was created with: they
	// bootstrap the group. Later the group's configuration follows the
	// membership (joining machines become learners, then voters as
	// needed); a node hosts a replica while it is a member.
	Voters []netmodel.NodeID
	// Memory makes the node's memory agent (at every start of an
	// incarnation).
	Memory func(MemoryConfig) (Memory, error)
	// Interp sets the cores' limits (Machine, Incarnation and Core are set
	// by the node).
	Interp interp.Config
	// ParallelCores runs each core on its own goroutine (StartCores); the
	// node then guards its state with a lock its public methods take.
	// Otherwise (the simulator) RunCores runs them in turn.
	ParallelCores bool
	// Wake, with parallel cores, asks the driver to call Drain soon; it
	// must not block. A core that finds work the node queued for itself
	// (answers, messages to itself: the metadata replica's, which sync its
	// WAL) then leaves it to the driver instead of doing it on its own
	// goroutine, so that no core stalls in a disk sync. Nil: the cores
	// drain it themselves after their slices.
	Wake func()
	// Offload, if set, runs a job on another goroutine and returns at once
	// (it may wait while its queue is full); the node takes the job's
	// completion at its next Drain and calls Wake. Chunk files are written
	// and synced through it, so no core calling into the machine waits for
	// a chunk's fsync. The Disk must then be safe for concurrent use. Nil:
	// inline (the simulator).
	Offload func(job func())
	// OffloadBackground, if set (with Offload), runs jobs no request
	// waits for (spare chunk files) on a goroutine of their own, so that
	// Offload's jobs never queue behind them. Nil: they go through Offload.
	OffloadBackground func(job func())
	// OffloadWAL, if set, runs the metadata replica's WAL fsyncs on a
	// goroutine of their own (raftkv's Config.SyncAsync): the driver goes
	// on with its other inputs (a chunk's put, a page's request) through
	// the fsync, and the replica finishes the Ready at the next Drain
	// after it. Nil: the fsync runs on the driver's goroutine, with the
	// lock released (parallel cores) or not.
	OffloadWAL func(job func())
	// LoopbackThroughTransport sends the node's messages to itself through
	// Transport instead of holding them for its next Tick. The simulator
	// sets it: there a disk sync returns at once and becomes durable later,
	// and only what travels through the machine's transport waits for the
	// disk work issued before it, so an answer to itself (a metadata or
	// chunk write acknowledged by the local replica) must travel too, or
	// it would be acted on before what it acknowledges is durable (the vm
	// sweep: a pid block reserved from the machine's own voter, used, then
	// lost with the voter's cut sync, and given out again). A production
	// driver's sync blocks until durable, so an in-process loopback is safe
	// there.
	LoopbackThroughTransport bool
	// MetaGroupCommit: the metadata replica only steps the messages of one
	// drain of the node's own queue (its sessions' requests to a local
	// leader, say) and handles raft's output once at the drain's end: one
	// WAL append and fsync for all of them, as for a ReceiveBurst. The
	// production host sets it; the simulator hands each message its own.
	MetaGroupCommit bool
	// MemoryBytesMax bounds each process's memory on this node; ThreadsMax
	// the live threads of a process homed here; BudgetTicks each process's
	// instruction budget per node (0: none).
	MemoryBytesMax uint64
	ThreadsMax     int
	BudgetTicks    int64
	// Diag receives what the user must see that is not a process's output
	// (a child's trap, a PSTART that failed to load).
	Diag io.Writer
	// Record, if set, receives facts worth tracing (the simulator hashes
	// them).
	Record func(format string, args ...any)
	// OnThreadStart, if set, is told every thread that starts running on
	// this node: a checker uses it to prove no thread runs twice.
	OnThreadStart func(pid, tid uint64)
	Bugs          Bugs

	// PlaceLocalPerCore: threads per core a node keeps before it spreads
	// new ones over the span (default 4).
	PlaceLocalPerCore int
	// Migration (migrate.go): every MigrateCheckTicks, a thread with at
	// least MigrateMissesMin misses mostly on one other machine's pages
	// moves there. MigrateMissesMin < 0 turns migration off.
	MigrateCheckTicks uint64
	MigrateMissesMin  int
	// LazyPinsMax bounds the local-memory snapshots this node keeps
	// pinned for threads it started elsewhere (lazy_local.go; default
	// 1024).
	LazyPinsMax int

	// Periods and limits, in ticks and counts.
	LeaseRenewTicks     uint64
	LeaseExpireTicks    uint64
	MembershipPollTicks uint64
	PrepareTicksMax     uint64 // how long a process start waits for span members
	OutboxMax           int
	InboxMax            int
	MetaQueueMax        int
	PIDBlock            uint64
	// Meta configures the metadata replica and client (ID, Peers, Disk,
	// Dir, Transport and Rand are set by the node).
	Meta       raftkv.Config
	MetaClient raftkv.ClientConfig
	// MetaReserveBytes is disk kept back for the metadata replica
	// (meta_reserve.go): a file made at boot and removed when the disk
	// fills, so that the metadata store goes on on a full disk. 0:
	// MetaReserveBytesDefault, at most a sixteenth of Provide.DiskBytes;
	// < 0: none.
	MetaReserveBytes int64
	// Storage configures the filesystem service (storage.go); Machine,
	// Incarnation, Machines, Disk, Dir, QuotaBytes (Provide.DiskBytes),
	// Transport, Meta and Rand are set by the node.
	Storage dfs.Config
}

// Defaults of Config.
const (
	LeaseRenewTicksDefault     = 10
	LeaseExpireTicksDefault    = 300
	MembershipPollTicksDefault = 10
	PrepareTicksMaxDefault     = 100
	OutboxMaxDefault           = 1 << 16
	InboxMaxDefault            = 1 << 16
	MetaQueueMaxDefault        = 4096
	PIDBlockDefault            = 1000
	ThreadsMaxDefault          = 100000
)

func (c *Config) withDefaults() error {
	set := func(p *uint64, d uint64) {
		if *p == 0 {
			*p = d
		}
	}
	set(&c.LeaseRenewTicks, LeaseRenewTicksDefault)
	set(&c.LeaseExpireTicks, LeaseExpireTicksDefault)
	set(&c.MembershipPollTicks, MembershipPollTicksDefault)
	set(&c.PrepareTicksMax, PrepareTicksMaxDefault)
	set(&c.PIDBlock, PIDBlockDefault)
	seti := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	seti(&c.OutboxMax, OutboxMaxDefault)
	seti(&c.InboxMax, InboxMaxDefault)
	seti(&c.MetaQueueMax, MetaQueueMaxDefault)
	seti(&c.ThreadsMax, ThreadsMaxDefault)
	seti(&c.PlaceLocalPerCore, placeLocalPerCoreDefault)
	seti(&c.LazyPinsMax, LazyPinsMaxDefault)
	set(&c.MigrateCheckTicks, MigrateCheckTicksDefault)
	if c.MigrateMissesMin == 0 {
		c.MigrateMissesMin = MigrateMissesMinDefault
	}
	var errs []error
	if c.ID == 0 {
		errs = append(errs, errors.New("field ID is zero"))
	}
	if c.Transport == nil || c.Disk == nil || c.Rand == nil || c.Memory == nil {
		errs = append(errs, errors.New("fields Transport, Disk, Rand and Memory are required"))
	}
	if c.Provide.Cores <= 0 {
		errs = append(errs, fmt.Errorf("Provide.Cores is %d, want at least 1", c.Provide.Cores))
	}
	if len(c.Voters) == 0 {
		errs = append(errs, errors.New("field Voters is empty"))
	}
	if c.LeaseExpireTicks <= 2*c.LeaseRenewTicks || c.LeaseExpireTicks <= 2*c.MembershipPollTicks {
		errs = append(errs, fmt.Errorf("LeaseExpireTicks %d must exceed twice LeaseRenewTicks %d and MembershipPollTicks %d",
			c.LeaseExpireTicks, c.LeaseRenewTicks, c.MembershipPollTicks))
	}
	if c.Diag == nil {
		c.Diag = io.Discard
	}
	if c.Record == nil {
		c.Record = func(string, ...any) {}
	}
	return errors.Join(errs...)
}

// nodeCore is the core number of requests the node makes itself (not on
// behalf of a thread).
const nodeCore = ^uint32(0)

// Node is one machine of a VM (docs/node.md). It is driven from one
// goroutine: Tick, Receive, RunCores and the client calls.
type Node struct {
	cfg     Config
	inc     uint64
	ticks   uint64
	failure error // non-nil: the node stopped for good (fail-stop)

	mu       sync.Mutex // the node's state, when cores run in parallel
	inBurst  bool       // in ReceiveBurst or a group-committed drain: the metadata replica only steps
	machines []*interp.Machine
	cores    *cores.Set
	// coresStarted: StartCores was called, so a rebirth starts the new
	// incarnation's cores too; retiredCores are earlier incarnations'
	// parallel cores, told to stop (StopCores waits for them).
	coresStarted bool
	retiredCores []*cores.Set
	coresNow     atomic.Pointer[cores.Set] // cores, for CoreTicks without the lock
	mem          Memory
	// directCores: parallel cores reach held global pages without the
	// node's lock (memory_direct.go).
	directCores bool
	fs          *nodeStorage // the filesystem (storage.go)
	reserve     metaReserve  // disk kept for the metadata replica (meta_reserve.go)
	meta        *metaReplica // nil unless this node is a voter
	client      *raftkv.Client
	mq          *metaQueue
	// clientMeta runs the client service's metadata operations (client_sessions.go).
	clientMeta *clientSessions
	ms         *membership
	joined     bool
	vs         voterState // the metadata group's configuration (membership_voters.go)
	// uninstalled: committed processes dropped here, the last
	// uninstalledMax of them, in uninstalledOrder (procs.go).
	uninstalled      map[uint64]bool
	uninstalledOrder []uint64

	leaseCount      uint64
	pidNext, pidEnd uint64 // the pid block in hand: [pidNext, pidEnd)
	pidWaiters      []func(uint64, error)
	offload         offloadQueue // completions of Offload's jobs (offload.go)
	records         procRecords  // p/<pid> records being written (proc_records.go)

	table      *kernel.Table        // processes homed here
	procs      map[uint64]*procHere // processes installed here
	starting   map[uint64]*startingProc
	jobs       map[uint64]*job
	out        *outbox
	in         *inbox
	nextSeq    uint64 // node-originated requests
	selfMsgs   [][]byte
	deferred   []func()
	misses     map[threadKey]*missWindow
	migrating  map[threadKey]*migration
	keptImages map[threadKey]keptImage // the planted bug RerunLostThreads only
	lazy       lazyState               // lazy local memory (lazy_local.go)
	stats      Stats
	clients    clientState // the client service (client*.go)
}

// Stats counts what a node did.
type Stats struct {
	MessagesIn, MessagesOut   int64
	Garbage                   int64 // payloads that did not decode
	StaleDropped              int64 // from dead or superseded incarnations
	Duplicates                int64 // requests answered again or dropped as already applied
	Retransmits               int64
	ThreadsStarted            int64
	ThreadsPlacedRemote       int64
	ThreadsMigrated           int64
	MigratedImageBytes        int64
	ThreadsSpawnedLazy        int64 // started elsewhere with their local memory left pinned here
	LocalPagesFetched         int64 // local-memory pages fetched from their source
	ProcessesStarted          int64
	ProcessesLost             int64
	MachinesDeclaredDead      int64
	Rejoins                   int64
	MetaErrors, MetaRetries   int64
	OutboxFull, InboxFull     int64
	MembershipRecordsRejected int64
	VoterChanges              int64 // configuration changes this node decided that applied
	MetaReserveReleases       int64 // times a full disk took the metadata reserve (meta_reserve.go)
	// Traffic with other machines by service (index: Service), headers
	// included; messages to itself are not counted.
	ServiceMessagesOut, ServiceBytesOut [numServices]int64
	ServiceMessagesIn, ServiceBytesIn   [numServices]int64
}

// Open starts a node: a new incarnation (durable before it speaks), the
// metadata replica if it is a voter, its cores, and its join.
func Open(cfg Config) (*Node, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	n := &Node{cfg: cfg}
	if err := n.boot(); err != nil {
		return nil, err
	}
	return n, nil
}

// boot builds every part of a fresh incarnation.
func (n *Node) boot() error {
	inc, err := nextIncarnation(n.cfg.Disk)
	if err != nil {
		return err
	}
	if inc > 1<<32-1 {
		return fmt.Errorf("%w: incarnation %d overflows request ids", ErrCorrupt, inc)
	}
	n.inc = inc
	n.cfg.Record("node %v incarnation %d", n.cfg.ID, inc)
	n.failStarts(inc)
	n.ms = newMembership()
	n.table = kernel.NewTable(kernel.Config{ThreadsMax: n.cfg.ThreadsMax}, n)
	n.procs = map[uint64]*procHere{}
	n.starting = map[uint64]*startingProc{}
	n.jobs = map[uint64]*job{}
	n.out = newOutbox(n.cfg.OutboxMax)
	n.in = newInbox(n.cfg.InboxMax)
	n.misses, n.migrating, n.keptImages = map[threadKey]*missWindow{}, map[threadKey]*migration{}, map[threadKey]keptImage{}
	n.lazy.init()
	n.joined, n.pidNext, n.pidEnd, n.pidWaiters = false, 0, 0, nil
	n.records = newProcRecords()
	if n.cores != nil && n.cores.Parallel() {
		// A rebirth (under the node's lock): the old cores may wait for
		// the lock in a call of a thread now lost, so they are told to
		// stop and not waited for; their calls find no process and are
		// dropped. StopCores waits for them.
		n.cores.StopAsync()
		n.retiredCores = append(n.retiredCores, n.cores)
	}
	n.machines = nil
	for i := range n.cfg.Provide.Cores {
		ic := n.cfg.Interp
		ic.Machine, ic.Incarnation, ic.Core = uint64(n.cfg.ID), uint32(inc), uint32(i)
		n.machines = append(n.machines, interp.NewMachine(ic))
	}
	n.cores = cores.New(n.machines, n.cfg.ParallelCores, &n.mu)
	n.coresNow.Store(n.cores)
	n.mem, err = n.cfg.Memory(MemoryConfig{
		Self: n.cfg.ID, Incarnation: inc, Transport: n.transport(ServiceMemory), Completer: n,
		Rand: n.cfg.Rand, RAMBytes: n.cfg.Provide.RAMBytes, Record: n.cfg.Record,
	})
	if err != nil {
		return fmt.Errorf("node: memory agent: %w", err)
	}
	n.registerDirectCores()
	n.bootReserve()
	if err := n.openMeta(); err != nil {
		return err
	}
	if err := n.openClientSessions(); err != nil {
		return err
	}
	if err := n.openStorage(); err != nil {
		return err
	}
	n.join()
	if n.coresStarted {
		n.startCores() // a rebirth: the new incarnation's cores run as the old ones did
	}
	return nil
}

// openMeta opens the metadata replica if this machine is (or may be) a
// member, and the client, pointed at the members known last
// (membership_voters.go).
func (n *Node) openMeta() error {
	if n.replicaAtBoot() {
		n.openReplica()
	}
	cc := n.cfg.MetaClient
	cc.Self, cc.Servers, cc.Transport, cc.Rand = n.cfg.ID, n.serversAtBoot(), n.transport(ServiceMetaServer), n.cfg.Rand
	if n.meta != nil && n.isVoter() && slices.Contains(cc.Servers, n.cfg.ID) {
		cc.ReadFrom = n.cfg.ID
	}
	c, err := raftkv.NewClient(cc)
	if err != nil {
		return fmt.Errorf("node: metadata client: %w", err)
	}
	n.client = c
	n.mq = &metaQueue{c: c, max: n.cfg.MetaQueueMax}
	return nil
}

// ID is the node's machine id.
func (n *Node) ID() netmodel.NodeID { return n.cfg.ID }

// Incarnation is the node's current incarnation.
func (n *Node) Incarnation() uint64 {
	defer n.enter()()
	return n.inc
}

// Err is why the node stopped for good (fail-stop), or nil.
func (n *Node) Err() error {
	defer n.enter()()
	return n.failure
}

// MetaFailure is why this node's metadata replica stopped for good
// (its persisted state is corrupt), or nil.
func (n *Node) MetaFailure() error {
	defer n.enter()()
	return n.metaFailure()
}

func (n *Node) metaFailure() error {
	if n.meta == nil {
		return nil
	}
	return n.meta.failStop
}

// Joined reports whether the node's membership record is committed.
func (n *Node) Joined() bool {
	defer n.enter()()
	return n.joined
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	defer n.enter()()
	return n.stats
}

// Tick advances the node's clock by one tick: timers of every part,
// retransmissions, leases and membership.
func (n *Node) Tick() {
	defer n.enter()()
	if n.failure != nil {
		return
	}
	n.ticks++
	n.drain()
	if n.meta != nil {
		// A replica that found its state corrupt stays down for good; the
		// rest of the machine goes on (a client of the other replicas).
		n.meta.tick()
	}
	n.tickReserve()
	n.client.Tick()
	n.mq.next()
	n.mem.Tick()
	n.tickStorage()
	n.clientMeta.tick()
	n.tickMembership()
	n.tickPIDs()
	n.tickProcRecords()
	n.tickStarts()
	n.tickMigration()
	n.tickLazy()
	n.retransmit()
	n.tickClients()
}

// Receive handles one message from a peer. Garbage is counted and dropped.
func (n *Node) Receive(from netmodel.NodeID, payload []byte) {
	defer n.enter()()
	n.receive(from, payload)
}

// ReceiveBurst is Receive for a driver that ends every burst of messages
// with EndBurst: the metadata replica only steps the burst's messages and
// handles raft's output for all of them at EndBurst, so one WAL append and
// one fsync cover every proposal and acknowledgement in it (group commit).
func (n *Node) ReceiveBurst(from netmodel.NodeID, payload []byte) {
	defer n.enter()()
	n.inBurst = true
	n.receive(from, payload)
	n.inBurst = false
}

// ReceiveExpress takes a machine's message of the memory service on the
// caller's goroutine (a transport's reader), as Receive would on the
// driver's, and reports true; it reports false, taking nothing, for any
// other message or when the cores do not run in parallel (the node has no
// lock then), and the caller gives the message to the driver as usual.
// The memory service is the one a waiting thread's progress hangs on, and
// it needs nothing of the driver's: its messages tolerate reordering with
// the other services' (as with every network message), and what the
// agent queues for the driver wakes it (Config.Wake).
func (n *Node) ReceiveExpress(from netmodel.NodeID, payload []byte) bool {
	if !n.cfg.ParallelCores {
		return false
	}
	h, _, err := DecodeHeader(payload)
	if err != nil || h.Service != ServiceMemory {
		return false
	}
	var buf [4]int
	cs, woken := n.receiveExpress(from, payload, buf[:0])
	for _, i := range woken {
		cs.RunHere(i)
	}
	return true
}

// receiveExpress is ReceiveExpress under the node's lock: it returns the
// cores the message gave work (a page a parked thread waited for), whose
// wakes it held back, for the caller to run once it released the lock
// (cores.Set.RunHere): the reader that brought the page runs the thread
// to its next miss itself, as one goroutine of a ping-pong would, rather
// than readying the core's goroutine (vm/cores/borrow.go says why).
func (n *Node) receiveExpress(from netmodel.NodeID, payload []byte, buf []int) (*cores.Set, []int) {
	defer n.enter()()
	if n.failure != nil {
		return nil, nil // down: lost, as at a crash
	}
	cs := n.cores
	cs.HoldWakes()
	n.receive(from, payload)
	n.mem.Poll()
	if n.queued() && n.cfg.Wake != nil {
		n.cfg.Wake()
	}
	return cs, cs.Held(buf)
}

// EndBurst handles the metadata replica's output of the burst that
// ReceiveBurst delivered, then sends the clients' output (FlushClients).
func (n *Node) EndBurst() {
	func() {
		defer n.enter()()
		if n.meta != nil && n.failure == nil {
			n.meta.flush()
		}
	}()
	n.FlushClients()
}

// syncAsync is the metadata replica's raftkv Config.SyncAsync: the fsync
// runs through Config.OffloadWAL and its done comes back as an input, at
// the next Drain, whatever the node's incarnation by then (the replica
// outlives incarnations; a replica closed meanwhile ignores it).
func (n *Node) syncAsync(fsync func() error, done func(error)) {
	n.offload.running.Add(1)
	n.cfg.OffloadWAL(func() {
		err := fsync()
		n.offload.push(offloaded{always: true, done: func() { done(err) }})
		n.offload.running.Add(-1)
		if n.cfg.Wake != nil {
			n.cfg.Wake()
		}
	})
}

// syncUnlocked runs a metadata replica's WAL fsync with the node's lock
// released when the cores run in parallel (every call into the replica
// holds it then), so that the cores' calls into the node do not wait for
// the disk; the replica takes what they bring meanwhile (raftkv's
// Config.SyncUnlocked).
func (n *Node) syncUnlocked(fsync func() error) error {
	if !n.cfg.ParallelCores {
		return fsync()
	}
	n.mu.Unlock()
	defer n.mu.Lock()
	return fsync()
}

func (n *Node) receive(from netmodel.NodeID, payload []byte) {
	if n.failure != nil {
		return
	}
	h, body, err := DecodeHeader(payload)
	if err != nil {
		n.stats.Garbage++
		return
	}
	// The metadata group is exempt: a raft member's identity is its machine
	// and its durable log, which survive restarts, and raft keeps itself
	// safe. Filtering it by membership could deadlock the store that
	// membership lives in (a voter declared dead could never be heard again
	// to learn so). Every other service drops dead incarnations.
	meta := h.Service == ServiceMetaServer || h.Service == ServiceMetaClient ||
		h.Service == ServiceStorageMeta || h.Service == ServiceStorageMetaReply
	if !n.ms.admits(from, h.Incarnation) && !meta {
		n.stats.StaleDropped++
		return
	}
	n.stats.MessagesIn++
	if from != n.cfg.ID {
		n.stats.ServiceMessagesIn[h.Service]++
		n.stats.ServiceBytesIn[h.Service] += int64(HeaderSize + len(body))
	}
	switch h.Service {
	case ServiceMetaServer:
		if n.meta != nil {
			n.meta.receive(uint64(from), body, n.inBurst)
		}
	case ServiceMetaClient:
		n.client.Receive(from, body)
		n.mq.next()
	case ServiceMemory:
		n.mem.Receive(from, body)
	case ServiceProcs:
		n.receiveProcs(from, body)
	case ServiceClient:
		n.receiveClientPeer(from, body)
	case ServiceStorage, ServiceStorageMeta, ServiceStorageMetaReply:
		n.receiveStorage(from, h.Service, body)
	default:
		n.stats.Garbage++
	}
}

// RunCores runs the interpreter cores for about ticksMax ticks in all, one
// quantum at a time in turn, and returns the ticks used (0: nothing could
// run). Sequential cores only: parallel ones run on their own (StartCores).
func (n *Node) RunCores(ticksMax int) int {
	if n.failure != nil {
		return 0
	}
	n.drain()
	used := n.cores.Run(ticksMax)
	n.mem.Poll()
	return used
}

// StartCores starts the cores on goroutines of their own (ParallelCores);
// StopCores stops them.
func (n *Node) StartCores() {
	defer n.enter()()
	n.coresStarted = true
	n.startCores()
}

func (n *Node) startCores() {
	n.cores.Start(func() {
		switch {
		case n.cfg.Wake == nil:
			n.drain()
		case n.queued():
			n.cfg.Wake()
		}
		n.mem.Poll()
	})
}

// StopCores stops parallel cores and waits for them. The caller must not
// hold the node's lock (a core may be waiting for it).
func (n *Node) StopCores() {
	unlock := n.enter()
	sets := append(n.retiredCores, n.cores)
	n.retiredCores = nil
	unlock()
	for _, s := range sets {
		if s != nil && s.Parallel() {
			s.Stop()
		}
	}
}

// Drain runs what the node queued for itself (answers, messages to
// itself) and polls the memory agent: with parallel cores, the driver's
// part of RunCores, called between its other inputs.
func (n *Node) Drain() {
	defer n.enter()()
	if n.failure != nil {
		return
	}
	n.drain()
	n.mem.Poll()
}

// enter takes the node's lock when its cores run in parallel; the caller
// defers the returned unlock.
func (n *Node) enter() func() {
	if !n.cfg.ParallelCores {
		return func() {}
	}
	n.mu.Lock()
	return n.mu.Unlock
}

// HasWork reports whether RunCores has something to do: a runnable thread,
// or messages and answers the node queued for itself.
func (n *Node) HasWork() bool {
	defer n.enter()()
	return n.failure == nil && (n.queued() || n.Runnable())
}

// CoreTicks is how many interpreter ticks this incarnation's cores have
// run. Safe from any goroutine without the node's lock (the counts are
// atomic), so it shows the cores' progress while the node is busy.
func (n *Node) CoreTicks() int64 {
	s := n.coresNow.Load()
	total := int64(0)
	for i := range s.Len() {
		total += s.CoreTicks(i)
	}
	return total
}

// CoreRoundsBorrowed is how many rounds this incarnation's cores ran on
// a transport's reader that brought their threads' pages (ReceiveExpress)
// instead of on their own goroutines. Safe without the node's lock.
func (n *Node) CoreRoundsBorrowed() int64 {
	s := n.coresNow.Load()
	total := int64(0)
	for i := range s.Len() {
		total += s.CoreRoundsBorrowed(i)
	}
	return total
}

// HasQueued reports whether the node queued work for itself (answers,
// messages to itself) that the next Drain runs.
func (n *Node) HasQueued() bool {
	defer n.enter()()
	return n.failure == nil && n.queued()
}

// queued: work the node queued for itself waits for a drain.
func (n *Node) queued() bool {
	return len(n.selfMsgs) > 0 || len(n.deferred) > 0 || n.offload.pending()
}

// Runnable reports whether some thread on some core can run.
func (n *Node) Runnable() bool { return n.cores.Runnable() }

// Threads is how many threads live on the node's cores.
func (n *Node) Threads() int { return n.cores.Threads() }

// Complete delivers the answer to request id: to the parked thread if it
// is one of this incarnation's cores, otherwise as a reply to the machine
// that asked (a remote JOIN or PWAIT answered by the process table).
func (n *Node) Complete(id sys.ReqID, r sys.Reply) {
	if id.Machine == uint64(n.cfg.ID) {
		if uint64(id.Incarnation) == n.inc {
			n.cores.Complete(id, r)
		}
		return
	}
	n.answerRemote(id, r)
}

// transport returns n's Transport for one service: it prefixes the header.
func (n *Node) transport(s Service) netmodel.Transport { return serviceTransport{n: n, s: s} }

type serviceTransport struct {
	n *Node
	s Service
}

func (t serviceTransport) Send(to netmodel.NodeID, payload []byte) {
	t.n.send(to, t.s, payload)
}

// SendCopy is Send: send copies payload behind the header, so the caller
// keeps it (netmodel.CopySender).
func (t serviceTransport) SendCopy(to netmodel.NodeID, payload []byte) {
	t.n.send(to, t.s, payload)
}

// metaServerTransport carries a metadata replica's messages: raft messages
// to its peers, replies to clients (which a client's node demultiplexes by
// service).
type metaServerTransport struct{ n *Node }

func (t metaServerTransport) Send(to netmodel.NodeID, payload []byte) {
	if t.n.sendMetaReply(to, payload) {
		return // to a filesystem session
	}
	s := ServiceMetaServer
	if raftkv.IsReply(payload) {
		s = ServiceMetaClient
	}
	t.n.send(to, s, payload)
}

func (n *Node) send(to netmodel.NodeID, s Service, payload []byte) {
	if to == n.cfg.ID && !n.cfg.LoopbackThroughTransport {
		// To itself: handled later, as if it came over the network, so
		// that no answer is ever given from inside the call that asked.
		n.loopback(s, payload)
		return
	}
	// The header's own buffer is full, so the append makes the one copy
	// the transport gets, and clears no memory it then overwrites (a page
	// of coherent memory travels this way).
	buf := AppendHeader(make([]byte, 0, HeaderSize), Header{Service: s, Incarnation: n.inc})
	buf = append(buf[:HeaderSize:HeaderSize], payload...)
	n.stats.MessagesOut++
	n.stats.ServiceMessagesOut[s]++
	n.stats.ServiceBytesOut[s] += int64(len(buf))
	if u, ok := n.cfg.Transport.(netmodel.UrgentSender); ok && s == ServiceMemory {
		// A thread waits on most of the memory service's messages (a page
		// asked for, its answer): written at once when the link is idle.
		u.SendUrgent(to, buf)
		return
	}
	n.cfg.Transport.Send(to, buf)
}

// loopback queues a message to self; the next Tick or RunCores delivers
// it, never the call that sent it.
func (n *Node) loopback(s Service, payload []byte) {
	if len(n.selfMsgs) >= loopbackMax {
		n.stats.OutboxFull++
		return // like a full link: the sender retries
	}
	buf := AppendHeader(nil, Header{Service: s, Incarnation: n.inc})
	n.selfMsgs = append(n.selfMsgs, append(buf, payload...))
}

// loopbackMax bounds the messages a node holds for itself.
const loopbackMax = 1 << 16

// later runs fn at the next Tick or RunCores: answers that are ready at
// once but must not be given inside the call that asked.
func (n *Node) later(fn func()) { n.deferred = append(n.deferred, fn) }

// drain delivers messages to self and runs deferred work, in order.
// What they queue meanwhile waits for the next drain.
func (n *Node) drain() {
	n.runOffloaded()
	deferred, msgs := n.deferred, n.selfMsgs
	n.deferred, n.selfMsgs = nil, nil
	for _, fn := range deferred {
		fn()
	}
	if !n.cfg.MetaGroupCommit || n.inBurst {
		for _, m := range msgs {
			n.receive(n.cfg.ID, m)
		}
		return
	}
	n.inBurst = true
	for _, m := range msgs {
		n.receive(n.cfg.ID, m)
	}
	n.inBurst = false
	if n.meta != nil && n.failure == nil {
		n.meta.flush()
	}
}

// Run is a job a client hands the node: a program to run as a process
// homed here.
type Run struct {
	Program *isa.Program
	Args    []string
	User    string
	Out     io.Writer
}

// job is a client's process homed here.
type job struct {
	pid  uint64
	done func(pid uint64, st kernel.Status)
}

// Start runs r as a new process homed on this node. started is called once
// the process runs (with its pid) or could not start (with an error);
// ended once it has ended, with its status.
func (n *Node) Start(r Run, started func(pid uint64, err error), ended func(pid uint64, st kernel.Status)) {
	defer n.enter()()
	n.start(r, started, ended)
}

func (n *Node) start(r Run, started func(pid uint64, err error), ended func(pid uint64, st kernel.Status)) {
	if n.failure != nil {
		started(0, fmt.Errorf("node %v: %w", n.cfg.ID, n.failure))
		return
	}
	n.startProcess(startReq{prog: r.Program, args: r.Args, user: r.User, out: r.Out}, func(pid uint64, err error) {
		if err == nil {
			n.jobs[pid] = &job{pid: pid, done: ended}
		}
		started(pid, err)
	})
}

// Status reports how a process homed here ended; ok is false while it
// runs or if it is not known here.
func (n *Node) Status(pid uint64) (kernel.Status, bool) {
	defer n.enter()()
	p, ok := n.table.Process(pid)
	if !ok {
		return kernel.Status{}, false
	}
	return p.Done()
}

// Close releases the node's files. The node must not be used afterwards.
func (n *Node) Close() {
	n.StopCores() // parallel cores first: they call into the node
	if n.meta != nil {
		n.meta.close()
	}
}

func nodeID(v uint64) netmodel.NodeID { return netmodel.NodeID(v) }

// lostHere is the status of a process lost because this node's own
// incarnation was declared dead.
func lostHere(pid uint64, id netmodel.NodeID, inc uint64) kernel.Status {
	return kernel.Status{Lost: &kernel.LostError{PID: pid, Machine: uint64(id), Incarnation: inc, What: "the process's home (declared dead)"}}
}

// ErrNoSuchProcess: Kill of a pid that is not running here.
var ErrNoSuchProcess = errors.New("node: no such process running here")

// Kill ends a process homed here (flock kill): its threads stop wherever
// they run, and whoever waits for it sees a kill trap.
func (n *Node) Kill(pid uint64) error {
	defer n.enter()()
	return n.kill(pid)
}

func (n *Node) kill(pid uint64) error {
	if !n.isRunning(pid) {
		return fmt.Errorf("process %d: %w", pid, ErrNoSuchProcess)
	}
	n.endProcess(pid, kernel.Status{Trap: &interp.TrapError{PID: pid, PC: -1, Kind: sys.TrapKilled}})
	return nil
}

// ProcessInfo describes a process homed here.
type ProcessInfo struct {
	PID, Parent uint64
	User        string
	Program     string
	Threads     int
	Done        bool
	Status      kernel.Status
}

// Processes lists the processes homed here, running or recently ended, in
// pid order (flock ps gathers them from every node).
func (n *Node) Processes() []ProcessInfo {
	defer n.enter()()
	return n.processes()
}

func (n *Node) processes() []ProcessInfo {
	var out []ProcessInfo
	for _, pid := range n.table.PIDs() {
		p, _ := n.table.Process(pid)
		st, done := p.Done()
		info := ProcessInfo{PID: pid, Parent: p.Parent, User: p.User, Threads: p.Live(), Done: done, Status: st}
		if p.Program != nil {
			info.Program = p.Program.File
		}
		out = append(out, info)
	}
	return out
}

// DeadMachines lists, in id order, the machines this node knows had an
// incarnation die (declared dead, or replaced by a restart).
func (n *Node) DeadMachines() []uint64 {
	defer n.enter()()
	var out []uint64
	for _, id := range n.ms.sortedIDs() {
		if n.ms.dead[id] > 0 {
			out = append(out, uint64(id))
		}
	}
	for id, inc := range n.ms.dead {
		if _, member := n.ms.members[id]; !member && inc > 0 {
			out = append(out, uint64(id))
		}
	}
	slices.Sort(out)
	return out
}

// View is what the node knows of the VM's machines: the incarnation it
// takes each live one to be at.
func (n *Node) View() map[netmodel.NodeID]uint64 {
	defer n.enter()()
	out := map[netmodel.NodeID]uint64{}
	for _, m := range n.ms.alive() {
		out[m.id] = m.rec.Incarnation
	}
	return out
}

// Summary is one line about the node's state, for failure reports.
func (n *Node) Summary() string {
	defer n.enter()()
	parked, waits := -1, "" // unknown while parallel cores run
	if !n.cores.Parallel() {
		pk := n.cores.Parked()
		parked = len(pk)
		for i, p := range pk {
			if i == 3 {
				waits += " ..."
				break
			}
			waits += fmt.Sprintf(" %s(pid %d tid %d)", p.Op, p.PID, p.TID)
		}
	}
	meta := "client"
	switch {
	case n.meta == nil:
	case n.meta.failStop != nil:
		meta = "replica fail-stopped"
	case n.meta.srv == nil:
		meta = "replica down"
	default:
		st := n.meta.srv.Status()
		meta = fmt.Sprintf("%v term %d leader %v commit %d applied %d", st.State, st.Term, st.Leader, st.Commit, st.Applied)
	}
	return fmt.Sprintf("inc=%d joined=%v alive=%d threads=%d parked=%d%s procs=%d starting=%d outbox=%d meta-queue=%d meta=[%s] fs=[%s] failure=%v",
		n.inc, n.joined, len(n.ms.alive()), n.Threads(), parked, waits, len(n.procs), len(n.starting), n.out.len(), n.mq.len(), meta, n.storageSummary(), n.failure)
}
