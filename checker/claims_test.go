package checker

import (
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyClaimsNeverChangeTheVerdict: claims only speed a check up.
// Truthful claims (the moments the drawn run applied each operation),
// missing ones, repeated ones and lies (any moment at all) must give the
// verdict the search gives without claims, on histories that are legal
// and on corrupted ones.
func TestPropertyClaimsNeverChangeTheVerdict(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs, points, applied := drawConcurrentWordsWithPoints(t)
		plain, claimed := build(recs), build(recs)
		for i := range recs {
			id := OpID(i)
			switch rapid.IntRange(0, 9).Draw(t, "claim") {
			case 0: // none
			case 1:
				claimed.Claim(id, rapid.Int64Range(0, 60).Draw(t, "lie"))
			case 2:
				claimed.Claim(id, points[i])
				claimed.Claim(id, points[i])
			default:
				if applied[i] {
					claimed.Claim(id, points[i])
				}
			}
		}
		got, want := CheckWords(claimed, Options{}), CheckWords(plain, Options{})
		if got.OK != want.OK {
			t.Fatalf("CheckWords with claims OK = %v (%d partitions claimed), without = %v\n%s", got.OK, got.Claimed, want.OK, got.Violation)
		}
	})
}

func TestClaims(t *testing.T) {
	const a, b = gaddr, gaddr + 8
	legal := []wordRec{
		{client: 0, in: wr(a, 1), call: 0, ret: 10},
		{client: 1, in: rd(a), out: val(1), call: 2, ret: 12},
		{client: 2, in: fadd(b, 2), out: val(0), call: 3, ret: 4},
		{client: 2, in: rd(b), out: val(2), call: 5, ret: 6},
	}
	stale := []wordRec{ // the read starts after the write ended, and reads 0
		{client: 0, in: wr(a, 1), call: 0, ret: 10},
		{client: 1, in: rd(a), out: val(0), call: 20, ret: 30},
	}
	lostWrite := []wordRec{ // the unknown write ran, then was lost with its machine
		{client: 0, in: wr(a, 1), call: 0, ret: 10},
		{client: 1, in: wr(a, 2), call: 11, ret: unknownRet},
		{client: 2, in: rd(a), out: val(1), call: 20, ret: 30},
	}
	tests := []struct {
		name        string
		recs        []wordRec
		claims      map[OpID]int64
		ok          bool
		claimedWant int
	}{
		{"truthful claims prove both words", legal, map[OpID]int64{0: 1, 1: 11, 2: 3, 3: 6}, true, 2},
		{"a claim out of order is searched", legal, map[OpID]int64{0: 9, 1: 8, 2: 3, 3: 6}, true, 1},
		{"a claim outside its interval is searched", legal, map[OpID]int64{0: 1, 1: 13, 2: 3, 3: 6}, true, 1},
		{"no claims at all", legal, nil, true, 0},
		{"an unknown write's claim may be dropped", lostWrite, map[OpID]int64{0: 1, 1: 12, 2: 25}, true, 1},
		{"a lie cannot hide a stale read", stale, map[OpID]int64{0: 25, 1: 22}, false, 0},
		{"a lie outside intervals either", stale, map[OpID]int64{0: 5, 1: 4}, false, 0},
	}
	for _, tt := range tests {
		h := build(tt.recs)
		for id, at := range tt.claims {
			h.Claim(id, at)
		}
		r := CheckWords(h, Options{})
		if r.OK != tt.ok || r.Claimed != tt.claimedWant {
			t.Errorf("%s: CheckWords = (OK %v, claimed %d), want (%v, %d)", tt.name, r.OK, r.Claimed, tt.ok, tt.claimedWant)
		}
	}
}
