package sys

import "testing"

func TestTrapNames(t *testing.T) {
	seen := map[string]Trap{}
	for k := Trap(0); k < NumTraps; k++ {
		name := k.String()
		if name == "" || name == "unknown trap" {
			t.Errorf("Trap(%d) has no name", k)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("Trap(%d) and Trap(%d) are both %q", prev, k, name)
		}
		seen[name] = k
	}
	if got := NumTraps.String(); got != "unknown trap" {
		t.Errorf("NumTraps.String() = %q, want unknown trap", got)
	}
}

func TestErrnoNeg(t *testing.T) {
	if got := int64(ENOENT.Neg()); got != -2 {
		t.Errorf("ENOENT.Neg() = %d, want -2", got)
	}
	if r := ErrReply(EBADF); int64(r.Val) != -9 || r.Trap != TrapNone {
		t.Errorf("ErrReply(EBADF) = %+v, want Val -9 and no trap", r)
	}
}

func TestReqIDOrderAndIdentity(t *testing.T) {
	ids := []ReqID{
		{Machine: 1, Incarnation: 1, Core: 0, Seq: 1},
		{Machine: 1, Incarnation: 1, Core: 0, Seq: 2},
		{Machine: 1, Incarnation: 1, Core: 1, Seq: 1},
		{Machine: 1, Incarnation: 2, Core: 0, Seq: 1},
		{Machine: 2, Incarnation: 1, Core: 0, Seq: 1},
	}
	for i := range ids {
		for j := range ids {
			if got, want := ids[i].Less(ids[j]), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", ids[i], ids[j], got, want)
			}
		}
	}
	// A restart (new incarnation) never collides with the old numbering.
	if before, after := (ReqID{Machine: 3, Incarnation: 1, Seq: 7}), (ReqID{Machine: 3, Incarnation: 2, Seq: 7}); before == after {
		t.Errorf("ids of two incarnations compare equal: %v", before)
	}
	if !(ReqID{}).IsZero() || ids[0].IsZero() {
		t.Errorf("IsZero wrong: zero=%v, %v=%v", (ReqID{}).IsZero(), ids[0], ids[0].IsZero())
	}
	if got, want := ids[2].String(), "m1.i1.c1#1"; got != want {
		t.Errorf("ReqID.String() = %q, want %q", got, want)
	}
}
