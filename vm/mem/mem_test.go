package mem

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

func newLocal(t *testing.T, acct *Account) *Local {
	t.Helper()
	l, trap := NewLocal(&isa.Program{ROData: []byte("ro"), Data: []byte{9}}, acct)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	return l
}

func TestRoundSize(t *testing.T) {
	for _, tc := range []struct{ n, want uint64 }{{0, 8}, {1, 8}, {8, 8}, {9, 16}, {4095, 4096}} {
		if got, ok := RoundSize(tc.n); !ok || got != tc.want {
			t.Errorf("RoundSize(%d) = %d, %v; want %d", tc.n, got, ok, tc.want)
		}
	}
	if _, ok := RoundSize(1 << 63); ok {
		t.Errorf("RoundSize(1<<63) ok, want overflow")
	}
}

func TestAllocRoundsAndAligns(t *testing.T) {
	l := newLocal(t, &Account{})
	for _, n := range []uint64{1, 7, 8, 13, 0} {
		a, trap := l.Alloc(n)
		if trap != sys.TrapNone || a%8 != 0 {
			t.Fatalf("Alloc(%d) = %#x, %v", n, a, trap)
		}
	}
	a, _ := l.Alloc(5)
	b, _ := l.Alloc(5)
	if b-a != 8 {
		t.Errorf("two ALLOC 5 are %d bytes apart, want 8", b-a)
	}
}

// TestSnapshotSemantics: a snapshot sees the parent's memory at the moment
// it was taken; afterwards writes on either side are private.
func TestSnapshotSemantics(t *testing.T) {
	acct := &Account{}
	parent := newLocal(t, acct)
	a, _ := parent.Alloc(64)
	parent.Store64(a, 1)
	child := parent.Snapshot()
	if v, _ := child.Load64(a); v != 1 {
		t.Errorf("child sees %d at %#x, want 1", v, a)
	}
	parent.Store64(a, 2)
	child.Store64(a+8, 3)
	if v, _ := child.Load64(a); v != 1 {
		t.Errorf("child sees parent's later write: %d", v)
	}
	if v, _ := parent.Load64(a + 8); v != 0 {
		t.Errorf("parent sees child's write: %d", v)
	}
	// Allocation state is part of the snapshot: both may allocate the same
	// address independently, and the child may free the parent's block.
	pa, _ := parent.Alloc(8)
	ca, _ := child.Alloc(8)
	if pa != ca {
		t.Errorf("after the snapshot parent allocated %#x, child %#x; want the same", pa, ca)
	}
	if trap := child.Free(a); trap != sys.TrapNone {
		t.Errorf("child Free(parent's block) = %v", trap)
	}
	if trap := parent.Free(a); trap != sys.TrapNone {
		t.Errorf("parent Free after child freed its copy = %v", trap)
	}
	child.Release()
	parent.Release()
	if acct.UsedBytes() != 0 {
		t.Errorf("after releasing both, %d bytes still charged", acct.UsedBytes())
	}
}

// TestSnapshotIsCheap: taking a snapshot copies no page; the first write
// copies one.
func TestSnapshotIsCheap(t *testing.T) {
	acct := &Account{}
	parent := newLocal(t, acct)
	a, _ := parent.Alloc(1 << 20)
	before := acct.UsedBytes()
	children := make([]*Local, 100)
	for i := range children {
		children[i] = parent.Snapshot()
	}
	if acct.UsedBytes() != before {
		t.Errorf("100 snapshots charged %d bytes, want 0", acct.UsedBytes()-before)
	}
	children[0].Store64(a, 1)
	if got := acct.UsedBytes() - before; got != PageBytes {
		t.Errorf("one write after snapshots charged %d bytes, want one page (%d)", got, PageBytes)
	}
}

func TestTraps(t *testing.T) {
	l := newLocal(t, &Account{})
	tests := []struct {
		name string
		trap sys.Trap
		want sys.Trap
	}{
		{"null", second(l.Load64(0)), sys.TrapUnmapped},
		{"misaligned", second(l.Load64(isa.RODataBase + 4)), sys.TrapMisaligned},
		{"read-only", l.Store8(isa.RODataBase, 1), sys.TrapPermission},
		{"past the heap", l.Store64(1<<30, 1), sys.TrapUnmapped},
		{"bad free", l.Free(isa.RODataBase), sys.TrapBadFree},
	}
	for _, tc := range tests {
		if tc.trap != tc.want {
			t.Errorf("%s: trap %v, want %v", tc.name, tc.trap, tc.want)
		}
	}
	if v, trap := l.Load8(isa.RODataBase + 1); trap != sys.TrapNone || v != 'o' {
		t.Errorf("Load8(ro+1) = %d, %v", v, trap)
	}
}

func second(_ uint64, t sys.Trap) sys.Trap { return t }

func TestAccountLimit(t *testing.T) {
	acct := &Account{LimitBytes: 64 << 10}
	l := newLocal(t, acct)
	if _, trap := l.Alloc(1 << 20); trap != sys.TrapOutOfMemory {
		t.Errorf("Alloc(1 MiB) under a 64 KiB limit = %v, want out of memory", trap)
	}
	if _, trap := l.Alloc(1024); trap != sys.TrapNone {
		t.Errorf("Alloc(1 KiB) after a failed big one = %v", trap)
	}
}

// TestHeapModel checks the allocator against a model: live blocks never
// overlap, FREE accepts exactly the live starts, freed space is reused.
func TestHeapModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := NewHeap(4096, 1<<20)
		live := map[uint64]uint64{}
		var order []uint64
		t.Repeat(map[string]func(*rapid.T){
			"alloc": func(t *rapid.T) {
				n := rapid.Uint64Range(0, 300).Draw(t, "n")
				a, size, ok := h.Alloc(n)
				if !ok {
					return
				}
				want, _ := RoundSize(n)
				if size != want || a%8 != 0 {
					t.Fatalf("Alloc(%d) = %#x size %d, want size %d aligned", n, a, size, want)
				}
				for b, s := range live {
					if a < b+s && b < a+size {
						t.Fatalf("Alloc(%d) = [%#x,+%d) overlaps live [%#x,+%d)", n, a, size, b, s)
					}
				}
				live[a] = size
				order = append(order, a)
			},
			"free": func(t *rapid.T) {
				if len(order) == 0 {
					return
				}
				i := rapid.IntRange(0, len(order)-1).Draw(t, "i")
				a := order[i]
				order = append(order[:i], order[i+1:]...)
				if _, ok := h.Free(a); !ok {
					t.Fatalf("Free(%#x) of a live block failed", a)
				}
				delete(live, a)
				if _, ok := h.Free(a); ok {
					t.Fatalf("second Free(%#x) succeeded", a)
				}
			},
			"": func(t *rapid.T) {
				if h.LiveBlocks() != len(live) {
					t.Fatalf("heap has %d live blocks, model %d", h.LiveBlocks(), len(live))
				}
				if len(live) == 0 && h.Top() != 4096 {
					t.Fatalf("everything freed but top = %#x, want 0x1000", h.Top())
				}
			},
		})
	})
}

type recorder struct{ done []sys.ReqID }

func (r *recorder) Complete(id sys.ReqID, _ sys.Reply) { r.done = append(r.done, id) }

func TestGlobalWaitWake(t *testing.T) {
	rec := &recorder{}
	g := NewLocalGlobal(&Account{}, rec)
	r, _ := g.Alloc(sys.Caller{}, 8)
	addr := r.Val
	if addr&isa.GlobalBit == 0 {
		t.Fatalf("global address %#x lacks the MSB", addr)
	}
	if r, now := g.Wait(sys.Caller{Req: sys.ReqID{Seq: 1}}, addr, 5); !now || r.Val != 1 {
		t.Errorf("Wait on a differing value = %+v, %v; want 1 now", r, now)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		if _, now := g.Wait(sys.Caller{Req: sys.ReqID{Seq: seq}}, addr, 0); now {
			t.Errorf("Wait %d answered now, want later", seq)
		}
	}
	if r, _ := g.Wake(sys.Caller{}, addr, 2); r.Val != 2 {
		t.Errorf("Wake(2) woke %d", r.Val)
	}
	if len(rec.done) != 2 || rec.done[0].Seq != 2 || rec.done[1].Seq != 3 {
		t.Errorf("woken %v, want [2 3] in FIFO order", rec.done)
	}
	if r, _ := g.Load(sys.Caller{}, addr&^isa.GlobalBit, 8); r.Trap != sys.TrapBadAddress {
		t.Errorf("Load of a local address from global memory = %+v", r)
	}
}

// TestEncodeLocal: a Local survives encoding with its data, read-only
// pages and allocator state.
func TestEncodeLocal(t *testing.T) {
	acct := &Account{}
	l := newLocal(t, acct)
	a, _ := l.Alloc(100)
	b, _ := l.Alloc(5000)
	l.Store64(a, 42)
	l.Store8(b+4999, 7)
	l.Free(a)
	c, err := DecodeLocal(l.Encode(), acct)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Load8(b + 4999); v != 7 {
		t.Errorf("decoded byte = %d, want 7", v)
	}
	if trap := c.Store8(isa.RODataBase, 1); trap != sys.TrapPermission {
		t.Errorf("decoded read-only page writable: %v", trap)
	}
	if trap := c.Free(b); trap != sys.TrapNone {
		t.Errorf("decoded allocator lost a live block: %v", trap)
	}
	if na, _ := c.Alloc(100); na != a {
		t.Errorf("decoded allocator reuses %#x, want the freed %#x", na, a)
	}
}

func FuzzDecodeLocal(f *testing.F) {
	acct := &Account{}
	l, _ := NewLocal(&isa.Program{ROData: []byte("ro")}, acct)
	a, _ := l.Alloc(64)
	l.Store64(a, 9)
	enc := l.Encode()
	f.Add(enc[:len(enc)-4])
	f.Add([]byte(localMagic))
	f.Fuzz(func(t *testing.T, body []byte) {
		sealed := binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		for _, in := range [][]byte{body, sealed} {
			acct := &Account{LimitBytes: 64 << 20}
			l, err := DecodeLocal(in, acct)
			if err != nil {
				continue
			}
			// Whatever decodes is usable.
			l.Alloc(16)
			l.Snapshot().Release()
			l.Release()
			if acct.UsedBytes() != 0 {
				t.Fatalf("%d bytes charged after release", acct.UsedBytes())
			}
		}
	})
}
