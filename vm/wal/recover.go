package wal

import (
	"errors"
	"fmt"
)

// scanResult is what one segment holds.
type scanResult struct {
	records  []Record
	end      int    // offset just past the last valid record
	torn     bool   // bytes from end on are a torn tail to truncate
	epochMax uint64 // largest epoch of a valid record, header included
}

// scanSegment decodes a whole segment. final says whether it is the last
// segment of the log, the only one that may end in a torn tail. epochMin is
// the largest epoch seen in earlier segments: epochs never go backwards.
// It never panics on bad bytes: it returns records, a torn tail, or an error
// wrapping ErrCorrupt (a *CorruptError).
func scanSegment(name string, seq uint64, seg []byte, final bool, recordSizeMax int, epochMin uint64) (scanResult, error) {
	corrupt := func(off int, format string, args ...any) (scanResult, error) {
		return scanResult{}, &CorruptError{Segment: name, Offset: int64(off), Reason: fmt.Errorf(format, args...)}
	}
	// Segments are created atomically (tmp file, sync, rename), so a bad
	// header is never a torn write.
	h, data, n, err := decodeFrame(seg, recordSizeMax)
	if err != nil {
		return corrupt(0, "segment header: %w", err)
	}
	if h.typ != TypeSegmentHeader {
		return corrupt(0, "first record has type %d, want a segment header", h.typ)
	}
	got, err := decodeSegmentHeader(data)
	if err != nil {
		return corrupt(0, "%w", err)
	}
	if got != seq {
		return corrupt(0, "segment header names sequence %d, file name %d", got, seq)
	}
	if h.epoch < epochMin {
		return corrupt(0, "epoch %d goes back from %d", h.epoch, epochMin)
	}
	res := scanResult{end: n, epochMax: h.epoch}
	for off := n; off < len(seg); {
		h, data, n, err := decodeFrame(seg[off:], recordSizeMax)
		if err == nil {
			if h.typ == TypeSegmentHeader {
				return corrupt(off, "segment header inside a segment")
			}
			if h.epoch < res.epochMax {
				return corrupt(off, "epoch %d goes back from %d", h.epoch, res.epochMax)
			}
			res.records = append(res.records, Record{Type: h.typ, Data: data, Pos: Position{Segment: seq, Offset: int64(off)}})
			res.epochMax = h.epoch
			off += n
			res.end = off
			continue
		}
		if !final {
			return corrupt(off, "%w in a segment that was synced before the next was created", err)
		}
		if why := tornTail(seg, off, h, n, err, res.epochMax, recordSizeMax); why != nil {
			return corrupt(off, "%w", why)
		}
		res.torn = true
		return res, nil
	}
	return res, nil
}

// tornTail decides whether the bad record at off (decoded as h, n, err)
// is a write torn by power loss. It returns nil if so, else why not.
func tornTail(seg []byte, off int, h frameHeader, n int, err error, epochPrev uint64, recordSizeMax int) error {
	switch {
	case errors.Is(err, errShort) && len(seg)-off < headerSize:
		markTornShort.Hit()
		return nil // an incomplete header ends the file
	case errors.Is(err, errHeaderCRC):
		if zeroSectorTouched(seg, off, off+headerSize) {
			return nil
		}
		return err
	case errors.Is(err, errHeader):
		return err // intact checksum over values no writer writes
	}
	// The header is intact: length and epoch can be trusted.
	if h.epoch < epochPrev {
		return fmt.Errorf("%w; epoch %d goes back from %d", err, h.epoch, epochPrev)
	}
	if errors.Is(err, errShort) {
		markTornShort.Hit()
		return nil // the final record is incomplete
	}
	if !zeroSectorTouched(seg, off, off+n) {
		return err // a complete record with no lost sector: rot
	}
	// A valid record behind this one, written after a later Sync, proves
	// this one was synced: then it was not torn but damaged.
	if next := off + n; next < len(seg) {
		nh, _, _, nerr := decodeFrame(seg[next:], recordSizeMax)
		if nerr == nil && nh.epoch > h.epoch {
			return fmt.Errorf("%w, followed at offset %d by a valid record of the later epoch %d", err, next, nh.epoch)
		}
	}
	return nil
}
