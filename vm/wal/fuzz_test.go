package wal

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 1, []byte("hello")))
	f.Add(appendFrame(nil, TypeSegmentHeader, 7, encodeSegmentHeader(3)))
	f.Add(appendFrame(nil, 2, 1, nil))
	f.Add(make([]byte, headerSize))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, rec, n, err := decodeFrame(data, 1<<16)
		if err != nil {
			return
		}
		if n < headerSize || n > len(data) || n%alignBytes != 0 {
			t.Fatalf("decodeFrame consumed %d of %d bytes", n, len(data))
		}
		again := appendFrame(nil, h.typ, h.epoch, rec)
		if !bytes.Equal(again, data[:n]) {
			t.Fatalf("re-encoding a decoded frame differs from its input")
		}
	})
}

// validSegment is a segment with a header and a few records.
func validSegment(seq uint64) []byte {
	seg := appendFrame(nil, TypeSegmentHeader, 1, encodeSegmentHeader(seq))
	for i := 0; i < 4; i++ {
		r := testRecord(i)
		seg = appendFrame(seg, r.Type, uint64(1+i/2), r.Data)
	}
	return seg
}

func FuzzScanSegment(f *testing.F) {
	f.Add(validSegment(0), true)
	f.Add(validSegment(0), false)
	torn := validSegment(0)
	f.Add(torn[:len(torn)-3], true)
	f.Add(append(validSegment(0), make([]byte, 700)...), true)
	f.Add([]byte("not a segment"), true)
	f.Fuzz(func(t *testing.T, seg []byte, final bool) {
		res, err := scanSegment("seg", 0, seg, final, 1<<16, 0)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scanSegment error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if res.end > len(seg) || (res.torn && !final) {
			t.Fatalf("scanSegment = end %d of %d, torn %v (final %v)", res.end, len(seg), res.torn, final)
		}
		if !res.torn && res.end != len(seg) {
			t.Fatalf("scanSegment stopped at %d of %d without a torn tail", res.end, len(seg))
		}
		// What was kept decodes the same on its own: truncation is stable.
		again, err := scanSegment("seg", 0, seg[:res.end], final, 1<<16, 0)
		if err != nil || again.torn || len(again.records) != len(res.records) {
			t.Fatalf("rescanning the kept prefix = (%d records, torn %v, %v), want %d records",
				len(again.records), again.torn, err, len(res.records))
		}
	})
}
