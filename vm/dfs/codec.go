package dfs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrDecode is wrapped by every error of a decoder: records from the store,
// chunk file headers and messages are untrusted input.
var ErrDecode = errors.New("dfs: malformed encoding")

// decoder reads little-endian integers, uvarints, strings and ids; the
// first error sticks.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.fail("%s: truncated", what)
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) u8(what string) byte {
	if b := d.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if b := d.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if b := d.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("%s: bad varint", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count decodes a count of items of at least itemBytesMin bytes each, at
// most max, so a garbled count cannot make the caller allocate.
func (d *decoder) count(what string, itemBytesMin int, max int) int {
	v := d.uvarint(what)
	if d.err == nil && (v > uint64(max) || v > uint64(len(d.buf)/itemBytesMin)) {
		d.fail("%s: count %d exceeds %d or what %d bytes can hold", what, v, max, len(d.buf))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.buf)) {
		d.fail("%s: length %d exceeds %d or the %d bytes left", what, n, max, len(d.buf))
		return nil
	}
	return d.take(int(n), what)
}

func (d *decoder) str(what string, max int) string { return string(d.bytes(what, max)) }

func (d *decoder) id(what string) ID {
	return ID{Machine: d.u64(what), Inc: d.u32(what), N: d.u64(what)}
}

func (d *decoder) finish(what string) error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.buf))
	}
	return d.err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
