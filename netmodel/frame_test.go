package netmodel

import (
	"bytes"
	"errors"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		from, to NodeID
		payload  []byte
	}{
		{1, 2, nil},
		{1, 2, []byte{}},
		{7, 3, []byte("hello")},
		{^NodeID(0), 1, bytes.Repeat([]byte{0xAB}, 4096)},
	}
	for _, tt := range tests {
		buf := AppendFrame([]byte("prefix"), tt.from, tt.to, tt.payload)[len("prefix"):]
		f, n, err := DecodeFrame(buf)
		if err != nil {
			t.Fatalf("DecodeFrame(AppendFrame(%v,%v,%d bytes)) error = %v", tt.from, tt.to, len(tt.payload), err)
		}
		if n != len(buf) || f.From != tt.from || f.To != tt.to || !bytes.Equal(f.Payload, tt.payload) {
			t.Errorf("DecodeFrame = (%v,%v,%d bytes), n=%d; want (%v,%v,%d bytes), n=%d",
				f.From, f.To, len(f.Payload), n, tt.from, tt.to, len(tt.payload), len(buf))
		}
	}
}

func TestDecodeFrameRejectsEveryBitFlip(t *testing.T) {
	good := AppendFrame(nil, 3, 4, []byte("a message"))
	for bit := 0; bit < len(good)*8; bit++ {
		bad := bytes.Clone(good)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, _, err := DecodeFrame(bad); err == nil {
			t.Fatalf("DecodeFrame(frame with bit %d flipped) = nil error, want an error", bit)
		}
	}
}

func TestDecodeFrameShortPrefixes(t *testing.T) {
	good := AppendFrame(nil, 3, 4, []byte("a message"))
	for n := 0; n < len(good); n++ {
		if _, _, err := DecodeFrame(good[:n]); !errors.Is(err, ErrFrameShort) {
			t.Errorf("DecodeFrame(first %d of %d bytes) error = %v, want ErrFrameShort", n, len(good), err)
		}
	}
}

func TestDecodeFrameTooLarge(t *testing.T) {
	buf := AppendFrame(nil, 1, 2, nil)
	buf[20], buf[21], buf[22], buf[23] = 0xff, 0xff, 0xff, 0xff
	if _, _, err := DecodeFrame(buf); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("DecodeFrame(length 0xffffffff) error = %v, want ErrFrameTooLarge", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, 1, 2, []byte("seed")))
	f.Add(AppendFrame(nil, 9, 1, nil))
	f.Add([]byte("FL"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, n, err := DecodeFrame(data)
		if err != nil {
			return
		}
		if n < FrameHeaderSize || n > len(data) {
			t.Fatalf("DecodeFrame consumed %d of %d bytes", n, len(data))
		}
		again := AppendFrame(nil, fr.From, fr.To, fr.Payload)
		if !bytes.Equal(again, data[:n]) {
			t.Fatalf("re-encoding a decoded frame differs from its input")
		}
	})
}

// FuzzDecodeFrameParts: a frame cut into header and payload decodes as
// the whole does, and garbage in either part is refused as it would be.
func FuzzDecodeFrameParts(f *testing.F) {
	f.Add(AppendFrame(nil, 1, 2, []byte("seed")), 28)
	f.Add(AppendFrame(nil, 9, 1, nil), 28)
	f.Add(AppendFrame(nil, 3, 4, []byte("cut elsewhere")), 20)
	f.Add([]byte("FL"), 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		if cut < 0 || cut > len(data) {
			return
		}
		whole, n, errWhole := DecodeFrame(data)
		parts, errParts := DecodeFrameParts(data[:cut], data[cut:])
		if errParts != nil {
			if cut == FrameHeaderSize && errWhole == nil && n == len(data) {
				t.Fatalf("DecodeFrameParts = %v, want the frame DecodeFrame decodes", errParts)
			}
			return
		}
		if cut != FrameHeaderSize || errWhole != nil || n != len(data) {
			t.Fatalf("DecodeFrameParts accepted a frame DecodeFrame refuses (%v) or cut at %d", errWhole, cut)
		}
		if parts.From != whole.From || parts.To != whole.To || !bytes.Equal(parts.Payload, whole.Payload) {
			t.Fatalf("DecodeFrameParts = %+v, DecodeFrame = %+v", parts, whole)
		}
	})
}
