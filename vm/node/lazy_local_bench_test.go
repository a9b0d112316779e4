package node

import (
	"fmt"
	"testing"
)

// spawnBigProgram: the main thread fills every page of a local block of
// size bytes, then spawns a thread (on another machine: the only core here
// is taken) that waits spin iterations and reads one page of the block
// other than the one its argument points at; the main thread joins it and
// prints what it read.
func spawnBigProgram(size, spin int) string {
	return fmt.Sprintf(`
.const BIG %d
.const SPIN %d
main:
    ENTER 0, 2              ; 0 = block, 1 = i
    PUSH BIG
    ALLOC
    SET 0
fill:
    GET 1
    PUSH BIG/4096
    LT
    JZ filled
    GET 1
    PUSH 1
    ADD
    GET 1
    PUSH 4096
    MUL
    GET 0
    ADD
    STORE
    INCL 1, 1
    JMP fill
filled:
    GET 0
    SPAWN leaf
    JOIN
    PRINT
    PUSH 0
    EXIT
leaf:
    ENTER 1, 1              ; 0 = block, 1 = i
spin:
    GET 1
    PUSH SPIN
    LT
    JZ touch
    INCL 1, 1
    JMP spin
touch:
    GET 0
    PUSH 8192
    ADD
    LOAD
    RET
`, size, spin)
}

// spawnRemoteBytes runs spawnBigProgram on two machines of one core each
// and returns the bytes the network carried from the start to the end of
// the process.
func spawnRemoteBytes(t testing.TB, size int, tweak func(*Config)) (int64, *cluster) {
	c := newClusterWith(t, 2, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
		if tweak != nil {
			tweak(cfg)
		}
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	before := c.bytes
	r := c.start(1, spawnBigProgram(size, 0))
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("spawn of a %d-byte local memory did not end\n%s", size, c.dump())
	}
	if r.status.Err() != nil || r.out.String() != "3" {
		t.Fatalf("spawn of a %d-byte local memory: status %v output %q, want 3", size, r.status.Err(), r.out.String())
	}
	remote := int64(0)
	for _, n := range c.nodes {
		remote += n.Stats().ThreadsPlacedRemote
	}
	if remote != 1 {
		t.Fatalf("%d threads placed on another machine, want 1", remote)
	}
	return c.bytes - before, c
}

// BenchmarkSpawnRemoteLocal reports the network bytes of spawning one
// thread on another machine whose parent has 1 MiB or 64 MiB of local
// memory and which touches one page of it.
func BenchmarkSpawnRemoteLocal1MiB(b *testing.B)  { benchSpawnRemote(b, 1<<20) }
func BenchmarkSpawnRemoteLocal64MiB(b *testing.B) { benchSpawnRemote(b, 64<<20) }

func benchSpawnRemote(b *testing.B, size int) {
	for b.Loop() {
		bytes, _ := spawnRemoteBytes(b, size, nil)
		b.ReportMetric(float64(bytes), "net-bytes/op")
	}
}
