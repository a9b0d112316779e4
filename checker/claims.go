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

// claimed is one operation as the claims see it.
type claimed[I, O any] struct {
	in        I
	out       O
	unknown   bool
	call, ret int64
	at        int64 // the claim: claimNone, claimMany or a moment
}

// claimedLegal reports whether part's claims prove it linearizable: with
// every claim, or else with the claims of unknown operations left out (an
// unknown write that ran on a machine which then died may have been lost
// with it: it then never took effect, which its claim cannot say).
func (sp *spec[I, O, S, K]) claimedLegal(part []claimed[I, O]) bool {
	legal, unknownClaims := sp.claimedReplay(part, true)
	if !legal && unknownClaims {
		legal, _ = sp.claimedReplay(part, false)
	}
	return legal
}

// claimedReplay replays part in claim order; unknownClaimed: whether the
// claims of unknown operations count (else they all go last). It also
// reports whether any unknown operation had a claim.
func (sp *spec[I, O, S, K]) claimedReplay(part []claimed[I, O], unknownClaimed bool) (legal, unknownClaims bool) {
	order := make([]*claimed[I, O], 0, len(part))
	for i := range part {
		op := &part[i]
		if op.unknown && op.at != claimNone {
			unknownClaims = true
		}
		switch {
		case op.unknown && (op.at == claimNone || !unknownClaimed):
			continue // linearized last, whatever it does
		case op.at == claimMany, op.at == claimNone, op.at < op.call, op.at > op.ret:
			return false, unknownClaims
		}
		order = append(order, op)
	}
	slices.SortStableFunc(order, func(a, b *claimed[I, O]) int { return cmp.Compare(a.at, b.at) })
	s := sp.init
	for _, op := range order {
		if op.unknown {
			s = sp.effect(s, op.in)
			continue
		}
		ok, next := sp.step(s, op.in, op.out)
		if !ok {
			return false, unknownClaims
		}
		s = next
	}
	return true, unknownClaims
}

// claimedOps is a partition of porcupine operations as the claims see it.
func claimedOps[I, O any](part []porcupine.Operation) []claimed[I, O] {
	out := make([]claimed[I, O], len(part))
	for i, op := range part {
		r := op.Output.(result[O])
		out[i] = claimed[I, O]{in: op.Input.(I), out: r.out, unknown: r.unknown, call: op.Call, ret: op.Return, at: op.Metadata.(opMeta).claim}
	}
	return out
}

// provenByClaims returns the keys whose operations in h the claims prove
// linearizable, straight from the typed history (no porcupine operations
// are built for them). The operations are the ones operations() keeps.
func (sp *spec[I, O, S, K]) provenByClaims(h *History[I, O]) map[K]bool {
	groups := make(map[K][]claimed[I, O])
	for i := range h.ops {
		op := &h.ops[i]
		unknown := op.Status == StatusUnknown || op.Status == StatusPending
		if op.Status == StatusFailed || (unknown && sp.readOnly(op.Input)) {
			continue
		}
		k := sp.key(op.Input)
		groups[k] = append(groups[k], claimed[I, O]{in: op.Input, out: op.Output, unknown: unknown,
			call: op.Call, ret: op.Return, at: h.claimAt(OpID(i))})
	}
	proven := make(map[K]bool)
	for k, part := range groups {
		if sp.claimedLegal(part) {
			proven[k] = true
		}
	}
	return proven
}
