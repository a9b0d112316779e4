package sim

import (
	"fmt"

	"github.com/flockvm/flock/netmodel"
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
	// The payload where the sender put it (the transport owns it once
	// sent), and for a garbled frame its header (checksum included).
	hdr     [netmodel.FrameHeaderSize]byte
	garbled bool
	payload []byte
	link    *link
	msgKind uint16
	sendSeq uint64 // order of the Send on its link, from 1; a duplicate shares it
}

// qitem is what the heap holds: the ordering key inline so comparisons do
// not chase pointers, and a slab index instead of a pointer so the heap's
// array holds no pointers (no GC write barriers when items move).
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
// pool of event structs to keep the hot path allocation-free. The order is
// a 4-ary min-heap: keys are unique (seq), so the order events leave in is
// the same as any other priority queue's; pos finds a queued event's place
// for Timer.Stop.
type queue struct {
	heap   []qitem
	pos    []int32 // by slot: the event's index in heap, -1 if not queued
	seq    uint64
	gen    uint64
	slab   []*event // every event struct ever made, by slot
	free   []*event // released structs, ready for reuse
	lenMax int
}

func newQueue(lenMax int) *queue {
	return &queue{lenMax: lenMax}
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
		q.pos = append(q.pos, -1)
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
	if len(q.heap) >= q.lenMax {
		panic(fmt.Sprintf("sim: event queue exceeds %d events (runaway scheduling?) while adding %q at %v",
			q.lenMax, ev.name, at))
	}
	q.seq++
	ev.at, ev.seq, ev.state = at, q.seq, stateQueued
	q.heap = append(q.heap, qitem{at: at, seq: ev.seq, slot: ev.slot})
	q.up(len(q.heap) - 1)
}

// remove takes a queued event out of the queue.
func (q *queue) remove(ev *event) {
	i := q.pos[ev.slot]
	if i < 0 || q.heap[i].slot != ev.slot {
		panic(fmt.Sprintf("sim: queued event %q at %v seq %d missing from the queue", ev.name, ev.at, ev.seq))
	}
	q.take(int(i))
	ev.state = stateRunning
}

// popMin removes and returns the earliest event, or nil.
func (q *queue) popMin() *event {
	if len(q.heap) == 0 {
		return nil
	}
	ev := q.slab[q.heap[0].slot]
	q.take(0)
	ev.state = stateRunning
	return ev
}

// peekTime returns the time of the earliest event.
func (q *queue) peekTime() (Time, bool) {
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].at, true
}

func (q *queue) len() int { return len(q.heap) }

// heapArity: a 4-ary heap is shallower than a binary one, and a node's
// children share a cache line or two.
const heapArity = 4

// take removes the item at index i, filling its place with the last item.
func (q *queue) take(i int) {
	q.pos[q.heap[i].slot] = -1
	last := len(q.heap) - 1
	if i != last {
		q.heap[i] = q.heap[last]
		q.pos[q.heap[i].slot] = int32(i)
	}
	q.heap = q.heap[:last]
	if i < last {
		q.down(i)
		q.up(i)
	}
}

func (q *queue) up(i int) {
	h := q.heap
	it := h[i]
	for i > 0 {
		parent := (i - 1) / heapArity
		if !qless(it, h[parent]) {
			break
		}
		h[i] = h[parent]
		q.pos[h[i].slot] = int32(i)
		i = parent
	}
	h[i] = it
	q.pos[it.slot] = int32(i)
}

func (q *queue) down(i int) {
	h := q.heap
	n := len(h)
	it := h[i]
	for {
		first := heapArity*i + 1
		if first >= n {
			break
		}
		best := first
		for c := first + 1; c < first+heapArity && c < n; c++ {
			if qless(h[c], h[best]) {
				best = c
			}
		}
		if !qless(h[best], it) {
			break
		}
		h[i] = h[best]
		q.pos[h[i].slot] = int32(i)
		i = best
	}
	h[i] = it
	q.pos[it.slot] = int32(i)
}

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
