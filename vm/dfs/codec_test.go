package dfs

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

var (
	testIno = ID{Machine: 3, Inc: 2, N: 9}
	testGen = ID{Machine: 4, Inc: 1, N: 77}
	testRef = chunkRef{ino: testIno, idx: 5, gen: testGen}
)

func seedMessages() []message {
	return []message{
		{kind: msgPut, tag: tag{1, 2}, ref: testRef, version: 3, baseGen: ID{Machine: 1, Inc: 1, N: 1}, baseCRC: 7, off: 4, length: 10, data: []byte("abc")},
		{kind: msgPut, tag: tag{1, 3}, ref: testRef, version: 1, length: 3, data: []byte("xyz")},
		{kind: msgPutAck, tag: tag{1, 2}, ref: testRef, status: ackNeedBase, crc: 99},
		{kind: msgGet, tag: tag{2, 1}, ref: testRef, length: 3, crc: 5},
		{kind: msgGetAck, tag: tag{2, 1}, ref: testRef, status: ackOK, data: []byte("xyz")},
		{kind: msgCopy, tag: tag{2, 4}, ref: testRef, version: 2, length: 3, crc: 5, sources: []uint64{1, 3}},
		{kind: msgCopyAck, tag: tag{2, 4}, ref: testRef, status: ackFailed},
		{kind: msgProbe, tag: tag{3, 1}, items: []probeItem{{ref: testRef, crc: 5}, {ref: chunkRef{ino: testIno, gen: testGen}}}},
		{kind: msgProbeAck, tag: tag{3, 1}, bad: []uint32{1}},
		{kind: msgGone, ref: chunkRef{ino: testIno}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range seedMessages() {
		got, err := decodeMessage(m.encode())
		if err != nil || !reflect.DeepEqual(normalizeMsg(got), normalizeMsg(m)) {
			t.Errorf("decodeMessage(encode(%v)) = %+v, %v; want %+v", m.kind, got, err, m)
		}
	}
}

func normalizeMsg(m message) message {
	if len(m.data) == 0 {
		m.data = nil
	}
	return m
}

func TestDecodeMessageRejects(t *testing.T) {
	put := seedMessages()[0]
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"version", append([]byte{9}, put.encode()[1:]...)},
		{"kind", []byte{wireVersion, byte(msgKindEnd), 0, 0, 0, 0, 0}},
		{"truncated", put.encode()[:20]},
		{"trailing", append(put.encode(), 0)},
		{"patch beyond length", (&message{kind: msgPut, ref: testRef, version: 1, baseGen: testGen, off: 9, length: 10, data: []byte("ab")}).encode()},
		{"full without base of the wrong size", (&message{kind: msgPut, ref: testRef, version: 1, length: 10, data: []byte("ab")}).encode()},
		{"version zero", (&message{kind: msgPut, ref: testRef, length: 2, data: []byte("ab")}).encode()},
		{"status", (&message{kind: msgGetAck, ref: testRef, status: ackStatusEnd}).encode()},
	}
	for _, tc := range tests {
		if _, err := decodeMessage(tc.payload); err == nil {
			t.Errorf("decodeMessage(%s) = nil error, want one", tc.name)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m.encode())
	}
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := decodeMessage(payload)
		if err != nil {
			return
		}
		again, err := decodeMessage(m.encode())
		if err != nil || !reflect.DeepEqual(normalizeMsg(again), normalizeMsg(m)) {
			t.Fatalf("decode(encode(decode(x))) = %+v, %v; want %+v", again, err, m)
		}
	})
}

func seedRecords() []string {
	return []string{
		dirRecord{owner: "root", redundancy: 2, readers: []string{"*"}, writers: []string{"alice", "bob"}}.encode(),
		entry{isDir: true, ino: testIno}.encode(),
		entry{ino: testIno}.encode(),
		fileRecord{dir: RootIno, owner: "alice", chunkSizeBytes: 4096}.encode(),
		chunkRecord{version: 3, gen: testGen, length: 100, crc: 7, replicas: []uint64{1, 4, 9}}.encode(),
		tombstone{idx: 2, version: 5}.encode(),
		machineRecord{quotaBytes: 1 << 30, usedBytes: 12}.encode(),
	}
}

// FuzzDecodeRecords: every record decoder rejects garbage or decodes a
// record whose encoding decodes to it again (records are canonical, but a
// non-minimal varint may spell the same record).
func FuzzDecodeRecords(f *testing.F) {
	for _, r := range seedRecords() {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := string(data)
		roundTrip(t, "dir", s, decodeDir, dirRecord.encode)
		roundTrip(t, "entry", s, decodeEntry, entry.encode)
		roundTrip(t, "file", s, decodeFile, fileRecord.encode)
		roundTrip(t, "chunk", s, decodeChunk, chunkRecord.encode)
		roundTrip(t, "tombstone", s, decodeTomb, tombstone.encode)
		roundTrip(t, "machine", s, decodeMachine, machineRecord.encode)
		_, _ = decodeSize(s)
		_, _ = parseFileKey(s)
	})
}

func roundTrip[R any](t *testing.T, what, s string, decode func(string) (R, error), encode func(R) string) {
	r, err := decode(s)
	if err != nil {
		return
	}
	again, err := decode(encode(r))
	if err != nil || !reflect.DeepEqual(again, r) {
		t.Fatalf("%s: decode(encode(%+v)) = %+v, %v", what, r, again, err)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	d := dirRecord{owner: "alice", redundancy: 3, readers: []string{"alice", "bob"}, writers: []string{}}
	if got, err := decodeDir(d.encode()); err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("decodeDir(encode(%+v)) = %+v, %v", d, got, err)
	}
	c := chunkRecord{version: 1, gen: testGen, length: 10, crc: 3, replicas: []uint64{2, 5}}
	if got, err := decodeChunk(c.encode()); err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("decodeChunk(encode(%+v)) = %+v, %v", c, got, err)
	}
	bad := []struct {
		name string
		s    string
		dec  func(string) error
	}{
		{"dir R 0", dirRecord{owner: "a", redundancy: 0}.encode(), func(s string) error { _, err := decodeDir(s); return err }},
		{"dir R too high", dirRecord{owner: "a", redundancy: sys.RedundancyMax + 1}.encode(), func(s string) error { _, err := decodeDir(s); return err }},
		{"dir users unsorted", dirRecord{owner: "a", redundancy: 1, readers: []string{"b", "a"}}.encode(), func(s string) error { _, err := decodeDir(s); return err }},
		{"dir bad user", dirRecord{owner: "a b", redundancy: 1}.encode(), func(s string) error { _, err := decodeDir(s); return err }},
		{"entry zero ino", entry{}.encode(), func(s string) error { _, err := decodeEntry(s); return err }},
		{"file small chunks", fileRecord{owner: "a", chunkSizeBytes: 1}.encode(), func(s string) error { _, err := decodeFile(s); return err }},
		{"chunk replicas unsorted", chunkRecord{version: 1, gen: testGen, replicas: []uint64{3, 1}}.encode(), func(s string) error { _, err := decodeChunk(s); return err }},
		{"chunk version 0", chunkRecord{gen: testGen}.encode(), func(s string) error { _, err := decodeChunk(s); return err }},
		{"wrong tag", entry{ino: testIno}.encode(), func(s string) error { _, err := decodeDir(s); return err }},
		{"size leading zero", "012", func(s string) error { _, err := decodeSize(s); return err }},
	}
	for _, tc := range bad {
		if err := tc.dec(tc.s); err == nil {
			t.Errorf("decoding %s = nil error, want one", tc.name)
		}
	}
}

func TestChunkHeaderAndNames(t *testing.T) {
	h := chunkHeader{ref: testRef, version: 4, length: 3, crc: checksum([]byte("abc"))}
	b := h.encode()
	if got, err := decodeChunkHeader(b); err != nil || got != h {
		t.Fatalf("decodeChunkHeader(encode(%+v)) = %+v, %v", h, got, err)
	}
	for bit := 0; bit < len(b)*8; bit++ {
		bad := bytes.Clone(b)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, err := decodeChunkHeader(bad); err == nil {
			t.Fatalf("decodeChunkHeader with bit %d flipped = nil error", bit)
		}
	}
	name := chunkFileName(testRef)
	if got, err := parseChunkFileName(name); err != nil || got != testRef {
		t.Errorf("parseChunkFileName(%q) = %v, %v", name, got, err)
	}
	for _, bad := range []string{"", "x", name + "-1", name[:len(name)-1], "0000000000000003000000020000000000000009-5-" + testGen.String()} {
		if _, err := parseChunkFileName(bad); err == nil {
			t.Errorf("parseChunkFileName(%q) = nil error", bad)
		}
	}
}

func FuzzDecodeChunkHeader(f *testing.F) {
	f.Add(chunkHeader{ref: testRef, version: 1, length: 9, crc: 1}.encode())
	f.Add(make([]byte, chunkHeaderBytes))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeChunkHeader(b)
		if err != nil {
			return
		}
		if got, err := decodeChunkHeader(h.encode()); err != nil || got != h {
			t.Fatalf("decodeChunkHeader(encode(%+v)) = %+v, %v", h, got, err)
		}
	})
}

func FuzzParseNames(f *testing.F) {
	f.Add(chunkFileName(testRef))
	f.Add(keyChunk(testIno, 3))
	f.Add(keyTomb(testIno, testGen))
	f.Add("/a/b/../c")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseChunkFileName(s); err == nil && chunkFileName(r) != s {
			t.Fatalf("parseChunkFileName(%q) = %v, which names %q", s, r, chunkFileName(r))
		}
		if k, err := parseFileKey(s); err == nil && k.ino.String() != s[len(keyFilePrefix):len(keyFilePrefix)+idHexLen] {
			t.Fatalf("parseFileKey(%q) = %+v", s, k)
		}
		if comps, e := splitPath(s); e == 0 {
			for _, c := range comps {
				if c == "" || c == "." || c == ".." || len(c) > NameBytesMax {
					t.Fatalf("splitPath(%q) = %q", s, comps)
				}
			}
		}
	})
}

// TestHexFormsMatchFmt: the hand-written hex forms of ids and chunk file
// names are fmt's, for edge values and drawn ones.
func TestHexFormsMatchFmt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		word := rapid.SampledFrom([]uint64{0, 1, 0xf, 1 << 63, ^uint64(0)})
		draw := func(name string) uint64 {
			if rapid.Bool().Draw(t, name+"Edge") {
				return word.Draw(t, name)
			}
			return rapid.Uint64().Draw(t, name)
		}
		id := ID{Machine: draw("machine"), Inc: uint32(draw("inc")), N: draw("n")}
		if got, want := id.String(), fmt.Sprintf("%016x%08x%016x", id.Machine, id.Inc, id.N); got != want {
			t.Fatalf("ID%+v.String() = %q, want %q", id, got, want)
		}
		r := chunkRef{ino: id, idx: draw("idx"), gen: ID{Machine: draw("genMachine"), N: draw("genN")}}
		if got, want := chunkFileName(r), fmt.Sprintf("%s-%016x-%s", r.ino, r.idx, r.gen); got != want {
			t.Fatalf("chunkFileName(%v) = %q, want %q", r, got, want)
		}
		if got, want := keyChunk(id, r.idx), fmt.Sprintf("%s%016x", keyChunks(id), r.idx); got != want {
			t.Fatalf("keyChunk(%v, %d) = %q, want %q", id, r.idx, got, want)
		}
		if got, want := keyMachine(r.idx), fmt.Sprintf("%s%016x", keyMachinePrefix, r.idx); got != want {
			t.Fatalf("keyMachine(%d) = %q, want %q", r.idx, got, want)
		}
	})
}
