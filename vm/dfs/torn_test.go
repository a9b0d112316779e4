package dfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/sim/simdisk"
)

// TestOverwriteTornByCrash: a crash cuts the overwrite of a free slot
// before its sync (docs/storage.md, "An overwrite torn by a crash"). The
// simulated disk keeps, loses or tears (sector by sector) each write not
// synced: the clearing of the slot's magic and the overwrite. Whatever
// survives, the boot after the crash serves no wrong bytes: the old
// generation (its header survived) reads back whole or bad, the new one
// is adopted on its header whole or with torn data, or the file is a free
// slot; and the retried put of the new generation is acknowledged only
// once its bytes read back good. Across the seeds each of these ends is
// seen. (Tears are by sector, so the 73-byte header itself never tears
// here: TestHeaderTornAtEveryByte tears it.)
func TestOverwriteTornByCrash(t *testing.T) {
	oldData, newData := bytes.Repeat([]byte("o"), 900), bytes.Repeat([]byte("n"), 900)
	oldRef, newRef := slotRef(1), slotRef(2)
	seen := map[string]int{}
	for seed := uint64(0); seed < 200; seed++ {
		disk := simdisk.New(rand.New(rand.NewPCG(seed, 5)), simdisk.Faults{LoseUnsyncedProb: 0.5, TornWrites: true})
		stats := &Stats{}
		st, err := openStore(disk, "fs", 1<<20, Bugs{}, stats)
		if err != nil {
			t.Fatal(err)
		}
		slot := mustWrite(t, st, oldRef, oldData).name
		st.remove(oldRef) // freed: its magic cleared, not synced
		// The overwrite, as overwriteFile writes it, and the crash before its sync.
		content := chunkHeader{ref: newRef, version: 2, length: uint32(len(newData)), crc: checksum(newData)}.encode()
		content = append(content, newData...)
		f, err := disk.OpenFile(slot, diskmodel.OpenExisting)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(content, 0); err != nil {
			t.Fatal(err)
		}
		disk.Crash()

		st = reopenStore(t, disk, 1<<20, stats)
		where := fmt.Sprintf("seed %d", seed)
		end := endAfterTear(t, st, where, oldRef, newRef, oldData, newData)
		seen[end]++
		retryPutAfterTear(t, st, where+" ("+end+")", newRef, newData)
		if o, ok := st.get(oldRef); ok {
			if n, _ := st.get(newRef); n.name == o.name {
				t.Fatalf("seed %d (%s): the old and the new generation both in %s", seed, end, o.name)
			}
		}
	}
	t.Logf("ends after the crash: %v", seen)
	for _, end := range []string{"new generation whole", "new generation bad", "old generation whole", "old generation bad at read", "free slot"} {
		if seen[end] == 0 {
			t.Errorf("no seed ended with %q: %v", end, seen)
		}
	}
}

// TestHeaderTornAtEveryByte: the simulated disk tears by sector, so the
// test above never tears the 73-byte header itself. Here the overwrite of a
// slot reaches the disk for its first k bytes only, for every k through
// the header and into the data, over a slot whose magic was cleared and
// over one whose clearing was lost (both writes cut by one crash). Whatever
// k, the store opens, serves no wrong bytes, never holds the new generation
// as good, and takes the retried put.
func TestHeaderTornAtEveryByte(t *testing.T) {
	oldData, newData := bytes.Repeat([]byte("o"), 300), bytes.Repeat([]byte("n"), 300)
	oldRef, newRef := slotRef(1), slotRef(2)
	content := chunkHeader{ref: newRef, version: 2, length: uint32(len(newData)), crc: checksum(newData)}.encode()
	content = append(content, newData...)
	seen := map[string]int{}
	for _, cleared := range []bool{true, false} {
		for k := 0; k <= chunkHeaderBytes+8; k++ {
			disk := simdisk.New(rand.New(rand.NewPCG(uint64(k), 6)), simdisk.Faults{})
			stats := &Stats{}
			st, err := openStore(disk, "fs", 1<<20, Bugs{}, stats)
			if err != nil {
				t.Fatal(err)
			}
			slot := mustWrite(t, st, oldRef, oldData).name
			if cleared {
				st.remove(oldRef)
			}
			f, err := disk.OpenFile(slot, diskmodel.OpenExisting)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(content[:k], 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			f.Close()

			st = reopenStore(t, disk, 1<<20, stats)
			where := fmt.Sprintf("cleared %v, torn at byte %d", cleared, k)
			end := endAfterTear(t, st, where, oldRef, newRef, oldData, newData)
			if end == "new generation whole" {
				t.Fatalf("%s: the new generation, %d of its %d bytes written, checks good", where, k, len(content))
			}
			seen[end]++
			retryPutAfterTear(t, st, where+" ("+end+")", newRef, newData)
		}
	}
	t.Logf("ends: %v", seen)
	for _, end := range []string{"free slot", "old generation whole", "new generation bad"} {
		if seen[end] == 0 {
			t.Errorf("no tear ended with %q: %v", end, seen)
		}
	}
}

// endAfterTear names what a store rebooted after a torn overwrite of the
// old generation's slot holds: the old generation back (whole, or bad at
// its read: its clearing was lost), the new one (whole or bad), or a free
// slot. Wrong bytes served by the old generation fail the test.
func endAfterTear(t *testing.T, st *store, where string, oldRef, newRef chunkRef, oldData, newData []byte) string {
	t.Helper()
	end := "free slot"
	if _, ok := st.get(oldRef); ok {
		// The collector deletes it as superseded.
		got, s := st.read(oldRef, checksum(oldData))
		switch {
		case s == storeOK && bytes.Equal(got, oldData):
			end = "old generation whole"
		case s == storeBad:
			end = "old generation bad at read"
		default:
			t.Fatalf("%s: read of the old generation = %v, %q: wrong bytes served", where, s, got)
		}
	}
	if _, ok := st.get(newRef); ok {
		end = "new generation bad"
		if st.check(newRef, checksum(newData)) == storeOK {
			end = "new generation whole"
		}
	}
	return end
}

// retryPutAfterTear sends the writer's put again: it must be acknowledged
// only with the bytes on the disk read back good.
func retryPutAfterTear(t *testing.T, st *store, where string, newRef chunkRef, newData []byte) {
	t.Helper()
	crc, s := writeNow(st, newRef, 2, newData, 10)
	if s != storeOK || crc != checksum(newData) {
		t.Fatalf("%s: retried put = (%08x, %v), want (%08x, ok)", where, crc, s, checksum(newData))
	}
	if got, s := st.read(newRef, crc); s != storeOK || !bytes.Equal(got, newData) {
		t.Fatalf("%s: read after the retried put = %v, want the data", where, s)
	}
}
