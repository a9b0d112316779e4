package tcpnet

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The hello is the first frame each end sends after the TLS handshake:
// the frame's From is the id the sender speaks as, To the id it believes
// it reached (0 if it does not know, as a listener does), and the payload
//
//	offset size field
//	0      4    magic "FHL1"
//	4      8    incarnation (little endian), non-zero
const helloSize = 12

var helloMagic = [4]byte{'F', 'H', 'L', '1'}

// ErrHello is wrapped by every error about a bad hello.
var ErrHello = errors.New("tcpnet: bad hello")

func encodeHello(incarnation uint64) []byte {
	b := append([]byte(nil), helloMagic[:]...)
	return binary.LittleEndian.AppendUint64(b, incarnation)
}

func decodeHello(b []byte) (uint64, error) {
	if len(b) != helloSize {
		return 0, fmt.Errorf("%w: %d bytes, want %d", ErrHello, len(b), helloSize)
	}
	if [4]byte(b[:4]) != helloMagic {
		return 0, fmt.Errorf("%w: magic % x", ErrHello, b[:4])
	}
	inc := binary.LittleEndian.Uint64(b[4:])
	if inc == 0 {
		return 0, fmt.Errorf("%w: incarnation 0", ErrHello)
	}
	return inc, nil
}
