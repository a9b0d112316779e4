package tcpnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/flockvm/flock/netmodel"
)

// readFrame reads one frame from r, allocating at most payloadMax+header
// bytes. A stream that does not hold a valid frame is an error: after it
// the stream cannot be resynchronised and must be closed.
func readFrame(r *bufio.Reader, payloadMax int) (netmodel.Frame, int, error) {
	var hdr [netmodel.FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return netmodel.Frame{}, 0, err
	}
	// DecodeFrame checks magic and version on the header alone; only
	// ErrFrameShort lets us go on to the payload.
	if _, _, err := netmodel.DecodeFrame(hdr[:]); err != nil && !errors.Is(err, netmodel.ErrFrameShort) {
		return netmodel.Frame{}, 0, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[20:24]))
	if n > payloadMax {
		return netmodel.Frame{}, 0, fmt.Errorf("%w: %d bytes, limit %d", netmodel.ErrFrameTooLarge, n, payloadMax)
	}
	buf := make([]byte, netmodel.FrameHeaderSize+n)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[netmodel.FrameHeaderSize:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return netmodel.Frame{}, 0, err
	}
	f, size, err := netmodel.DecodeFrame(buf)
	if err != nil {
		return netmodel.Frame{}, 0, err
	}
	return f, size, nil
}
