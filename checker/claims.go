package checker

import (
	"cmp"
	"slices"

	"github.com/anishathalye/porcupine"
)

// Claimed orders: a system under test often knows the moment each of its
// operations took effect (the simulator sees a memory agent execute a load
// at the page's owner). History.Claim records such a moment. A partition
// whose claims make a legal sequential history is linearizable, and the
// check proves it in O(n log n) instead of porcupine's search:
//
//   - every definite operation has exactly one claim, inside its own
//     [Call, Return] interval (so ordering by claim respects real time:
//     a.Return < b.Call implies claim(a) < claim(b));
//   - an operation of unknown outcome has at most one claim, not before its
//     call; one without a claim goes last, where it may take effect or not
//     (its return is infinite, so nothing must follow it);
//   - replaying the operations in claim order through the model, each
//     definite output is what the model answers, and each unknown one
//     applies its effect.
//
// A claim is only a candidate: when any of this does not hold (a missing
// or repeated claim, a claim outside its interval, a replay that fails,
// or simply a system that lies), the partition gets porcupine's full
// search, so a wrong claim can never hide a violation.

// claimMany marks an operation claimed more than once (it may have taken
// effect twice, or the claims are ambiguous): no claimed order then.
const claimMany = -2

// claimNone: the operation has no claim.
const claimNone = -1

// claimedLegal reports whether part's claims prove it linearizable: with
// every claim, or else with the claims of unknown operations left out (an
// unknown write that ran on a machine which then died may have been lost
// with it: it then never took effect, which its claim cannot say).
func (sp *spec[I, O, S, K]) claimedLegal(part []porcupine.Operation) bool {
	legal, unknownClaims := sp.claimedReplay(part, true)
	if !legal && unknownClaims {
		legal, _ = sp.claimedReplay(part, false)
	}
	return legal
}

// claimedReplay replays part in claim order; unknownClaimed: whether the
// claims of unknown operations count (else they all go last). It also
// reports whether any unknown operation had a claim.
func (sp *spec[I, O, S, K]) claimedReplay(part []porcupine.Operation, unknownClaimed bool) (legal, unknownClaims bool) {
	order := make([]porcupine.Operation, 0, len(part))
	for _, op := range part {
		at := op.Metadata.(opMeta).claim
		unknown := op.Output.(result[O]).unknown
		if unknown && at != claimNone {
			unknownClaims = true
		}
		switch {
		case unknown && (at == claimNone || !unknownClaimed):
			continue // linearized last, whatever it does
		case at == claimMany, at == claimNone, at < op.Call, at > op.Return:
			return false, unknownClaims
		}
		order = append(order, op)
	}
	slices.SortStableFunc(order, func(a, b porcupine.Operation) int {
		return cmp.Compare(a.Metadata.(opMeta).claim, b.Metadata.(opMeta).claim)
	})
	s := sp.init
	for _, op := range order {
		in, r := op.Input.(I), op.Output.(result[O])
		if r.unknown {
			s = sp.effect(s, in)
			continue
		}
		ok, next := sp.step(s, in, r.out)
		if !ok {
			return false, unknownClaims
		}
		s = next
	}
	return true, unknownClaims
}

// dropClaimed returns the operations of the partitions their claims do
// not prove, in their original order, and how many partitions were proven.
func (sp *spec[I, O, S, K]) dropClaimed(ops []porcupine.Operation) ([]porcupine.Operation, int) {
	keys, parts := sp.partition(ops)
	proven := make(map[K]bool)
	for i, part := range parts {
		if sp.claimedLegal(part) {
			proven[keys[i]] = true
		}
	}
	if len(proven) == 0 {
		return ops, 0
	}
	rest := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if !proven[sp.key(op.Input.(I))] {
			rest = append(rest, op)
		}
	}
	return rest, len(proven)
}
