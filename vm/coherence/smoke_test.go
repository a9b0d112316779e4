package coherence

import "testing"

func TestSmokeReadWrite(t *testing.T) {
	h := newHarness(t, harnessOptions{n: 3})
	x := h.alloc(1, 64)
	if got := h.load(2, x); got.done {
		t.Fatalf("remote load answered at once")
	}
	h.settle()
	o := h.load(2, x)
	if !o.done || o.reply.Val != 0 {
		t.Fatalf("load after fetch = %+v", o)
	}
	w := h.store(3, x, 42)
	h.settle()
	if !w.done {
		t.Fatalf("store not done")
	}
	r := h.load(2, x)
	h.settle()
	if !r.done || r.reply.Val != 42 {
		t.Fatalf("load = %+v, want 42", r.reply)
	}
	f := h.faa(1, x, 5)
	h.settle()
	if !f.done || f.reply.Val != 42 {
		t.Fatalf("faa = %+v, want 42", f.reply)
	}
	r = h.load(3, x)
	h.settle()
	if r.reply.Val != 47 {
		t.Fatalf("load = %+v, want 47", r.reply)
	}
}
