package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/flockvm/flock/diskmodel"
)

// Defaults and bounds for Options.
const (
	SegmentSizeBytesDefault = 4 << 20
	SegmentSizeBytesMin     = 256
	RecordSizeMaxDefault    = 16 << 20
	// RecordSizeMaxLimit keeps every length representable in the header
	// and every segment readable into memory.
	RecordSizeMaxLimit = 1 << 30
)

// Options tune a WAL. The zero value takes every default.
type Options struct {
	// SegmentSizeBytes: a segment that would grow past this is synced and
	// followed by a new one. A record larger than it gets a segment alone.
	SegmentSizeBytes int64
	// RecordSizeMax bounds one record's data, when written and when read.
	RecordSizeMax int
	// SkipSync is a planted defect for the simulator (raftkv's
	// skip-wal-sync bug): Sync and rotation never fsync. Always false in
	// production.
	SkipSync bool
	// SkipTornTailTruncate is a planted defect (raftkv's
	// skip-torn-tail-truncate bug): Open recognises a torn tail but leaves
	// its bytes in the file, so appends overwrite only part of them and a
	// later recovery meets the rest behind newer records. Always false in
	// production.
	SkipTornTailTruncate bool
	// RemoveLiveSegment is a planted defect (raftkv's remove-live-segment
	// bug): RemoveBefore also removes the segment holding pos, whose records
	// from pos on are still needed. Always false in production.
	RemoveLiveSegment bool
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSizeBytes == 0 {
		o.SegmentSizeBytes = SegmentSizeBytesDefault
	}
	if o.RecordSizeMax == 0 {
		o.RecordSizeMax = RecordSizeMaxDefault
	}
	if o.SegmentSizeBytes < SegmentSizeBytesMin {
		return o, fmt.Errorf("wal: SegmentSizeBytes %d below the minimum %d", o.SegmentSizeBytes, SegmentSizeBytesMin)
	}
	if o.RecordSizeMax < 0 || o.RecordSizeMax > RecordSizeMaxLimit {
		return o, fmt.Errorf("wal: RecordSizeMax %d outside [1, %d]", o.RecordSizeMax, RecordSizeMaxLimit)
	}
	return o, nil
}

// Position names the place of a record: a segment and a byte offset in it.
// Positions order records in the log.
type Position struct {
	Segment uint64
	Offset  int64
}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.Segment != q.Segment {
		return p.Segment < q.Segment
	}
	return p.Offset < q.Offset
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// Record is one entry of the log. Type is the caller's, 1..TypeUserMax.
// Pos is set on records returned by Open and ignored by Append.
type Record struct {
	Type uint8
	Data []byte
	Pos  Position
}

// Stats counts what a WAL has done since Open.
type Stats struct {
	Segments           int    // live segment files
	SegmentsRemoved    uint64 // by RemoveBefore
	RecordsAppended    uint64
	BytesAppended      uint64 // framing included
	Syncs              uint64 // fsyncs of segment files
	TornBytesTruncated int64  // cut from the last segment at Open
	Epoch              uint64 // current sync epoch
}

// WAL is an open log. Use it from one goroutine at a time.
type WAL struct {
	fsys     diskmodel.FS
	dir      string
	opts     Options
	segments []uint64       // live segment sequence numbers, ascending; the last is current
	file     diskmodel.File // the current segment
	size     int64          // bytes written to the current segment
	epoch    uint64         // epoch of records written now
	dirty    bool           // records written since the last Sync
	buf      []byte         // frames waiting for one WriteAt
	err      error          // sticky: set by a failed write or sync
	closed   bool
	syncing  bool // between SyncStart and SyncFinish
	stats    Stats
}

// Open opens the log in dir (creating dir and a first segment if needed),
// reads every record back, truncates a torn tail, and returns the log ready
// for appends together with the records in log order. Corruption is
// returned as an error wrapping ErrCorrupt; disk errors are returned as is.
func Open(fsys diskmodel.FS, dir string, opts Options) (*WAL, []Record, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if err := diskmodel.MkdirAll(fsys, dir); err != nil {
		return nil, nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	w := &WAL{fsys: fsys, dir: dir, opts: opts, epoch: 1}
	if w.segments, err = w.listSegments(); err != nil {
		return nil, nil, err
	}
	if len(w.segments) == 0 {
		if err := w.createSegment(0); err != nil {
			return nil, nil, err
		}
		return w, nil, nil
	}
	records, err := w.recover()
	if err != nil {
		if w.file != nil {
			w.file.Close()
		}
		return nil, nil, err
	}
	return w, records, nil
}

// listSegments returns the live segment numbers and removes leftovers of a
// crash during segment creation.
func (w *WAL) listSegments() ([]uint64, error) {
	infos, err := w.fsys.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", w.dir, err)
	}
	var segs []uint64
	for _, info := range infos {
		if info.IsDir {
			continue
		}
		if strings.HasSuffix(info.Name, segmentTmpSuffix) {
			if err := w.fsys.Remove(path.Join(w.dir, info.Name)); err != nil {
				return nil, fmt.Errorf("wal: remove leftover %s: %w", info.Name, err)
			}
			markLeftover.Hit()
			continue
		}
		if seq, ok := parseSegmentName(info.Name); ok {
			segs = append(segs, seq) // ReadDir sorts by name: ascending
		}
	}
	// Sync the directory even when nothing was removed: a segment created
	// just before a failed SyncDir (and a reopen without a crash) is named
	// only in the page cache, and records about to be synced into it
	// would vanish with its name.
	if err := w.fsys.SyncDir(w.dir); err != nil {
		return nil, fmt.Errorf("wal: sync %s: %w", w.dir, err)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[i-1]+1 {
			return nil, &CorruptError{Segment: path.Join(w.dir, segmentName(segs[i-1]+1)), Offset: 0,
				Reason: fmt.Errorf("segment missing between %d and %d", segs[i-1], segs[i])}
		}
	}
	return segs, nil
}

// recover reads every segment, truncates a torn tail of the last one and
// opens it for appends.
func (w *WAL) recover() ([]Record, error) {
	var records []Record
	epochMax := uint64(0)
	for i, seq := range w.segments {
		name := w.segmentPath(seq)
		seg, err := diskmodel.ReadFile(w.fsys, name)
		if err != nil {
			return nil, fmt.Errorf("wal: read %s: %w", name, err)
		}
		final := i == len(w.segments)-1
		res, err := scanSegment(name, seq, seg, final, w.opts.RecordSizeMax, epochMax)
		if err != nil {
			return nil, err
		}
		records = append(records, res.records...)
		epochMax = res.epochMax
		if final {
			if err := w.openTail(seq, int64(res.end), int64(len(seg))); err != nil {
				return nil, err
			}
		}
	}
	// Records written from now on are told apart from any torn bytes of
	// the last epoch before the crash.
	w.epoch = epochMax + 1
	w.stats.Epoch = w.epoch
	w.stats.Segments = len(w.segments)
	return records, nil
}

// openTail opens the last segment for appends at end, cutting (durably)
// whatever torn bytes lie past it. It syncs the segment in any case: after a
// failed fsync the records read back may live only in the page cache (the
// log is reopened without a crash), and the caller is about to act on them
// as durable.
func (w *WAL) openTail(seq uint64, end, size int64) error {
	name := w.segmentPath(seq)
	f, err := w.fsys.OpenFile(name, diskmodel.OpenExisting)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", name, err)
	}
	w.file = f
	w.size = end
	if end < size {
		markTornTail.Hit()
		w.stats.TornBytesTruncated = size - end
		if !w.opts.SkipTornTailTruncate { // BUG when set: the torn bytes past end stay in the file
			if err := f.Truncate(end); err != nil {
				return fmt.Errorf("wal: truncate torn tail of %s at %d: %w", name, end, err)
			}
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s at open: %w", name, err)
	}
	return nil
}

// createSegment makes segment seq the current one. The header is written
// to a temporary file, synced and renamed, so a segment file that exists
// always has an intact header.
func (w *WAL) createSegment(seq uint64) error {
	name := w.segmentPath(seq) // WriteFileAtomic's temporary is name+".tmp": segmentTmpSuffix
	header := appendFrame(nil, TypeSegmentHeader, w.epoch, encodeSegmentHeader(seq))
	if err := diskmodel.WriteFileAtomic(w.fsys, name, header); err != nil {
		return fmt.Errorf("wal: create %s: %w", name, err)
	}
	f, err := w.fsys.OpenFile(name, diskmodel.OpenExisting)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", name, err)
	}
	w.file = f
	w.size = int64(len(header))
	w.segments = append(w.segments, seq)
	w.stats.Segments = len(w.segments)
	w.stats.Epoch = w.epoch
	return nil
}

func (w *WAL) usable() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return fmt.Errorf("%w: %w", ErrFailed, w.err)
	}
	return nil
}

func (w *WAL) fail(err error) error {
	w.err = err
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// Append writes records at the end of the log and appends their positions
// to dst. They are durable only after Sync. On an I/O error the WAL fails:
// every later call returns an error wrapping ErrFailed.
func (w *WAL) Append(dst []Position, recs []Record) ([]Position, error) {
	if err := w.usable(); err != nil {
		return dst, err
	}
	if w.syncing {
		panic("wal: Append between SyncStart and SyncFinish")
	}
	for i, r := range recs {
		if r.Type == 0 || r.Type > TypeUserMax {
			return dst, fmt.Errorf("%w: record %d has reserved type %d", ErrRecord, i, r.Type)
		}
		if len(r.Data) > w.opts.RecordSizeMax {
			return dst, fmt.Errorf("%w: record %d of %d bytes exceeds %d", ErrRecord, i, len(r.Data), w.opts.RecordSizeMax)
		}
	}
	w.buf = w.buf[:0]
	start := w.size
	for _, r := range recs {
		size := int64(frameSize(len(r.Data)))
		if w.size+size > w.opts.SegmentSizeBytes && w.segmentHasRecords() {
			if err := w.flush(start); err != nil {
				return dst, err
			}
			if err := w.rotate(); err != nil {
				return dst, err
			}
			start = w.size
		}
		dst = append(dst, Position{Segment: w.current(), Offset: w.size})
		w.buf = appendFrame(w.buf, r.Type, w.epoch, r.Data)
		w.size += size
		w.stats.RecordsAppended++
		w.stats.BytesAppended += uint64(size)
	}
	return dst, w.flush(start)
}

func (w *WAL) current() uint64 { return w.segments[len(w.segments)-1] }

func (w *WAL) segmentHasRecords() bool {
	return w.size > int64(frameSize(segmentHeaderData))
}

// flush writes the buffered frames at offset start of the current segment.
func (w *WAL) flush(start int64) error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.file.WriteAt(w.buf, start); err != nil {
		return w.fail(fmt.Errorf("write %s at %d: %w", w.segmentPath(w.current()), start, err))
	}
	w.buf = w.buf[:0]
	w.dirty = true
	return nil
}

// rotate syncs and closes the current segment and creates the next.
func (w *WAL) rotate() error {
	if err := w.Sync(); err != nil {
		return err
	}
	if err := w.file.Close(); err != nil {
		return w.fail(fmt.Errorf("close %s: %w", w.segmentPath(w.current()), err))
	}
	if err := w.createSegment(w.current() + 1); err != nil {
		return w.fail(err)
	}
	markRotated.Hit()
	return nil
}

// Sync makes every appended record durable. A failed fsync fails the WAL
// for good: the kernel may have dropped the dirty data, so retrying could
// report success over a hole.
func (w *WAL) Sync() error { return w.SyncVia(nil) }

// SyncVia is Sync with the fsync itself run by run (nil runs it directly):
// a driver that serializes calls into its state with a lock releases the
// lock there, so one fsync does not stall the other goroutines. Nothing
// may use the WAL while run runs but run's fsync; every field is touched
// before and after it, in the caller's goroutine.
func (w *WAL) SyncVia(run func(fsync func() error) error) error {
	fsync, err := w.SyncStart()
	if err != nil || fsync == nil {
		return err
	}
	if run == nil {
		run = func(fsync func() error) error { return fsync() }
	}
	return w.SyncFinish(run(fsync))
}

// SyncStart begins a sync that runs elsewhere: it returns the fsync to run
// (on any goroutine: it touches only the segment file), or nil if nothing
// needs syncing. The caller then reports fsync's result to SyncFinish, and
// nothing may Append meanwhile (a broken invariant: it panics). Closing the
// WAL meanwhile is allowed; the fsync then fails or is moot.
func (w *WAL) SyncStart() (fsync func() error, err error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.syncing {
		panic("wal: SyncStart during a sync")
	}
	if !w.dirty || w.opts.SkipSync {
		return nil, nil
	}
	w.syncing = true
	return w.file.Sync, nil
}

// SyncFinish ends the sync SyncStart began with its fsync's result: every
// record appended before SyncStart is durable if it returns nil.
func (w *WAL) SyncFinish(syncErr error) error {
	if !w.syncing {
		panic("wal: SyncFinish without SyncStart")
	}
	w.syncing = false
	if err := w.usable(); err != nil {
		return err
	}
	if syncErr != nil {
		return w.fail(fmt.Errorf("sync %s: %w", w.segmentPath(w.current()), syncErr))
	}
	w.dirty = false
	w.epoch++
	w.stats.Syncs++
	w.stats.Epoch = w.epoch
	return nil
}

// End is the position the next appended record will have, unless a
// rotation comes first.
func (w *WAL) End() Position { return Position{Segment: w.current(), Offset: w.size} }

// RemoveBefore removes the segments that lie wholly before pos, keeping the
// current one. Call it once what those segments held is durable elsewhere
// (a snapshot). Segments go oldest first, each removal synced before the
// next, so a crash leaves the live segments contiguous.
func (w *WAL) RemoveBefore(pos Position) error {
	if err := w.usable(); err != nil {
		return err
	}
	removed := false
	for len(w.segments) > 1 && w.segmentBefore(w.segments[0], pos) {
		name := w.segmentPath(w.segments[0])
		if err := w.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: remove %s: %w", name, err)
		}
		if err := w.fsys.SyncDir(w.dir); err != nil {
			return fmt.Errorf("wal: sync %s after removing %s: %w", w.dir, name, err)
		}
		w.segments = w.segments[1:]
		w.stats.SegmentsRemoved++
		w.stats.Segments = len(w.segments)
		removed = true
	}
	if removed {
		markRemoved.Hit()
	}
	return nil
}

// segmentBefore reports whether segment seq lies wholly before pos.
func (w *WAL) segmentBefore(seq uint64, pos Position) bool {
	if w.opts.RemoveLiveSegment {
		return seq <= pos.Segment // BUG: the segment holding pos is still needed
	}
	return seq < pos.Segment
}

// Stats returns counters since Open.
func (w *WAL) Stats() Stats { return w.stats }

// Close releases the current segment file. It does not sync.
func (w *WAL) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.file == nil {
		return nil
	}
	return w.file.Close()
}
