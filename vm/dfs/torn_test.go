package dfs

import (
	"bytes"
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
		end := "free slot"
		if _, ok := st.get(oldRef); ok {
			// The clearing of the magic was lost: the old generation is
			// back, whole or torn (the collector deletes it as superseded).
			got, s := st.read(oldRef, checksum(oldData))
			switch {
			case s == storeOK && bytes.Equal(got, oldData):
				end = "old generation whole"
			case s == storeBad:
				end = "old generation bad at read"
			default:
				t.Fatalf("seed %d: read of the old generation = %v, %q: wrong bytes served", seed, s, got)
			}
		}
		if _, ok := st.get(newRef); ok {
			end = "new generation bad"
			if st.check(newRef, checksum(newData)) == storeOK {
				end = "new generation whole"
			}
		}
		seen[end]++

		// The writer's put, sent again: acknowledged only with the bytes
		// on the disk read back good.
		crc, s := writeNow(st, newRef, 2, newData, 10)
		if s != storeOK || crc != checksum(newData) {
			t.Fatalf("seed %d (%s): retried put = (%08x, %v), want (%08x, ok)", seed, end, crc, s, checksum(newData))
		}
		if got, s := st.read(newRef, crc); s != storeOK || !bytes.Equal(got, newData) {
			t.Fatalf("seed %d (%s): read after the retried put = %v, want the data", seed, end, s)
		}
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
			end := "free slot"
			if _, ok := st.get(oldRef); ok {
				got, s := st.read(oldRef, checksum(oldData))
				switch {
				case s == storeOK && bytes.Equal(got, oldData):
					end = "old generation whole"
				case s == storeBad:
					end = "old generation bad at read"
				default:
					t.Fatalf("cleared %v, torn at byte %d: read of the old generation = %v, %q: wrong bytes served", cleared, k, s, got)
				}
			}
			if _, ok := st.get(newRef); ok {
				if st.check(newRef, checksum(newData)) == storeOK {
					t.Fatalf("cleared %v, torn at byte %d: the new generation, %d of its %d bytes written, checks good", cleared, k, k, len(content))
				}
				end = "new generation bad"
			}
			seen[end]++
			crc, s := writeNow(st, newRef, 2, newData, 10)
			if s != storeOK || crc != checksum(newData) {
				t.Fatalf("cleared %v, torn at byte %d (%s): retried put = (%08x, %v), want (%08x, ok)", cleared, k, end, crc, s, checksum(newData))
			}
			if got, s := st.read(newRef, crc); s != storeOK || !bytes.Equal(got, newData) {
				t.Fatalf("cleared %v, torn at byte %d (%s): read after the retried put = %v, want the data", cleared, k, end, s)
			}
		}
	}
	t.Logf("ends: %v", seen)
	for _, end := range []string{"free slot", "old generation whole", "new generation bad"} {
		if seen[end] == 0 {
			t.Errorf("no tear ended with %q: %v", end, seen)
		}
	}
}
