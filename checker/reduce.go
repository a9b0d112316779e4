package checker

import (
	"math"

	"github.com/anishathalye/porcupine"
)

// Unknown outcomes are what makes a check expensive: porcupine keeps an
// operation with Return = math.MaxInt64 pending to the end, and proving a
// history illegal means trying every subset of the pending ones at every
// point (2^k for k unknown writes on one key). Most unknown writes can be
// resolved exactly beforehand when written values are unique, which is why
// workloads should write unique values.
//
// Let u be an unknown write of value v on one key (a put, a word write, or
// a CAS whose new value is v), v written by no other operation and not the
// initial value:
//
//   - If definite operations observed v (a read returned it, a CAS found or
//     expected it and swapped), u took effect before the first of them
//     returned, at time R: only u produces v. Bounding u's Return by R keeps
//     exactly the same linearizations (any linearization already places u
//     before that observer, hence before everything called after R).
//   - If nothing observed v, no CAS expects v, and no "pinning" failed CAS
//     (below) returned after u's call, u is dropped. Legal without u implies
//     legal with u: put u last. Legal with u implies legal without: between
//     u and the next overwrite the state is v, so the operations linearized
//     there are not reads (they would return v), nor definite CASes that
//     report what they found (they would observe v); they are unknown
//     operations, legal in any state, and key-value failed CASes, which only
//     prove "the state is not e". Without u such a CAS sees the state before
//     u instead of v, which is fine unless that state can be e. So a
//     key-value failed CAS expecting e pins u unless e cannot be the state
//     during its interval: every operation that may write e (and the initial
//     state, if it is e) is followed by a definite write of another value
//     that returned before the CAS was called.
//
// For words the rule needs "no fetch-add at this address": a fetch-add can
// produce v from another value, so v is not unique there.

// stateVal is a value of one partition's state, as reduceUnknowns compares
// them: a key-value value or absence, or a word in decimal.
type stateVal struct {
	s      string
	absent bool
}

// reduceHooks tells reduceUnknowns what the operations of a family do to
// and reveal about the state's value.
type reduceHooks[I, O any] struct {
	initial stateVal
	// writes: the value an operation sets if it takes effect.
	writes func(I) (stateVal, bool)
	// sets: the value a definite operation did set.
	sets func(I, O) (stateVal, bool)
	// expects: the value a CAS compares with, whatever its outcome.
	expects func(I) (stateVal, bool)
	// observes: the values a definite output proves the state held.
	observes func(I, O) []stateVal
	// negative: a definite output that proves only "the state was not e".
	negative func(I, O) (e stateVal, ok bool)
	// reducible: values in this partition come only from writes.
	reducible func([]porcupine.Operation) bool
}

// pinWorkMax bounds the work spent deciding whether failed CASes pin
// anything, per partition; past it every failed CAS pins (the safe answer).
const pinWorkMax = 1 << 22

// reduceUnknowns applies the rules above, and a family's own
// (spec.dropUnknowns), partition by partition, and
// returns the operations in their original order.
func (sp *spec[I, O, S, K]) reduceUnknowns(ops []porcupine.Operation) []porcupine.Operation {
	if sp.reduce == nil && sp.dropUnknowns == nil {
		return ops
	}
	drop := make(map[OpID]bool)
	bound := make(map[OpID]int64)
	_, parts := sp.partition(ops)
	for _, part := range parts {
		if sp.reduce != nil && sp.reduce.reducible(part) {
			reducePartition(sp.reduce, part, drop, bound)
		}
		if sp.dropUnknowns != nil {
			sp.dropUnknowns(part, drop)
		}
	}
	if len(drop) == 0 && len(bound) == 0 {
		return ops
	}
	out := make([]porcupine.Operation, 0, len(ops)-len(drop))
	for _, op := range ops {
		id := op.Metadata.(opMeta).id
		if drop[id] {
			continue
		}
		if r, ok := bound[id]; ok {
			op.Return = r
		}
		out = append(out, op)
	}
	return out
}

// valueFacts is what one partition's operations say about values.
type valueFacts struct {
	writers   map[stateVal][]interval // operations that may write each value
	firstSeen map[stateVal]int64      // earliest return of a definite observer of each value
	expected  map[stateVal]bool       // values some CAS expects
	// lastPin is the latest return of a failed CAS that pins (see above).
	lastPin int64
}

// interval is an operation's [call, return]; return is math.MaxInt64 for
// an unknown outcome.
type interval struct{ call, ret int64 }

// setter is a definite operation that set the state to val.
type setter struct {
	interval
	val stateVal
}

func reducePartition[I, O any](hk *reduceHooks[I, O], part []porcupine.Operation, drop map[OpID]bool, bound map[OpID]int64) {
	f := partitionFacts(hk, part)
	for _, op := range part {
		if !op.Output.(result[O]).unknown {
			continue
		}
		v, ok := hk.writes(op.Input.(I))
		if !ok || len(f.writers[v]) != 1 {
			continue
		}
		id := op.Metadata.(opMeta).id
		if t, seen := f.firstSeen[v]; seen {
			if t >= op.Call { // else v was seen before u was called: illegal, leave it to porcupine
				bound[id] = t
			}
			continue
		}
		if !f.expected[v] && f.lastPin < op.Call {
			drop[id] = true
		}
	}
}

func partitionFacts[I, O any](hk *reduceHooks[I, O], part []porcupine.Operation) valueFacts {
	f := valueFacts{
		writers:   map[stateVal][]interval{hk.initial: {{call: math.MinInt64, ret: math.MinInt64}}},
		firstSeen: make(map[stateVal]int64),
		expected:  make(map[stateVal]bool),
		lastPin:   -1,
	}
	var setters []setter
	for _, op := range part {
		in, r := op.Input.(I), op.Output.(result[O])
		if v, ok := hk.writes(in); ok {
			f.writers[v] = append(f.writers[v], interval{op.Call, op.Return})
		}
		if v, ok := hk.expects(in); ok {
			f.expected[v] = true
		}
		if r.unknown {
			continue
		}
		if v, ok := hk.sets(in, r.out); ok {
			setters = append(setters, setter{interval{op.Call, op.Return}, v})
		}
		for _, v := range hk.observes(in, r.out) {
			if t, ok := f.firstSeen[v]; !ok || op.Return < t {
				f.firstSeen[v] = op.Return
			}
		}
	}
	work := 0
	for _, op := range part {
		r := op.Output.(result[O])
		if r.unknown || op.Return <= f.lastPin {
			continue
		}
		e, ok := hk.negative(op.Input.(I), r.out)
		if ok && mayHold(f.writers[e], setters, e, op.Call, &work) {
			f.lastPin = op.Return
		}
	}
	return f
}

// mayHold reports whether the state can be e when an operation called at
// call linearizes: some writer of e is not followed by a definite write of
// another value that returned before call.
func mayHold(writers []interval, setters []setter, e stateVal, call int64, work *int) bool {
	for _, w := range writers {
		overwritten := false
		for _, d := range setters {
			*work++
			if *work > pinWorkMax {
				return true
			}
			if d.val != e && d.call > w.ret && d.ret < call {
				overwritten = true
				break
			}
		}
		if !overwritten {
			return true
		}
	}
	return false
}
