package dfs

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

// TestChunkedFileMatchesFlatModel cross-checks the chunked, replicated
// file (writes split over chunks of 64 bytes, patched on replicas holding
// the base generation or sent whole, each chunk a new generation) against
// a plain byte slice: random writes at offsets and reads of random ranges,
// with the directory's redundancy drawn and storage machines crashing and
// restarting in between (at most R-1 down at once, so every chunk keeps a
// live copy). One world serves every check (each uses a file
// of its own), so the property stays cheap at RAPID_CHECKS=1000.
func TestChunkedFileMatchesFlatModel(t *testing.T) {
	for _, deferDisk := range []bool{false, true} {
		t.Run(fmt.Sprintf("deferDisk=%v", deferDisk), func(t *testing.T) { checkChunkedFileMatchesFlatModel(t, deferDisk) })
	}
}

// checkChunkedFileMatchesFlatModel runs the property; with deferDisk the
// chunk files are written and synced by a worker that finishes them at
// later ticks, in any order (the real cluster's DiskWorker).
func checkChunkedFileMatchesFlatModel(t *testing.T, deferDisk bool) {
	h := newHarness(t, harnessOptions{seed: 7, machines: 6, chunkSizeBytes: 64, deferDisk: deferDisk})
	h.run(40)
	p := h.proc(1, 1, sys.UserRoot)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		h.t = rt
		n++
		dir := fmt.Sprintf("/c%d", n)
		must(rt, h, p, "mkdir", func(c sys.Caller) (sys.Reply, bool) { return p.view.Mkdir(c, dir) })
		r := uint8(rapid.IntRange(1, 3).Draw(rt, "R"))
		must(rt, h, p, "setattr", func(c sys.Caller) (sys.Reply, bool) {
			return p.view.SetAttr(c, dir, sys.AttrChange{Redundancy: r})
		})
		fd := must(rt, h, p, "open", func(c sys.Caller) (sys.Reply, bool) { return p.view.Open(c, dir+"/f", sys.OpenOrCreate) }).Val
		var model []byte
		for i := range rapid.IntRange(1, 12).Draw(rt, "steps") {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0:
				// Never a metadata voter or the client's machine, and never
				// more than R-1 machines at once.
				m := uint64(rapid.IntRange(5, 6).Draw(rt, "machine"))
				other := 11 - m
				switch {
				case h.svcs[m] == nil:
					h.boot(m)
				case r >= 2 && h.svcs[other] != nil:
					h.crash(m)
				}
			case 1, 2, 3, 4:
				off := rapid.IntRange(0, 300).Draw(rt, "off")
				data := bytes.Repeat([]byte{byte('a' + i%26)}, rapid.IntRange(1, 200).Draw(rt, "len"))
				must(rt, h, p, "write", func(c sys.Caller) (sys.Reply, bool) { return p.view.Write(c, fd, uint64(off), data) })
				model = flatWrite(model, off, data)
			default:
				off, size := rapid.IntRange(0, 400).Draw(rt, "roff"), rapid.IntRange(0, 300).Draw(rt, "rlen")
				got := must(rt, h, p, "read", func(c sys.Caller) (sys.Reply, bool) { return p.view.Read(c, fd, uint64(off), uint64(size)) })
				if want := flatRead(model, off, size); !bytes.Equal(got.Data, want) || got.Val != uint64(len(want)) {
					rt.Fatalf("read(%d, %d) = %d %q, want %q", off, size, got.Val, got.Data, want)
				}
			}
		}
		if got := must(rt, h, p, "size", func(c sys.Caller) (sys.Reply, bool) { return p.view.Size(c, fd) }); got.Val != uint64(len(model)) {
			rt.Fatalf("size = %d, want %d", got.Val, len(model))
		}
		for _, m := range []uint64{5, 6} {
			if h.svcs[m] == nil {
				h.boot(m)
			}
		}
	})
	offloaded := uint64(0)
	for _, svc := range h.svcs {
		offloaded += svc.Stats().WritesOffloaded
	}
	if (offloaded > 0) != deferDisk {
		t.Errorf("chunk writes through the DiskWorker = %d with deferDisk %v", offloaded, deferDisk)
	}
}

// must runs an operation that has to succeed.
func must(rt *rapid.T, h *harness, p *hproc, what string, op func(sys.Caller) (sys.Reply, bool)) sys.Reply {
	r := h.do(p, op)
	if int64(r.Val) < 0 {
		rt.Fatalf("%s = %s", what, describeReply(r))
	}
	return r
}

func flatWrite(b []byte, off int, data []byte) []byte {
	if end := off + len(data); end > len(b) {
		b = append(b, make([]byte, end-len(b))...)
	}
	copy(b[off:], data)
	return b
}

func flatRead(b []byte, off, n int) []byte {
	if off >= len(b) {
		return []byte{}
	}
	return b[off:min(len(b), off+n)]
}
