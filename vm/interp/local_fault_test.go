package interp_test

import (
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// makeLazy gives a spawned thread its local memory as another machine
// would: the snapshot stays pinned here, the image carries a reference.
func (w *world) makeLazy(img *interp.ThreadImage) {
	w.pins = append(w.pins, img.Local)
	data, _ := img.Local.EncodeLazy(mem.SnapshotRef{Machine: 3, Incarnation: 1, ID: uint64(len(w.pins))}, func(uint64) bool { return false })
	l, err := mem.DecodeLocal(data, w.acct)
	if err != nil {
		panic(err)
	}
	if r := l.Remote(); r != nil {
		r.Source = w
	}
	img.Local = l
}

// FetchPages serves pages of the pinned snapshots (mem.PageSource).
func (w *world) FetchPages(c sys.Caller, ref mem.SnapshotRef, indexes []uint64) (sys.Reply, bool) {
	w.fetches++
	if w.sourceLost {
		return w.answer(c, sys.Reply{Trap: sys.TrapLost, Val: ref.Machine})
	}
	data, err := w.pins[ref.ID-1].EncodePages(indexes)
	if err != nil {
		panic(err)
	}
	return w.answer(c, sys.Reply{Data: data})
}

// lazyChild: main fills three pages of a block and spawns a child that
// reads them, writes one (copy-on-write: main still sees its own), adds to
// another with FAA, allocates, and prints a read-only string: every kind
// of local access faults once on a lazy memory.
const lazyChild = `
.string greeting "hi\n"
main:
    ENTER 0, 1
    PUSH 12288
    ALLOC
    SET 0
    PUSH 11
    GET 0
    STORE
    PUSH 22
    GET 0
    PUSH 4096
    ADD
    STORE
    PUSH 33
    GET 0
    PUSH 8192
    ADD
    STORE
    GET 0
    SPAWN child
    JOIN
    PRINT
    PUSH 32
    PUTC
    GET 0
    LOAD
    PRINT
    PUSH 0
    EXIT
child:
    ENTER 1, 1
    GET 0
    LOAD
    GET 0
    PUSH 4096
    ADD
    LOAD
    ADD
    GET 0
    PUSH 8192
    ADD
    LOAD
    ADD
    SET 1
    PUSH 99
    GET 0
    STORE
    GET 0
    PUSH 8
    ADD
    PUSH 5
    FAA
    DROP
    PUSH 64
    ALLOC
    DROP
    PUSH greeting
    PUSH 3
    PRINTS
    GET 1
    GET 0
    LOAD
    ADD
    GET 0
    PUSH 8
    ADD
    LOAD
    ADD
    RET
`

// TestLazyLocalMemoryFaultsAndResumes: a child whose local memory is
// fetched page by page on first touch computes what an eagerly copied one
// does, with answers at once or later, on one machine or two.
func TestLazyLocalMemoryFaultsAndResumes(t *testing.T) {
	const want = "hi\n170 11"
	for _, tc := range []struct {
		machines int
		later    bool
	}{{1, false}, {1, true}, {2, true}} {
		eager := newWorld(t, lazyChild, tc.machines, tc.later)
		eager.run(t)
		w := newWorld(t, lazyChild, tc.machines, tc.later)
		w.lazy = true
		w.run(t)
		if eager.trap != nil || eager.out.String() != want {
			t.Fatalf("eager: output %q trap %v, want %q", eager.out.String(), eager.trap, want)
		}
		if w.trap != nil || w.out.String() != want {
			t.Errorf("%d machines, later %v, lazy: output %q trap %v, want %q", tc.machines, tc.later, w.out.String(), w.trap, want)
		}
		if w.fetches < 3 {
			t.Errorf("%d machines, later %v: %d pages fetched, want at least the 3 the child touched", tc.machines, tc.later, w.fetches)
		}
	}
}

// TestLazyLocalSourceLost: a page that cannot be fetched (its machine
// died) ends the process with TrapLost naming that machine, never zeros.
func TestLazyLocalSourceLost(t *testing.T) {
	w := newWorld(t, lazyChild, 2, true)
	w.lazy, w.sourceLost = true, true
	w.run(t)
	if w.trap == nil || w.trap.Kind != sys.TrapLost || w.trap.LostMachine != 3 || !strings.Contains(w.trap.Detail, "machine 3") {
		t.Fatalf("trap %+v, want TrapLost naming machine 3", w.trap)
	}
	if strings.Contains(w.out.String(), "170") {
		t.Fatalf("output %q: the child ran on without its memory", w.out.String())
	}
}
