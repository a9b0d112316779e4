package mem

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

// globalModel is the plain reference for LocalGlobal: a byte map over the
// mapped pages, no atomics, no directories.
type globalModel struct {
	mapped map[uint64]bool // page index (offset >> pageShift)
	bytes  map[uint64]byte // offset -> byte; absent is zero
}

func (m *globalModel) isMapped(off, n uint64) bool {
	for a := off &^ (PageBytes - 1); a < off+n; a += PageBytes {
		if !m.mapped[a>>pageShift] {
			return false
		}
	}
	return true
}

func (m *globalModel) word(off uint64) uint64 {
	var v uint64
	for b := range uint64(8) {
		v |= uint64(m.bytes[off+b]) << (8 * b)
	}
	return v
}

func (m *globalModel) setWord(off, v uint64) {
	for b := range uint64(8) {
		m.bytes[off+b] = byte(v >> (8 * b))
	}
}

// TestLocalGlobalMatchesModel cross-checks every operation of LocalGlobal
// against the model, one drawn action at a time.
func TestLocalGlobalMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		acct := &Account{LimitBytes: 64 * PageBytes}
		g := NewLocalGlobal(acct, &recorder{})
		m := &globalModel{mapped: map[uint64]bool{}, bytes: map[uint64]byte{}}
		var blocks []uint64 // offsets of live blocks
		c := sys.Caller{}
		// addr draws an offset near a live block (or anywhere low).
		addr := func(t *rapid.T, align uint64) uint64 {
			base := uint64(isa.RODataBase)
			if len(blocks) > 0 {
				base = blocks[rapid.IntRange(0, len(blocks)-1).Draw(t, "block")]
			}
			off := base + rapid.Uint64Range(0, 2*PageBytes).Draw(t, "delta")
			return off &^ (align - 1)
		}
		t.Repeat(map[string]func(*rapid.T){
			"alloc": func(t *rapid.T) {
				n := rapid.Uint64Range(0, 3*PageBytes).Draw(t, "n")
				r, _ := g.Alloc(c, n)
				if r.Trap != sys.TrapNone {
					if r.Trap != sys.TrapOutOfMemory {
						t.Fatalf("Alloc(%d) trapped %v", n, r.Trap)
					}
					return
				}
				off := r.Val &^ isa.GlobalBit
				size, _ := RoundSize(n)
				for a := off &^ (PageBytes - 1); a < off+size; a += PageBytes {
					m.mapped[a>>pageShift] = true
				}
				for a := off; a < off+size; a++ {
					delete(m.bytes, a) // a fresh block reads as zero
				}
				blocks = append(blocks, off)
			},
			"free": func(t *rapid.T) {
				if len(blocks) == 0 {
					t.Skip("nothing allocated")
				}
				i := rapid.IntRange(0, len(blocks)-1).Draw(t, "i")
				if r, _ := g.Free(c, blocks[i]|isa.GlobalBit); r.Trap != sys.TrapNone {
					t.Fatalf("Free(%#x) trapped %v", blocks[i], r.Trap)
				}
				blocks = append(blocks[:i], blocks[i+1:]...)
			},
			"store": func(t *rapid.T) {
				off, v := addr(t, 8), rapid.Uint64().Draw(t, "v")
				r, _ := g.Store(c, off|isa.GlobalBit, 8, v)
				want := sys.TrapUnmapped
				if m.isMapped(off, 8) {
					want = sys.TrapNone
					m.setWord(off, v)
				}
				if r.Trap != want {
					t.Fatalf("Store(%#x) trap %v, want %v", off, r.Trap, want)
				}
			},
			"store8": func(t *rapid.T) {
				off, v := addr(t, 1), rapid.Uint64Range(0, 255).Draw(t, "v")
				r, _ := g.Store(c, off|isa.GlobalBit, 1, v)
				want := sys.TrapUnmapped
				if m.isMapped(off, 1) {
					want = sys.TrapNone
					m.bytes[off] = byte(v)
				}
				if r.Trap != want {
					t.Fatalf("Store8(%#x) trap %v, want %v", off, r.Trap, want)
				}
			},
			"load": func(t *rapid.T) {
				off := addr(t, rapid.SampledFrom([]uint64{1, 8}).Draw(t, "align"))
				r, _ := g.Load(c, off|isa.GlobalBit, 8)
				want, wantTrap := uint64(0), sys.TrapUnmapped
				switch {
				case off&7 != 0:
					wantTrap = sys.TrapMisaligned
				case m.isMapped(off, 8):
					want, wantTrap = m.word(off), sys.TrapNone
				}
				if r.Trap != wantTrap || r.Val != want {
					t.Fatalf("Load(%#x) = %#x, %v; want %#x, %v", off, r.Val, r.Trap, want, wantTrap)
				}
				if v, ok := g.Pages().Load64(off | isa.GlobalBit); ok != (wantTrap == sys.TrapNone) || v != want {
					t.Fatalf("Pages().Load64(%#x) = %#x, %v; want %#x, %v", off, v, ok, want, wantTrap == sys.TrapNone)
				}
			},
			"load8": func(t *rapid.T) {
				off := addr(t, 1)
				r, _ := g.Load(c, off|isa.GlobalBit, 1)
				want, wantTrap := uint64(0), sys.TrapUnmapped
				if m.isMapped(off, 1) {
					want, wantTrap = uint64(m.bytes[off]), sys.TrapNone
				}
				if r.Trap != wantTrap || r.Val != want {
					t.Fatalf("Load8(%#x) = %#x, %v; want %#x, %v", off, r.Val, r.Trap, want, wantTrap)
				}
			},
			"cas": func(t *rapid.T) {
				off := addr(t, 8)
				expected := uint64(0)
				if rapid.Bool().Draw(t, "match") {
					expected = m.word(off)
				}
				repl := rapid.Uint64().Draw(t, "replacement")
				var r sys.Reply
				if rapid.Bool().Draw(t, "direct") {
					swapped, ok := g.Pages().CompareAndSwap(off|isa.GlobalBit, expected, repl)
					r.Trap = sys.TrapUnmapped
					if ok {
						r = sys.Reply{Val: b2u(swapped)}
					}
				} else {
					r, _ = g.CAS(c, off|isa.GlobalBit, expected, repl)
				}
				want := sys.Reply{Trap: sys.TrapUnmapped}
				if m.isMapped(off, 8) {
					want = sys.Reply{Val: b2u(m.word(off) == expected)}
					if m.word(off) == expected {
						m.setWord(off, repl)
					}
				}
				if r.Trap != want.Trap || r.Val != want.Val {
					t.Fatalf("CAS(%#x, %#x, %#x) = %+v, want %+v", off, expected, repl, r, want)
				}
			},
			"faa": func(t *rapid.T) {
				off, d := addr(t, 8), rapid.Uint64().Draw(t, "delta")
				r, _ := g.FetchAdd(c, off|isa.GlobalBit, d)
				want := sys.Reply{Trap: sys.TrapUnmapped}
				if m.isMapped(off, 8) {
					want = sys.Reply{Val: m.word(off)}
					m.setWord(off, m.word(off)+d)
				}
				if r.Trap != want.Trap || r.Val != want.Val {
					t.Fatalf("FetchAdd(%#x, %d) = %+v, want %+v", off, d, r, want)
				}
			},
			"writeBytes": func(t *rapid.T) {
				off := addr(t, 1)
				data := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "data")
				r, _ := g.WriteBytes(c, off|isa.GlobalBit, data)
				want := sys.TrapUnmapped
				if m.isMapped(off, uint64(len(data))) {
					want = sys.TrapNone
					for i, b := range data {
						m.bytes[off+uint64(i)] = b
					}
				}
				if r.Trap != want {
					t.Fatalf("WriteBytes(%#x, %d bytes) trap %v, want %v", off, len(data), r.Trap, want)
				}
			},
			"readBytes": func(t *rapid.T) {
				off, n := addr(t, 1), rapid.Uint64Range(0, 40).Draw(t, "n")
				r, _ := g.ReadBytes(c, off|isa.GlobalBit, n)
				if !m.isMapped(off, n) {
					if r.Trap != sys.TrapUnmapped {
						t.Fatalf("ReadBytes(%#x, %d) of unmapped memory: %+v", off, n, r)
					}
					return
				}
				want := make([]byte, n)
				for i := range want {
					want[i] = m.bytes[off+uint64(i)]
				}
				if r.Trap != sys.TrapNone || !bytes.Equal(r.Data, want) {
					t.Fatalf("ReadBytes(%#x, %d) = %x, %v; want %x", off, n, r.Data, r.Trap, want)
				}
			},
			"": func(t *rapid.T) {
				if got, want := acct.UsedBytes(), uint64(len(m.mapped))*PageBytes; got != want {
					t.Fatalf("account charges %d bytes for %d mapped pages, want %d", got, len(m.mapped), want)
				}
			},
		})
		g.Release(0)
		if acct.UsedBytes() != 0 {
			t.Fatalf("%d bytes charged after Release", acct.UsedBytes())
		}
		if r, _ := g.Alloc(c, 8); r.Trap == sys.TrapNone {
			t.Fatalf("Alloc after Release = %+v, want a trap", r)
		}
	})
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// chanCompleter hands every completion to a channel (safe from any
// goroutine, as the cores' Completer is).
type chanCompleter chan sys.ReqID

func (c chanCompleter) Complete(id sys.ReqID, _ sys.Reply) { c <- id }

// TestParallelGlobalWordOps: cores hammering one global memory at once
// lose no update: fetch-and-adds on one word, CAS increments on another,
// byte stores into the bytes of shared words, plain stores into words of
// their own. (CI runs it under -race.)
func TestParallelGlobalWordOps(t *testing.T) {
	const workers, rounds = 4, 20000
	g := NewLocalGlobal(&Account{}, chanCompleter(make(chan sys.ReqID, 1)))
	c := sys.Caller{}
	r, _ := g.Alloc(c, 3*PageBytes)
	base := r.Val
	faaWord, casWord, byteWords, own := base, base+8, base+16, base+PageBytes
	var wg sync.WaitGroup
	var lost atomic.Int64
	for w := range uint64(workers) {
		wg.Go(func() {
			pages := g.Pages()
			for i := range uint64(rounds) {
				if i%2 == 0 {
					pages.FetchAdd(faaWord, 1)
				} else {
					g.FetchAdd(c, faaWord, 1)
				}
				casAttemptsMax := 1 << 20
				for range casAttemptsMax {
					old, _ := pages.Load64(casWord)
					if swapped, _ := pages.CompareAndSwap(casWord, old, old+1); swapped {
						break
					}
				}
				// Only w writes byte w of these words: another value read
				// back means a byte store of another core undid this one.
				for k := range uint64(4) {
					b := byteWords + 8*((i+k)%4) + w
					g.Store(c, b, 1, i)
					if v, _ := g.Load(c, b, 1); v.Val != i&0xff {
						lost.Add(1)
					}
				}
				pages.Store64(own+8*(w*rounds+i)%(2*PageBytes), w)
			}
		})
	}
	wg.Wait()
	if n := lost.Load(); n != 0 {
		t.Errorf("%d byte stores were undone by byte stores of other cores to the same word", n)
	}
	for _, tc := range []struct {
		name string
		addr uint64
		want uint64
	}{{"fetch-and-add word", faaWord, workers * rounds}, {"CAS word", casWord, workers * rounds}} {
		if v, _ := g.Load(c, tc.addr, 8); v.Val != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, v.Val, tc.want)
		}
	}
	for i := range uint64(4) {
		for w := range uint64(workers) {
			if v, _ := g.Load(c, byteWords+8*i+w, 1); v.Val != (rounds-1)&0xff {
				t.Errorf("byte %d of word %d = %d, want %d (its last store lost)", w, i, v.Val, (rounds-1)&0xff)
			}
		}
	}
}

// TestParallelWaitWakeLosesNoWaiter: a store and a Wake on one goroutine
// racing a Wait on another never leave the waiter asleep (the classic
// lost wake-up), round after round.
func TestParallelWaitWakeLosesNoWaiter(t *testing.T) {
	const rounds = 2000
	done := chanCompleter(make(chan sys.ReqID, 1))
	g := NewLocalGlobal(&Account{}, done)
	r, _ := g.Alloc(sys.Caller{}, 8)
	word := r.Val
	for i := range uint64(rounds) {
		g.Store(sys.Caller{}, word, 8, 0)
		var wg sync.WaitGroup
		wg.Go(func() {
			g.Store(sys.Caller{}, word, 8, 1)
			g.Wake(sys.Caller{}, word, 1)
		})
		caller := sys.Caller{Req: sys.ReqID{Seq: i + 1}}
		if _, now := g.Wait(caller, word, 0); !now {
			if id := <-done; id != caller.Req {
				t.Fatalf("round %d: woke %v, want %v", i, id, caller.Req)
			}
		}
		wg.Wait()
		if n := g.Waiters(word); n != 0 {
			t.Fatalf("round %d: %d waiters left", i, n)
		}
	}
}

// TestParallelReleaseWhileInUse: a process's memory released while a core
// still runs one of its threads: that core sees unmapped memory (and would
// trap), never a crash, and the account ends at zero.
func TestParallelReleaseWhileInUse(t *testing.T) {
	acct := &Account{}
	g := NewLocalGlobal(acct, chanCompleter(make(chan sys.ReqID, 1)))
	r, _ := g.Alloc(sys.Caller{}, 4*PageBytes)
	base := r.Val
	var wg sync.WaitGroup
	wg.Go(func() {
		pages := g.Pages()
		for i := uint64(0); ; i++ {
			if !pages.Store64(base+8*(i%(4*pageWords)), i) {
				if r, _ := g.Store(sys.Caller{}, base, 8, i); r.Trap != sys.TrapUnmapped {
					t.Errorf("Store after Release trapped %v, want unmapped", r.Trap)
				}
				return
			}
		}
	})
	g.Release(1)
	wg.Wait()
	if acct.UsedBytes() != 0 {
		t.Errorf("%d bytes charged after Release, want 0", acct.UsedBytes())
	}
}
