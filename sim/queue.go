package sim

import (
	"fmt"

	"github.com/flockvm/flock/netmodel"
	"github.com/google/btree"
)

// evKind says how the world processes an event.
type evKind uint8

const (
	evFunc    evKind = iota + 1 // a world callback (scenario code, nemesis)
	evTimer                     // a machine timer: dies with its incarnation
	evDeliver                   // a message arriving at a machine
)

// evState tracks where an event struct is, so Timer.Stop and the pool never
// act on an event twice.
type evState uint8

const (
	stateFree      evState = iota // in the pool
	stateQueued                   // in the queue
	stateDeferred                 // held by a paused machine
	stateCancelled                // held by a paused machine, stopped
	stateRunning                  // popped, being processed
)

// event is one scheduled happening. Structs are pooled: gen changes every
// time one is reused, so a stale Timer cannot stop its successor.
type event struct {
	at    Time
	seq   uint64 // tie-break: schedule order among events at the same time
	gen   uint64
	slot  uint32 // index in queue.slab, fixed for the struct's life
	kind  evKind
	state evState
	node  netmodel.NodeID // the machine the event concerns; 0 for the world
	name  string
	fn    func()

	// evTimer, evDeliver: the machine and its incarnation at scheduling.
	m   *Machine
	inc uint64

	// evDeliver.
	from     *Machine
	fromInc  uint64
	departAt Time
	// The frame in two parts: its header, and the payload where the
	// sender put it (the transport owns it once sent).
	hdr     [netmodel.FrameHeaderSize]byte
	payload []byte
	link    *link
	msgKind uint16
	sendSeq uint64 // order of the Send on its link, from 1; a duplicate shares it
}

// qitem is what the btree holds: the ordering key inline so comparisons do
// not chase pointers, and a slab index instead of a pointer so the tree's
// nodes hold no pointers (no GC write barriers when the tree shifts items).
type qitem struct {
	at   Time
	seq  uint64
	slot uint32
}

func qless(a, b qitem) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue is the world's pending events ordered by (time, sequence), with a
// pool of event structs to keep the hot path allocation-free.
type queue struct {
	tree   *btree.BTreeG[qitem]
	seq    uint64
	gen    uint64
	slab   []*event // every event struct ever made, by slot
	free   []*event // released structs, ready for reuse
	lenMax int
}

func newQueue(lenMax int) *queue {
	return &queue{
		tree:   btree.NewG[qitem](32, qless),
		lenMax: lenMax,
	}
}

// alloc returns a cleared event with a fresh generation. Structs are never
// freed: the slab's size is the most events ever pending at once, which
// lenMax bounds.
func (q *queue) alloc() *event {
	var ev *event
	if n := len(q.free); n > 0 {
		ev = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		ev = &event{slot: uint32(len(q.slab))}
		q.slab = append(q.slab, ev)
	}
	q.gen++
	ev.gen = q.gen
	return ev
}

// release returns ev to the pool, dropping references so the garbage
// collector can reclaim what it pointed to.
func (q *queue) release(ev *event) {
	*ev = event{gen: ev.gen, slot: ev.slot}
	q.free = append(q.free, ev)
}

// push schedules ev at time at, after every event already scheduled for at.
func (q *queue) push(ev *event, at Time) {
	if ev.state == stateQueued {
		panic(fmt.Sprintf("sim: event %q (gen %d) queued twice", ev.name, ev.gen))
	}
	if q.tree.Len() >= q.lenMax {
		panic(fmt.Sprintf("sim: event queue exceeds %d events (runaway scheduling?) while adding %q at %v",
			q.lenMax, ev.name, at))
	}
	q.seq++
	ev.at, ev.seq, ev.state = at, q.seq, stateQueued
	q.tree.ReplaceOrInsert(qitem{at: at, seq: ev.seq, slot: ev.slot})
}

// remove takes a queued event out of the queue.
func (q *queue) remove(ev *event) {
	if _, ok := q.tree.Delete(qitem{at: ev.at, seq: ev.seq}); !ok {
		panic(fmt.Sprintf("sim: queued event %q at %v seq %d missing from the queue", ev.name, ev.at, ev.seq))
	}
	ev.state = stateRunning
}

// popMin removes and returns the earliest event, or nil.
func (q *queue) popMin() *event {
	it, ok := q.tree.DeleteMin()
	if !ok {
		return nil
	}
	ev := q.slab[it.slot]
	ev.state = stateRunning
	return ev
}

// peekTime returns the time of the earliest event.
func (q *queue) peekTime() (Time, bool) {
	it, ok := q.tree.Min()
	return it.at, ok
}

func (q *queue) len() int { return q.tree.Len() }

// Timer is a handle on a scheduled callback. The zero Timer is valid and
// stops nothing.
type Timer struct {
	w   *World
	ev  *event
	gen uint64
}

// Stop cancels the callback. It reports whether the callback was pending
// (false if it already ran, was stopped, or died with its machine).
func (t Timer) Stop() bool {
	if t.ev == nil || t.ev.gen != t.gen {
		return false
	}
	switch t.ev.state {
	case stateQueued:
		t.w.q.remove(t.ev)
		t.w.q.release(t.ev)
		return true
	case stateDeferred:
		t.ev.state = stateCancelled
		return true
	}
	return false
}

// Pending reports whether the callback is still due to run.
func (t Timer) Pending() bool {
	if t.ev == nil || t.ev.gen != t.gen {
		return false
	}
	if t.ev.state == stateQueued && t.ev.kind == evTimer {
		return t.ev.m.inc == t.ev.inc && t.ev.m.up
	}
	return t.ev.state == stateQueued || t.ev.state == stateDeferred
}
