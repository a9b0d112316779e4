package scenarios

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/sys"
)

// The mem scenario: 3 to 7 machines, each running a coherence agent (one
// process's global memory, every machine a home) and synthetic threads that
// issue random word, byte, bulk, atomic, FENCE, WAIT/WAKE, ALLOC and FREE
// operations on hot and cold pages, with the seed's faults (crashes
// included: the scenario plays membership, reporting a crashed incarnation
// down after a drawn delay). Safety phase, Heal, then a liveness phase in
// which every thread finishes and wakers release every WAIT; then the
// checks of docs/memory.md §10.

const memScenarioName = "mem"

// memTick is the period of every agent's Tick (the node's).
const memTick = 10 * time.Millisecond

// Bounds of a mem run.
const (
	memPID             = 1
	memLivenessBound   = 30 * time.Second
	memCheckStepsMax   = 20_000_000
	memWakeEvery       = 10 * time.Millisecond
	memMembershipEvery = 5 * time.Millisecond
	memIDFirst         = 1
)

func init() {
	// Seed budgets: measured over seeds 0:500 (flock-sim -scenario mem
	// -seeds 0:500 -bug NAME -json), each at least twice the longest run
	// of seeds without a catch.
	// accept-stale-data: 106/500, first at 6, longest gap 30.
	// apply-retried-op-twice: 264/500, first at 1, longest gap 9.
	// evict-without-writeback: 144/500, first at 4, longest gap 21.
	// grant-before-acks: 244/500, first at 1, longest gap 8.
	// resurrect-lost-page: 98/500, first at 7, longest gap 35.
	// skip-invalidation: 487/500, first at 0, longest gap 1.
	budgets := map[string]int{
		"accept-stale-data":       60,
		"apply-retried-op-twice":  20,
		"evict-without-writeback": 45,
		"grant-before-acks":       20,
		"resurrect-lost-page":     70,
		"skip-invalidation":       10,
	}
	var bugs []Bug
	for _, name := range coherence.BugNames() {
		budget, ok := budgets[name]
		if !ok {
			panic(fmt.Sprintf("scenarios: coherence bug %q has no seed budget", name))
		}
		bugs = append(bugs, Bug{Name: name, Seeds: budget})
	}
	register(Scenario{
		Name:        memScenarioName,
		Description: "coherent global memory (vm/coherence): 3-7 machines, synthetic threads, every fault; linearizable words, fetch-add counters, FENCE order, WAIT/WAKE, at most once, losses only with crashes",
		Bugs:        bugs,
		Run:         runMem,
		SweepSeeds:  200,
		RequiredMarks: []string{
			"coherence/forwarded",
			"coherence/upgrade-lost-copy",
			"coherence/request-queued",
			"coherence/inval-crossed-data",
			"coherence/stale-data-refused",
			"coherence/fwd-before-data",
			"coherence/retransmit",
			"coherence/dup-request",
			"coherence/page-lost",
			"coherence/writeback-raced-fwd",
			"coherence/wake-remote",
			"coherence/stale-incarnation",
			"coherence/delegated",
			"coherence/evict-modified",
		},
	})
}

// memShape is what a seed draws besides faults and limits.
type memShape struct {
	machines  int
	threads   []int // per machine
	pageBytes int
	coldPages int // per home
	safety    time.Duration
	thinkMax  time.Duration
	policy    coherence.Policy
	detectMax time.Duration // membership reports a crashed incarnation within this
}

func drawMemShape(seed uint64) memShape {
	rng := sim.Stream(seed, "mem.shape", 0)
	s := memShape{
		machines:  3 + rng.IntN(5),
		pageBytes: []int{512, 1024, 4096}[rng.IntN(3)],
		coldPages: 1 + rng.IntN(6),
		safety:    2*time.Second + time.Duration(rng.Int64N(2000))*time.Millisecond,
		thinkMax:  time.Duration(1000*math.Pow(2, 8*rng.Float64())) * time.Microsecond,
		policy:    []coherence.Policy{coherence.AtomicsAdaptive, coherence.AtomicsAdaptive, coherence.AtomicsMigrate, coherence.AtomicsDelegate}[rng.IntN(4)],
		detectMax: time.Duration(5+rng.IntN(500)) * time.Millisecond,
	}
	for range s.machines {
		s.threads = append(s.threads, 2+rng.IntN(7))
	}
	return s
}

func (s memShape) String() string {
	return fmt.Sprintf("machines=%d threads=%v page=%dB cold-pages=%d safety=%v think<=%v atomics=%v detect<=%v",
		s.machines, s.threads, s.pageBytes, s.coldPages, s.safety, s.thinkMax, s.policy, s.detectMax)
}

// memLimits are the agents' bounds as drawn for a seed: small in a good
// share of seeds, so eviction, in-flight queues, retransmission backoff and
// delegation all run in the sweep.
type memLimits struct {
	cachePages      int
	inFlight        int
	retransmitTicks int
	retransmitMax   int
	hotTransfers    int
	hotWindowTicks  int
	drawn           *sim.Limits
}

func drawMemLimits(seed uint64) memLimits {
	lim := sim.DrawLimits(seed, "mem.limits", nil)
	l := memLimits{drawn: lim}
	l.cachePages = lim.Int("cache-pages", 4, 64, coherence.CacheBytesMaxDefault/512)
	l.inFlight = lim.Int("in-flight", 1, 64, coherence.InFlightMaxDefault)
	l.retransmitTicks = lim.Int("retransmit-ticks", 1, 16, coherence.RetransmitTicksDefault)
	l.retransmitMax = lim.Int("retransmit-ticks-max", l.retransmitTicks, 256, max(l.retransmitTicks, coherence.RetransmitTicksMaxDefault))
	l.hotTransfers = lim.Int("hot-transfers", 1, 16, coherence.HotTransfersDefault)
	l.hotWindowTicks = lim.Int("hot-window-ticks", 1, 200, coherence.HotWindowTicksDefault)
	return l
}

func (l memLimits) config(pageBytes int) coherence.Config {
	return coherence.Config{
		PageBytes:          pageBytes,
		CacheBytesMax:      uint64(l.cachePages) * uint64(pageBytes),
		InFlightMax:        l.inFlight,
		RetransmitTicks:    l.retransmitTicks,
		RetransmitTicksMax: l.retransmitMax,
		HotTransfers:       l.hotTransfers,
		HotWindowTicks:     l.hotWindowTicks,
	}
}

// memRun is one run: the world, the machines and everything observed.
type memRun struct {
	opts     Options
	shape    memShape
	lim      memLimits
	bugs     coherence.Bugs
	world    *sim.World
	faults   sim.FaultConfig
	machines []*memMachine
	homes    []netmodel.NodeID
	layout   memLayout
	obs      memObservations
	clock    memClock
	// downs are the incarnations membership has reported dead, by machine.
	downs map[netmodel.NodeID]uint64
	// pattern: what ALLOC cycles write (allocPattern); zeros: what a new
	// block reads (allZero).
	pattern, zeros []byte
	// crashedAt are the times each machine's incarnations ended.
	crashedAt map[netmodel.NodeID][]sim.Time
	final     memFinal
	surprises []string
}

func runMem(opts Options) (rep Report) {
	r := &memRun{opts: opts, shape: drawMemShape(opts.Seed), lim: drawMemLimits(opts.Seed),
		downs: map[netmodel.NodeID]uint64{}, crashedAt: map[netmodel.NodeID][]sim.Time{}}
	r.obs.init()
	rep = Report{Seed: opts.Seed, Scenario: memScenarioName, Bug: opts.Bug, Faults: map[string]int64{}}
	defer func() {
		if p := recover(); p != nil {
			rep.Result, rep.Failure = ResultFail, FailureSafety
			rep.Violation = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
			r.fillCounters(&rep)
		}
	}()
	if opts.Bug != "" {
		b, err := coherence.ParseBug(opts.Bug)
		if err != nil {
			panic(fmt.Sprintf("scenarios: %v", err))
		}
		r.bugs = b
	}
	faults := memFaults(sim.Swarm(opts.Seed, r.shape.machines))
	if opts.Pin != nil {
		opts.Pin(&faults)
	}
	if err := faults.Validate(); err != nil {
		panic(fmt.Sprintf("scenarios: pinned faults invalid: %v", err))
	}
	r.faults = faults
	rep.Config = r.shape.String() + " | " + r.lim.drawn.String() + " | " + faults.String()
	r.world = sim.NewWorld(sim.Config{Seed: opts.Seed, Faults: faults, Trace: opts.Trace, MessageKind: memMessageKind})
	r.start()
	r.world.RunUntil(sim.Time(r.shape.safety))
	r.world.Heal()
	r.startFinal()
	end := r.world.Now().Add(memLivenessBound)
	finished := r.world.RunWhile(func() bool { return !r.final.done() }, end)
	r.check(&rep, finished)
	r.fillCounters(&rep)
	return rep
}

// memFaults keeps the seed's network and machine faults and drops the disk
// ones: the scenario never touches a disk, so they could only be silent
// (TestSeedSweep checks that every fault kind switched on did something).
func memFaults(f sim.FaultConfig) sim.FaultConfig {
	f.DiskLoseUnsyncedProb, f.DiskTornWrites = 0, false
	f.DiskReadErrorProb, f.DiskWriteErrorProb, f.DiskCapacityBytes = 0, 0, 0
	f.BitRotEvery, f.BitRotFlipsMax, f.MaxRotMachines = 0, 0, 0
	f.CrashIOEvery = 0 // a crash aimed at disk I/O: there is none
	return f
}

// memMessageKind names a payload by its first message, for the network's
// per-kind counters.
func memMessageKind(payload []byte) string { return coherence.PayloadKind(payload) }

func (r *memRun) start() {
	for i := range r.shape.machines {
		id := netmodel.NodeID(memIDFirst + i)
		r.homes = append(r.homes, id)
		r.machines = append(r.machines, &memMachine{run: r, id: id, index: i})
	}
	for _, mm := range r.machines {
		r.world.AddMachine(mm.id, mm.boot)
	}
	r.world.After(memMembershipEvery, "mem.membership", r.membership)
}

// membership plays the membership service: an incarnation that crashed is
// reported down to every running agent after a drawn delay (and to every
// agent that starts later, at its start).
func (r *memRun) membership() {
	for _, mm := range r.machines {
		m := r.world.Machine(mm.id)
		dead := m.Incarnation()
		if m.Up() {
			dead--
		}
		if dead <= r.downs[mm.id] || mm.reporting >= dead {
			continue
		}
		r.noteCrash(mm, dead)
		mm.reporting = dead
		delay := time.Duration(mm.rng().Int64N(int64(r.shape.detectMax) + 1))
		id, inc := mm.id, dead
		r.world.After(delay, "mem.down", func() { r.reportDown(id, inc) })
	}
	r.world.After(memMembershipEvery, "mem.membership", r.membership)
}

func (r *memRun) reportDown(id netmodel.NodeID, inc uint64) {
	if inc <= r.downs[id] {
		return
	}
	r.downs[id] = inc
	r.world.Record(id, "mem: membership reports incarnation %d down", inc)
	for _, mm := range r.machines {
		if mm.id != id && mm.agent != nil && r.world.Machine(mm.id).Up() {
			mm.agent.MachineDown(id, inc)
		}
	}
}

func (r *memRun) surprise(format string, args ...any) {
	if len(r.surprises) < 20 {
		r.surprises = append(r.surprises, fmt.Sprintf(format, args...))
	}
}

func (r *memRun) fillCounters(rep *Report) {
	if r.world == nil {
		return
	}
	FillWorld(rep, r.world, r.faults)
	rep.Ops = r.obs.hist.Len()
}

// memClock turns virtual time into history times that keep the order of
// events within one instant.
type memClock struct {
	last sim.Time
	k    int64
}

func (c *memClock) at(now sim.Time) int64 {
	if now != c.last {
		c.last, c.k = now, 0
	}
	c.k++
	return int64(now)<<16 + min(c.k, 1<<16-1)
}

func (r *memRun) now() int64 { return r.clock.at(r.world.Now()) }

// noteCrash records, once per incarnation, that incarnation inc of mm has
// ended (seen by membership or by the next boot, whichever comes first:
// before any agent can learn of it).
func (r *memRun) noteCrash(mm *memMachine, inc uint64) {
	for mm.crashesNoted < inc {
		mm.crashesNoted++
		r.crashedAt[mm.id] = append(r.crashedAt[mm.id], r.world.Now())
	}
}

// crashedBefore reports whether machine id had an incarnation end at or
// before t.
func (r *memRun) crashedBefore(id netmodel.NodeID, t sim.Time) bool {
	return slices.ContainsFunc(r.crashedAt[id], func(c sim.Time) bool { return c <= t })
}

// statusLine describes what every agent still waits for, for failure
// reports.
func (r *memRun) statusLine() string {
	var parts []string
	for _, mm := range r.machines {
		if mm.agent == nil {
			parts = append(parts, fmt.Sprintf("%v: no agent", mm.id))
			continue
		}
		s := mm.agent.Stats()
		stuck := mm.agent.Stuck(memPID)
		if len(stuck) > 6 {
			stuck = append(stuck[:6], fmt.Sprintf("... %d more", len(stuck)-6))
		}
		parts = append(parts, fmt.Sprintf("%v: parked=%d in-flight=%d txns=%d xfers=%d %s", mm.id, s.ParkedOps, s.InFlight,
			s.TransactionsOpen, s.TransfersUnacked, strings.Join(stuck, "; ")))
	}
	return strings.Join(parts, "\n")
}

// memObservations is everything the threads saw, for the checks.
type memObservations struct {
	hist    checker.WordHistory
	applies map[memApplyKey]coherence.Apply // where each (request, address) took effect
	twice   []string
	// written are the unique values stored to words that never see a
	// fetch-add; reads there must return one of them or 0.
	written map[uint64]map[uint64]bool
	reads   []memRead
	fences  []memFenceObs
	counter map[uint64]*memCounter
	waits   map[uint64]*memWaitCount
	zeros   []string // new blocks that did not read as zeros
	losses  []memLoss
}

func (o *memObservations) init() {
	o.applies = map[memApplyKey]coherence.Apply{}
	o.written = map[uint64]map[uint64]bool{}
	o.counter = map[uint64]*memCounter{}
	o.waits = map[uint64]*memWaitCount{}
}

type memRead struct {
	addr, val uint64
	t         *memThread
	d         memDesc
}

type memFenceObs struct {
	pair       int
	flag, data uint64
	t          *memThread
}

type memCounter struct {
	acked, unknown uint64
	final          uint64
	finalKnown     bool
	lost           bool
}

type memWaitCount struct {
	woken, wakeCount, unknownWakes, queuedOrUnknown uint64
}

type memLoss struct {
	by netmodel.NodeID
	at sim.Time
	t  *memThread
	d  memDesc
}

// noteApply records where a thread request took effect.
type memApplyKey struct {
	req  sys.ReqID
	addr uint64
}

func (r *memRun) noteApply(ap coherence.Apply) {
	if op := r.issuedOp(ap.Req); op != nil {
		for _, prev := range op.applied {
			if prev.Addr == ap.Addr {
				r.appliedTwice(prev, ap)
				return
			}
		}
		op.applied = append(op.applied, ap)
		return
	}
	key := memApplyKey{ap.Req, ap.Addr} // not a thread's request
	if prev, dup := r.obs.applies[key]; dup {
		r.appliedTwice(prev, ap)
		return
	}
	r.obs.applies[key] = ap
}

func (r *memRun) appliedTwice(prev, ap coherence.Apply) {
	if len(r.obs.twice) < 10 {
		r.obs.twice = append(r.obs.twice, fmt.Sprintf("request %v (%s at %#x) applied on %v and again on %v", ap.Req, ap.Kind, ap.Addr, prev.Machine, ap.Machine))
	}
}

// issuedOp is the thread request id names, or nil: every machine keeps
// its requests by incarnation and sequence number, to the end of the run
// (an agent may run one after its thread gave up).
func (r *memRun) issuedOp(req sys.ReqID) *memOp {
	i := int(req.Machine) - memIDFirst
	if i < 0 || i >= len(r.machines) {
		return nil
	}
	mm := r.machines[i]
	if int(req.Incarnation) >= len(mm.issued) {
		return nil
	}
	ops := mm.issued[req.Incarnation]
	if req.Seq == 0 || req.Seq > uint64(len(ops)) {
		return nil
	}
	return ops[req.Seq-1]
}

// noteExecute claims, for the history operations of a request, the moment
// an agent ran them: the check tries that order before searching
// (checker.History.Claim).
func (r *memRun) noteExecute(ex coherence.Execute) {
	op := r.issuedOp(ex.Req)
	if op == nil {
		return
	}
	at := r.now()
	for i, in := range op.ins {
		if in.Addr >= ex.Addr && in.Addr < ex.End {
			r.obs.hist.Claim(op.ids[i], at)
			op.claimed = true
		}
	}
}

func lostBy(rep sys.Reply) netmodel.NodeID { return netmodel.NodeID(rep.Val) }
