package node

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for s := ServiceMetaServer; s < numServices; s++ {
		h := Header{Service: s, Incarnation: 1<<40 + 7}
		buf := AppendHeader([]byte("x"), h)[1:]
		buf = append(buf, "body"...)
		got, body, err := DecodeHeader(buf)
		if err != nil || got != h || !bytes.Equal(body, []byte("body")) {
			t.Errorf("DecodeHeader(AppendHeader(%+v)) = %+v, %q, %v", h, got, body, err)
		}
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := AppendHeader(nil, Header{Service: ServiceMemory, Incarnation: 3})
	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"short", good[:HeaderSize-1], ErrHeaderShort},
		{"version", append([]byte{2}, good[1:]...), ErrHeaderVersion},
		{"service 0", append([]byte{1, 0}, good[2:]...), ErrHeaderService},
		{"service unknown", append([]byte{1, byte(numServices)}, good[2:]...), ErrHeaderService},
		{"flags", append([]byte{1, 3, 1}, good[3:]...), ErrHeaderFlags},
	}
	for _, tc := range tests {
		if _, _, err := DecodeHeader(tc.buf); !errors.Is(err, tc.want) {
			t.Errorf("DecodeHeader(%s) error = %v, want %v", tc.name, err, tc.want)
		}
	}
	zeroInc := AppendHeader(nil, Header{Service: ServiceMemory})
	if _, _, err := DecodeHeader(zeroInc); err == nil {
		t.Errorf("DecodeHeader(incarnation 0) = nil error, want an error")
	}
}

func TestServiceNames(t *testing.T) {
	if got := ServiceProcs.String(); got != "procs" {
		t.Errorf("ServiceProcs.String() = %q, want procs", got)
	}
	if got := Service(200).String(); got != "service(200)" {
		t.Errorf("Service(200).String() = %q", got)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(AppendHeader(nil, Header{Service: ServiceProcs, Incarnation: 9}))
	f.Add([]byte{1, 1, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := DecodeHeader(b)
		if err != nil {
			return
		}
		again := append(AppendHeader(nil, h), body...)
		if !bytes.Equal(again, b) {
			t.Fatalf("DecodeHeader(%x) = %+v; re-encoded %x", b, h, again)
		}
	})
}
