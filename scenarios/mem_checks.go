package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/sys"
)

// memFinal is the liveness phase's progress.
type memFinal struct {
	started      bool
	clients      int    // history client ids handed out
	values       uint64 // unique values handed out
	countersRead bool
}

// startFinal begins the liveness phase: every thread finishes what it has
// in flight and makes one final read; a waker on every machine stores and
// wakes every wait word until no thread waits; then the counters are read.
func (r *memRun) startFinal() {
	r.final.started = true
	for _, mm := range r.machines {
		if mm.agent == nil || !r.world.Machine(mm.id).Up() {
			continue
		}
		if mm.waker == nil {
			mm.startWaker()
		}
		for _, t := range mm.threads {
			if !t.dead && t.op == nil {
				mm.m.After(0, "mem.thread", t.next)
			}
		}
	}
}

func (mm *memMachine) startWaker() {
	r := mm.run
	t := &memThread{mm: mm, index: -1, inc: mm.inc, client: r.newClient(), waking: true,
		rng: sim.Stream(r.opts.Seed, "mem.waker", uint64(mm.id)<<32|mm.inc)}
	mm.waker = t
	mm.m.After(memWakeEvery, "mem.waker", t.wakeRound)
}

// wakeRound releases every wait word while a thread waits, then (on the
// first machine up) reads the counters once every thread is done.
func (t *memThread) wakeRound() {
	if t.dead || t.op != nil {
		return
	}
	r := t.mm.run
	again := func() { t.mm.m.After(memWakeEvery, "mem.waker", t.wakeRound) }
	switch {
	case r.anyWaiting():
		t.wakeAll(slices.Clone(r.layout.waitWords), again)
	case r.threadsDone() && !r.final.countersRead && t.mm == r.firstUp():
		t.readCounters(slices.Clone(r.layout.counters))
	default:
		again()
	}
}

func (t *memThread) wakeAll(words []uint64, then func()) {
	if len(words) == 0 {
		then()
		return
	}
	w := words[0]
	v := t.value()
	t.issue(desc("final store %#x=%d", w, v), []checker.WordInput{{Kind: checker.WordWrite, Addr: w, Value: v}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, w, 8, v) },
		func(sys.Reply) { t.wake(w, 1<<20, func() { t.wakeAll(words[1:], then) }) })
}

func (t *memThread) readCounters(ctrs []uint64) {
	r := t.mm.run
	if len(ctrs) == 0 {
		r.final.countersRead = true
		return
	}
	ctr := ctrs[0]
	t.issue(desc("final load counter %#x", ctr), []checker.WordInput{{Kind: checker.WordRead, Addr: ctr}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, ctr, 8) },
		func(rep sys.Reply) {
			c := r.obs.counter[ctr]
			if rep.Trap == sys.TrapNone {
				c.final, c.finalKnown = rep.Val, true
			} else {
				c.lost = true
			}
			t.readCounters(ctrs[1:])
		})
}

func (r *memRun) firstUp() *memMachine {
	for _, mm := range r.machines {
		if mm.agent != nil && mm.waker != nil && r.world.Machine(mm.id).Up() {
			return mm
		}
	}
	return nil
}

// liveThreads lists the threads of every machine's current incarnation.
func (r *memRun) liveThreads() []*memThread {
	var out []*memThread
	for _, mm := range r.machines {
		for _, t := range mm.threads {
			if !t.dead {
				out = append(out, t)
			}
		}
	}
	return out
}

func (r *memRun) anyWaiting() bool {
	for _, t := range r.liveThreads() {
		if t.op != nil && t.op.waitOn != 0 {
			return true
		}
	}
	return false
}

func (r *memRun) threadsDone() bool {
	for _, t := range r.liveThreads() {
		if !t.final || t.op != nil {
			return false
		}
	}
	return true
}

func (f *memFinal) done() bool { return f.countersRead }

// check judges a finished run: safety first (a stuck run that also broke
// safety fails for the break), then liveness.
func (r *memRun) check(rep *Report, finished bool) {
	if v := r.safetyViolations(rep); len(v) > 0 {
		rep.Result, rep.Failure = ResultFail, FailureSafety
		rep.Violation = strings.Join(v, "\n")
		return
	}
	if !finished {
		rep.Result, rep.Failure = ResultFail, FailureLiveness
		rep.Violation = r.livenessFailure()
		return
	}
	rep.Result = ResultPass
}

func (r *memRun) livenessFailure() string {
	var b strings.Builder
	fmt.Fprintf(&b, "liveness: not finished %v after Heal", memLivenessBound)
	if !r.threadsDone() {
		n := 0
		for _, t := range r.liveThreads() {
			if t.op != nil && n < 8 {
				fmt.Fprintf(&b, "\n  %s: %v unanswered", t.who(), t.op.desc)
				n++
			}
		}
	} else {
		b.WriteString("\n  every thread finished; the final counter reads did not")
	}
	fmt.Fprintf(&b, "\nagents:\n%s", r.statusLine())
	return b.String()
}

func (r *memRun) safetyViolations(rep *Report) []string {
	out := append([]string(nil), r.surprises...)
	for _, s := range r.obs.twice {
		out = append(out, "at most once: "+s)
	}
	for _, z := range r.obs.zeros {
		out = append(out, "alloc: "+z)
	}
	for _, mm := range r.machines {
		if mm.agent != nil {
			if err := mm.agent.CheckInvariants(); err != nil {
				out = append(out, fmt.Sprintf("agent %v bookkeeping: %v", mm.id, err))
			}
		}
	}
	out = append(out, r.lossViolations()...)
	out = append(out, r.readViolations()...)
	out = append(out, r.fenceViolations()...)
	out = append(out, r.counterViolations()...)
	out = append(out, r.waitViolations()...)
	res := checker.CheckWords(&r.obs.hist, checker.Options{
		MaxSteps: memCheckStepsMax,
		VizDir:   r.opts.VizDir,
		VizName:  fmt.Sprintf("%s-seed%d", memScenarioName, r.opts.Seed),
	})
	rep.VizPath = res.VizPath
	switch {
	case res.TimedOut:
		out = append(out, fmt.Sprintf("linearizability: no verdict within %d search steps (%d ops); treat as a violation and inspect with -viz", memCheckStepsMax, res.Ops))
	case !res.OK:
		out = append(out, "linearizability: "+res.Violation)
	}
	return out
}

// lossViolations: memory is lost only with a machine that crashed before.
func (r *memRun) lossViolations() []string {
	var out []string
	for _, l := range r.obs.losses {
		if !r.crashedBefore(l.by, l.at) {
			out = append(out, fmt.Sprintf("lost page: %s %v answered TrapLost at %v naming %v, which had not crashed", l.t.who(), l.d, l.at, l.by))
			break
		}
	}
	return out
}

// readViolations: a word written only with unique values never reads a
// value no one wrote.
func (r *memRun) readViolations() []string {
	for _, rd := range r.obs.reads {
		if set := r.obs.written[rd.addr]; set != nil && !set[rd.val] {
			return []string{fmt.Sprintf("read: %s %v returned %d, which no one wrote to %#x", rd.t.who(), rd.d, rd.val, rd.addr)}
		}
	}
	return nil
}

// fenceViolations: a reader that saw a writer's flag sees the data the
// writer stored before its FENCE (or a later one).
func (r *memRun) fenceViolations() []string {
	for _, f := range r.obs.fences {
		if f.data < f.flag {
			return []string{fmt.Sprintf("fence order: %s read flag %d of pair %d, then data %d: the store before the writer's FENCE was not seen",
				f.t.who(), f.flag, f.pair, f.data)}
		}
	}
	return nil
}

// counterViolations: a counter only fetch-add drives ends between its
// acknowledged adds and those plus the unknown ones.
func (r *memRun) counterViolations() []string {
	var out []string
	for _, ctr := range r.layout.counters {
		c := r.obs.counter[ctr]
		if c.lost || !c.finalKnown {
			continue
		}
		if c.final < c.acked || c.final > c.acked+c.unknown {
			out = append(out, fmt.Sprintf("fetch-add counter %#x: final value %d, but %d adds were acknowledged and %d have unknown outcomes",
				ctr, c.final, c.acked, c.unknown))
		}
	}
	return out
}

// waitViolations: no WAIT returns "woken" that no WAKE picked, and no WAKE
// picks more waiters than waited.
func (r *memRun) waitViolations() []string {
	var out []string
	for _, w := range r.layout.waitWords {
		c := r.obs.waits[w]
		pending := uint64(0)
		for _, t := range r.liveThreads() {
			if t.op != nil && t.op.waitOn == w {
				pending++
			}
		}
		if c.woken > c.wakeCount+c.unknownWakes {
			out = append(out, fmt.Sprintf("wait/wake %#x: %d WAITs were woken, but WAKEs report %d woken (%d more unknown)", w, c.woken, c.wakeCount, c.unknownWakes))
		}
		if c.wakeCount > c.queuedOrUnknown+pending {
			out = append(out, fmt.Sprintf("wait/wake %#x: WAKEs report %d woken, but at most %d WAITs could have been queued", w, c.wakeCount, c.queuedOrUnknown+pending))
		}
	}
	return out
}
