package sim

import (
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// logger is a program that appends a record, syncs it, and then tells
// machine 2 about it ("persist, then send"), or, with sendFirst, tells
// machine 2 first (the send-before-persist defect).
type logger struct {
	m         *Machine
	f         diskmodel.File
	sendFirst bool
}

func (l *logger) write(rec string) {
	if l.sendFirst {
		l.m.Send(2, []byte(rec))
	}
	size, _ := l.f.Size()
	l.f.WriteAt([]byte(rec), size)
	l.f.Sync()
	if !l.sendFirst {
		l.m.Send(2, []byte(rec))
	}
}

// crashWorld runs the logger on machine 1 with 10ms syncs, crashes it at
// crashAt, and returns what machine 2 heard and what machine 1's disk kept.
func crashWorld(t *testing.T, sendFirst bool, crashAt time.Duration) (heard, kept string) {
	t.Helper()
	fc := NoFaults()
	fc.LatencyJitter = 0
	fc.DiskLoseUnsyncedProb = 1
	fc.DiskLatencyMin, fc.DiskLatencyMax = 0, 0
	fc.DiskSyncLatencyMin, fc.DiskSyncLatencyMax = 10*time.Millisecond, 10*time.Millisecond
	w := NewWorld(Config{Seed: 5, Faults: fc})
	w.AddMachine(2, func(m *Machine) Receiver {
		return ReceiverFunc(func(_ NodeID, p []byte) { heard += string(p) })
	})
	var l *logger
	m1 := w.AddMachine(1, func(m *Machine) Receiver {
		f, err := m.Disk().OpenFile("log", diskmodel.OpenOrCreate)
		if err != nil {
			t.Fatalf("OpenFile: %v", err)
		}
		l = &logger{m: m, f: f, sendFirst: sendFirst}
		return ReceiverFunc(func(NodeID, []byte) {})
	})
	w.RunFor(20 * time.Millisecond) // the creation is synced by nobody, but nothing depends on it
	m1.Disk().SyncDir(".")
	w.RunFor(20 * time.Millisecond)
	m1.After(0, "write", func() { l.write("a") })
	w.RunFor(crashAt)
	w.Crash(1)
	w.RunFor(time.Second)
	got, err := diskmodel.ReadFile(m1.Disk(), "log")
	if err != nil {
		t.Fatalf("ReadFile after the crash: %v", err)
	}
	return heard, string(got)
}

// A sync is durable only when the device has finished it: a crash while it
// is in flight loses its write, and the message sent after it, which
// leaves only when the sync is done, dies with the machine. A message sent
// before the sync is already out: the peer heard of a write the disk lost.
func TestCrashCutsSyncInFlight(t *testing.T) {
	tests := []struct {
		name      string
		sendFirst bool
		crashAt   time.Duration
		heard     string
		kept      string
	}{
		{"persist then send, crash during the sync", false, 5 * time.Millisecond, "", ""},
		{"persist then send, crash after the sync", false, 15 * time.Millisecond, "a", "a"},
		{"send then persist, crash during the sync", true, 5 * time.Millisecond, "a", ""},
		{"send then persist, crash after the sync", true, 15 * time.Millisecond, "a", "a"},
	}
	for _, tt := range tests {
		heard, kept := crashWorld(t, tt.sendFirst, tt.crashAt)
		if heard != tt.heard || kept != tt.kept {
			t.Errorf("%s: peer heard %q, disk kept %q; want %q and %q", tt.name, heard, kept, tt.heard, tt.kept)
		}
	}
}

// With CrashIOEvery set, the nemesis crashes machines while syncs they
// issued are in flight, and the outcome counters say so.
func TestCrashInIOCutsSyncs(t *testing.T) {
	fc := NoFaults()
	fc.CrashIOEvery = 50 * time.Millisecond
	fc.RestartDelayMax = 10 * time.Millisecond
	fc.DiskLoseUnsyncedProb = 0.5
	fc.DiskTornWrites = true
	fc.DiskSyncLatencyMin, fc.DiskSyncLatencyMax = time.Millisecond, 2*time.Millisecond
	fc.MaxDown = 1
	w := NewWorld(Config{Seed: 11, Faults: fc})
	for _, id := range []NodeID{1, 2, 3} {
		w.AddMachine(id, func(m *Machine) Receiver {
			f, err := m.Disk().OpenFile("log", diskmodel.OpenOrCreate)
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			var tick func()
			tick = func() {
				size, _ := f.Size()
				f.WriteAt(make([]byte, 700), size) // spans sectors: tearable
				f.Sync()
				m.After(time.Millisecond, "append", tick)
			}
			m.After(time.Millisecond, "append", tick)
			return ReceiverFunc(func(NodeID, []byte) {})
		})
	}
	w.RunFor(2 * time.Second)
	counts, out := w.FaultCounts(), w.Outcomes()
	if counts["crash_io"] == 0 || counts["crash_io"] != counts["crash"] {
		t.Errorf("FaultCounts = %v, want crash_io > 0, every crash one in I/O", counts)
	}
	if out["syncs_cut"] < counts["crash_io"] || out["crashes_in_io"] != counts["crash_io"] {
		t.Errorf("Outcomes = %v after %d crashes in I/O, want a sync cut and the disk busy at each", out, counts["crash_io"])
	}
	if out["writes_torn"]+out["writes_lost"] == 0 {
		t.Errorf("Outcomes = %v, want the cut writes lost or torn", out)
	}
}
