package scenarios

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/sys"
)

// BenchmarkMemScenario runs one seed of the mem scenario per iteration
// (seeds 0, 1, 2, ...) and reports time compression (simulated time per
// wall time, and per CPU time of the process, which a loaded machine does
// not distort), simulated events and checked operations per wall second,
// and seeds per minute on one core.
func BenchmarkMemScenario(b *testing.B) { benchScenario(b, memScenarioName) }

// memBench is a fault-free cluster of agents whose threads issue
// fetch-adds back to back, for the contention benchmarks. Each machine has
// one core that runs its runnable threads in turn, each operation costing
// memBenchOpCost of the core's time (as the interpreter's green threads
// would); a thread whose operation parks waits for its answer.
type memBench struct {
	world    *sim.World
	agents   []*coherence.Agent
	homes    []netmodel.NodeID
	words    []uint64
	ops      int64 // fetch-adds answered inside the measured window
	counting bool
	seq      uint64
}

// memBenchOpCost is the core time of one loop iteration of a thread.
const memBenchOpCost = time.Microsecond

// memBenchResult is what one benchmark run measured.
type memBenchResult struct {
	ops, payloads, msgs int64
	simDur              time.Duration
}

// memBenchCore is one machine's core: a run queue of threads (each a
// number) and whether a step is scheduled.
type memBenchCore struct {
	mb       *memBench
	m        *sim.Machine
	a        *coherence.Agent
	runnable []int
	parked   map[sys.ReqID]int
	armed    bool
	rng      *rand.Rand
}

func (c *memBenchCore) Complete(id sys.ReqID, r sys.Reply) {
	if t, ok := c.parked[id]; ok {
		delete(c.parked, id)
		c.mb.answered()
		c.runnable = append(c.runnable, t)
		c.arm()
	}
}

func (c *memBenchCore) arm() {
	if !c.armed && len(c.runnable) > 0 {
		c.armed = true
		c.m.After(memBenchOpCost, "bench.core", c.step)
	}
}

// step runs the next runnable thread's fetch-add.
func (c *memBenchCore) step() {
	c.armed = false
	t := c.runnable[0]
	c.runnable = c.runnable[1:]
	w := c.mb.words[c.rng.IntN(len(c.mb.words))]
	caller := c.mb.caller(c.m.ID())
	if _, now := c.a.Global(memPID).FetchAdd(caller, w, 1); now {
		c.mb.answered()
		c.runnable = append(c.runnable, t)
	} else {
		c.parked[caller.Req] = t
	}
	c.arm()
}

// runMemBench starts machines agents with threads threads each; alloc
// (called on each machine's agent at boot, in order) returns the words
// that machine contributes; every thread then adds 1 to random words
// without pause. The window [warm, warm+dur) is measured.
func runMemBench(b *testing.B, machines, threads int, policy coherence.Policy, alloc func(i int, g sys.Global, c sys.Caller) []uint64, warm, dur time.Duration) memBenchResult {
	mb := &memBench{world: sim.NewWorld(sim.Config{Seed: 1, Faults: sim.NoFaults()})}
	for i := range machines {
		mb.homes = append(mb.homes, netmodel.NodeID(i+1))
	}
	for i, id := range mb.homes {
		mb.world.AddMachine(id, func(m *sim.Machine) netmodel.Receiver {
			core := &memBenchCore{mb: mb, m: m, parked: map[sys.ReqID]int{}, rng: sim.Stream(1, "mem.bench", uint64(id))}
			a, err := coherence.New(coherence.Config{Self: id, Incarnation: m.Incarnation(), Transport: m, Completer: core, Atomics: policy})
			if err != nil {
				b.Fatal(err)
			}
			if err := a.AddProcess(memPID, mb.homes, coherence.ProcessOptions{}); err != nil {
				b.Fatal(err)
			}
			core.a = a
			mb.agents = append(mb.agents, a)
			mb.words = append(mb.words, alloc(i, a.Global(memPID), mb.caller(id))...)
			var tick func()
			tick = func() { a.Tick(); m.After(memTick, "bench.tick", tick) }
			m.After(memTick, "bench.tick", tick)
			for t := range threads {
				core.runnable = append(core.runnable, t)
			}
			core.arm()
			return netmodel.ReceiverFunc(a.Receive)
		})
	}
	mb.world.RunFor(warm)
	statsBefore := mb.totals()
	netBefore := mb.world.NetStats().Sent.Msgs
	mb.counting = true
	mb.world.RunFor(dur)
	after := mb.totals()
	return memBenchResult{ops: mb.ops, payloads: mb.world.NetStats().Sent.Msgs - netBefore, msgs: int64(after - statsBefore), simDur: dur}
}

func (mb *memBench) caller(id netmodel.NodeID) sys.Caller {
	mb.seq++
	return sys.Caller{PID: memPID, Req: sys.ReqID{Machine: uint64(id), Incarnation: 1, Seq: mb.seq}}
}

func (mb *memBench) answered() {
	if mb.counting {
		mb.ops++
	}
}

func (mb *memBench) totals() uint64 {
	var n uint64
	for _, a := range mb.agents {
		n += a.Stats().MessagesSentTotal
	}
	return n
}

func (r memBenchResult) report(b *testing.B) {
	b.ReportMetric(float64(r.ops)/r.simDur.Seconds(), "ops/sim-s")
	b.ReportMetric(float64(r.payloads)/float64(max(r.ops, 1)), "net-msgs/op")
	b.ReportMetric(float64(r.msgs)/float64(max(r.ops, 1)), "protocol-msgs/op")
}

var memPolicies = []coherence.Policy{coherence.AtomicsMigrate, coherence.AtomicsDelegate, coherence.AtomicsAdaptive}

// BenchmarkMemHotWord: one hot word, 5 machines x 100 threads adding to it
// back to back, under each atomics policy (migrate the page, delegate to
// its home, adaptive): operations per simulated second and messages per
// operation (network payloads, and protocol messages inside them).
func BenchmarkMemHotWord(b *testing.B) {
	for _, p := range memPolicies {
		b.Run(p.String(), func(b *testing.B) {
			var r memBenchResult
			for range b.N {
				r = runMemBench(b, 5, 100, p, func(i int, g sys.Global, c sys.Caller) []uint64 {
					if i > 0 {
						return nil
					}
					rep, _ := g.Alloc(c, 8)
					return []uint64{rep.Val}
				}, 100*time.Millisecond, 500*time.Millisecond)
			}
			r.report(b)
		})
	}
}

// BenchmarkMemFetchAddArray: random fetch-adds over a 1 MiB global array
// (each of the 5 machines homes a fifth of it) from 1000 threads (200 per
// machine): messages per operation (goal with aggregation: at most 0.25)
// and operations per simulated second, under each policy.
func BenchmarkMemFetchAddArray(b *testing.B) {
	const arrayBytes = 1 << 20
	for _, p := range memPolicies {
		b.Run(p.String(), func(b *testing.B) {
			var r memBenchResult
			for range b.N {
				r = runMemBench(b, 5, 200, p, func(i int, g sys.Global, c sys.Caller) []uint64 {
					share := uint64(arrayBytes / 5 &^ 7)
					rep, _ := g.Alloc(c, share)
					words := make([]uint64, share/8)
					for k := range words {
						words[k] = rep.Val + 8*uint64(k)
					}
					return words
				}, 100*time.Millisecond, 500*time.Millisecond)
			}
			r.report(b)
		})
	}
}
