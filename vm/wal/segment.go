package wal

import (
	"encoding/binary"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Segment files are named by their sequence number in 16 hex digits so
// that ReadDir's name order is sequence order.
const (
	segmentSuffix    = ".wal"
	segmentTmpSuffix = ".wal.tmp"
	segmentNameLen   = 16 + len(segmentSuffix)
)

// The segment header record's data: magic, format version, sequence number.
var segmentMagic = [6]byte{'F', 'L', 'W', 'A', 'L', 0}

const (
	segmentVersion    = 1
	segmentHeaderData = len(segmentMagic) + 2 + 8
)

func segmentName(seq uint64) string {
	return fmt.Sprintf("%016x%s", seq, segmentSuffix)
}

// parseSegmentName returns the sequence number a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	seq, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil {
		return 0, false
	}
	return seq, true
}

func encodeSegmentHeader(seq uint64) []byte {
	b := make([]byte, 0, segmentHeaderData)
	b = append(b, segmentMagic[:]...)
	b = binary.LittleEndian.AppendUint16(b, segmentVersion)
	return binary.LittleEndian.AppendUint64(b, seq)
}

// decodeSegmentHeader checks a segment header record's data and returns
// the sequence number it names.
func decodeSegmentHeader(data []byte) (uint64, error) {
	if len(data) != segmentHeaderData || [6]byte(data[:6]) != segmentMagic {
		return 0, fmt.Errorf("bad segment header magic or length %d", len(data))
	}
	if v := binary.LittleEndian.Uint16(data[6:8]); v != segmentVersion {
		return 0, fmt.Errorf("unsupported segment version %d", v)
	}
	return binary.LittleEndian.Uint64(data[8:16]), nil
}

func (w *WAL) segmentPath(seq uint64) string {
	return path.Join(w.dir, segmentName(seq))
}
