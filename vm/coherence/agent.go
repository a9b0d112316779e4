package coherence

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
	"github.com/google/btree"
)

const gbit = isa.GlobalBit

// Agent is one machine's memory agent (see the package doc). Every method
// runs on the goroutine that drives it.
type Agent struct {
	cfg  Config
	tick uint64
	seq  uint64 // the last request sequence used by this incarnation

	procs map[uint64]*process
	peers map[netmodel.NodeID]*peer
	grace graceState
	stats Stats

	requests   *btree.BTreeG[*request] // outstanding with a peer, by seq
	requestKey request                 // the key of a lookup in requests (a fresh one would be allocated)
	queued     []*request              // waiting for an in-flight slot, FIFO
	inFlight   int
	txnPages   *btree.BTreeG[*page] // home pages with a transaction open
	xferPages  *btree.BTreeG[*page] // pages with a transfer not yet acknowledged
	gracePages *btree.BTreeG[*page] // pages waiting for a grace period
	wakes      *btree.BTreeG[*pendingWake]

	remoteWaits  map[uint64]*remoteWait // this machine's WAITs queued at other homes, by request seq
	spaceWaiters []*page                // pages waiting for a cache slot, FIFO

	cacheBytes uint64 // frames of remote pages, and transfers' data
	homeBytes  uint64 // pages mapped in regions homed here
	lru        lruList
	parked     int // thread operations parked
	// unknownHomeIncs counts regions whose home's incarnation is not known.
	unknownHomeIncs int
	waiters         int // WAITs queued at this home

	encBody, encOne []byte // encoding scratch, reused across payloads
	recvMsgs        []msg  // decoding scratch of Receive, reused across payloads

	depth       int // nesting of public calls
	completions []completion
	dirty       []*peer
	holding     []*peer // peers with requests held until they answer (or the next tick)
}

func byPage(a, b *page) bool {
	if a.proc.pid != b.proc.pid {
		return a.proc.pid < b.proc.pid
	}
	return a.vpn < b.vpn
}

type completion struct {
	id sys.ReqID
	r  sys.Reply
}

// process is one process's global memory as this machine sees it.
type process struct {
	pid      uint64
	homes    []netmodel.NodeID
	homeIncs []uint64
	self     int // the region homed here, -1 if none
	table    *Table
	pages    map[uint64]*page
	heap     *mem.Heap // our region's allocator
	// mappedTop: offsets of our region below it are mapped.
	mappedTop  uint64
	regionLost []netmodel.NodeID // per region: lost with that machine
	lostBy     netmodel.NodeID   // the first machine whose loss cost this process memory
	waitq      map[uint64]*waitQueue
	global     *ProcessMemory
}

// New makes an agent.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:         cfg,
		procs:       map[uint64]*process{},
		peers:       map[netmodel.NodeID]*peer{},
		requests:    btree.NewG(16, func(x, y *request) bool { return x.seq < y.seq }),
		txnPages:    btree.NewG(16, byPage),
		xferPages:   btree.NewG(16, byPage),
		gracePages:  btree.NewG(16, byPage),
		wakes:       btree.NewG(16, wakeLess),
		remoteWaits: map[uint64]*remoteWait{},
	}
	return a, nil
}

// Config is the agent's configuration with defaults filled in.
func (a *Agent) Config() Config { return a.cfg }

// begin and end bracket every public call: output is flushed and answers
// delivered once, when the outermost call ends.
func (a *Agent) begin() { a.depth++ }

func (a *Agent) end() {
	a.depth--
	if a.depth > 0 {
		return
	}
	a.flush(a.buggify("coherence.hold"))
	if len(a.completions) == 0 {
		return
	}
	// A completer may call the agent again, whose own end delivers what
	// is queued by then: take from the front, then reuse the storage.
	buf := a.completions
	for len(a.completions) > 0 {
		c := a.completions[0]
		a.completions = a.completions[1:]
		a.cfg.Completer.Complete(c.id, c.r)
	}
	if len(a.completions) == 0 {
		clear(buf[:cap(buf)]) // delivered: pin no reply's data
		a.completions = buf[:0]
	}
}

// ProcessOptions describe a process's memory when it is added to a machine.
type ProcessOptions struct {
	// HomeIncarnations are the incarnations the homes had when the process
	// started, index by index with homes. A home whose incarnation is not
	// this one any more has lost its regions. Nil: learn them from the
	// first message (a home that restarted before then goes unnoticed
	// until membership reports it down).
	HomeIncarnations []uint64
}

// AddProcess makes the process's global memory usable on this machine.
// homes are the machines of its regions, fixed when the process starts and
// the same on every machine; this machine need not be one of them.
func (a *Agent) AddProcess(pid uint64, homes []netmodel.NodeID, opts ProcessOptions) error {
	a.begin()
	defer a.end()
	if _, dup := a.procs[pid]; dup {
		return fmt.Errorf("coherence: process %d already added", pid)
	}
	if len(homes) == 0 || len(homes) > 1<<(63-RegionShift) {
		return fmt.Errorf("coherence: process %d: %d homes", pid, len(homes))
	}
	if opts.HomeIncarnations != nil && len(opts.HomeIncarnations) != len(homes) {
		return fmt.Errorf("coherence: process %d: %d home incarnations for %d homes", pid, len(opts.HomeIncarnations), len(homes))
	}
	p := &process{
		pid:        pid,
		homes:      slices.Clone(homes),
		homeIncs:   make([]uint64, len(homes)),
		self:       -1,
		table:      newTable(a.cfg.PageBytes, len(homes)),
		pages:      map[uint64]*page{},
		regionLost: make([]netmodel.NodeID, len(homes)),
		waitq:      map[uint64]*waitQueue{},
	}
	if opts.HomeIncarnations != nil {
		copy(p.homeIncs, opts.HomeIncarnations)
	}
	for r, h := range homes {
		if h == 0 {
			return fmt.Errorf("coherence: process %d: home %d is machine 0", pid, r)
		}
		if h == a.cfg.Self && p.self < 0 {
			p.self = r
		}
	}
	if p.self >= 0 {
		base := uint64(p.self) << RegionShift
		p.heap = mem.NewHeap(base+isa.RODataBase, base+RegionBytes)
		p.mappedTop = base + isa.RODataBase
		if inc := p.homeIncs[p.self]; inc != 0 && inc != a.cfg.Incarnation {
			// This machine restarted since the process began: its regions
			// died with the earlier incarnation.
			p.regionLost[p.self] = a.cfg.Self
			p.lostBy = a.cfg.Self
		}
	}
	for r, h := range homes {
		switch {
		case h == a.cfg.Self:
			if p.homeIncs[r] == 0 {
				p.homeIncs[r] = a.cfg.Incarnation
			}
		case p.homeIncs[r] != 0:
			a.learnIncarnation(a.peer(h), p.homeIncs[r])
		default:
			a.unknownHomeIncs++
		}
	}
	p.global = &ProcessMemory{a: a, p: p}
	a.procs[pid] = p
	return nil
}

// RemoveProcess frees everything this machine holds of the process. Its
// parked operations are never answered (its threads are gone).
func (a *Agent) RemoveProcess(pid uint64) {
	a.begin()
	defer a.end()
	p, ok := a.procs[pid]
	if !ok {
		return
	}
	for _, pg := range p.sortedPages() {
		a.dropPage(pg)
	}
	a.dropRequests(func(rq *request) bool { return rq.proc == p })
	a.dropWakes(func(w *pendingWake) bool { return w.pid == pid })
	for _, q := range p.waitq {
		a.waiters -= len(q.ws)
	}
	if p.self >= 0 {
		a.homeBytes -= p.mappedTop - (uint64(p.self)<<RegionShift + isa.RODataBase)
	}
	for _, inc := range p.homeIncs {
		if inc == 0 {
			a.unknownHomeIncs--
		}
	}
	delete(a.procs, pid)
}

// Global is the process's memory as threads on this machine see it, or nil
// if the process was not added.
func (a *Agent) Global(pid uint64) sys.Global {
	p, ok := a.procs[pid]
	if !ok {
		return nil
	}
	return p.global
}

// Table is the process's hot path (see Table), or nil.
func (a *Agent) Table(pid uint64) *Table {
	if p, ok := a.procs[pid]; ok {
		return p.table
	}
	return nil
}

// NewCore registers an interpreter core that will use Tables from its own
// goroutine. With no core registered the agent assumes every Table access
// happens on its own goroutine, between its calls.
func (a *Agent) NewCore() *Core {
	c := &Core{g: &a.grace}
	a.grace.cores = append(a.grace.cores, c)
	return c
}

// LostMachine names the first machine whose loss cost the process memory
// (pages whose only copy was there, or regions homed there); ok false if
// none did.
func (a *Agent) LostMachine(pid uint64) (netmodel.NodeID, bool) {
	p, ok := a.procs[pid]
	if !ok || p.lostBy == 0 {
		return 0, false
	}
	return p.lostBy, true
}

// Tick advances the agent's clock by one tick: retransmissions come due,
// held batches leave, grace periods are checked.
func (a *Agent) Tick() {
	a.begin()
	defer a.end()
	a.tick++
	a.pollGrace()
	if a.buggify("coherence.evict") {
		a.evictOne()
	}
	a.spaceFreed()
	a.retransmit()
	// A tick releases every held batch, and what retransmit queued.
	for _, pr := range a.holding {
		pr.held = false
		a.markDirty(pr)
	}
	a.holding = a.holding[:0]
	for _, pr := range a.dirty {
		pr.open = pr.open[:0]
	}
}

// Poll finishes revocations whose grace period has passed. The node calls
// it after its cores' quanta; Tick and Receive poll too.
func (a *Agent) Poll() {
	a.begin()
	defer a.end()
	a.pollGrace()
}

func (a *Agent) sortedProcs() []*process {
	out := make([]*process, 0, len(a.procs))
	for _, p := range a.procs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(x, y *process) int { return cmp.Compare(x.pid, y.pid) })
	return out
}

func (p *process) sortedPages() []*page {
	out := make([]*page, 0, len(p.pages))
	for _, pg := range p.pages {
		out = append(out, pg)
	}
	slices.SortFunc(out, func(x, y *page) int { return cmp.Compare(x.vpn, y.vpn) })
	return out
}

// region is the region of a global offset, or -1 outside the process's.
func (p *process) region(off uint64) int {
	r := off >> RegionShift
	if r >= uint64(len(p.homes)) {
		return -1
	}
	return int(r)
}

// finish ends an operation with its reply: a delegated one answers its
// peer, a thread's is returned by its call or delivered at the end of this
// call.
func (a *Agent) finish(o *op, r sys.Reply) {
	if o.finished {
		panic(fmt.Sprintf("coherence: %v at %#x of process %d finished twice", o.kind, o.addr, o.proc.pid))
	}
	o.finished = true
	o.reply = r
	if o.parked {
		o.parked = false
		a.parked--
	}
	if o.origin != nil {
		a.replyOp(o, r)
		return
	}
	if !o.sync {
		a.completions = append(a.completions, completion{id: o.caller.Req, r: r})
	}
}

func (a *Agent) buggify(site string) bool { return a.cfg.Buggify != nil && a.cfg.Buggify(site) }

func (a *Agent) record(format string, args ...any) {
	if a.cfg.Record != nil {
		a.cfg.Record(format, args...)
	}
}

func (a *Agent) applied(o *op, addr uint64) {
	if a.cfg.OnApply != nil && o.kind.mutates() && !o.clearing {
		a.cfg.OnApply(Apply{Machine: a.cfg.Self, Req: o.caller.Req, PID: o.proc.pid, Addr: addr, Kind: o.kind.String()})
	}
}

// outstanding returns our outstanding request seq, if any.
func (a *Agent) outstanding(seq uint64) (*request, bool) {
	a.requestKey.seq = seq
	return a.requests.Get(&a.requestKey)
}
