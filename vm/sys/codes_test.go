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
