package dfs

import (
	"testing"

	"github.com/flockvm/flock/vm/sys"
)

func TestWriteThenRead(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 1, rootR: 2})
	h.run(40)
	p := h.proc(1, 4, "alice")
	r := h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Open(c, "/f", sys.OpenOrCreate) })
	if int64(r.Val) < 0 {
		t.Fatalf("Open = %s", describeReply(r))
	}
	fd := r.Val
	data := []byte("hello, replicated world: more than one chunk of 256 bytes? no, but offsets matter")
	r = h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Write(c, fd, 300, data) })
	if r.Val != uint64(len(data)) {
		t.Fatalf("Write = %s, want %d", describeReply(r), len(data))
	}
	r = h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Size(c, fd) })
	if r.Val != 300+uint64(len(data)) {
		t.Fatalf("Size = %s, want %d", describeReply(r), 300+len(data))
	}
	q := h.proc(2, 2, "bob")
	r = h.do(q, func(c sys.Caller) (sys.Reply, bool) { return q.view.Open(c, "/f", sys.OpenExisting) })
	fd2 := r.Val
	r = h.do(q, func(c sys.Caller) (sys.Reply, bool) { return q.view.Read(c, fd2, 290, 100) })
	want := append(make([]byte, 10), data...)
	if string(r.Data) != string(want) {
		t.Fatalf("Read = %s, want %q", describeReply(r), want)
	}
	for _, kv := range h.scan(keyPrefix) {
		t.Logf("%q", kv.Key)
	}
}
