package tcpnet

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/flockvm/flock/netmodel"
)

func FuzzDecodeHello(f *testing.F) {
	f.Add(encodeHello(1))
	f.Add(encodeHello(1 << 40))
	f.Add([]byte("FHL1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inc, err := decodeHello(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeHello(inc), b) {
			t.Fatalf("encodeHello(decodeHello(%x)) differs", b)
		}
	})
}

// FuzzReadFrame feeds arbitrary bytes to the stream reader every
// connection uses after the handshake (the hello included).
func FuzzReadFrame(f *testing.F) {
	f.Add(netmodel.AppendFrame(nil, 1, 2, encodeHello(3)))
	f.Add(append(netmodel.AppendFrame(nil, 1, 2, []byte("a")), netmodel.AppendFrame(nil, 1, 2, nil)...))
	f.Add([]byte("FL\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		consumed := 0
		for range 64 {
			fr, n, err := readFrame(r, 1<<16)
			if err != nil {
				return
			}
			if len(fr.Payload) > 1<<16 {
				t.Fatalf("payload of %d bytes beyond the limit", len(fr.Payload))
			}
			if !bytes.Equal(netmodel.AppendFrame(nil, fr.From, fr.To, fr.Payload), b[consumed:consumed+n]) {
				t.Fatalf("frame at %d does not re-encode to its bytes", consumed)
			}
			consumed += n
		}
	})
}
