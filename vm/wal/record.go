package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/flockvm/flock/diskmodel"
)

// A record on disk (all integers little endian), starting 8-byte aligned:
//
//	offset size field
//	0      4    data length n
//	4      1    type (0 is never valid; TypeSegmentHeader is the WAL's own)
//	5      3    reserved, zero
//	8      8    epoch: Syncs completed before the record was written
//	16     4    CRC-32C of the data
//	20     4    CRC-32C of bytes [0,20)
//	24     n    data
//	24+n   p    zero padding to a multiple of 8 (p < 8)
//
// The header has its own checksum so that a torn or rotten data area still
// leaves a trustworthy length and epoch to reason about.
const (
	headerSize = 24
	alignBytes = 8

	// TypeSegmentHeader is the type of the record that opens every segment.
	// Callers use types 1..TypeUserMax.
	TypeSegmentHeader uint8 = 0xFF
	// TypeUserMax is the largest record type a caller may append.
	TypeUserMax uint8 = 0xFE
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons a frame does not decode. They are internal: recovery turns them
// into a torn tail or an error wrapping ErrCorrupt.
var (
	errShort     = errors.New("record extends past the end of the segment")
	errHeaderCRC = errors.New("record header checksum mismatch")
	errDataCRC   = errors.New("record data checksum mismatch")
	errPadding   = errors.New("record padding is not zero")
	errHeader    = errors.New("record header is invalid")
)

// frameSize is the number of bytes a record with n data bytes occupies.
func frameSize(n int) int {
	return headerSize + (n+alignBytes-1)/alignBytes*alignBytes
}

// appendFrame appends the framing of one record to dst.
func appendFrame(dst []byte, typ uint8, epoch uint64, data []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, typ, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, epoch)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:start+20], castagnoli))
	dst = append(dst, data...)
	for pad := frameSize(len(data)) - headerSize - len(data); pad > 0; pad-- {
		dst = append(dst, 0)
	}
	return dst
}

// frameHeader is a decoded, checksum-verified record header.
type frameHeader struct {
	length  int
	typ     uint8
	epoch   uint64
	dataCRC uint32
}

// decodeHeader decodes the header at the start of buf. errShort means buf
// holds less than a header; errHeaderCRC that the header is not intact;
// errHeader that it is intact but says something a writer never writes.
func decodeHeader(buf []byte, recordSizeMax int) (frameHeader, error) {
	if len(buf) < headerSize {
		return frameHeader{}, errShort
	}
	want := binary.LittleEndian.Uint32(buf[20:24])
	if crc32.Checksum(buf[:20], castagnoli) != want {
		return frameHeader{}, errHeaderCRC
	}
	h := frameHeader{
		length:  int(binary.LittleEndian.Uint32(buf[0:4])),
		typ:     buf[4],
		epoch:   binary.LittleEndian.Uint64(buf[8:16]),
		dataCRC: binary.LittleEndian.Uint32(buf[16:20]),
	}
	if h.typ == 0 || buf[5] != 0 || buf[6] != 0 || buf[7] != 0 {
		return frameHeader{}, fmt.Errorf("%w: type %d, reserved %x", errHeader, h.typ, buf[5:8])
	}
	if h.length > recordSizeMax {
		return frameHeader{}, fmt.Errorf("%w: length %d exceeds the limit %d", errHeader, h.length, recordSizeMax)
	}
	return h, nil
}

// decodeFrame decodes the record at the start of buf and returns it with
// the number of bytes it occupies. The returned data aliases buf. A record
// whose header is intact is returned with its header even when its data
// is not, so recovery can reason about its length and epoch.
func decodeFrame(buf []byte, recordSizeMax int) (frameHeader, []byte, int, error) {
	h, err := decodeHeader(buf, recordSizeMax)
	if err != nil {
		return frameHeader{}, nil, 0, err
	}
	size := frameSize(h.length)
	if len(buf) < size {
		return h, nil, size, errShort
	}
	data := buf[headerSize : headerSize+h.length : headerSize+h.length]
	if crc32.Checksum(data, castagnoli) != h.dataCRC {
		return h, nil, size, errDataCRC
	}
	for _, b := range buf[headerSize+h.length : size] {
		if b != 0 {
			return h, nil, size, errPadding
		}
	}
	return h, data, size, nil
}

// zeroSectorTouched reports whether the byte range [start, end) of seg, a
// whole segment's content beginning at file offset 0, touches a disk sector
// that reads all zeros from the range's start (or the sector's start) to the
// sector's end or the end of the file. That is the mark a write torn by power
// loss leaves: a sector past the durable size either holds its new content
// or zeros, and the range lies past the durable size when it was torn.
func zeroSectorTouched(seg []byte, start, end int) bool {
	if end > len(seg) {
		end = len(seg)
	}
	for s := start; s < end; {
		sectorEnd := (s/diskmodel.SectorSize + 1) * diskmodel.SectorSize
		chunkEnd := min(sectorEnd, len(seg))
		if allZero(seg[s:chunkEnd]) {
			return true
		}
		s = sectorEnd
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
