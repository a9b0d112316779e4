package mem

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

// fataler is what both testing.TB and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// lazyPair is a source Local with pages written, its pinned snapshot, a
// lazy copy decoded from it and an eager copy (the reference model).
type lazyPair struct {
	pinned, lazy, eager *Local
	idle                int
	acct                *Account
}

func newLazyPair(t fataler, pagesWritten int, eager func(uint64) bool) (*lazyPair, uint64) {
	t.Helper()
	acct := &Account{}
	src, trap := NewLocal(&isa.Program{ROData: []byte("ro"), Data: []byte("data")}, acct)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	base, trap := src.Alloc(uint64(pagesWritten+2) * PageBytes)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	for i := range pagesWritten {
		src.Store64(base+uint64(i)*PageBytes+8, uint64(i)+100)
	}
	pinned := src.Snapshot()
	src.Release()
	lp := &lazyPair{pinned: pinned, acct: &Account{}}
	data, _ := pinned.EncodeLazy(SnapshotRef{Machine: 3, Incarnation: 7, ID: 1}, eager)
	l, err := DecodeLocal(data, lp.acct)
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Remote(); r != nil {
		r.OnIdle = func() { lp.idle++ }
	}
	lp.lazy = l
	if lp.eager, err = DecodeLocal(pinned.Encode(), &Account{}); err != nil {
		t.Fatal(err)
	}
	return lp, base
}

// fetch installs whatever the lazy side last faulted on; false if the
// trap was not a fault.
func (lp *lazyPair) fetch(t fataler, l *Local) bool {
	index, ok := l.Fault()
	if !ok {
		return false
	}
	data, err := lp.pinned.EncodePages([]uint64{index})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InstallPages([]uint64{index}, data); err != nil {
		t.Fatal(err)
	}
	return true
}

func TestLazyLocalFaultsThenMatches(t *testing.T) {
	lp, base := newLazyPair(t, 4, func(uint64) bool { return false })
	ref := lp.lazy.Remote().Ref
	if want := (SnapshotRef{3, 7, 1}); ref != want {
		t.Fatalf("Remote().Ref = %+v, want %+v", ref, want)
	}
	// Pages 0..3 of the block hold data: absent; the two after are zero: here.
	if got := len(lp.lazy.Absent()); got < 4 {
		t.Fatalf("Absent() has %d pages, want at least the 4 written", got)
	}
	if v, ok := lp.lazy.Word(base + 8); ok {
		t.Fatalf("Word on an absent page = %d, ok; want a miss", v)
	}
	if v, trap := lp.lazy.Load64(base + 4*PageBytes); trap != sys.TrapNone || v != 0 {
		t.Fatalf("Load64 of a zero page = %d, %v; want 0 at once", v, trap)
	}
	if _, trap := lp.lazy.Load64(base + 8); trap != sys.TrapUnmapped || !lp.fetch(t, lp.lazy) {
		t.Fatalf("Load64 of an absent page = %v without a fault, want TrapUnmapped and a fault", trap)
	}
	if v, trap := lp.lazy.Load64(base + 8); trap != sys.TrapNone || v != 100 {
		t.Fatalf("Load64 after the fetch = %d, %v; want 100", v, trap)
	}
	if _, ok := lp.lazy.Fault(); ok {
		t.Fatalf("Fault() answered twice for one trap")
	}
	// A duplicate answer installs nothing and breaks nothing.
	lp.lazy.Store64(base+8, 5)
	data, _ := lp.pinned.EncodePages([]uint64{(base + 8) >> pageShift})
	if err := lp.lazy.InstallPages([]uint64{(base + 8) >> pageShift}, data); err != nil {
		t.Fatal(err)
	}
	if v, _ := lp.lazy.Load64(base + 8); v != 5 {
		t.Fatalf("a duplicate fetch answer overwrote the page: %d, want 5", v)
	}
	for _, i := range lp.lazy.Absent() {
		data, _ := lp.pinned.EncodePages([]uint64{i})
		if err := lp.lazy.InstallPages([]uint64{i}, data); err != nil {
			t.Fatal(err)
		}
	}
	if lp.lazy.Lazy() || lp.idle != 1 {
		t.Fatalf("after every page: Lazy() = %v, OnIdle ran %d times; want false, 1", lp.lazy.Lazy(), lp.idle)
	}
	lp.lazy.Release()
	if lp.idle != 1 || lp.acct.UsedBytes() != 0 {
		t.Fatalf("after Release: OnIdle ran %d times, %d bytes charged; want 1, 0", lp.idle, lp.acct.UsedBytes())
	}
}

func TestLazySnapshotsShareTheRemote(t *testing.T) {
	lp, base := newLazyPair(t, 3, func(uint64) bool { return false })
	child := lp.lazy.Snapshot()
	lp.lazy.Release()
	if lp.idle != 0 {
		t.Fatalf("OnIdle ran while a snapshot still misses pages")
	}
	if _, trap := child.Load64(base + 8); trap != sys.TrapUnmapped || !lp.fetch(t, child) {
		t.Fatalf("the snapshot of a lazy Local did not fault on its absent page")
	}
	if v, _ := child.Load64(base + 8); v != 100 {
		t.Fatalf("snapshot read %d after its fetch, want 100", v)
	}
	child.Release()
	if lp.idle != 1 || lp.acct.UsedBytes() != 0 {
		t.Fatalf("OnIdle ran %d times, %d bytes charged after every Local let go; want 1, 0", lp.idle, lp.acct.UsedBytes())
	}
}

func TestLazyAllocFaultsOnAbsentPage(t *testing.T) {
	lp, base := newLazyPair(t, 2, func(uint64) bool { return false })
	// Free the block so ALLOC reuses (and zeroes) memory on absent pages.
	if trap := lp.lazy.Free(base); trap != sys.TrapNone {
		t.Fatal(trap)
	}
	for tries := 0; ; tries++ {
		a, trap := lp.lazy.Alloc(PageBytes)
		if trap == sys.TrapNone {
			if v, _ := lp.lazy.Load64(a + 8); v != 0 {
				t.Fatalf("ALLOC's block holds %d, want zeroed", v)
			}
			break
		}
		if tries > 8 || !lp.fetch(t, lp.lazy) {
			t.Fatalf("Alloc = %v after %d fetches, want a fault or success", trap, tries)
		}
	}
}

func TestEncodeOfLazyLocalPanics(t *testing.T) {
	lp, _ := newLazyPair(t, 1, func(uint64) bool { return false })
	defer func() {
		if recover() == nil {
			t.Fatalf("Encode of a lazy Local did not panic")
		}
	}()
	lp.lazy.Encode()
}

// TestLazyLocalMatchesEagerCopy: any mix of accesses, with every fault
// answered, sees exactly what an eager copy sees.
func TestLazyLocalMatchesEagerCopy(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pages := rapid.IntRange(1, 6).Draw(t, "pages")
		eagerSet := rapid.SliceOf(rapid.Uint64Range(0, 40)).Draw(t, "eager")
		lp, base := newLazyPair(t, pages, func(i uint64) bool {
			for _, e := range eagerSet {
				if e == i {
					return true
				}
			}
			return false
		})
		span := uint64(pages+2) * PageBytes
		wantIdle := 0
		if lp.lazy.Lazy() {
			wantIdle = 1
		}
		for range rapid.IntRange(1, 30).Draw(t, "ops") {
			addr := base + rapid.Uint64Range(0, span/8-1).Draw(t, "word")*8
			store := rapid.Bool().Draw(t, "store")
			v := rapid.Uint64().Draw(t, "v")
			for tries := 0; ; tries++ {
				var got, want uint64
				var trap, wantTrap sys.Trap
				if store {
					trap, wantTrap = lp.lazy.Store64(addr, v), lp.eager.Store64(addr, v)
				} else {
					got, trap = lp.lazy.Load64(addr)
					want, wantTrap = lp.eager.Load64(addr)
				}
				if trap == sys.TrapUnmapped && tries == 0 && lp.fetch(t, lp.lazy) {
					if store {
						trap = lp.lazy.Store64(addr, v) // the eager side stored already
					} else {
						got, trap = lp.lazy.Load64(addr)
					}
				}
				if trap != wantTrap || got != want {
					t.Fatalf("at %#x store=%v: lazy %d, %v; eager %d, %v", addr, store, got, trap, want, wantTrap)
				}
				break
			}
		}
		lp.lazy.Release()
		if lp.acct.UsedBytes() != 0 || lp.idle != wantIdle {
			t.Fatalf("after Release: %d bytes charged, OnIdle %d times; want 0, %d", lp.acct.UsedBytes(), lp.idle, wantIdle)
		}
	})
}

func FuzzInstallPages(f *testing.F) {
	lp, base := newLazyPair(f, 2, func(uint64) bool { return false })
	index := base >> pageShift
	good, _ := lp.pinned.EncodePages([]uint64{index})
	f.Add(good)
	f.Add([]byte{pageFlagZero})
	f.Add([]byte{0xff})
	data, _ := lp.pinned.EncodeLazy(SnapshotRef{1, 1, 1}, func(uint64) bool { return false })
	f.Add(data[:len(data)-4])
	f.Fuzz(func(t *testing.T, b []byte) {
		lp, _ := newLazyPair(t, 2, func(uint64) bool { return false })
		_ = lp.lazy.InstallPages([]uint64{index}, b)
		lp.lazy.Release()
		if lp.acct.UsedBytes() != 0 {
			t.Fatalf("%d bytes charged after release", lp.acct.UsedBytes())
		}
		// The same bytes as a lazy image decode or are refused, never panic.
		sealed := binary.LittleEndian.AppendUint32(append([]byte(lazyMagic), b...), crc32.Checksum(append([]byte(lazyMagic), b...), castagnoli))
		acct := &Account{LimitBytes: 64 << 20}
		if l, err := DecodeLocal(sealed, acct); err == nil {
			l.Alloc(16)
			l.Snapshot().Release()
			l.Release()
			if acct.UsedBytes() != 0 {
				t.Fatalf("%d bytes charged after release of a decoded lazy image", acct.UsedBytes())
			}
		}
	})
}
