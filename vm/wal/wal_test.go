package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/sim/simdisk"
)

const testDir = "node/wal"

func newDisk(seed uint64, faults simdisk.Faults) *simdisk.Disk {
	return simdisk.New(rand.New(rand.NewPCG(seed, 0x5eed)), faults)
}

func mustOpen(t testing.TB, fsys diskmodel.FS, opts Options) (*WAL, []Record) {
	t.Helper()
	w, recs, err := Open(fsys, testDir, opts)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", testDir, err)
	}
	return w, recs
}

// record i of a test log: type and size vary so records straddle sectors.
func testRecord(i int) Record {
	size := (i * 37) % 700
	data := make([]byte, size)
	for j := range data {
		data[j] = byte(i*7 + j + 1)
	}
	return Record{Type: uint8(1 + i%int(TypeUserMax)), Data: data}
}

func sameRecord(a, b Record) bool { return a.Type == b.Type && bytes.Equal(a.Data, b.Data) }

func appendSync(t testing.TB, w *WAL, recs ...Record) []Position {
	t.Helper()
	pos, err := w.Append(nil, recs)
	if err != nil {
		t.Fatalf("Append(%d records) error = %v", len(recs), err)
	}
	if err := w.Sync(); err != nil {
		t.Fatalf("Sync() error = %v", err)
	}
	return pos
}

func TestRoundTripAcrossSegments(t *testing.T) {
	tests := []struct {
		name        string
		segmentSize int64
		batches     int
		perBatch    int
	}{
		{"one segment", SegmentSizeBytesDefault, 5, 4},
		{"many segments", 2048, 20, 3},
		{"record larger than a segment", SegmentSizeBytesMin, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := newDisk(1, simdisk.Faults{})
			opts := Options{SegmentSizeBytes: tt.segmentSize}
			w, recs := mustOpen(t, disk, opts)
			if len(recs) != 0 {
				t.Fatalf("Open(empty dir) returned %d records, want 0", len(recs))
			}
			var want []Record
			var wantPos []Position
			for b := 0; b < tt.batches; b++ {
				batch := make([]Record, tt.perBatch)
				for i := range batch {
					batch[i] = testRecord(len(want) + i)
				}
				wantPos = append(wantPos, appendSync(t, w, batch...)...)
				want = append(want, batch...)
			}
			segments := w.Stats().Segments
			if err := w.Close(); err != nil {
				t.Fatalf("Close() error = %v", err)
			}
			w2, got := mustOpen(t, disk, opts)
			defer w2.Close()
			if len(got) != len(want) {
				t.Fatalf("Open after %d appends returned %d records", len(want), len(got))
			}
			for i := range want {
				if !sameRecord(got[i], want[i]) || got[i].Pos != wantPos[i] {
					t.Fatalf("record %d = (type %d, %d bytes, at %v), want (type %d, %d bytes, at %v)",
						i, got[i].Type, len(got[i].Data), got[i].Pos, want[i].Type, len(want[i].Data), wantPos[i])
				}
			}
			if tt.segmentSize < SegmentSizeBytesDefault && segments < 2 {
				t.Errorf("Stats().Segments = %d after %d records in %d-byte segments, want rotation", segments, len(want), tt.segmentSize)
			}
		})
	}
}

func TestPositionsAreOrdered(t *testing.T) {
	disk := newDisk(2, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{SegmentSizeBytes: 1024})
	defer w.Close()
	var all []Position
	for i := 0; i < 30; i++ {
		all = append(all, appendSync(t, w, testRecord(i))...)
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].Less(all[i]) || all[i].Less(all[i-1]) {
			t.Fatalf("positions %v then %v are not strictly ordered", all[i-1], all[i])
		}
	}
	if end := w.End(); !all[len(all)-1].Less(end) {
		t.Errorf("End() = %v, not after the last record %v", end, all[len(all)-1])
	}
}

func TestAppendRejectsBadRecords(t *testing.T) {
	disk := newDisk(3, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{RecordSizeMax: 100})
	defer w.Close()
	tests := []struct {
		name string
		rec  Record
	}{
		{"type 0", Record{Type: 0}},
		{"segment header type", Record{Type: TypeSegmentHeader}},
		{"too large", Record{Type: 1, Data: make([]byte, 101)}},
	}
	for _, tt := range tests {
		if _, err := w.Append(nil, []Record{tt.rec}); !errors.Is(err, ErrRecord) {
			t.Errorf("Append(%s) error = %v, want ErrRecord", tt.name, err)
		}
	}
	// The WAL is still usable.
	appendSync(t, w, Record{Type: 1, Data: []byte("ok")})
}

func TestRemoveBefore(t *testing.T) {
	disk := newDisk(4, simdisk.Faults{})
	opts := Options{SegmentSizeBytes: 1024}
	w, _ := mustOpen(t, disk, opts)
	var pos []Position
	for i := 0; i < 40; i++ {
		pos = append(pos, appendSync(t, w, testRecord(i))...)
	}
	cut := pos[25]
	before := w.Stats().Segments
	if err := w.RemoveBefore(cut); err != nil {
		t.Fatalf("RemoveBefore(%v) error = %v", cut, err)
	}
	if got, want := w.Stats().Segments, before-int(cut.Segment); got != want {
		t.Errorf("Stats().Segments after RemoveBefore(%v) = %d, want %d", cut, got, want)
	}
	w.Close()
	_, got := mustOpen(t, disk, opts)
	if len(got) == 0 || got[0].Pos.Segment != cut.Segment || got[0].Pos.Offset > cut.Offset {
		t.Fatalf("after RemoveBefore(%v), first record at %v", cut, got[0].Pos)
	}
	for _, r := range got {
		if r.Pos == cut {
			return
		}
	}
	t.Errorf("record at the cut %v was removed", cut)
}

func TestRemoveBeforeKeepsCurrentSegment(t *testing.T) {
	disk := newDisk(5, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	defer w.Close()
	appendSync(t, w, testRecord(1))
	if err := w.RemoveBefore(Position{Segment: 99}); err != nil {
		t.Fatalf("RemoveBefore(past the end) error = %v", err)
	}
	if got := w.Stats().Segments; got != 1 {
		t.Errorf("Stats().Segments = %d, want the current segment kept", got)
	}
	appendSync(t, w, testRecord(2))
}

// segmentFile returns the name and content of segment seq.
func segmentFile(t *testing.T, fsys diskmodel.FS, seq uint64) (string, []byte) {
	t.Helper()
	name := path.Join(testDir, segmentName(seq))
	b, err := diskmodel.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("ReadFile(%s) error = %v", name, err)
	}
	return name, b
}

func writeSegment(t *testing.T, fsys diskmodel.FS, name string, b []byte) {
	t.Helper()
	if err := diskmodel.WriteFileAtomic(fsys, name, b); err != nil {
		t.Fatalf("WriteFileAtomic(%s) error = %v", name, err)
	}
}

// wantCorrupt checks err wraps ErrCorrupt and names the segment and offset.
func wantCorrupt(t *testing.T, err error, segment string, offset int64) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("Open error = %v, want a *CorruptError wrapping ErrCorrupt", err)
	}
	if ce.Segment != segment || (offset >= 0 && ce.Offset != offset) {
		t.Fatalf("Open error names %s at %d, want %s at %d", ce.Segment, ce.Offset, segment, offset)
	}
	if !strings.Contains(err.Error(), segment) {
		t.Errorf("error %q does not name the segment %s", err, segment)
	}
}

func TestCorruptionDetected(t *testing.T) {
	type setup struct {
		disk *simdisk.Disk
		pos  []Position
	}
	build := func(t *testing.T) setup {
		disk := newDisk(6, simdisk.Faults{})
		w, _ := mustOpen(t, disk, Options{SegmentSizeBytes: 2048})
		var pos []Position
		for i := 0; i < 20; i++ {
			pos = append(pos, appendSync(t, w, testRecord(i+3))...)
		}
		w.Close()
		return setup{disk, pos}
	}
	tests := []struct {
		name   string
		damage func(b []byte, off int64) // off: the damaged record's offset
		record int
		last   bool // damage the last segment rather than the first
	}{
		{"bit flip in data, non-final segment", func(b []byte, off int64) { b[off+headerSize+3] ^= 0x10 }, 1, false},
		{"bit flip in header, non-final segment", func(b []byte, off int64) { b[off+9] ^= 1 }, 1, false},
		{"bit flip in data, final segment", func(b []byte, off int64) { b[off+headerSize+1] ^= 0x80 }, 0, true},
		{"bit flip in length, final segment", func(b []byte, off int64) { b[off+2] ^= 0x40 }, 0, true},
		{"padding not zero", func(b []byte, off int64) {
			n := int(b[off]) | int(b[off+1])<<8
			if frameSize(n) == headerSize+n {
				b[off+headerSize+3] ^= 1 // no padding: damage data instead
				return
			}
			b[off+int64(headerSize+n)] = 0xAA
		}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t)
			seq := s.pos[0].Segment
			if tt.last {
				seq = s.pos[len(s.pos)-1].Segment
			}
			var inSeg []Position
			for _, p := range s.pos {
				if p.Segment == seq {
					inSeg = append(inSeg, p)
				}
			}
			target := inSeg[tt.record]
			name, b := segmentFile(t, s.disk, seq)
			tt.damage(b, target.Offset)
			writeSegment(t, s.disk, name, b)
			_, _, err := Open(s.disk, testDir, Options{SegmentSizeBytes: 2048})
			wantCorrupt(t, err, name, target.Offset)
		})
	}
}

func TestMissingSegmentDetected(t *testing.T) {
	disk := newDisk(7, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{SegmentSizeBytes: 1024})
	for i := 0; i < 30; i++ {
		appendSync(t, w, testRecord(i))
	}
	w.Close()
	name := path.Join(testDir, segmentName(1))
	if err := disk.Remove(name); err != nil {
		t.Fatalf("Remove(%s) error = %v", name, err)
	}
	_, _, err := Open(disk, testDir, Options{SegmentSizeBytes: 1024})
	wantCorrupt(t, err, name, 0)
}

func TestForeignSegmentDetected(t *testing.T) {
	disk := newDisk(8, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{SegmentSizeBytes: 1024})
	for i := 0; i < 30; i++ {
		appendSync(t, w, testRecord(i))
	}
	w.Close()
	_, b := segmentFile(t, disk, 0)
	name := path.Join(testDir, segmentName(1))
	writeSegment(t, disk, name, b) // segment 0's content under segment 1's name
	_, _, err := Open(disk, testDir, Options{SegmentSizeBytes: 1024})
	wantCorrupt(t, err, name, 0)
}

// tailSetup writes records 0..n-1 synced and returns the disk, the final
// segment's name and content, and the positions.
func tailSetup(t *testing.T, n int) (*simdisk.Disk, string, []byte, []Position) {
	disk := newDisk(9, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	var pos []Position
	for i := 0; i < n; i++ {
		pos = append(pos, appendSync(t, w, testRecord(i+20))...)
	}
	w.Close()
	name, b := segmentFile(t, disk, 0)
	return disk, name, b, pos
}

func TestTornTailTruncated(t *testing.T) {
	tests := []struct {
		name string
		// tear returns the damaged segment and how many records survive.
		tear func(b []byte, pos []Position) ([]byte, int)
	}{
		{"incomplete final record", func(b []byte, pos []Position) ([]byte, int) {
			return b[:len(b)-5], len(pos) - 1
		}},
		{"incomplete header", func(b []byte, pos []Position) ([]byte, int) {
			return b[:pos[len(pos)-1].Offset+10], len(pos) - 1
		}},
		{"zeros after the last record", func(b []byte, pos []Position) ([]byte, int) {
			return append(b, make([]byte, 1500)...), len(pos)
		}},
		{"final record with a zeroed sector", func(b []byte, pos []Position) ([]byte, int) {
			last := pos[len(pos)-1].Offset
			sector := (last/diskmodel.SectorSize + 1) * diskmodel.SectorSize
			if sector >= int64(len(b)) {
				sector = last // the record starts its sector's tail
			}
			clear(b[sector:min(int64(len(b)), (sector/diskmodel.SectorSize+1)*diskmodel.SectorSize)])
			return b, len(pos) - 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A last record long enough to span sectors.
			disk, name, b, pos := tailSetup(t, 18)
			b, survive := tt.tear(b, pos)
			writeSegment(t, disk, name, b)
			w, got, err := Open(disk, testDir, Options{})
			if err != nil {
				t.Fatalf("Open(torn tail) error = %v, want the tail truncated", err)
			}
			if len(got) != survive {
				t.Fatalf("Open(torn tail) returned %d records, want %d", len(got), survive)
			}
			for i := range got {
				if !sameRecord(got[i], testRecord(i+20)) {
					t.Fatalf("record %d differs after truncation", i)
				}
			}
			// The truncation was durable and the log goes on.
			appendSync(t, w, testRecord(99))
			w.Close()
			_, again := mustOpen(t, disk, Options{})
			if len(again) != survive+1 || !sameRecord(again[survive], testRecord(99)) {
				t.Fatalf("after truncating and appending, reopen returned %d records, want %d", len(again), survive+1)
			}
		})
	}
}

// A torn-looking record followed by a valid record of a later epoch was
// synced: it is corruption, not a torn tail.
func TestZeroSectorBeforeLaterEpochIsCorrupt(t *testing.T) {
	disk := newDisk(10, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	big := Record{Type: 1, Data: bytes.Repeat([]byte{7}, 3*diskmodel.SectorSize)}
	pos := appendSync(t, w, big)
	appendSync(t, w, testRecord(5))
	w.Close()
	name, b := segmentFile(t, disk, 0)
	sector := (pos[0].Offset/diskmodel.SectorSize + 1) * diskmodel.SectorSize
	clear(b[sector : sector+diskmodel.SectorSize])
	writeSegment(t, disk, name, b)
	_, _, err := Open(disk, testDir, Options{})
	wantCorrupt(t, err, name, pos[0].Offset)
}

// A torn record followed by a valid record of the same epoch is the tear of
// one unsynced batch.
func TestZeroSectorInUnsyncedBatchIsTorn(t *testing.T) {
	disk := newDisk(11, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	appendSync(t, w, testRecord(1))
	big := Record{Type: 1, Data: bytes.Repeat([]byte{7}, 3*diskmodel.SectorSize)}
	pos, err := w.Append(nil, []Record{big, testRecord(2)})
	if err != nil {
		t.Fatalf("Append error = %v", err)
	}
	if err := w.Sync(); err != nil {
		t.Fatalf("Sync error = %v", err)
	}
	w.Close()
	name, b := segmentFile(t, disk, 0)
	sector := (pos[0].Offset/diskmodel.SectorSize + 1) * diskmodel.SectorSize
	clear(b[sector : sector+diskmodel.SectorSize])
	writeSegment(t, disk, name, b)
	_, got, err := Open(disk, testDir, Options{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Open = (%d records, %v), want 1 record and the torn batch cut", len(got), err)
	}
}

func TestTmpLeftoversRemoved(t *testing.T) {
	disk := newDisk(12, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	appendSync(t, w, testRecord(1))
	w.Close()
	tmp := path.Join(testDir, fmt.Sprintf("%016x%s", 1, segmentTmpSuffix))
	writeSegment(t, disk, tmp, []byte("half a segment"))
	w2, got := mustOpen(t, disk, Options{})
	w2.Close()
	if len(got) != 1 {
		t.Fatalf("Open returned %d records, want 1", len(got))
	}
	if _, err := disk.Stat(tmp); err == nil {
		t.Errorf("Stat(%s) after Open succeeded, want the leftover removed", tmp)
	}
}

func TestFailedSyncIsSticky(t *testing.T) {
	disk := newDisk(13, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	if _, err := w.Append(nil, []Record{testRecord(1)}); err != nil {
		t.Fatalf("Append error = %v", err)
	}
	disk.SetFaults(simdisk.Faults{WriteErrorProb: 1})
	if err := w.Sync(); !errors.Is(err, ErrFailed) || !errors.Is(err, diskmodel.ErrIO) {
		t.Fatalf("Sync on a failing disk error = %v, want ErrFailed wrapping ErrIO", err)
	}
	disk.SetFaults(simdisk.Faults{})
	if err := w.Sync(); !errors.Is(err, ErrFailed) {
		t.Errorf("Sync after a failed Sync error = %v, want ErrFailed", err)
	}
	if _, err := w.Append(nil, []Record{testRecord(2)}); !errors.Is(err, ErrFailed) {
		t.Errorf("Append after a failed Sync error = %v, want ErrFailed", err)
	}
}

func TestSyncViaRunsTheFsync(t *testing.T) {
	tests := []struct {
		name      string
		appends   int
		runErr    error
		wantRuns  int
		wantSyncs uint64
		wantErr   error
	}{
		{"dirty", 1, nil, 1, 1, nil},
		{"clean: no fsync", 0, nil, 0, 0, nil},
		{"run fails", 1, diskmodel.ErrIO, 1, 0, ErrFailed},
	}
	for _, tt := range tests {
		disk := newDisk(17, simdisk.Faults{LoseUnsyncedProb: 1})
		w, _ := mustOpen(t, disk, Options{})
		for i := range tt.appends {
			if _, err := w.Append(nil, []Record{testRecord(i)}); err != nil {
				t.Fatalf("%s: Append error = %v", tt.name, err)
			}
		}
		runs := 0
		err := w.SyncVia(func(fsync func() error) error {
			runs++
			if tt.runErr != nil {
				return tt.runErr
			}
			return fsync()
		})
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: SyncVia error = %v, want %v", tt.name, err, tt.wantErr)
		}
		if runs != tt.wantRuns || w.Stats().Syncs != tt.wantSyncs {
			t.Errorf("%s: SyncVia ran %d times, %d syncs, want %d, %d", tt.name, runs, w.Stats().Syncs, tt.wantRuns, tt.wantSyncs)
		}
		if tt.wantErr != nil || tt.appends == 0 {
			continue
		}
		w.Close()
		disk.Crash()
		_, recs := mustOpen(t, disk, Options{})
		if len(recs) != tt.appends {
			t.Errorf("%s: %d records after a crash, want %d synced through SyncVia", tt.name, len(recs), tt.appends)
		}
	}
}

func TestSkipSyncLosesDataAtCrash(t *testing.T) {
	disk := newDisk(14, simdisk.Faults{LoseUnsyncedProb: 1})
	w, _ := mustOpen(t, disk, Options{SkipSync: true})
	appendSync(t, w, testRecord(1), testRecord(2))
	disk.Crash()
	_, got := mustOpen(t, disk, Options{})
	if len(got) != 0 {
		t.Fatalf("with SkipSync, a crash losing unsynced writes kept %d records, want 0", len(got))
	}
}

func TestClosedWAL(t *testing.T) {
	disk := newDisk(15, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	w.Close()
	if _, err := w.Append(nil, []Record{testRecord(1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close error = %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close error = %v, want ErrClosed", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	disk := newDisk(16, simdisk.Faults{})
	for _, opts := range []Options{{SegmentSizeBytes: 10}, {RecordSizeMax: -1}, {RecordSizeMax: RecordSizeMaxLimit + 1}} {
		if _, _, err := Open(disk, testDir, opts); err == nil {
			t.Errorf("Open(%+v) succeeded, want an error", opts)
		}
	}
}

// A log reopened after a failed Sync, without a crash in between, reads
// back records that may live only in the page cache. Open makes them
// durable before handing them out: the caller acts on them as durable.
func TestReopenAfterFailedSyncMakesRecordsDurable(t *testing.T) {
	disk := newDisk(17, simdisk.Faults{})
	w, _ := mustOpen(t, disk, Options{})
	appendSync(t, w, testRecord(1))
	if _, err := w.Append(nil, []Record{testRecord(2)}); err != nil {
		t.Fatalf("Append error = %v", err)
	}
	disk.SetFaults(simdisk.Faults{WriteErrorProb: 1})
	if err := w.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync on a failing disk error = %v, want ErrFailed", err)
	}
	w.Close()
	disk.SetFaults(simdisk.Faults{LoseUnsyncedProb: 1})
	w, got := mustOpen(t, disk, Options{})
	if len(got) != 2 {
		t.Fatalf("reopen after a failed Sync returned %d records, want 2 (both still in the page cache)", len(got))
	}
	w.Close()
	disk.Crash()
	_, got = mustOpen(t, disk, Options{})
	if len(got) != 2 {
		t.Fatalf("after a crash, the records the reopen returned: %d of 2 survived, want both (Open must sync what it returns)", len(got))
	}
}

// With the planted defect SkipTornTailTruncate the torn bytes stay behind
// the tail; a shorter append leaves part of them, and the next recovery
// finds an older epoch behind newer records: corruption.
func TestSkipTornTailTruncateLeavesTheTear(t *testing.T) {
	for _, bug := range []bool{false, true} {
		disk, name, b, pos := tailSetup(t, 18)
		last := pos[len(pos)-1].Offset
		writeSegment(t, disk, name, b[:len(b)-5]) // the last record incomplete
		w, got, err := Open(disk, testDir, Options{SkipTornTailTruncate: bug})
		if err != nil || len(got) != len(pos)-1 {
			t.Fatalf("Open(torn tail, bug %v) = %d records, %v; want %d and the tail recognised", bug, len(got), err, len(pos)-1)
		}
		if w.End().Offset != last {
			t.Fatalf("End() = %v after a torn tail at %d, want appends to start there", w.End(), last)
		}
		appendSync(t, w, Record{Type: 1, Data: []byte("short")})
		w.Close()
		_, _, err = Open(disk, testDir, Options{})
		if got := errors.Is(err, ErrCorrupt); got != bug {
			t.Errorf("reopen after appending over a torn tail (bug %v): error %v, want corrupt = %v", bug, err, bug)
		}
	}
}

// With the planted defect RemoveLiveSegment, RemoveBefore removes the
// segment holding pos too, and with it records still needed.
func TestRemoveLiveSegmentRemovesNeededRecords(t *testing.T) {
	for _, bug := range []bool{false, true} {
		disk := newDisk(19, simdisk.Faults{})
		opts := Options{SegmentSizeBytes: 512, RemoveLiveSegment: bug}
		w, _ := mustOpen(t, disk, opts)
		var pos []Position
		for i := range 30 {
			pos = append(pos, appendSync(t, w, testRecord(i))...)
		}
		keep := 20
		if pos[keep].Segment == w.End().Segment {
			t.Fatalf("record %d is in the current segment %d; the test needs it in an older one", keep, pos[keep].Segment)
		}
		if err := w.RemoveBefore(pos[keep]); err != nil {
			t.Fatalf("RemoveBefore(%v) error = %v", pos[keep], err)
		}
		w.Close()
		_, got := mustOpen(t, disk, Options{SegmentSizeBytes: 512})
		kept := len(got) > 0 && got[0].Pos.Less(pos[keep]) || len(got) > 0 && got[0].Pos == pos[keep]
		if kept == bug {
			t.Errorf("RemoveBefore(%v) with bug %v: the first record left is at %v, want record %d kept = %v",
				pos[keep], bug, got[0].Pos, keep, !bug)
		}
	}
}
