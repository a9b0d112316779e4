package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt: the log holds bytes a crash cannot explain (rot, a lost
	// segment, a foreign file). The machine must not serve from it; errors
	// wrapping it are *CorruptError values naming the place.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrClosed: the WAL was used after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrFailed: an earlier write or sync failed. The on-disk state is
	// unknown (after a failed fsync it may even be lost), so the WAL refuses
	// further work; reopen it to recover from what is durable.
	ErrFailed = errors.New("wal: failed by an earlier I/O error")
	// ErrRecord: a record given to Append has a reserved type or is larger
	// than Options.RecordSizeMax. Nothing was written.
	ErrRecord = errors.New("wal: invalid record")
)

// CorruptError says where corruption was found.
type CorruptError struct {
	Segment string // file name, relative to the FS root
	Offset  int64  // byte offset of the bad record in the segment
	Reason  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d: %v", e.Segment, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold and exposes the reason.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Reason} }
