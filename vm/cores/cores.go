package cores

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/sys"
)

// Set is a machine's cores.
type Set struct {
	cores    []*core
	parallel bool
	lock     sync.Locker // the owner's lock (parallel mode)
	stop     chan struct{}
	wg       sync.WaitGroup
	slice    int
	running  atomic.Bool
	idleCh   chan struct{} // a core went idle, or a process ended
	after    func()        // the after-slice poll (Start)
	held     heldWakes     // wakes held back for a goroutine that runs the cores itself (RunHere)
}

type core struct {
	m     *interp.Machine
	index int
	// run is held by whoever runs the core's rounds (parallel mode): its
	// goroutine, or a goroutine that borrows it (RunHere).
	run sync.Mutex
	// owed: an after-slice poll not run yet (see round); under run.
	owed bool
	// In parallel mode, work for the core's goroutine; under mu.
	mu    sync.Mutex
	queue []work
	wake  chan struct{}
	// Published by the core after each round, read by anyone.
	threads atomic.Int64
	// incoming counts threads placed here (Place) whose addition is still
	// queued: without it, threads spawned in a burst, before the core has
	// run and published, would all go to the same core.
	incoming atomic.Int64
	// ticks the core has run, in all (published after each slice).
	ticks atomic.Int64
	// borrowed counts the rounds run on a borrowing goroutine (RunHere).
	borrowed atomic.Int64
	runnable atomic.Bool
	idle     atomic.Bool
	// enter and exit bracket each slice the core runs (Bracket).
	enter, exit func()
}

// work is something asked of a core; placed: it adds a thread counted in
// incoming until it has run.
type work struct {
	fn     func(*interp.Machine)
	placed bool
}

// SliceTicks is how many ticks a parallel core runs between two looks at
// its queue.
const SliceTicks = 20000

// New makes one core per machine. parallel: each runs on its own goroutine
// once Start is called; lock is the owner's state lock, which the owner
// holds while it touches its own state (and which the Locked wrappers take
// around every call out of the interpreter).
func New(machines []*interp.Machine, parallel bool, lock sync.Locker) *Set {
	if parallel && lock == nil {
		panic("cores: a parallel Set needs the owner's lock")
	}
	s := &Set{parallel: parallel, lock: lock, slice: SliceTicks, idleCh: make(chan struct{}, 1)}
	for _, m := range machines {
		c := &core{m: m, index: len(s.cores), wake: make(chan struct{}, 1)}
		s.cores = append(s.cores, c)
	}
	return s
}

// Len is the number of cores.
func (s *Set) Len() int { return len(s.cores) }

// Parallel reports whether the cores run on goroutines of their own.
func (s *Set) Parallel() bool { return s.parallel }

// Do runs fn on core i's interpreter: at once in sequential mode, on the
// core's goroutine (soon, in the order asked) in parallel mode.
func (s *Set) Do(i int, fn func(*interp.Machine)) {
	c := s.cores[i]
	if !s.parallel {
		fn(c.m)
		c.publish()
		return
	}
	s.enqueue(c, work{fn: fn})
}

func (s *Set) enqueue(c *core, w work) {
	c.mu.Lock()
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	if !s.held.hold(c.index) {
		c.signal()
	}
}

// DoAll runs fn on every core (see Do).
func (s *Set) DoAll(fn func(*interp.Machine)) {
	for i := range s.cores {
		s.Do(i, fn)
	}
}

// Complete delivers the answer to request id to the core that asked (the
// id names it); ids of no core here are ignored.
func (s *Set) Complete(id sys.ReqID, r sys.Reply) {
	if int(id.Core) >= len(s.cores) {
		return
	}
	if !s.parallel {
		c := s.cores[id.Core]
		c.m.Complete(id, r) // no closure on the hot path of one goroutine
		c.publish()
		return
	}
	s.Do(int(id.Core), func(m *interp.Machine) { m.Complete(id, r) })
}

// Threads is how many threads live on the cores (as last published, in
// parallel mode).
func (s *Set) Threads() int {
	n := 0
	for i := range s.cores {
		n += s.CoreThreads(i)
	}
	return n
}

// CoreThreads is how many threads live on core i (in parallel mode: as
// last published, plus those placed there and still queued).
func (s *Set) CoreThreads(i int) int {
	c := s.cores[i]
	if !s.parallel {
		return c.m.Threads()
	}
	return int(c.threads.Load() + c.incoming.Load())
}

// CoreTicks is how many ticks core i has run since the Set was made (as
// last published, in parallel mode): how evenly work spread over the cores.
func (s *Set) CoreTicks(i int) int64 { return s.cores[i].ticks.Load() }

// CoreRoundsBorrowed is how many rounds of core i ran on a goroutine that
// borrowed it (RunHere) rather than on its own.
func (s *Set) CoreRoundsBorrowed(i int) int64 { return s.cores[i].borrowed.Load() }

// LeastLoaded is the core with the fewest threads (the first of those).
func (s *Set) LeastLoaded() int {
	best, bestN := 0, s.CoreThreads(0)
	for i := 1; i < len(s.cores); i++ {
		if n := s.CoreThreads(i); n < bestN {
			best, bestN = i, n
		}
	}
	return best
}

// Place runs add, which adds one thread, on the least loaded core (see Do)
// and returns that core. In parallel mode the core counts as holding the
// thread from now on, so that a burst of placements spreads over the cores.
func (s *Set) Place(add func(*interp.Machine)) int {
	i := s.LeastLoaded()
	if !s.parallel {
		s.Do(i, add)
		return i
	}
	c := s.cores[i]
	c.incoming.Add(1)
	s.enqueue(c, work{fn: add, placed: true})
	return i
}

// Runnable reports whether some core has a runnable thread or queued work.
func (s *Set) Runnable() bool {
	for _, c := range s.cores {
		if !s.parallel {
			if c.m.Runnable() {
				return true
			}
			continue
		}
		if c.runnable.Load() {
			return true
		}
		if s.parallel {
			c.mu.Lock()
			queued := len(c.queue) > 0
			c.mu.Unlock()
			if queued {
				return true
			}
		}
	}
	return false
}

// Idle reports, in parallel mode, whether every core is waiting with
// nothing to run and nothing queued.
func (s *Set) Idle() bool {
	for _, c := range s.cores {
		if !c.idle.Load() {
			return false
		}
		c.mu.Lock()
		queued := len(c.queue) > 0
		c.mu.Unlock()
		if queued {
			return false
		}
	}
	return true
}

// Parked lists every core's parked threads (sequential mode, or from the
// core's own goroutine).
func (s *Set) Parked() []interp.Parked {
	var out []interp.Parked
	for _, c := range s.cores {
		out = append(out, c.m.Parked()...)
	}
	return out
}

// Run runs the cores one quantum at a time in turn, for about ticksMax ticks
// in all; it returns the ticks used (0: nothing could run). Sequential mode
// only.
func (s *Set) Run(ticksMax int) int {
	if s.parallel {
		panic("cores: Run on a parallel Set (its cores run on their own)")
	}
	used := 0
	for used < ticksMax {
		ran := false
		for _, c := range s.cores {
			if u := c.m.Run(min(c.m.Config().QuantumTicks, ticksMax-used)); u > 0 {
				used += u
				ran = true
				c.ticks.Add(int64(u))
			}
			c.publish()
			if used >= ticksMax {
				break
			}
		}
		if !ran {
			break
		}
	}
	return used
}

func (c *core) publish() {
	c.threads.Store(int64(c.m.Threads()))
	c.runnable.Store(c.m.Runnable())
}

func (c *core) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Bracket makes core i call enter before and exit after each slice it
// runs on its goroutine (parallel mode): a memory whose pages the
// interpreter reaches directly needs to know when a core may be touching
// them (coherence.Core). Call it before Start.
func (s *Set) Bracket(i int, enter, exit func()) {
	if s.running.Load() {
		panic("cores: Bracket after Start")
	}
	s.cores[i].enter, s.cores[i].exit = enter, exit
}

// Start starts the cores' goroutines (parallel mode). after, if set, runs
// on a core's goroutine after each of its slices, under the owner's lock,
// unless the lock is held then (see tryLock): a poll the owner runs too
// (the memory agent's, say).
func (s *Set) Start(after func()) {
	if !s.parallel {
		panic("cores: Start on a sequential Set")
	}
	if s.running.Swap(true) {
		panic("cores: started twice")
	}
	s.stop = make(chan struct{})
	s.after = after
	for _, c := range s.cores {
		c.publish()
		s.wg.Add(1)
		go s.loop(c)
	}
}

// tryLock takes the owner's lock for the after-slice hook if it is free. A
// running core does not wait for it: the owner may hold it through a disk
// sync (a chunk file's), and a core running its own code must not stall
// behind that. The hook is a poll the owner also runs between its inputs
// (the node's Drain); a skipped one is owed (see loop).
func (s *Set) tryLock() bool {
	if l, ok := s.lock.(interface{ TryLock() bool }); ok {
		return l.TryLock()
	}
	s.lock.Lock()
	return true
}

// Stop stops the goroutines and waits for them, and for a round a
// borrowing goroutine runs (RunHere). Work still queued is dropped.
func (s *Set) Stop() {
	s.StopAsync()
	s.wg.Wait()
	for _, c := range s.cores {
		c.run.Lock()
		//lint:ignore SA2001 taking the lock is the point: it waits for a borrower's round
		c.run.Unlock()
	}
}

// StopAsync tells the goroutines to stop after their current slice and
// returns at once: for an owner that holds its lock, which a core may be
// waiting for (Stop waits for them).
func (s *Set) StopAsync() {
	if s.running.Swap(false) {
		close(s.stop)
	}
}

func (s *Set) loop(c *core) {
	defer s.wg.Done()
	for {
		c.run.Lock()
		c.idle.Store(false)
		busy := s.round(c)
		queued := !busy && s.settle(c)
		c.run.Unlock()
		if !busy && !queued {
			select {
			case <-s.stop:
				return
			case <-c.wake:
			}
			continue
		}
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// round runs what is queued for core c and one slice of its threads, then
// the after-slice poll if the owner's lock is free; it reports whether it
// ran anything. The caller holds c.run.
func (s *Set) round(c *core) (busy bool) {
	c.mu.Lock()
	todo := c.queue
	c.queue = nil
	c.mu.Unlock()
	placed := int64(0)
	for _, w := range todo {
		w.fn(c.m)
		if w.placed {
			placed++
		}
	}
	if placed > 0 {
		c.publish() // before incoming drops: a placed thread is always counted somewhere
		c.incoming.Add(-placed)
	}
	if c.enter != nil {
		c.enter()
	}
	used := c.m.Run(s.slice)
	if c.exit != nil {
		c.exit()
	}
	c.ticks.Add(int64(used))
	c.publish()
	// The poll after a slice is skipped while the owner holds its lock
	// and owed until the core finds the lock free, or waits for it before
	// going idle (it has nothing else to run then: settle).
	c.owed = c.owed || (s.after != nil && used > 0)
	if c.owed && s.tryLock() {
		s.after()
		s.lock.Unlock()
		c.owed = false
	}
	return used > 0 || len(todo) > 0
}

// settle is what core c does before it waits for work: the poll it owes,
// waiting for the owner's lock if need be, then it is idle. It reports
// whether work was queued meanwhile (the core must not wait then). The
// caller holds c.run.
func (s *Set) settle(c *core) (queued bool) {
	if c.owed {
		s.lock.Lock()
		s.after()
		s.lock.Unlock()
		c.owed = false
	}
	c.idle.Store(true)
	s.Notify()
	c.mu.Lock()
	queued = len(c.queue) > 0
	c.mu.Unlock()
	return queued
}

// String describes the cores.
func (s *Set) String() string {
	mode := "sequential"
	if s.parallel {
		mode = "parallel"
	}
	return fmt.Sprintf("%d %s cores, %d threads", len(s.cores), mode, s.Threads())
}

// WaitIdleOr blocks until every core is idle or done reports true; it
// checks done whenever a core goes idle. Parallel mode only.
func (s *Set) WaitIdleOr(done func() bool) {
	for {
		if done() || s.Idle() {
			return
		}
		select {
		case <-s.idleCh:
		case <-s.stop:
			return
		}
	}
}

// Notify wakes WaitIdleOr to look again (the owner calls it when a process
// ends).
func (s *Set) Notify() {
	select {
	case s.idleCh <- struct{}{}:
	default:
	}
}
