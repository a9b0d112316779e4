package cores

import "sync"

// Borrowing a core. A parallel core waits for work on a channel of its
// own, so whoever gives it work (the answer a parked thread waited for)
// readies its goroutine; the Go scheduler then also wakes an idle CPU to
// look for work (a futex, and on a virtual machine an inter-processor
// interrupt), and the core's goroutine often runs on that other CPU, away
// from the caches the answer was just written into. For a remote load
// that is the thread's whole wait: the transport's reader installs the
// page, and the thread's next miss is written from another CPU.
//
// A goroutine that gives a core work and has nothing more pressing to do
// (a transport's reader between two reads) may instead run the core's
// round itself: it holds the wakes back while it holds the owner's lock
// (HoldWakes, Held), releases the lock, and calls RunHere for each core it
// gave work. RunHere runs one round on the caller's goroutine when the
// core's own goroutine is waiting for work, and otherwise, or when work
// remains after that round, wakes the core's goroutine as a plain Do
// would have. Exactly one goroutine runs a core's rounds at a time (its
// run lock); a borrower never waits for it.

// heldWakes records the cores whose wakes are held back.
type heldWakes struct {
	mu      sync.Mutex
	holding bool
	cores   []int // each core once
}

// hold records core i if wakes are held back and reports whether they are.
func (h *heldWakes) hold(i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.holding {
		return false
	}
	for _, c := range h.cores {
		if c == i {
			return true
		}
	}
	h.cores = append(h.cores, i)
	return true
}

// HoldWakes makes the Set hold back the wakes of the cores it is given
// work for (Do, Complete, Place) until Held. Parallel mode; the caller
// holds the owner's lock from HoldWakes to Held, and must call RunHere for
// every core Held returns once it released the lock (a core whose wake is
// held and never given sleeps on with work queued). A goroutine other than
// the holder's that gives a core work meanwhile has its wake held too: the
// holder wakes that core soon.
func (s *Set) HoldWakes() {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if s.held.holding {
		panic("cores: HoldWakes while holding")
	}
	s.held.holding = true
}

// Held ends HoldWakes and appends to buf the cores given work meanwhile.
func (s *Set) Held(buf []int) []int {
	s.held.mu.Lock()
	defer s.held.mu.Unlock()
	if !s.held.holding {
		panic("cores: Held without HoldWakes")
	}
	buf = append(buf, s.held.cores...)
	s.held.holding, s.held.cores = false, s.held.cores[:0]
	return buf
}

// RunHere runs one round of core i (its queued work, one slice of its
// threads, the after-slice poll) on the caller's goroutine when the core's
// goroutine is waiting for work, and wakes that goroutine instead when it
// is busy or the Set is stopped, or after the round when a thread is still
// runnable or work came meanwhile. The caller must not hold the owner's
// lock (the round takes it).
func (s *Set) RunHere(i int) {
	c := s.cores[i]
	if !s.running.Load() || !c.idle.Load() || !c.run.TryLock() {
		c.signal()
		return
	}
	if !s.running.Load() {
		c.run.Unlock()
		return // stopped since: its queued work is dropped
	}
	c.idle.Store(false)
	s.round(c)
	c.borrowed.Add(1)
	if c.m.Runnable() {
		c.run.Unlock()
		c.signal()
		return
	}
	queued := s.settle(c)
	c.run.Unlock()
	if queued {
		c.signal()
	}
}
