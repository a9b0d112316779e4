package netmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A frame is how a message travels on a stream or datagram:
//
//	offset size field
//	0      2    magic "FL"
//	2      1    version (1)
//	3      1    flags (reserved, must be 0)
//	4      8    from (little endian)
//	12     8    to
//	20     4    payload length
//	24     4    CRC-32C of bytes [0,24) followed by the payload
//	28     n    payload
//
// The checksum covers the header too, so a flipped bit in an address or a
// length is caught like one in the payload.
const (
	FrameHeaderSize = 28
	// FramePayloadMax bounds a payload so a garbled length cannot make a
	// receiver allocate without limit.
	FramePayloadMax = 16 << 20
	frameVersion    = 1
)

var frameMagic = [2]byte{'F', 'L'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by DecodeFrame. ErrFrameShort means more bytes are needed;
// every other error means the bytes are not a frame and must be discarded.
var (
	ErrFrameShort    = errors.New("netmodel: frame truncated")
	ErrFrameMagic    = errors.New("netmodel: bad frame magic")
	ErrFrameVersion  = errors.New("netmodel: unsupported frame version")
	ErrFrameTooLarge = errors.New("netmodel: frame payload too large")
	ErrFrameChecksum = errors.New("netmodel: frame checksum mismatch")
)

// Frame is one decoded message.
type Frame struct {
	From, To NodeID
	Payload  []byte
}

// AppendFrame appends the encoding of a frame to dst and returns the result.
// It panics if the payload exceeds FramePayloadMax: that is a bug in the
// sender, which must split or refuse such a message.
func AppendFrame(dst []byte, from, to NodeID, payload []byte) []byte {
	return append(AppendFrameHeader(dst, from, to, payload), payload...)
}

// AppendFrameHeader appends the FrameHeaderSize bytes AppendFrame writes
// before payload (its checksum covers payload), for a sender that keeps
// the payload apart (see DecodeFrameParts).
func AppendFrameHeader(dst []byte, from, to NodeID, payload []byte) []byte {
	if len(payload) > FramePayloadMax {
		panic(fmt.Sprintf("netmodel: payload of %d bytes exceeds FramePayloadMax", len(payload)))
	}
	start := len(dst)
	dst = append(dst, frameMagic[0], frameMagic[1], frameVersion, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(from))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(to))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	crc := crc32.Update(0, castagnoli, dst[start:start+24])
	crc = crc32.Update(crc, castagnoli, payload)
	return binary.LittleEndian.AppendUint32(dst, crc)
}

// DecodeFrameParts is DecodeFrame of a frame held in two parts, its
// header and its payload (the simulator keeps a message's payload where
// its sender put it): the same checks, the same errors, and the payload
// returned is payload itself. A header that announces another length
// than len(payload) is garbage.
func DecodeFrameParts(header, payload []byte) (Frame, error) {
	if len(header) != FrameHeaderSize {
		return Frame{}, fmt.Errorf("%w: header of %d bytes", ErrFrameShort, len(header))
	}
	n, err := checkHeader(header)
	if err != nil {
		return Frame{}, err
	}
	if int(n) != len(payload) {
		return Frame{}, fmt.Errorf("%w: header says %d payload bytes, %d there", ErrFrameChecksum, n, len(payload))
	}
	crc := crc32.Update(0, castagnoli, header[:24])
	if crc32.Update(crc, castagnoli, payload) != binary.LittleEndian.Uint32(header[24:28]) {
		return Frame{}, ErrFrameChecksum
	}
	return Frame{
		From:    NodeID(binary.LittleEndian.Uint64(header[4:12])),
		To:      NodeID(binary.LittleEndian.Uint64(header[12:20])),
		Payload: payload[:len(payload):len(payload)],
	}, nil
}

// checkHeader checks a whole header's magic, version and length field
// (not its checksum) and returns the payload length it announces.
func checkHeader(h []byte) (uint32, error) {
	if h[0] != frameMagic[0] || h[1] != frameMagic[1] {
		return 0, ErrFrameMagic
	}
	if h[2] != frameVersion || h[3] != 0 {
		return 0, fmt.Errorf("%w: version %d flags %#x", ErrFrameVersion, h[2], h[3])
	}
	n := binary.LittleEndian.Uint32(h[20:24])
	if n > FramePayloadMax {
		return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	return n, nil
}

// DecodeFrame decodes the frame at the start of buf and returns it with the
// number of bytes it occupies. The returned payload aliases buf. Garbage is
// rejected with an error; ErrFrameShort means buf holds a valid prefix of a
// frame and more bytes are needed.
func DecodeFrame(buf []byte) (Frame, int, error) {
	if len(buf) < FrameHeaderSize {
		if len(buf) >= 2 && (buf[0] != frameMagic[0] || buf[1] != frameMagic[1]) {
			return Frame{}, 0, ErrFrameMagic
		}
		return Frame{}, 0, ErrFrameShort
	}
	n, err := checkHeader(buf[:FrameHeaderSize])
	if err != nil {
		return Frame{}, 0, err
	}
	total := FrameHeaderSize + int(n)
	if len(buf) < total {
		return Frame{}, 0, ErrFrameShort
	}
	want := binary.LittleEndian.Uint32(buf[24:28])
	crc := crc32.Update(0, castagnoli, buf[:24])
	crc = crc32.Update(crc, castagnoli, buf[FrameHeaderSize:total])
	if crc != want {
		return Frame{}, 0, ErrFrameChecksum
	}
	f := Frame{
		From:    NodeID(binary.LittleEndian.Uint64(buf[4:12])),
		To:      NodeID(binary.LittleEndian.Uint64(buf[12:20])),
		Payload: buf[FrameHeaderSize:total:total],
	}
	return f, total, nil
}
