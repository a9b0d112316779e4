package dfs

import (
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
	f, err := disk.OpenFile(st.fileName(ref), diskmodel.OpenExisting)
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
