package wal

import (
	"testing"

	"github.com/flockvm/flock/sim/simdisk"
	"pgregory.net/rapid"
)

// crashModel is what a log must hold: every record appended, their
// positions, how many are synced, and the first live segment.
type crashModel struct {
	recs       []Record
	pos        []Position
	synced     int
	liveFrom   uint64 // segments before it were removed
	opts       Options
	disk       *simdisk.Disk
	w          *WAL
	nextRecord int
}

func (m *crashModel) appendBatch(t fataler, n int) {
	batch := make([]Record, n)
	for i := range batch {
		batch[i] = testRecord(m.nextRecord)
		m.nextRecord++
	}
	pos, err := m.w.Append(nil, batch)
	if err != nil {
		t.Fatalf("Append(%d) error = %v", n, err)
	}
	m.recs = append(m.recs, batch...)
	m.pos = append(m.pos, pos...)
}

func (m *crashModel) sync(t fataler) {
	if err := m.w.Sync(); err != nil {
		t.Fatalf("Sync error = %v", err)
	}
	m.synced = len(m.recs)
}

func (m *crashModel) removeBefore(t fataler, i int) {
	if len(m.pos) == 0 || m.synced == 0 {
		return
	}
	cut := m.pos[i%m.synced]
	if err := m.w.RemoveBefore(cut); err != nil {
		t.Fatalf("RemoveBefore(%v) error = %v", cut, err)
	}
	m.liveFrom = max(m.liveFrom, min(cut.Segment, m.w.current()))
}

// crashAndReopen crashes the disk, reopens the log and checks what it
// returns against the model: the live records, a prefix of what was
// appended that holds at least everything synced.
func (m *crashModel) crashAndReopen(t fataler) {
	m.disk.Crash()
	w, got, err := Open(m.disk, testDir, m.opts)
	if err != nil {
		t.Fatalf("Open after crash error = %v (appended %d, synced %d)", err, len(m.recs), m.synced)
	}
	first := 0
	for first < len(m.pos) && m.pos[first].Segment < m.liveFrom {
		first++
	}
	if first+len(got) > len(m.recs) {
		t.Fatalf("Open after crash returned %d records from #%d, only %d appended", len(got), first, len(m.recs))
	}
	for i, r := range got {
		if !sameRecord(r, m.recs[first+i]) || r.Pos != m.pos[first+i] {
			t.Fatalf("record %d after crash = (type %d, %d bytes, at %v), want (type %d, %d bytes, at %v)",
				first+i, r.Type, len(r.Data), r.Pos, m.recs[first+i].Type, len(m.recs[first+i].Data), m.pos[first+i])
		}
	}
	if first+len(got) < m.synced {
		t.Fatalf("Open after crash returned records up to #%d, but %d were synced", first+len(got), m.synced)
	}
	m.recs, m.pos = m.recs[:first+len(got)], m.pos[:first+len(got)]
	m.synced = len(m.recs)
	m.w = w
}

func newCrashModel(t fataler, seed uint64, lose float64, segmentSize int64) *crashModel {
	m := &crashModel{
		opts: Options{SegmentSizeBytes: segmentSize},
		disk: newDisk(seed, simdisk.Faults{LoseUnsyncedProb: lose, TornWrites: true}),
	}
	w, recs, err := Open(m.disk, testDir, m.opts)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Open(empty) = (%d records, %v)", len(recs), err)
	}
	m.w = w
	return m
}

// TestCrashAnywhere crashes after every step of a fixed workload, under
// several fault draws, and checks recovery each time.
func TestCrashAnywhere(t *testing.T) {
	type step struct {
		appendN int
		sync    bool
		remove  int
	}
	steps := []step{
		{appendN: 1}, {sync: true}, {appendN: 3}, {appendN: 2}, {sync: true},
		{appendN: 5, sync: true}, {remove: 3}, {appendN: 4}, {appendN: 1, sync: true},
		{appendN: 6}, {remove: 7}, {appendN: 2, sync: true}, {appendN: 3},
	}
	for crashAt := 0; crashAt <= len(steps); crashAt++ {
		for seed := uint64(0); seed < 8; seed++ {
			m := newCrashModel(t, seed*100+uint64(crashAt), []float64{0, 0.3, 0.7, 1}[seed%4], 1536)
			for _, s := range steps[:crashAt] {
				if s.appendN > 0 {
					m.appendBatch(t, s.appendN)
				}
				if s.sync {
					m.sync(t)
				}
				if s.remove > 0 {
					m.removeBefore(t, s.remove)
				}
			}
			m.crashAndReopen(t)
			// The log goes on after recovery, and survives another crash.
			m.appendBatch(t, 2)
			m.sync(t)
			m.crashAndReopen(t)
			m.w.Close()
		}
	}
}

func TestCrashRecoveryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		lose := rapid.SampledFrom([]float64{0, 0.2, 0.5, 1}).Draw(t, "lose")
		segment := rapid.SampledFrom([]int64{SegmentSizeBytesMin, 1024, 4096, SegmentSizeBytesDefault}).Draw(t, "segment")
		m := newCrashModel(t, seed, lose, segment)
		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) { m.appendBatch(t, rapid.IntRange(1, 5).Draw(t, "n")) },
			"sync":   func(t *rapid.T) { m.sync(t) },
			"remove": func(t *rapid.T) { m.removeBefore(t, rapid.IntRange(0, 100).Draw(t, "at")) },
			"crash":  func(t *rapid.T) { m.crashAndReopen(t) },
		})
		m.crashAndReopen(t)
	})
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}
