package checker

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/anishathalye/porcupine"
)

// stepBudget counts, and bounds, the model steps of one porcupine search,
// per partition. Porcupine searches the partitions on goroutines of its own,
// one each, so every counter is advanced by one goroutine and counts
// deterministically. The counters are atomic because after a wall-clock
// timeout porcupine returns before its goroutine has stopped stepping.
type stepBudget[K comparable] struct {
	max      int64
	counters map[K]*atomic.Int64 // the map is read-only once built
	exceeded atomic.Bool
}

// search runs one porcupine search of ops under opts and returns the
// verdict and the model steps it took. The verdict is Unknown when the
// search was cut short by opts.Timeout or opts.MaxSteps.
func (sp *spec[I, O, S, K]) search(ops []porcupine.Operation, opts Options) (porcupine.CheckResult, int64) {
	model, budget := sp.budgetedModel(ops, opts.MaxSteps)
	verdict := porcupine.CheckOperationsTimeout(model, ops, opts.Timeout)
	return budget.verdict(verdict), budget.steps()
}

// searchVerbose is search with porcupine's linearization info.
func (sp *spec[I, O, S, K]) searchVerbose(ops []porcupine.Operation, opts Options) (porcupine.CheckResult, porcupine.LinearizationInfo) {
	model, budget := sp.budgetedModel(ops, opts.MaxSteps)
	verdict, info := porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	return budget.verdict(verdict), info
}

// verdict turns an Illegal reached after the budget ran out into Unknown:
// past the budget every step fails, so only Ok stays trustworthy (every
// step on the path it found succeeded for real).
func (b *stepBudget[K]) verdict(v porcupine.CheckResult) porcupine.CheckResult {
	if v == porcupine.Illegal && b.exceeded.Load() {
		return porcupine.Unknown
	}
	return v
}

func (b *stepBudget[K]) steps() int64 {
	var n int64
	for _, c := range b.counters {
		n += min(c.Load(), b.max)
	}
	return n
}

// budgetedModel returns the model with a step counter for each partition
// of ops, bounded by maxSteps (<= 0: unbounded).
func (sp *spec[I, O, S, K]) budgetedModel(ops []porcupine.Operation, maxSteps int64) (porcupine.Model, *stepBudget[K]) {
	if maxSteps <= 0 {
		maxSteps = math.MaxInt64
	}
	b := &stepBudget[K]{max: maxSteps, counters: make(map[K]*atomic.Int64)}
	for _, op := range ops {
		k := sp.key(op.Input.(I))
		if b.counters[k] == nil {
			b.counters[k] = new(atomic.Int64)
		}
	}
	model := sp.model()
	step := model.Step
	model.Step = func(state, input, output any) (bool, any) {
		k := sp.key(input.(I))
		c := b.counters[k]
		if c == nil {
			panic(fmt.Sprintf("checker: step on partition %v, which the search was not given", k))
		}
		if c.Add(1) > b.max {
			b.exceeded.Store(true)
			return false, state
		}
		return step(state, input, output)
	}
	return model, b
}

// capSteps returns opts with MaxSteps lowered to at most n.
func capSteps(opts Options, n int64) Options {
	if opts.MaxSteps <= 0 || opts.MaxSteps > n {
		opts.MaxSteps = n
	}
	return opts
}
