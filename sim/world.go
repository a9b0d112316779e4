package sim

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/flockvm/flock/netmodel"
)

// NodeID names a machine; it is netmodel's, re-exported for convenience.
type NodeID = netmodel.NodeID

// Default limits, used when the Config leaves them zero.
const (
	// DefaultMaxEvents bounds a run: about two minutes of wall time at the
	// simulator's speed. A run that needs more is stuck or misconfigured.
	DefaultMaxEvents = 100_000_000
	// DefaultMaxQueued bounds the event queue: a program that schedules
	// without limit is a bug the world reports instead of eating memory.
	DefaultMaxQueued = 4_000_000
)

// Config sets up a World.
type Config struct {
	// Seed determines everything: two worlds with the same Seed, Faults and
	// programs process the same events in the same order.
	Seed uint64
	// Faults says which faults the nemesis and the network inject, and how
	// hard. The zero FaultConfig injects nothing and delivers messages
	// without delay; see NoFaults and Swarm.
	Faults FaultConfig
	// Trace, when set, receives one line per processed event and per
	// recorded fact. Tracing is the only place the world formats text.
	Trace io.Writer
	// MaxEvents bounds the run (default DefaultMaxEvents): processing more
	// panics with an *EventLimitError.
	MaxEvents uint64
	// MaxQueued bounds the event queue (default DefaultMaxQueued).
	MaxQueued int
	// MessageKind, when set, names the kind of a message from its payload
	// (for example "raft.MsgApp") so NetStatsByKind can count per kind. It
	// is called once per Send with the payload as sent; at most 1024
	// distinct kinds.
	MessageKind func(payload []byte) string
}

// EventLimitError is the panic value of a world asked to process more than
// Config.MaxEvents events. Runners recover it and report the seed as stuck.
type EventLimitError struct {
	MaxEvents uint64
	Now       Time
	Seed      uint64
}

func (e *EventLimitError) Error() string {
	return fmt.Sprintf("sim: seed %d exceeded MaxEvents=%d at t=%v (livelock, or raise Config.MaxEvents)",
		e.Seed, e.MaxEvents, e.Now)
}

// World is one deterministic simulated run: a virtual clock, an event queue,
// machines with disks, the network between them and the nemesis injecting
// faults. A World is used from one goroutine; nothing in it starts another.
type World struct {
	cfg    Config
	faults FaultConfig // current faults: Heal clears them
	now    Time
	q      *queue
	events uint64
	hash   uint64

	trace    io.Writer
	traceErr error
	line     []byte

	machines map[NodeID]*Machine
	sorted   []*Machine // by id: the only order the world iterates machines in
	net      *network
	nem      *nemesis
	healed   bool
	counts   map[string]int64
	// crashesInIO counts crashes that found their machine's disk busy.
	crashesInIO int64
}

// NewWorld returns a world at time 0 with no machines. The nemesis is armed
// at once: its first injections are scheduled from the seed, and it acts on
// whatever machines exist when they fire. It panics if cfg.Faults is not
// valid (see FaultConfig.Validate).
func NewWorld(cfg Config) *World {
	if err := cfg.Faults.Validate(); err != nil {
		panic(err)
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	w := &World{
		cfg:      cfg,
		faults:   cfg.Faults,
		q:        newQueue(cfg.MaxQueued),
		hash:     hashWord(fnvOffset, cfg.Seed),
		trace:    cfg.Trace,
		machines: make(map[NodeID]*Machine),
		counts:   make(map[string]int64),
	}
	w.net = newNetwork(w)
	w.nem = newNemesis(w)
	w.nem.arm()
	return w
}

// Seed returns the run's seed.
func (w *World) Seed() uint64 { return w.cfg.Seed }

// Faults returns the faults currently in force (after Heal, the healed ones).
func (w *World) Faults() FaultConfig { return w.faults }

// Now returns the current virtual time.
func (w *World) Now() Time { return w.now }

// Events returns how many events have been processed.
func (w *World) Events() uint64 { return w.events }

// TraceHash returns the running hash of every processed event and recorded
// fact. Same seed, same programs: same hash.
func (w *World) TraceHash() uint64 { return w.hash }

// Pending returns the number of scheduled events, dead timers included.
func (w *World) Pending() int { return w.q.len() }

// TraceErr returns the first error writing the trace; tracing stops there.
func (w *World) TraceErr() error { return w.traceErr }

// After schedules fn to run d from now as a world event (one that concerns
// no machine, such as a client of the system under test). A negative d
// counts as zero. name appears in the trace and is hashed.
func (w *World) After(d time.Duration, name string, fn func()) Timer {
	if d < 0 {
		d = 0
	}
	return w.At(w.now.Add(d), name, fn)
}

// At schedules fn at time t (now if t is in the past).
func (w *World) At(t Time, name string, fn func()) Timer {
	if fn == nil {
		panic(fmt.Sprintf("sim: At(%v, %q) with nil func", t, name))
	}
	if t < w.now {
		t = w.now
	}
	ev := w.q.alloc()
	ev.kind, ev.name, ev.fn = evFunc, name, fn
	w.q.push(ev, t)
	return Timer{w: w, ev: ev, gen: ev.gen}
}

// Step processes the next event and reports whether there was one.
func (w *World) Step() bool { return w.stepBefore(math.MaxInt64) }

// RunUntil processes every event due at or before t, then sets the clock to
// t (if it is not already past it).
func (w *World) RunUntil(t Time) {
	for w.stepBefore(t) {
	}
	if w.now < t {
		w.now = t
	}
}

// RunFor runs the world for d of virtual time.
func (w *World) RunFor(d time.Duration) { w.RunUntil(w.now.Add(d)) }

// RunWhile processes events while cond() holds, up to deadline. It returns
// true as soon as cond() is false; false when no event due at or before
// deadline is left with cond() still true, the clock then at deadline.
// cond is evaluated before every event.
func (w *World) RunWhile(cond func() bool, deadline Time) bool {
	for cond() {
		if !w.stepBefore(deadline) {
			if w.now < deadline {
				w.now = deadline
			}
			return false
		}
	}
	return true
}

// stepBefore processes the next live event due at or before limit and
// reports whether it did. Dead events (timers of a crashed incarnation) and
// events deferred by a pause are not counted and do not end the step.
func (w *World) stepBefore(limit Time) bool {
	for {
		at, ok := w.q.peekTime()
		if !ok || at > limit {
			return false
		}
		ev := w.q.popMin()
		if ev.at < w.now {
			panic(fmt.Sprintf("sim: event %q at %v is before now %v", ev.name, ev.at, w.now))
		}
		w.now = ev.at
		if w.process(ev) {
			return true
		}
	}
}

// process runs one popped event and reports whether it counted as an event.
func (w *World) process(ev *event) bool {
	switch ev.kind {
	case evFunc:
		w.begin(ev)
		ev.fn()
		w.q.release(ev)
		return true
	case evTimer:
		m := ev.m
		if !m.up || m.inc != ev.inc {
			w.q.release(ev)
			return false
		}
		if m.paused {
			m.deferEvent(ev)
			return false
		}
		w.begin(ev)
		m.run(ev.fn)
		w.q.release(ev)
		return true
	case evDeliver:
		return w.net.deliver(ev)
	}
	panic(fmt.Sprintf("sim: event %q has unknown kind %d", ev.name, ev.kind))
}

// begin counts, hashes and traces an event about to be processed.
func (w *World) begin(ev *event) {
	w.count(ev)
	if w.trace != nil {
		w.traceEvent(ev)
	}
}

// count counts and hashes an event about to be processed.
func (w *World) count(ev *event) {
	if w.events >= w.cfg.MaxEvents {
		panic(&EventLimitError{MaxEvents: w.cfg.MaxEvents, Now: w.now, Seed: w.cfg.Seed})
	}
	w.events++
	h := hashWord(w.hash, uint64(ev.at))
	h = hashWord(h, ev.seq)
	h = hashWord(h, uint64(ev.kind)<<56|uint64(ev.node))
	w.hash = hashString(h, ev.name)
}

// traceEvent prints "step 1234 t=1.250ms n2 name".
func (w *World) traceEvent(ev *event) {
	b := w.traceHead(w.line[:0], ev.node)
	b = append(b, ev.name...)
	b = append(b, '\n')
	w.writeTrace(b)
}

func (w *World) traceHead(b []byte, node NodeID) []byte {
	b = append(b, "step "...)
	b = strconv.AppendUint(b, w.events, 10)
	b = append(b, " t="...)
	b = w.now.appendTo(b)
	b = append(b, ' ')
	if node == 0 {
		b = append(b, "world"...)
	} else {
		b = append(b, 'n')
		b = strconv.AppendUint(b, uint64(node), 10)
	}
	return append(b, ' ')
}

func (w *World) writeTrace(b []byte) {
	w.line = b
	if _, err := w.trace.Write(b); err != nil {
		w.traceErr = err
		w.trace = nil
	}
}

// Record folds a fact into the trace hash (and prints it when tracing) on
// behalf of machine m (0: the world). Arguments of basic types (integers,
// strings, byte slices, bools, NodeID, Time, Duration, errors) are hashed
// directly; anything else through fmt.Sprint, so it must format
// deterministically.
func (w *World) Record(m NodeID, format string, args ...any) {
	h := hashWord(w.hash, uint64(m))
	h = hashString(h, format)
	for _, a := range args {
		h = hashArg(h, a)
	}
	w.hash = h
	if w.trace != nil {
		b := w.traceHead(w.line[:0], m)
		b = fmt.Appendf(b, format, args...)
		b = append(b, '\n')
		w.writeTrace(b)
	}
}

func hashArg(h uint64, a any) uint64 {
	switch v := a.(type) {
	case int:
		return hashWord(h, uint64(v))
	case int64:
		return hashWord(h, uint64(v))
	case int32:
		return hashWord(h, uint64(v))
	case uint:
		return hashWord(h, uint64(v))
	case uint64:
		return hashWord(h, v)
	case uint32:
		return hashWord(h, uint64(v))
	case uint8:
		return hashWord(h, uint64(v))
	case bool:
		if v {
			return hashWord(h, 1)
		}
		return hashWord(h, 0)
	case NodeID:
		return hashWord(h, uint64(v))
	case Time:
		return hashWord(h, uint64(v))
	case time.Duration:
		return hashWord(h, uint64(v))
	case string:
		return hashString(hashWord(h, uint64(len(v))), v)
	case []byte:
		return hashBytes(hashWord(h, uint64(len(v))), v)
	case error:
		return hashString(h, v.Error())
	case nil:
		return hashWord(h, 0)
	}
	return hashString(h, fmt.Sprint(a))
}

// fault counts one injected fault of the given kind, hashes it and traces it.
func (w *World) fault(kind string, node NodeID, arg int64) {
	w.counts[kind]++
	h := hashString(hashWord(w.hash, uint64(node)), kind)
	w.hash = hashWord(h, uint64(arg))
	if w.trace != nil {
		b := w.traceHead(w.line[:0], node)
		b = append(b, "fault "...)
		b = append(b, kind...)
		if arg != 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, arg, 10)
		}
		b = append(b, '\n')
		w.writeTrace(b)
	}
}

// FaultCounts returns how many faults of each kind were injected so far
// (a fresh map; sort its keys before printing). Kinds: see the package doc.
func (w *World) FaultCounts() map[string]int64 {
	out := make(map[string]int64, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

// FaultKinds returns the keys of FaultCounts, sorted.
func (w *World) FaultKinds() []string {
	keys := make([]string, 0, len(w.counts))
	for k := range w.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
