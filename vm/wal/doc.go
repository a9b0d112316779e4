// Package wal is a checksummed write-ahead log on a diskmodel.FS: the one
// place a Flock machine appends records it must find again after a crash.
//
// A log is a directory of segment files named by a sequence number
// (0000000000000000.wal, ...). Each segment starts with a header record and
// holds records framed with a length, a type, a sync epoch and two CRC-32C
// checksums (one over the header, one over the data). Records are appended
// in batches and made durable by Sync; a segment is closed, synced and
// followed by a new one when it reaches Options.SegmentSizeBytes. Segments
// wholly before a position can be removed once a snapshot covers them.
//
// Recovery (Open) reads every record back and tells a crash from rot, as
// etcd's WAL does:
//
//   - A final record that is incomplete, or that fails its checksum and
//     touches a 512-byte sector whose bytes (from the record on) are all
//     zeros, is a torn tail: the write was in flight at power loss. It is
//     truncated away, and the truncation synced.
//   - Any other checksum failure, a torn-looking record followed by a valid
//     record written after a later Sync, a torn record outside the last
//     segment, a gap in the segment sequence or an epoch going backwards is
//     corruption: Open returns an error wrapping ErrCorrupt that names the
//     segment file and offset. Nothing panics on bad bytes.
//
// Open also syncs the last segment and the log's directory before it
// returns: a log reopened after a failed fsync, without a crash between,
// reads back records that may live only in the page cache, and its caller
// is about to act on them as durable.
//
// The sync epoch is what makes the second rule sound. Every record carries
// the number of Syncs that completed before it was written. After a crash
// only records of the last epoch can be torn; a valid record of a later
// epoch behind a bad one proves the bad one had been synced.
//
// A WAL is a plain state machine over the FS it is given: no goroutines, no
// clocks, and it is used from one goroutine at a time.
package wal
