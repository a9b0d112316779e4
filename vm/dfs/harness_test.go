package dfs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Addresses in the harness's network: raft servers are their machine ids
// (1 to 99), services 100+machine, metadata clients 1000*machine+slot.
const (
	serviceBase = 100
	clientBase  = 1000
	metaSlots   = 3
)

type hmsg struct {
	from, to netmodel.NodeID
	payload  []byte
}

// harness is a deterministic in-test VM: machines with simulated disks,
// each running a Service with its metadata clients, three of them a raft
// server of the metadata store, and a network that holds every message
// until the test delivers or drops it.
type harness struct {
	t       fataler
	seed    uint64
	ids     []uint64
	voters  []netmodel.NodeID
	opts    harnessOptions
	disks   map[uint64]diskmodel.FS
	crashes map[uint64]func() // a simulated disk's Crash
	servers map[uint64]*raftkv.Server
	svcs    map[uint64]*Service
	clients map[netmodel.NodeID]*raftkv.Client
	inc     map[uint64]uint32
	queue   []hmsg
	cut     map[[2]uint64]bool
	procs   map[int]*hproc
	held    map[msgKind]uint64 // service messages of these kinds (from this machine, 0: any) stay queued
	ticks   int
	out     *strings.Builder
	verbose bool
	opens   uint64
	workers map[uint64]*deferredDisk // deferDisk: each machine's, this boot's
	diskRng *rand.Rand
}

type harnessOptions struct {
	machines       int
	seed           uint64
	quotaBytes     uint64
	chunkSizeBytes int
	rootR          uint8
	bugs           Bugs
	faults         simdisk.Faults
	// dirs, if set, gives each machine a directory of the host: its disk
	// is then the OS's (osdisk), and crashes are not possible.
	dirs func(machine uint64) string
	// deferDisk: chunk files are written through a DiskWorker whose jobs
	// run at later ticks, in a seeded order, as a host's worker goroutine
	// would finish them.
	deferDisk bool
}

// deferredDisk is a DiskWorker holding its jobs until the harness runs them.
type deferredDisk struct {
	h    *harness
	m    uint64
	inc  uint32
	jobs []deferredJob
}

type deferredJob struct{ job, done func() }

func (d *deferredDisk) Do(job, done func()) { d.jobs = append(d.jobs, deferredJob{job, done}) }

// runSome runs about half of the queued jobs, picked by the harness's
// seeded draw, each job then its completion.
func (d *deferredDisk) runSome(rng *rand.Rand) {
	var keep []deferredJob
	for _, j := range d.jobs {
		if rng.IntN(2) == 0 {
			keep = append(keep, j)
			continue
		}
		j.job()
		j.done()
	}
	d.jobs = keep
}

func newHarness(t fataler, o harnessOptions) *harness {
	if o.machines == 0 {
		o.machines = 4
	}
	if o.quotaBytes == 0 {
		o.quotaBytes = 1 << 20
	}
	if o.chunkSizeBytes == 0 {
		o.chunkSizeBytes = 256
	}
	h := &harness{
		t: t, seed: o.seed, opts: o,
		disks: map[uint64]diskmodel.FS{}, crashes: map[uint64]func(){}, servers: map[uint64]*raftkv.Server{}, svcs: map[uint64]*Service{},
		clients: map[netmodel.NodeID]*raftkv.Client{}, inc: map[uint64]uint32{}, cut: map[[2]uint64]bool{},
		procs: map[int]*hproc{}, held: map[msgKind]uint64{},
		workers: map[uint64]*deferredDisk{}, diskRng: rand.New(rand.NewPCG(o.seed, 77)),
	}
	for i := 1; i <= o.machines; i++ {
		h.ids = append(h.ids, uint64(i))
		if i <= 3 {
			h.voters = append(h.voters, netmodel.NodeID(i))
		}
	}
	for _, m := range h.ids {
		if o.dirs != nil {
			d, err := osdisk.Open(o.dirs(m))
			if err != nil {
				t.Fatalf("osdisk.Open: %v", err)
			}
			h.disks[m] = d
		} else {
			d := simdisk.New(rand.New(rand.NewPCG(o.seed, m)), o.faults)
			h.disks[m], h.crashes[m] = d, d.Crash
		}
		h.boot(m)
	}
	return h
}

func (h *harness) logf(format string, args ...any) {
	if h.out != nil {
		fmt.Fprintf(h.out, format+"\n", args...)
	}
}

type harnessTransport struct {
	h    *harness
	from netmodel.NodeID
	to   func(netmodel.NodeID) netmodel.NodeID
}

func (tr harnessTransport) Send(to netmodel.NodeID, payload []byte) {
	if tr.to != nil {
		to = tr.to(to)
	}
	tr.h.queue = append(tr.h.queue, hmsg{from: tr.from, to: to, payload: payload})
}

// boot starts machine m: its raft server if it is a voter, its metadata
// clients and its Service.
func (h *harness) boot(m uint64) {
	h.t.Helper()
	h.opens++
	h.inc[m]++
	if m <= uint64(len(h.voters)) {
		srv, err := raftkv.Open(raftkv.Config{
			ID: netmodel.NodeID(m), Peers: h.voters, Disk: h.disks[m], Dir: "kv",
			Transport: harnessTransport{h: h, from: netmodel.NodeID(m)},
			Rand:      rand.New(rand.NewPCG(h.seed, m<<20|h.opens)), ElectionTicks: 10, HeartbeatTicks: 2,
		})
		if err != nil {
			h.t.Fatalf("raftkv.Open(%d): %v", m, err)
		}
		h.servers[m] = srv
	}
	var meta []MetaClient
	for slot := 1; slot <= metaSlots; slot++ {
		addr := netmodel.NodeID(clientBase*m + uint64(slot))
		c, err := raftkv.NewClient(raftkv.ClientConfig{
			Self: addr, Servers: h.voters, ReadFrom: h.readFrom(m), Transport: harnessTransport{h: h, from: addr},
			Rand: rand.New(rand.NewPCG(h.seed, uint64(addr)<<20|h.opens)), RequestTimeoutTicks: 20, AttemptsMax: 10,
		})
		if err != nil {
			h.t.Fatalf("NewClient: %v", err)
		}
		h.clients[addr] = c
		meta = append(meta, c)
	}
	var machines []netmodel.NodeID
	for _, id := range h.ids {
		machines = append(machines, netmodel.NodeID(id))
	}
	var worker DiskWorker
	delete(h.workers, m) // jobs of an earlier boot are lost with it
	if h.opts.deferDisk {
		w := &deferredDisk{h: h, m: m, inc: h.inc[m]}
		h.workers[m], worker = w, w
	}
	svc, err := New(Config{
		DiskWorker: worker,
		Machine:    netmodel.NodeID(m), Incarnation: h.inc[m], Machines: machines,
		Disk: h.disks[m], Dir: "fs", QuotaBytes: h.opts.quotaBytes,
		Transport: harnessTransport{h: h, from: serviceBase + netmodel.NodeID(m), to: func(to netmodel.NodeID) netmodel.NodeID { return serviceBase + to }},
		Meta:      meta, Rand: rand.New(rand.NewPCG(h.seed, m<<40|h.opens)),
		ChunkSizeBytes: h.opts.chunkSizeBytes, RootRedundancy: h.opts.rootR, Bugs: h.opts.bugs,
		RepairEveryTicks: 50, OrphanTicks: 400, GraceTicks: 100,
	})
	if err != nil {
		h.t.Fatalf("New(%d): %v", m, err)
	}
	h.svcs[m] = svc
}

func (h *harness) readFrom(m uint64) netmodel.NodeID {
	if m <= uint64(len(h.voters)) {
		return netmodel.NodeID(m)
	}
	return 0
}

// crash stops machine m, losing its memory (processes on it too) and what
// its disk had not synced.
func (h *harness) crash(m uint64) {
	if s := h.servers[m]; s != nil {
		s.Close()
	}
	delete(h.servers, m)
	delete(h.svcs, m)
	delete(h.workers, m) // its jobs never ran: the crash came first
	for slot := 1; slot <= metaSlots; slot++ {
		delete(h.clients, netmodel.NodeID(clientBase*m+uint64(slot)))
	}
	for id, p := range h.procs {
		if p.m == m {
			delete(h.procs, id)
		}
	}
	h.crashes[m]()
}

func (h *harness) tick() {
	h.ticks++
	for _, m := range h.ids {
		if s := h.servers[m]; s != nil {
			s.Tick()
		}
		if svc := h.svcs[m]; svc != nil {
			svc.Tick()
		}
		if w := h.workers[m]; w != nil {
			w.runSome(h.diskRng)
		}
	}
}

// deliverAt delivers (or loses) the i-th queued message.
func (h *harness) deliverAt(i int) {
	msg := h.queue[i]
	h.queue = slices.Delete(h.queue, i, i+1)
	fm, tm := machineOf(msg.from), machineOf(msg.to)
	lost := h.cut[[2]uint64{fm, tm}]
	if h.verbose && msg.to >= serviceBase && msg.to < clientBase {
		suffix := ""
		if lost {
			suffix = " (dropped)"
		}
		h.logf("%s%s", describeMsg(fm, tm, msg.payload), suffix)
	}
	if lost {
		return
	}
	switch {
	case msg.to < serviceBase:
		if s := h.servers[uint64(msg.to)]; s != nil {
			s.Receive(msg.from, msg.payload)
		}
	case msg.to < clientBase:
		if s := h.svcs[tm]; s != nil {
			s.Receive(netmodel.NodeID(fm), msg.payload)
		}
	default:
		if c := h.clients[msg.to]; c != nil {
			c.Receive(msg.from, msg.payload)
		}
	}
}

func machineOf(addr netmodel.NodeID) uint64 {
	switch {
	case addr < serviceBase:
		return uint64(addr)
	case addr < clientBase:
		return uint64(addr - serviceBase)
	}
	return uint64(addr) / clientBase
}

func (h *harness) deliverAll() {
	for i := 0; ; i++ {
		if i > 1_000_000 {
			h.t.Fatalf("network never quiet: %d messages queued", len(h.queue))
		}
		j := h.nextDeliverable()
		if j < 0 {
			return
		}
		h.deliverAt(j)
	}
}

// nextDeliverable is the first queued message not held, -1 if none.
func (h *harness) nextDeliverable() int {
	for i, m := range h.queue {
		if !h.isHeld(m) {
			return i
		}
	}
	return -1
}

func (h *harness) isHeld(m hmsg) bool {
	if len(h.held) == 0 || m.to < serviceBase || m.to >= clientBase || len(m.payload) < 2 {
		return false
	}
	from, ok := h.held[msgKind(m.payload[1])]
	return ok && (from == 0 || machineOf(m.from) == from)
}

func (h *harness) run(ticks int) {
	for i := 0; i < ticks; i++ {
		h.tick()
		h.deliverAll()
	}
}

// describeMsg renders a message of the service for traces.
func describeMsg(from, to uint64, payload []byte) string {
	m, err := decodeMessage(payload)
	if err != nil {
		return fmt.Sprintf("m%d->m%d garbage: %v", from, to, err)
	}
	s := fmt.Sprintf("m%d->m%d %v", from, to, m.kind)
	switch m.kind {
	case msgPut:
		base := "full"
		if !m.baseGen.IsZero() {
			base = "patch@" + short(m.baseGen)
		}
		s += fmt.Sprintf(" %s v%d %s off=%d len=%d data=%d", refString(m.ref), m.version, base, m.off, m.length, len(m.data))
	case msgPutAck, msgCopyAck:
		s += fmt.Sprintf(" %s %v", refString(m.ref), m.status)
	case msgGet:
		s += " " + refString(m.ref)
	case msgGetAck:
		s += fmt.Sprintf(" %s %v data=%d", refString(m.ref), m.status, len(m.data))
	case msgCopy:
		s += fmt.Sprintf(" %s v%d from %v", refString(m.ref), m.version, m.sources)
	case msgProbe:
		s += fmt.Sprintf(" %d items", len(m.items))
	case msgProbeAck:
		s += fmt.Sprintf(" bad %v", m.bad)
	case msgGone:
		s += " " + short(m.ref.ino)
	}
	return s
}

// short names an id by its machine and counter, enough in a test.
func short(id ID) string { return fmt.Sprintf("%d.%d.%d", id.Machine, id.Inc, id.N) }

func refString(r chunkRef) string { return fmt.Sprintf("%s/%d@%s", short(r.ino), r.idx, short(r.gen)) }

// hproc is a process: a Storage view and the answers it got.
type hproc struct {
	m       uint64
	pid     uint64
	user    string
	view    *Storage
	seq     uint64
	replies map[sys.ReqID]sys.Reply
}

func (p *hproc) Complete(id sys.ReqID, r sys.Reply) {
	if _, dup := p.replies[id]; dup {
		panic(fmt.Sprintf("request %v answered twice", id))
	}
	p.replies[id] = r
}

func (h *harness) proc(id int, m uint64, user string) *hproc {
	p := &hproc{m: m, pid: uint64(id), user: user, replies: map[sys.ReqID]sys.Reply{}}
	p.view = h.svcs[m].Storage(p.pid, user, p)
	h.procs[id] = p
	return p
}

func (p *hproc) caller() sys.Caller {
	p.seq++
	return sys.Caller{PID: p.pid, TID: 1, User: p.user, Req: sys.ReqID{Machine: p.m, Incarnation: 1, Seq: p.seq}}
}

// start begins an operation; its answer is collected by await.
func (h *harness) start(p *hproc, op func(sys.Caller) (sys.Reply, bool)) sys.ReqID {
	c := p.caller()
	if r, now := op(c); now {
		p.replies[c.Req] = r
	}
	return c.Req
}

// await runs the world until the operation is answered (bounded).
func (h *harness) await(p *hproc, req sys.ReqID, ticksMax int) (sys.Reply, bool) {
	for i := 0; i < ticksMax; i++ {
		if r, ok := p.replies[req]; ok {
			delete(p.replies, req)
			return r, true
		}
		h.tick()
		h.deliverAll()
	}
	r, ok := p.replies[req]
	delete(p.replies, req)
	return r, ok
}

// do runs one operation to its answer.
func (h *harness) do(p *hproc, op func(sys.Caller) (sys.Reply, bool)) sys.Reply {
	h.t.Helper()
	r, ok := h.await(p, h.start(p, op), 5000)
	if !ok {
		h.t.Fatalf("operation of process %d not answered in 5000 ticks", p.pid)
	}
	return r
}

var errnoNames = map[sys.Errno]string{
	sys.ENOENT: "ENOENT", sys.EIO: "EIO", sys.EBADF: "EBADF", sys.EAGAIN: "EAGAIN", sys.EACCES: "EACCES",
	sys.EEXIST: "EEXIST", sys.ENOTDIR: "ENOTDIR", sys.EISDIR: "EISDIR", sys.EINVAL: "EINVAL", sys.EMFILE: "EMFILE",
	sys.EFBIG: "EFBIG", sys.ENOSPC: "ENOSPC", sys.ENAMETOOLONG: "ENAMETOOLONG", sys.ENOTEMPTY: "ENOTEMPTY",
}

// describeReply renders an answer: -ERRNO, or the value and data.
func describeReply(r sys.Reply) string {
	if v := int64(r.Val); v < 0 {
		if name, ok := errnoNames[sys.Errno(-v)]; ok {
			return "-" + name
		}
		return fmt.Sprint(v)
	}
	if r.Data != nil {
		return fmt.Sprintf("%d %q", r.Val, r.Data)
	}
	return fmt.Sprint(r.Val)
}

// godTick runs only the metadata store and the harness's own client for
// a tick, so that looking does not disturb the machines: their messages
// stay queued and their services do not tick.
func (h *harness) godTick(c *raftkv.Client) {
	c.Tick()
	for _, m := range h.ids {
		if s := h.servers[m]; s != nil {
			s.Tick()
		}
	}
	for i := 0; i < 100000; i++ {
		j := slices.IndexFunc(h.queue, func(m hmsg) bool {
			return (m.to < serviceBase || m.to == godAddr) && (m.from < serviceBase || m.from == godAddr)
		})
		if j < 0 {
			return
		}
		h.deliverAt(j)
	}
}

// godAddr is the metadata client the harness reads the store with.
const godAddr = clientBase*99 + 1

// scan reads every key under prefix, linearizably, through the harness's
// own client (the god view tests and checks use).
func (h *harness) scan(prefix string) []raftkv.KV {
	h.t.Helper()
	c := h.clients[godAddr]
	if c == nil {
		var err error
		c, err = raftkv.NewClient(raftkv.ClientConfig{Self: godAddr, Servers: h.voters, Transport: harnessTransport{h: h, from: godAddr},
			Rand: rand.New(rand.NewPCG(h.seed, 99)), RequestTimeoutTicks: 20, AttemptsMax: 10})
		if err != nil {
			h.t.Fatalf("NewClient: %v", err)
		}
		h.clients[godAddr] = c
	}
	var out []raftkv.KV
	from := prefix
	for page := 0; page < 1000; page++ {
		var res *raftkv.Result
		if err := c.Ranges([]raftkv.Range{{Start: from, End: raftkv.PrefixRange(prefix, 1).End, Limit: 1000}},
			func(r raftkv.Result) { res = &r }); err != nil {
			h.t.Fatalf("Ranges: %v", err)
		}
		for i := 0; res == nil && i < 5000; i++ {
			h.godTick(c)
		}
		if res == nil || res.Err != nil {
			h.t.Fatalf("scan of %q: %+v", prefix, res)
		}
		out = append(out, res.Pairs...)
		if !res.More {
			return out
		}
		from = res.Pairs[len(res.Pairs)-1].Key + "\x00"
	}
	h.t.Fatalf("scan of %q: too many pages", prefix)
	return nil
}
