package checker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

const (
	maxTime = math.MaxInt64
	// shrinkChecksMax bounds the porcupine searches one shrink makes.
	shrinkChecksMax = 200
	// Proving a history illegal is an exhaustive search, so explaining a
	// failure costs a multiple of the search that found it (s0 steps): one
	// search of the explanation may take 2*s0 + explainStepsMin steps, the
	// whole shrink 2*min(s0, shrinkBaseStepsMax) + 8*explainStepsMin (when
	// s0 is large each shrink step costs about s0, so shrinking gives way to
	// naming the operation the search got stuck on). Step counts, not wall
	// time, keep the text deterministic.
	explainStepsMin    = 100_000
	shrinkBaseStepsMax = 1_000_000
	// witnessLinesMax: a witness longer than this is not listed whole.
	witnessLinesMax = 40
	// prefixLinesMax bounds the steps of a legal order, and the candidate
	// operations, listed in a violation.
	prefixLinesMax = 12
)

// searcher runs a bounded number of searches on one partition.
type searcher[I any, O outcome, S comparable, K cmp.Ordered] struct {
	sp         *spec[I, O, S, K]
	opts       Options // MaxSteps: the cap of one search
	checksLeft int
	stepsLeft  int64
}

func (s *searcher[I, O, S, K]) exhausted() bool { return s.checksLeft <= 0 || s.stepsLeft <= 0 }

// illegal reports whether ops is proven not linearizable. Out of budget or
// timed out counts as "not proven", so a shrink step is never taken on a
// guess.
func (s *searcher[I, O, S, K]) illegal(ops []porcupine.Operation) bool {
	if s.exhausted() {
		return false
	}
	s.checksLeft--
	verdict, steps := s.sp.search(ops, capSteps(s.opts, s.stepsLeft))
	s.stepsLeft -= steps
	return verdict == porcupine.Illegal
}

// class is what the shrinker may assume about one operation.
type class uint8

const (
	// classObserver: definite output that depends on the state.
	classObserver class = iota
	// classPureObserver: an observer that did not change the state
	// (a read, a failed compare-and-swap). Removing one never makes a
	// linearizable history illegal.
	classPureObserver
	// classBlind: definite, overwrites the whole state whatever it was, and
	// its output says nothing about it (put, delete, write).
	classBlind
	// classUnknown: outcome unknown; always legal, effect may depend on the
	// state.
	classUnknown
)

func (sp *spec[I, O, S, K]) classify(op porcupine.Operation) class {
	in, r := op.Input.(I), op.Output.(result[O])
	switch {
	case r.unknown:
		return classUnknown
	case sp.blind(in):
		return classBlind
	case !sp.changes(in, r.out):
		return classPureObserver
	}
	return classObserver
}

// shrink returns a small sub-history of the illegal partition part that is
// itself illegal. Every removal it tries is one that cannot turn a
// linearizable history into an illegal one, so the witness proves the
// violation on its own (a reader need not trust anything left out); each is
// also confirmed by a search.
func (sp *spec[I, O, S, K]) shrink(s *searcher[I, O, S, K], part []porcupine.Operation) []porcupine.Operation {
	w := sp.dropPureObservers(s, part)
	w = sp.tryRemove(s, w, sp.unobservedWrites(w))
	for round := 0; round < 4; round++ {
		n := len(w)
		w = sp.tryRemove(s, w, sp.trailing(w))
		w = sp.tryRemove(s, w, sp.superseded(w))
		if len(w) == n {
			break
		}
	}
	return w
}

// tryRemove removes the operations at the indexes drop if what remains is
// still illegal.
func (sp *spec[I, O, S, K]) tryRemove(s *searcher[I, O, S, K], w []porcupine.Operation, drop []int) []porcupine.Operation {
	if len(drop) == 0 {
		return w
	}
	rest := without(w, drop)
	if s.illegal(rest) {
		return rest
	}
	return w
}

// dropPureObservers is delta debugging over the pure observers: remove
// chunks of them, halving the chunk size, while the history stays illegal.
func (sp *spec[I, O, S, K]) dropPureObservers(s *searcher[I, O, S, K], w []porcupine.Operation) []porcupine.Operation {
	for chunk := max(1, sp.countClass(w, classPureObserver)/2); ; chunk /= 2 {
		for start := 0; ; start += chunk {
			idx := sp.indexesOf(w, classPureObserver)
			if start >= len(idx) {
				break
			}
			drop := idx[start:min(start+chunk, len(idx))]
			if rest := without(w, drop); s.illegal(rest) {
				w = rest
				start -= chunk // the next chunk moved into this place
			}
			if s.exhausted() {
				return w
			}
		}
		if chunk == 1 {
			return w
		}
	}
}

// unobservedWrites returns the writes (definite or not) that reduceUnknowns
// would drop if they were unknown: a unique value nobody observed or
// expects, and no failed CAS it could matter to. The argument there shows
// that removing them never makes a linearizable history illegal.
func (sp *spec[I, O, S, K]) unobservedWrites(w []porcupine.Operation) []int {
	hk := sp.reduce
	if hk == nil || !hk.reducible(w) {
		return nil
	}
	f := partitionFacts(hk, w)
	var drop []int
	for i, op := range w {
		in := op.Input.(I)
		if c := sp.classify(op); c != classBlind && c != classUnknown {
			continue
		}
		v, ok := hk.writes(in)
		if !ok || len(f.writers[v]) != 1 || f.expected[v] || f.lastPin >= op.Call {
			continue
		}
		if _, seen := f.firstSeen[v]; !seen {
			drop = append(drop, i)
		}
	}
	return drop
}

// trailing returns the non-observers called after every observer returned.
// Such operations linearize after every observer, so without them every
// observer sees the same state.
func (sp *spec[I, O, S, K]) trailing(w []porcupine.Operation) []int {
	last := int64(-1)
	for _, op := range w {
		if c := sp.classify(op); c == classObserver || c == classPureObserver {
			last = max(last, op.Return)
		}
	}
	var drop []int
	for i, op := range w {
		if c := sp.classify(op); (c == classBlind || c == classUnknown) && op.Call > last {
			drop = append(drop, i)
		}
	}
	return drop
}

// superseded returns the blind writes that returned before another blind
// write w2 was called, where w2 returned before every other operation was
// called: whatever they wrote, w2 overwrote before anything could look.
func (sp *spec[I, O, S, K]) superseded(w []porcupine.Operation) []int {
	firstCall := int64(maxTime)
	for _, op := range w {
		if sp.classify(op) != classBlind {
			firstCall = min(firstCall, op.Call)
		}
	}
	cut := int64(-1) // latest call of a blind write that ended before firstCall
	for _, op := range w {
		if sp.classify(op) == classBlind && op.Return < firstCall {
			cut = max(cut, op.Call)
		}
	}
	var drop []int
	for i, op := range w {
		if sp.classify(op) == classBlind && op.Return < cut {
			drop = append(drop, i)
		}
	}
	return drop
}

func (sp *spec[I, O, S, K]) countClass(w []porcupine.Operation, c class) int {
	return len(sp.indexesOf(w, c))
}

func (sp *spec[I, O, S, K]) indexesOf(w []porcupine.Operation, c class) []int {
	var idx []int
	for i, op := range w {
		if sp.classify(op) == c {
			idx = append(idx, i)
		}
	}
	return idx
}

// without returns w minus the operations at the ascending indexes drop.
func without(w []porcupine.Operation, drop []int) []porcupine.Operation {
	rest := make([]porcupine.Operation, 0, len(w)-len(drop))
	j := 0
	for i, op := range w {
		if j < len(drop) && drop[j] == i {
			j++
			continue
		}
		rest = append(rest, op)
	}
	return rest
}

// describeFailure writes the witness of one illegal partition: the static
// witness when there is one, else a shrunk part. s0 is the number of steps
// the search that found part illegal took.
func (sp *spec[I, O, S, K]) describeFailure(b *strings.Builder, key string, part []porcupine.Operation, opts Options, s0 int64, static []porcupine.Operation) {
	opts = capSteps(opts, 2*s0+explainStepsMin)
	w := static
	if w == nil {
		s := &searcher[I, O, S, K]{sp: sp, opts: opts, checksLeft: shrinkChecksMax, stepsLeft: 2*min(s0, shrinkBaseStepsMax) + 8*explainStepsMin}
		w = sp.shrink(s, part)
	}
	if len(w) < len(part) {
		fmt.Fprintf(b, "%s: %d ops; this subset of %d is already not linearizable:\n", key, len(part), len(w))
	} else {
		fmt.Fprintf(b, "%s: %d ops, not linearizable:\n", key, len(part))
	}
	if len(w) > witnessLinesMax {
		b.WriteString("  (too many to list: see the visualisation)\n")
	} else {
		for _, op := range w {
			fmt.Fprintf(b, "  %s\n", sp.describeLine(op))
		}
	}
	sp.describeLongestPrefix(b, w, opts)
}

func (sp *spec[I, O, S, K]) describeLine(op porcupine.Operation) string {
	r := op.Output.(result[O])
	ret, note := fmt.Sprint(op.Return), ""
	if r.unknown {
		ret = "?"
		if op.Return != maxTime { // bounded by reduceUnknowns
			note = fmt.Sprintf(" (took effect by %d, when its value was seen)", op.Return)
		}
	}
	return fmt.Sprintf("%-18s [%d, %s] %s%s", op.Metadata.(opMeta).String()+":", op.Call, ret,
		sp.describeOp(op.Input.(I), r.out, r.unknown), note)
}

// describeLongestPrefix writes the longest legal order porcupine found for
// the witness w, with the state after each step.
func (sp *spec[I, O, S, K]) describeLongestPrefix(b *strings.Builder, w []porcupine.Operation, opts Options) {
	verdict, info := sp.searchVerbose(w, opts)
	partials := info.PartialLinearizations()
	if verdict != porcupine.Illegal || len(partials) != 1 {
		return
	}
	best := longestPartial(partials[0])
	model := sp.model()
	state := sp.init
	if len(best) == 0 {
		fmt.Fprintf(b, "no op can come first: from the initial state %s every candidate is impossible", sp.describeState(state))
	} else {
		fmt.Fprintf(b, "longest legal order found (%d of %d ops), state after each:\n", len(best), len(w))
		if skipped := len(best) - prefixLinesMax; skipped > 0 {
			fmt.Fprintf(b, "  ... %d earlier steps\n", skipped)
		}
		for i, id := range best {
			op := w[id]
			ok, next := model.Step(state, op.Input, op.Output)
			if !ok {
				panic(fmt.Sprintf("checker: porcupine's partial linearization has an illegal step at %v", op.Metadata))
			}
			state = next.(S)
			if i >= len(best)-prefixLinesMax {
				fmt.Fprintf(b, "  %-18s %s  => %s\n", op.Metadata.(opMeta).String()+":",
					model.DescribeOperation(op.Input, op.Output), sp.describeState(state))
			}
		}
		fmt.Fprintf(b, "then none of the %d remaining ops can come next", len(w)-len(best))
	}
	sp.describeStuck(b, w, best)
}

// describeStuck names the remaining operation that returns first (it must
// come next or before something that does) and, when the witness is too
// long to have been listed, the others that could come next.
func (sp *spec[I, O, S, K]) describeStuck(b *strings.Builder, w []porcupine.Operation, prefix []int) {
	done := make([]bool, len(w))
	for _, id := range prefix {
		done[id] = true
	}
	first := -1
	for i, op := range w {
		if !done[i] && (first < 0 || op.Return < w[first].Return) {
			first = i
		}
	}
	fmt.Fprintf(b, "; the first of them to return:\n  %s", sp.describeLine(w[first]))
	if len(w) <= witnessLinesMax {
		return
	}
	var others []int
	for i, op := range w {
		if !done[i] && i != first && op.Call <= w[first].Return {
			others = append(others, i)
		}
	}
	if len(others) == 0 {
		return
	}
	b.WriteString("\nand the others called before it returned:")
	for n, i := range others {
		if n == prefixLinesMax {
			fmt.Fprintf(b, "\n  ... %d more", len(others)-n)
			break
		}
		fmt.Fprintf(b, "\n  %s", sp.describeLine(w[i]))
	}
}

// longestPartial picks the longest sequence, the lexicographically smallest
// among equals: porcupine returns them in map order.
func longestPartial(partials [][]int) []int {
	var best []int
	for _, p := range partials {
		if len(p) > len(best) || (len(p) == len(best) && slices.Compare(p, best) < 0) {
			best = p
		}
	}
	return best
}
