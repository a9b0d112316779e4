package dfs

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/sim/simdisk"
)

// TestRetriedPutOfTornFile: a chunk file found at boot with a good header
// but torn data (a crash cut its sync) is not taken for the copy a retried
// put asks to store: the put writes it again, so that what it acknowledges
// reads back good (fs seed 251 acknowledged such a file, and its only copy
// was bad).
func TestRetriedPutOfTornFile(t *testing.T) {
	disk := simdisk.New(rand.New(rand.NewPCG(1, 2)), simdisk.Faults{})
	var stats Stats
	st, err := openStore(disk, "fs", 1<<20, Bugs{}, &stats)
	if err != nil {
		t.Fatal(err)
	}
	ref := chunkRef{ino: ID{Machine: 1, Inc: 1, N: 7}, idx: 2, gen: ID{Machine: 1, Inc: 1, N: 9}}
	data := make([]byte, 1500)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, s := writeNow(st, ref, 3, data, 0); s != storeOK {
		t.Fatalf("write = %v, want ok", s)
	}
	// Tear the data after the header, as a crash during the sync may.
	c, _ := st.get(ref)
	f, err := disk.OpenFile(c.name, diskmodel.OpenExisting)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 512), chunkHeaderBytes+512); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	st, err = openStore(disk, "fs", 1<<20, Bugs{}, &stats) // the boot after the crash
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.get(ref); !ok {
		t.Fatalf("the torn file's header is good: want it adopted at boot (the test tears the wrong bytes)")
	}
	crc, s := writeNow(st, ref, 3, data, 10)
	if s != storeOK || crc != checksum(data) {
		t.Fatalf("retried write = (%08x, %v), want (%08x, ok)", crc, s, checksum(data))
	}
	got, s := st.read(ref, crc)
	if s != storeOK || string(got) != string(data) {
		t.Fatalf("read after the retried write = %v (%d bytes), want ok and the data written", s, len(got))
	}
}

// writeNow is store.write with its outcome returned (the store has no
// DiskWorker: done runs before write returns).
func writeNow(st *store, ref chunkRef, version uint64, data []byte, now uint64) (uint32, storeStatus) {
	var crc uint32
	status := storeStatus(255)
	st.write(ref, version, data, now, func(c uint32, s storeStatus) { crc, status = c, s })
	if status == 255 {
		panic("store.write without a worker did not answer at once")
	}
	return crc, status
}

// slotTestStore opens a store on a fresh simulated disk (no faults).
func slotTestStore(t *testing.T, quota uint64) (*store, diskmodel.FS, *Stats) {
	t.Helper()
	disk := simdisk.New(rand.New(rand.NewPCG(3, 4)), simdisk.Faults{})
	stats := &Stats{}
	st, err := openStore(disk, "fs", quota, Bugs{}, stats)
	if err != nil {
		t.Fatal(err)
	}
	return st, disk, stats
}

func reopenStore(t *testing.T, disk diskmodel.FS, quota uint64, stats *Stats) *store {
	t.Helper()
	st, err := openStore(disk, "fs", quota, Bugs{}, stats)
	if err != nil {
		t.Fatalf("openStore at the reboot = %v", err)
	}
	return st
}

func slotRef(n uint64) chunkRef {
	return chunkRef{ino: ID{Machine: 1, Inc: 1, N: 7}, idx: 0, gen: ID{Machine: 1, Inc: 1, N: n}}
}

func mustWrite(t *testing.T, st *store, ref chunkRef, data []byte) *localChunk {
	t.Helper()
	if _, s := writeNow(st, ref, 1, data, 0); s != storeOK {
		t.Fatalf("write(%v) = %v, want ok", ref, s)
	}
	c, ok := st.get(ref)
	if !ok {
		t.Fatalf("write(%v) ok but not in the inventory", ref)
	}
	return c
}

// TestFreedSlotReusedInPlace: a removed generation's file is overwritten
// in place by the next write of its size, and a reboot finds the new
// generation in it and nothing of the old.
func TestFreedSlotReusedInPlace(t *testing.T) {
	st, disk, stats := slotTestStore(t, 1<<20)
	a := mustWrite(t, st, slotRef(1), bytes.Repeat([]byte("a"), 900))
	st.remove(slotRef(1))
	b := mustWrite(t, st, slotRef(2), bytes.Repeat([]byte("b"), 900))
	if b.name != a.name || stats.SlotsReused != 1 {
		t.Fatalf("second write's file %s (slots reused %d), want the freed %s reused", b.name, stats.SlotsReused, a.name)
	}
	st = reopenStore(t, disk, 1<<20, stats)
	if _, ok := st.get(slotRef(1)); ok {
		t.Errorf("the removed generation came back at a clean reboot")
	}
	if got, s := st.read(slotRef(2), checksum(bytes.Repeat([]byte("b"), 900))); s != storeOK || len(got) != 900 || got[0] != 'b' {
		t.Errorf("read of the generation in the reused slot after the reboot = %v, %d bytes", s, len(got))
	}
}

// TestFreedSlotKeptAtBoot: a freed slot (its magic cleared) is a free slot
// again after a reboot, not a bad file, and its bytes stay counted on disk
// but not as held.
func TestFreedSlotKeptAtBoot(t *testing.T) {
	st, disk, stats := slotTestStore(t, 1<<20)
	mustWrite(t, st, slotRef(1), make([]byte, 500))
	st.remove(slotRef(1))
	st = reopenStore(t, disk, 1<<20, stats)
	if st.chunks.Len() != 0 || st.slots.count != 1 || stats.BadFilesAtBoot != 0 {
		t.Fatalf("after the reboot: %d chunks, %d free slots, %d bad files; want 0, 1, 0", st.chunks.Len(), st.slots.count, stats.BadFilesAtBoot)
	}
	if size := slotBytes(chunkFileBytes(500)); st.usedBytes != size || st.heldBytes() != 0 {
		t.Errorf("usedBytes %d heldBytes %d, want %d and 0", st.usedBytes, st.heldBytes(), size)
	}
}

// TestDuplicateAtBootKeepsGoodCopy: two files naming one generation (a
// freed slot a crash brought back, the generation written again
// elsewhere) leave one copy in the inventory at boot, the one that reads
// back good, whichever the directory lists first.
func TestDuplicateAtBootKeepsGoodCopy(t *testing.T) {
	for _, rotFirst := range []bool{true, false} {
		st, disk, stats := slotTestStore(t, 1<<20)
		data := bytes.Repeat([]byte("d"), 700)
		c := mustWrite(t, st, slotRef(1), data)
		content, err := diskmodel.ReadFile(disk, c.name)
		if err != nil {
			t.Fatal(err)
		}
		other := st.newFileName()
		if err := diskmodel.WriteFileAtomic(disk, other, content); err != nil {
			t.Fatal(err)
		}
		rotted := c.name
		if !rotFirst {
			rotted = other
		}
		f, err := disk.OpenFile(rotted, diskmodel.OpenExisting)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte{'X'}, chunkHeaderBytes+3)
		f.Sync()
		f.Close()
		st = reopenStore(t, disk, 1<<20, stats)
		kept, ok := st.get(slotRef(1))
		if !ok || kept.name == rotted || st.slots.count != 1 {
			t.Fatalf("rotted %s: kept %v (%v), %d free slots; want the good copy kept and the other freed", rotted, kept, ok, st.slots.count)
		}
		if got, s := st.read(slotRef(1), checksum(data)); s != storeOK || !bytes.Equal(got, data) {
			t.Errorf("read = %v, want the data", s)
		}
	}
}

// TestQuotaEvictsFreeSlots: free slots give their room back to a write
// that needs it (one of another size, which cannot reuse them).
func TestQuotaEvictsFreeSlots(t *testing.T) {
	big := slotBytes(chunkFileBytes(5000))
	quota := big + 100
	st, _, _ := slotTestStore(t, quota)
	mustWrite(t, st, slotRef(1), make([]byte, 1000))
	st.remove(slotRef(1))
	if _, s := writeNow(st, slotRef(2), 1, make([]byte, 5000), 0); s != storeOK {
		t.Fatalf("write of another slot size into the room of a free slot = %v, want ok", s)
	}
	if st.slots.count != 0 || st.usedBytes != big {
		t.Errorf("%d free slots, usedBytes %d; want the slot evicted and %d used", st.slots.count, st.usedBytes, big)
	}
	if _, s := writeNow(st, slotRef(3), 1, make([]byte, 1000), 0); s != storeFull {
		t.Errorf("write beyond the quota = %v, want full", s)
	}
}

// TestLostSlotIsRemade: a free slot lost from the disk behind the store's
// back is made anew by the write that picked it.
func TestLostSlotIsRemade(t *testing.T) {
	st, disk, _ := slotTestStore(t, 1<<20)
	a := mustWrite(t, st, slotRef(1), make([]byte, 300))
	st.remove(slotRef(1))
	if err := disk.Remove(a.name); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("n"), 300)
	mustWrite(t, st, slotRef(2), data)
	if got, s := st.read(slotRef(2), checksum(data)); s != storeOK || !bytes.Equal(got, data) {
		t.Errorf("read of the write into a lost slot = %v, want the data", s)
	}
}

func TestSlotBytes(t *testing.T) {
	for _, tc := range []struct{ n, want uint64 }{
		{0, 0}, {1, 64}, {137, 192}, {4096, 4096}, {4097, 4608}, {chunkFileBytes(4096), 4608},
		{32 << 10, 32 << 10}, {32<<10 + 1, 36 << 10}, {chunkFileBytes(64 << 10), 72 << 10},
		{chunkFileBytes(ChunkSizeBytesMax), 1<<20 + 128<<10},
	} {
		if got := slotBytes(tc.n); got != tc.want {
			t.Errorf("slotBytes(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if got := slotBytes(tc.n); got < tc.n || got-tc.n > max(63, tc.n/8) {
			t.Errorf("slotBytes(%d) = %d: short, or more than max(63 bytes, 1/8) over", tc.n, got)
		}
	}
}

// TestSparesServeTheNextWrites: each write that found no free slot of its
// size makes the store owe one spare of it (at most sparesPerSize), made at
// the next ticks; the next writes of that size take them (no file made),
// and a reboot finds them free again.
func TestSparesServeTheNextWrites(t *testing.T) {
	st, disk, stats := slotTestStore(t, 1<<20)
	for n := range uint64(sparesPerSize + 2) {
		mustWrite(t, st, slotRef(1+n), make([]byte, 3100))
	}
	for range 2 * sparesPerSize {
		st.makeSpares()
	}
	if stats.SparesMade != sparesPerSize || st.slots.count != sparesPerSize {
		t.Fatalf("after %d misses and ticks: %d spares made, %d free slots; want %d", sparesPerSize+2, stats.SparesMade, st.slots.count, sparesPerSize)
	}
	mustWrite(t, st, slotRef(100), make([]byte, 3050)) // the same slot size
	if stats.SlotsReused != 1 {
		t.Errorf("a write of the spares' size: %d slots reused, want 1", stats.SlotsReused)
	}
	for range 2 * sparesPerSize {
		st.makeSpares()
	}
	if stats.SparesMade != sparesPerSize {
		t.Errorf("a write that took a spare made %d more: a spare is owed only for a miss", stats.SparesMade-sparesPerSize)
	}
	st = reopenStore(t, disk, 1<<20, stats)
	if st.slots.count != sparesPerSize-1 || st.chunks.Len() != sparesPerSize+3 {
		t.Errorf("after the reboot: %d free slots and %d chunks, want %d and %d", st.slots.count, st.chunks.Len(), sparesPerSize-1, sparesPerSize+3)
	}
}

// TestSparesRespectTheFreeSlotBound: with the pool of free slots full of
// another size, spares of a size a write missed are still made (a slot of
// the surplus size gives way), and the pool never exceeds slotsFreeMax. A
// first version made each spare, found the pool full and removed it, and
// made the next at once: a create, two fsyncs and a removal without end.
func TestSparesRespectTheFreeSlotBound(t *testing.T) {
	st, _, stats := slotTestStore(t, 1<<24)
	for n := range uint64(slotsFreeMax) {
		mustWrite(t, st, slotRef(1+n), make([]byte, 500))
	}
	for n := range uint64(slotsFreeMax) {
		st.remove(slotRef(1 + n))
	}
	if st.slots.count != slotsFreeMax {
		t.Fatalf("%d free slots after removing %d chunks, want %d", st.slots.count, slotsFreeMax, slotsFreeMax)
	}
	for n := range uint64(sparesPerSize) {
		mustWrite(t, st, slotRef(1000+n), make([]byte, 3100)) // no free slot of its size
	}
	for range 4 * sparesPerSize {
		st.makeSpares()
		if st.slots.count > slotsFreeMax {
			t.Fatalf("%d free slots, more than %d", st.slots.count, slotsFreeMax)
		}
	}
	size := slotBytes(chunkFileBytes(3100))
	if got := len(st.slots.bySize[size]); got != sparesPerSize || stats.SparesMade != sparesPerSize {
		t.Errorf("spares of the missed size: %d free, %d made; want %d", got, stats.SparesMade, sparesPerSize)
	}
	if stats.SlotsEvicted != sparesPerSize {
		t.Errorf("%d free slots evicted for the spares, want %d", stats.SlotsEvicted, sparesPerSize)
	}
}

// TestDiskLowFreesSlotsAndTakesNothing: on a full disk the store removes
// its free slots, removes a freed generation's file instead of keeping it,
// and refuses new chunk files; what it holds stays readable; off, the
// quota is back.
func TestDiskLowFreesSlotsAndTakesNothing(t *testing.T) {
	const quota = 1 << 20
	st, _, _ := slotTestStore(t, quota)
	mustWrite(t, st, slotRef(1), make([]byte, 300))
	kept := bytes.Repeat([]byte("k"), 300)
	mustWrite(t, st, slotRef(2), kept)
	st.remove(slotRef(1))
	if st.slots.count != 1 {
		t.Fatalf("%d free slots after a removal, want 1", st.slots.count)
	}
	st.setDiskLow(true, quota)
	if st.slots.count != 0 || st.usedBytes != st.heldBytes() || st.quotaBytes != st.usedBytes {
		t.Fatalf("disk low: %d free slots, used %d, held %d, quota %d; want no slot and the quota at what is held",
			st.slots.count, st.usedBytes, st.heldBytes(), st.quotaBytes)
	}
	if _, s := writeNow(st, slotRef(3), 1, make([]byte, 300), 0); s != storeFull {
		t.Errorf("write on a full disk = %v, want full", s)
	}
	if got, s := st.read(slotRef(2), checksum(kept)); s != storeOK || !bytes.Equal(got, kept) {
		t.Errorf("read on a full disk = %v, want the data held", s)
	}
	st.remove(slotRef(2))
	if st.slots.count != 0 || st.usedBytes != 0 {
		t.Errorf("a generation freed on a full disk left %d free slots, %d bytes used; want its file removed", st.slots.count, st.usedBytes)
	}
	st.setDiskLow(false, quota)
	mustWrite(t, st, slotRef(4), make([]byte, 300))
}
