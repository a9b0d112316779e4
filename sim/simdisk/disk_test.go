package simdisk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

func newDisk(seed uint64, f Faults) *Disk {
	return New(rand.New(rand.NewPCG(seed, 0x5eed)), f)
}

func mustOpen(t *testing.T, d *Disk, name string, mode diskmodel.OpenMode) diskmodel.File {
	t.Helper()
	f, err := d.OpenFile(name, mode)
	if err != nil {
		t.Fatalf("OpenFile(%q, %v) = %v", name, mode, err)
	}
	return f
}

func mustWrite(t *testing.T, f diskmodel.File, data []byte, off int64) {
	t.Helper()
	if n, err := f.WriteAt(data, off); n != len(data) || err != nil {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(data), off, n, err)
	}
}

func mustSync(t *testing.T, f diskmodel.File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync() = %v", err)
	}
}

func mustSyncDir(t *testing.T, d *Disk, dir string) {
	t.Helper()
	if err := d.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir(%q) = %v", dir, err)
	}
}

func readAll(t *testing.T, d *Disk, name string) []byte {
	t.Helper()
	data, err := diskmodel.ReadFile(d, name)
	if err != nil {
		t.Fatalf("ReadFile(%q) = %v", name, err)
	}
	return data
}

// durableFile creates name holding data, synced file and directory.
func durableFile(t *testing.T, d *Disk, name string, data []byte) {
	t.Helper()
	f := mustOpen(t, d, name, diskmodel.CreateExclusive)
	mustWrite(t, f, data, 0)
	mustSync(t, f)
	f.Close()
	mustSyncDir(t, d, ".")
}

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// TestTornWriteSectorGranularity: after a crash each sector of a torn
// write holds all of its old or all of its new bytes, and across seeds both
// whole and torn outcomes occur.
func TestTornWriteSectorGranularity(t *testing.T) {
	const S = diskmodel.SectorSize
	tests := []struct {
		name     string
		off, len int64
	}{
		{"Aligned", 0, 8 * S},
		{"Unaligned", 100, 3*S + 7},
		{"BeyondDurableEnd", 6 * S, 5 * S},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outcomes := map[string]bool{}
			for seed := uint64(0); seed < 200; seed++ {
				d := newDisk(seed, Faults{TornWrites: true})
				old := fill(8*S, 'o')
				durableFile(t, d, "f", old)
				f := mustOpen(t, d, "f", diskmodel.OpenExisting)
				mustWrite(t, f, fill(int(tc.len), 'n'), tc.off)
				want := max(int64(len(old)), tc.off+tc.len)
				d.Crash()
				got := readAll(t, d, "f")
				// The size is the write's, or the durable one if no sector of
				// the write survived, or, for a write that grew the file, the
				// end of a surviving sector past the durable end.
				grown := int64(len(got)) >= int64(len(old)) && int64(len(got)) < want && len(got)%S == 0 &&
					bytes.Contains(got, []byte("n"))
				if grown {
					outcomes["size torn"] = true
				}
				if int64(len(got)) != want && !grown && (len(got) != len(old) || bytes.Contains(got, []byte("n"))) {
					t.Fatalf("seed %d: size after crash = %d, want %d", seed, len(got), want)
				}
				want = int64(len(got))
				for lo := int64(0); lo < want; lo += S {
					hi := min(lo+S, want)
					sector := got[lo:hi]
					// The part of the sector the write covered is all new or all old.
					wlo, whi := max(lo, tc.off), min(hi, tc.off+tc.len)
					if wlo >= whi {
						continue
					}
					part := got[wlo:whi]
					oldByte := byte('o')
					if wlo >= int64(len(old)) {
						oldByte = 0 // past the durable end: zeros
					}
					allNew, allOld := bytes.Equal(part, fill(len(part), 'n')), bytes.Equal(part, fill(len(part), oldByte))
					if !allNew && !allOld {
						t.Fatalf("seed %d: sector [%d,%d) = %q, want all old or all new", seed, lo, hi, sector)
					}
					outcomes[fmt.Sprint(allNew)] = true
				}
			}
			if !outcomes["true"] || !outcomes["false"] {
				t.Fatalf("over 200 seeds the sectors were new=%v old=%v, want both", outcomes["true"], outcomes["false"])
			}
			if grows := tc.off+tc.len > 8*S; grows != outcomes["size torn"] {
				t.Fatalf("over 200 seeds a size torn at a sector: %v, want %v (the write grows the file: %v)", outcomes["size torn"], grows, grows)
			}
		})
	}
}

// TestAtomicWritesWithoutTearing: with TornWrites off each unsynced write
// survives whole or not at all.
func TestAtomicWritesWithoutTearing(t *testing.T) {
	const S = diskmodel.SectorSize
	seen := map[[2]bool]bool{}
	for seed := uint64(0); seed < 100; seed++ {
		d := newDisk(seed, Faults{LoseUnsyncedProb: 0.5})
		durableFile(t, d, "f", fill(8*S, 'o'))
		f := mustOpen(t, d, "f", diskmodel.OpenExisting)
		mustWrite(t, f, fill(3*S, 'a'), 10)
		mustWrite(t, f, fill(2*S, 'b'), 5*S+10)
		d.Crash()
		got := readAll(t, d, "f")
		var kept [2]bool
		for i, w := range []struct {
			off, len int
			b        byte
		}{{10, 3 * S, 'a'}, {5*S + 10, 2 * S, 'b'}} {
			part := got[w.off : w.off+w.len]
			kept[i] = bytes.Equal(part, fill(w.len, w.b))
			if !kept[i] && !bytes.Equal(part, fill(w.len, 'o')) {
				t.Fatalf("seed %d: write %d after crash is partly kept: %q", seed, i, part)
			}
		}
		seen[kept] = true
	}
	if len(seen) != 4 {
		t.Fatalf("outcomes over 100 seeds = %v, want all four keep/lose combinations", seen)
	}
}

// TestUnsyncedWorkLost: with LoseUnsyncedProb 1 a crash keeps exactly what
// was synced.
func TestUnsyncedWorkLost(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, d *Disk)
		check func(t *testing.T, d *Disk)
	}{
		{"UnsyncedWrite", func(t *testing.T, d *Disk) {
			durableFile(t, d, "f", []byte("synced"))
			f := mustOpen(t, d, "f", diskmodel.OpenExisting)
			mustWrite(t, f, []byte(" and not"), 6)
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "f"); string(got) != "synced" {
				t.Fatalf("ReadFile(f) = %q, want %q", got, "synced")
			}
		}},
		{"UnsyncedTruncate", func(t *testing.T, d *Disk) {
			durableFile(t, d, "f", []byte("synced"))
			f := mustOpen(t, d, "f", diskmodel.OpenExisting)
			if err := f.Truncate(2); err != nil {
				t.Fatalf("Truncate = %v", err)
			}
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "f"); string(got) != "synced" {
				t.Fatalf("ReadFile(f) = %q, want %q", got, "synced")
			}
		}},
		{"CreateWithoutSyncDir", func(t *testing.T, d *Disk) {
			f := mustOpen(t, d, "f", diskmodel.CreateExclusive)
			mustWrite(t, f, []byte("data"), 0)
			mustSync(t, f)
		}, func(t *testing.T, d *Disk) {
			if _, err := d.Stat("f"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Stat(f) = %v, want fs.ErrNotExist", err)
			}
		}},
		{"RemoveWithoutSyncDir", func(t *testing.T, d *Disk) {
			durableFile(t, d, "f", []byte("back"))
			if err := d.Remove("f"); err != nil {
				t.Fatalf("Remove = %v", err)
			}
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "f"); string(got) != "back" {
				t.Fatalf("ReadFile(f) = %q, want the removed file back with %q", got, "back")
			}
		}},
		{"SyncedEverything", func(t *testing.T, d *Disk) {
			if err := diskmodel.MkdirAll(d, "a/b"); err != nil {
				t.Fatalf("MkdirAll = %v", err)
			}
			if err := diskmodel.WriteFileAtomic(d, "a/b/f", []byte("kept")); err != nil {
				t.Fatalf("WriteFileAtomic = %v", err)
			}
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "a/b/f"); string(got) != "kept" {
				t.Fatalf("ReadFile(a/b/f) = %q, want %q", got, "kept")
			}
		}},
		{"MkdirThenBothSynced", func(t *testing.T, d *Disk) {
			if err := d.Mkdir("d"); err != nil {
				t.Fatalf("Mkdir = %v", err)
			}
			durableFileIn(t, d, "d", "f", []byte("x"))
			mustSyncDir(t, d, ".") // the directory's name, after its content
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "d/f"); string(got) != "x" {
				t.Fatalf("ReadFile(d/f) = %q, want %q", got, "x")
			}
		}},
		{"RenameOutOfUnsyncedDir", func(t *testing.T, d *Disk) {
			if err := d.Mkdir("d"); err != nil {
				t.Fatalf("Mkdir = %v", err)
			}
			durableFileIn(t, d, "d", "f", []byte("x"))
			if err := d.Rename("d/f", "g"); err != nil {
				t.Fatalf("Rename = %v", err)
			}
			mustSyncDir(t, d, "d")
			mustSyncDir(t, d, ".")
		}, func(t *testing.T, d *Disk) {
			if got := readAll(t, d, "g"); string(got) != "x" {
				t.Fatalf("ReadFile(g) = %q, want %q", got, "x")
			}
		}},
		{"MkdirParentNotSynced", func(t *testing.T, d *Disk) {
			if err := d.Mkdir("d"); err != nil {
				t.Fatalf("Mkdir = %v", err)
			}
			durableFileIn(t, d, "d", "f", []byte("x"))
		}, func(t *testing.T, d *Disk) {
			if _, err := d.Stat("d"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Stat(d) = %v, want fs.ErrNotExist: its creation was never synced", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisk(1, Faults{LoseUnsyncedProb: 1, TornWrites: true})
			tc.setup(t, d)
			d.Crash()
			tc.check(t, d)
		})
	}
}

// durableFileIn creates dir/name holding data and syncs it and dir only.
func durableFileIn(t *testing.T, d *Disk, dir, name string, data []byte) {
	t.Helper()
	f := mustOpen(t, d, dir+"/"+name, diskmodel.CreateExclusive)
	mustWrite(t, f, data, 0)
	mustSync(t, f)
	f.Close()
	mustSyncDir(t, d, dir)
}

// TestRenameAtomicAcrossCrash: a rename between directories synced in only
// one of them shows, after a crash, the old state or the new one, never
// both or neither; synced in both it shows the new one.
func TestRenameAtomicAcrossCrash(t *testing.T) {
	tests := []struct {
		name     string
		syncDirs []string
		wantBoth bool // both outcomes seen across seeds (else only the new one)
	}{
		{"NoDirSynced", nil, true},
		{"SourceSynced", []string{"d1"}, true},
		{"TargetSynced", []string{"d2"}, true},
		{"BothSynced", []string{"d1", "d2"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for seed := uint64(0); seed < 64; seed++ {
				d := newDisk(seed, Faults{LoseUnsyncedProb: 0.5, TornWrites: true})
				for _, dir := range []string{"d1", "d2"} {
					if err := diskmodel.MkdirAll(d, dir); err != nil {
						t.Fatalf("MkdirAll(%s) = %v", dir, err)
					}
				}
				durableFileIn(t, d, "d1", "f", []byte("payload"))
				if err := d.Rename("d1/f", "d2/g"); err != nil {
					t.Fatalf("Rename = %v", err)
				}
				for _, dir := range tc.syncDirs {
					mustSyncDir(t, d, dir)
				}
				d.Crash()
				_, errOld := d.Stat("d1/f")
				_, errNew := d.Stat("d2/g")
				if (errOld == nil) == (errNew == nil) {
					t.Fatalf("seed %d: after crash Stat(d1/f) = %v, Stat(d2/g) = %v, want exactly one to exist", seed, errOld, errNew)
				}
				name := "d2/g"
				if errOld == nil {
					name = "d1/f"
				}
				if got := readAll(t, d, name); string(got) != "payload" {
					t.Fatalf("seed %d: ReadFile(%s) = %q, want %q", seed, name, got, "payload")
				}
				seen[name] = true
			}
			if tc.wantBoth != seen["d1/f"] || !seen["d2/g"] {
				t.Fatalf("outcomes over 64 seeds = %v, want old state seen=%v and new state seen", seen, tc.wantBoth)
			}
		})
	}
}

func TestCapacity(t *testing.T) {
	d := newDisk(1, Faults{CapacityBytes: 1000})
	a := mustOpen(t, d, "a", diskmodel.CreateExclusive)
	mustWrite(t, a, fill(600, 'a'), 0)
	b := mustOpen(t, d, "b", diskmodel.CreateExclusive)
	if n, err := b.WriteAt(fill(500, 'b'), 0); n != 0 || !errors.Is(err, diskmodel.ErrNoSpace) {
		t.Fatalf("WriteAt(500) past capacity = %d, %v, want 0, ErrNoSpace", n, err)
	}
	if size, _ := b.Size(); size != 0 {
		t.Fatalf("Size() after a failed write = %d, want 0", size)
	}
	if err := b.Truncate(401); !errors.Is(err, diskmodel.ErrNoSpace) {
		t.Fatalf("Truncate(401) past capacity = %v, want ErrNoSpace", err)
	}
	mustWrite(t, b, fill(400, 'b'), 0) // exactly full
	mustWrite(t, a, fill(600, 'A'), 0) // overwriting needs no room
	if got := d.UsedBytes(); got != 1000 {
		t.Fatalf("UsedBytes() = %d, want 1000", got)
	}
	a.Close()
	if err := d.Remove("a"); err != nil {
		t.Fatalf("Remove(a) = %v", err)
	}
	if got := d.UsedBytes(); got != 400 {
		t.Fatalf("UsedBytes() after Remove = %d, want 400", got)
	}
	mustWrite(t, b, fill(600, 'b'), 400)
	if got := d.Stats().NoSpaceErrors; got != 2 {
		t.Fatalf("Stats().NoSpaceErrors = %d, want 2", got)
	}
}

func TestInjectedErrors(t *testing.T) {
	d := newDisk(1, Faults{})
	durableFile(t, d, "f", []byte("intact"))
	f := mustOpen(t, d, "f", diskmodel.OpenExisting)

	d.SetFaults(Faults{ReadErrorProb: 1, WriteErrorProb: 1})
	buf := make([]byte, 6)
	_, readErr := f.ReadAt(buf, 0)
	_, writeErr := f.WriteAt([]byte("XX"), 0)
	calls := []struct {
		name string
		err  error
	}{
		{"ReadAt", readErr},
		{"WriteAt", writeErr},
		{"Truncate", f.Truncate(0)},
		{"Sync", f.Sync()},
		{"SyncDir", d.SyncDir(".")},
	}
	for _, c := range calls {
		var pe *fs.PathError
		if !errors.Is(c.err, diskmodel.ErrIO) || !errors.As(c.err, &pe) {
			t.Errorf("%s with error probability 1 = %v, want an *fs.PathError with ErrIO", c.name, c.err)
		}
	}
	d.SetFaults(Faults{})
	if got := readAll(t, d, "f"); string(got) != "intact" {
		t.Fatalf("ReadFile(f) after failed calls = %q, want %q", got, "intact")
	}
	if s := d.Stats(); s.ReadErrors != 1 || s.WriteErrors != 4 {
		t.Fatalf("Stats() ReadErrors=%d WriteErrors=%d, want 1, 4", s.ReadErrors, s.WriteErrors)
	}

	d.SetFaults(Faults{ReadErrorProb: 0.5})
	failed := 0
	for range 200 {
		if _, err := f.ReadAt(buf, 0); err != nil {
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Fatalf("with ReadErrorProb 0.5, %d of 200 reads failed, want about 100", failed)
	}
}

func bitDiff(a, b []byte) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

func TestRotFlipsExactBits(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
		n     int
		want  int
	}{
		{"One", []int{4096}, 1, 1},
		{"Several", []int{4096}, 7, 7},
		{"AcrossFiles", []int{100, 1, 3000}, 200, 200},
		{"MoreThanTheDiskHolds", []int{2}, 100, 16},
		{"EmptyDisk", nil, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisk(7, Faults{})
			var before [][]byte
			for i, size := range tc.sizes {
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(i*31 + j)
				}
				durableFile(t, d, fmt.Sprint("f", i), data)
				before = append(before, data)
			}
			if got := d.Rot(tc.n); got != tc.want {
				t.Fatalf("Rot(%d) = %d, want %d", tc.n, got, tc.want)
			}
			flipped := 0
			for i := range tc.sizes {
				flipped += bitDiff(before[i], readAll(t, d, fmt.Sprint("f", i)))
			}
			d.Crash() // the flips are in the durable data too
			durableFlipped := 0
			for i := range tc.sizes {
				durableFlipped += bitDiff(before[i], readAll(t, d, fmt.Sprint("f", i)))
			}
			if flipped != tc.want || durableFlipped != tc.want {
				t.Fatalf("Rot(%d): %d bits differ in reads, %d after a crash, want %d", tc.n, flipped, durableFlipped, tc.want)
			}
			if got := d.Stats().RottedBits; got != int64(tc.want) {
				t.Fatalf("Stats().RottedBits = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestRotHiddenByUnsyncedWrite: a rotted bit under an unsynced overwrite is
// invisible to reads, and surfaces if the crash loses the overwrite.
func TestRotHiddenByUnsyncedWrite(t *testing.T) {
	d := newDisk(3, Faults{LoseUnsyncedProb: 1})
	old := fill(diskmodel.SectorSize, 'o')
	durableFile(t, d, "f", old)
	f := mustOpen(t, d, "f", diskmodel.OpenExisting)
	mustWrite(t, f, fill(diskmodel.SectorSize, 'n'), 0)
	if got := d.Rot(8); got != 8 {
		t.Fatalf("Rot(8) = %d, want 8", got)
	}
	if got := readAll(t, d, "f"); !bytes.Equal(got, fill(diskmodel.SectorSize, 'n')) {
		t.Fatalf("ReadFile(f) under an unsynced overwrite shows rot: %q", got)
	}
	d.Crash()
	if got := bitDiff(old, readAll(t, d, "f")); got != 8 {
		t.Fatalf("after the overwrite was lost, %d bits differ from the old content, want 8", got)
	}
}

func TestFilesClosedAfterCrash(t *testing.T) {
	d := newDisk(1, Faults{})
	durableFile(t, d, "f", []byte("x"))
	f := mustOpen(t, d, "f", diskmodel.OpenExisting)
	d.Crash()
	_, readErr := f.ReadAt(make([]byte, 1), 0)
	_, writeErr := f.WriteAt([]byte("y"), 0)
	_, sizeErr := f.Size()
	for _, c := range []struct {
		name string
		err  error
	}{{"ReadAt", readErr}, {"WriteAt", writeErr}, {"Size", sizeErr}, {"Truncate", f.Truncate(0)}, {"Sync", f.Sync()}, {"Close", f.Close()}} {
		if !errors.Is(c.err, diskmodel.ErrClosed) {
			t.Errorf("%s on a File opened before Crash = %v, want ErrClosed", c.name, c.err)
		}
	}
	if got := readAll(t, d, "f"); string(got) != "x" {
		t.Fatalf("ReadFile(f) after crash = %q, want %q (stale handles change nothing)", got, "x")
	}
}

// workload runs a fixed mix of operations and crashes, returning a digest
// of everything observable.
func workload(seed uint64) string {
	d := newDisk(seed, Faults{
		LoseUnsyncedProb: 0.3, TornWrites: true, ReadErrorProb: 0.1, WriteErrorProb: 0.1,
		LatencyMin: time.Microsecond, LatencyMax: time.Millisecond,
		SyncLatencyMin: time.Millisecond, SyncLatencyMax: 10 * time.Millisecond,
	})
	var out bytes.Buffer
	for round := range 5 {
		name := fmt.Sprint("f", round%3)
		f, err := d.OpenFile(name, diskmodel.OpenOrCreate)
		fmt.Fprintln(&out, err)
		if err == nil {
			for i := range 10 {
				_, err := f.WriteAt(fill(700, byte(round*10+i)), int64(i*300))
				fmt.Fprintln(&out, err)
			}
			fmt.Fprintln(&out, f.Sync())
			_, err := f.WriteAt(fill(900, 'z'), 100)
			fmt.Fprintln(&out, err)
		}
		fmt.Fprintln(&out, d.SyncDir("."), d.Rename(name, fmt.Sprint("g", round)))
		d.Rot(3)
		d.Crash()
		for _, n := range []string{"f0", "f1", "f2", "g0", "g1", "g2", "g3", "g4"} {
			data, err := diskmodel.ReadFile(d, n)
			fmt.Fprintf(&out, "%s %x %v\n", n, data, err)
		}
	}
	fmt.Fprintf(&out, "%+v %v\n", d.Stats(), d.TakeLatency())
	return out.String()
}

func TestDeterministic(t *testing.T) {
	a, b := workload(42), workload(42)
	if a != b {
		t.Fatalf("workload(42) twice gave different results:\n%s\n---\n%s", a, b)
	}
	if c := workload(43); c == a {
		t.Fatalf("workload(43) = workload(42): the seed has no effect")
	}
}

func TestLatency(t *testing.T) {
	d := newDisk(1, Faults{
		LatencyMin: time.Millisecond, LatencyMax: time.Millisecond,
		SyncLatencyMin: 5 * time.Millisecond, SyncLatencyMax: 5 * time.Millisecond,
		BandwidthBytesPerSec: 1000,
	})
	f := mustOpen(t, d, "f", diskmodel.CreateExclusive) // 1ms
	mustWrite(t, f, fill(500, 'x'), 0)                  // 1ms + 500ms
	mustSync(t, f)                                      // 5ms
	if got, want := d.TakeLatency(), 507*time.Millisecond; got != want {
		t.Fatalf("TakeLatency() = %v, want %v", got, want)
	}
	if got := d.TakeLatency(); got != 0 {
		t.Fatalf("second TakeLatency() = %v, want 0", got)
	}
	d.SetFaults(Faults{LatencyMin: time.Millisecond, LatencyMax: 3 * time.Millisecond})
	for range 100 {
		if _, err := d.Stat("f"); err != nil {
			t.Fatalf("Stat = %v", err)
		}
		if l := d.TakeLatency(); l < time.Millisecond || l > 3*time.Millisecond {
			t.Fatalf("latency of one Stat = %v, want within [1ms, 3ms]", l)
		}
	}
}

// TestBacklogWrittenBack: a file never synced is written back once its
// backlog passes the bound, so a crash cannot lose all of it.
func TestBacklogWrittenBack(t *testing.T) {
	d := newDisk(1, Faults{LoseUnsyncedProb: 1})
	durableFile(t, d, "f", nil)
	f := mustOpen(t, d, "f", diskmodel.OpenExisting)
	for i := range maxPendingOps + 1 {
		mustWrite(t, f, []byte{1}, int64(i))
	}
	if got := d.Stats().Writebacks; got != 1 {
		t.Fatalf("Stats().Writebacks = %d, want 1", got)
	}
	d.Crash()
	if got := len(readAll(t, d, "f")); got != maxPendingOps+1 {
		t.Fatalf("file size after crash = %d, want %d (written back before the crash)", got, maxPendingOps+1)
	}
}

// TestRemovedInodesFreed: a removed file whose removal is durable and whose
// handles are closed is forgotten, so long runs do not grow memory.
func TestRemovedInodesFreed(t *testing.T) {
	d := newDisk(1, Faults{})
	for i := range 100 {
		name := fmt.Sprint("seg", i)
		durableFile(t, d, name, fill(100, 'x'))
		if err := d.Remove(name); err != nil {
			t.Fatalf("Remove(%s) = %v", name, err)
		}
		mustSyncDir(t, d, ".")
	}
	if len(d.inodes) != 1 || len(d.ops) != 0 || d.UsedBytes() != 0 {
		t.Fatalf("after removing every file: %d inodes, %d pending ops, %d bytes used, want 1, 0, 0",
			len(d.inodes), len(d.ops), d.UsedBytes())
	}
}

func TestInvalidFaultsPanic(t *testing.T) {
	tests := []struct {
		name string
		f    Faults
	}{
		{"NegativeProb", Faults{ReadErrorProb: -0.1}},
		{"ProbAboveOne", Faults{LoseUnsyncedProb: 1.5}},
		{"NegativeCapacity", Faults{CapacityBytes: -1}},
		{"LatencyMinAboveMax", Faults{LatencyMin: 2, LatencyMax: 1}},
		{"SyncLatencyMinAboveMax", Faults{SyncLatencyMin: 2, SyncLatencyMax: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("New(%+v) did not panic", tc.f)
				}
			}()
			New(rand.New(rand.NewPCG(1, 1)), tc.f)
		})
	}
}

func TestStatsCount(t *testing.T) {
	d := newDisk(1, Faults{LoseUnsyncedProb: 1})
	durableFile(t, d, "f", fill(1000, 'a')) // 1000 bytes, 1 sync, 1 dir sync
	f := mustOpen(t, d, "f", diskmodel.OpenExisting)
	mustWrite(t, f, fill(10, 'b'), 0)
	d.Crash()
	s := d.Stats()
	want := Stats{BytesWritten: 1010, Syncs: 1, DirSyncs: 1, Crashes: 1, LostWrites: 1}
	got := Stats{BytesWritten: s.BytesWritten, Syncs: s.Syncs, DirSyncs: s.DirSyncs, Crashes: s.Crashes, LostWrites: s.LostWrites}
	if got != want || s.Ops == 0 {
		t.Fatalf("Stats() = %+v, want %+v and Ops > 0", s, want)
	}
}

func ExampleNew() {
	d := New(rand.New(rand.NewPCG(1, 2)), Faults{LoseUnsyncedProb: 1})

	f, _ := d.OpenFile("wal", diskmodel.CreateExclusive)
	f.WriteAt([]byte("entry 1;"), 0)
	f.Sync()
	d.SyncDir(".") // the file's name is durable now too
	f.WriteAt([]byte("entry 2;"), 8)

	d.Crash() // power loss: the unsynced second entry is lost
	_, err := f.Size()
	fmt.Println(errors.Is(err, diskmodel.ErrClosed))
	data, _ := diskmodel.ReadFile(d, "wal")
	fmt.Printf("%s\n", data)
	fmt.Println(d.Stats().LostWrites)
	// Output:
	// true
	// entry 1;
	// 1
}

// TestDirBacklogWrittenBack: namespace operations never synced are written
// back once the backlog passes its bound, oldest first.
func TestDirBacklogWrittenBack(t *testing.T) {
	d := newDisk(1, Faults{LoseUnsyncedProb: 1})
	for i := range maxPendingDirOps + 1 {
		if err := d.Mkdir(fmt.Sprint("d", i)); err != nil {
			t.Fatalf("Mkdir(d%d) = %v", i, err)
		}
	}
	if got := d.Stats().Writebacks; got != 1 {
		t.Fatalf("Stats().Writebacks = %d, want 1", got)
	}
	d.Crash()
	infos, err := d.ReadDir(".")
	if err != nil || len(infos) != 1 || infos[0].Name != "d0" {
		t.Fatalf("ReadDir(.) after crash = %d entries (first %+v), %v, want just the written-back d0", len(infos), infos[:min(len(infos), 1)], err)
	}
}

func TestFileSizeLimit(t *testing.T) {
	d := newDisk(1, Faults{})
	f := mustOpen(t, d, "f", diskmodel.CreateExclusive)
	_, writeErr := f.WriteAt([]byte("x"), MaxFileBytes)
	_, overflowErr := f.WriteAt([]byte("x"), 1<<63-1)
	for _, c := range []struct {
		name string
		err  error
	}{{"WriteAt(MaxFileBytes)", writeErr}, {"WriteAt(MaxInt64)", overflowErr}, {"Truncate(MaxFileBytes+1)", f.Truncate(MaxFileBytes + 1)}} {
		if !errors.Is(c.err, syscall.EFBIG) {
			t.Errorf("%s = %v, want EFBIG", c.name, c.err)
		}
	}
	if size, _ := f.Size(); size != 0 {
		t.Fatalf("Size() after refused writes = %d, want 0", size)
	}
}
