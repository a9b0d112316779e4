package checker

import (
	"cmp"
	"slices"

	"github.com/anishathalye/porcupine"
)

// staticWitness looks for a violation that needs no search, so that the
// commonest sign of a broken store (a read of garbage) costs nothing even
// when the partition's history would take an exponential search. It
// returns the operations that are illegal together, in call order, or nil:
//   - a definite observation of a value that no operation writes (nor the
//     initial state holds): no interleaving produces that state;
//   - a definite observation of a value whose only writer was called after
//     the observer returned: the writer linearizes after the observer.
//
// Like reduceUnknowns it needs values that come only from writes (no
// fetch-add at the address).
func (sp *spec[I, O, S, K]) staticWitness(part []porcupine.Operation) []porcupine.Operation {
	hk := sp.reduce
	if hk == nil || !hk.reducible(part) {
		return nil
	}
	const initialWriter = -1
	writers := map[stateVal][]int{hk.initial: {initialWriter}}
	for i, op := range part {
		if v, ok := hk.writes(op.Input.(I)); ok {
			writers[v] = append(writers[v], i)
		}
	}
	for _, op := range part {
		r := op.Output.(result[O])
		if r.unknown {
			continue
		}
		for _, v := range hk.observes(op.Input.(I), r.out) {
			ws := writers[v]
			if len(ws) == 0 {
				return []porcupine.Operation{op}
			}
			if len(ws) == 1 && ws[0] != initialWriter && part[ws[0]].Call > op.Return {
				w := []porcupine.Operation{part[ws[0]], op}
				slices.SortStableFunc(w, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
				return w
			}
		}
	}
	return nil
}
