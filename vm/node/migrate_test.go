package node

import (
	"fmt"
	"testing"

	"github.com/flockvm/flock/vm/coherence"
)

// scanProgram: the main thread fills a global array of words, then a
// second thread (placed on another machine: the first one's only core is
// taken) sums it.
func scanProgram(words int) string {
	return fmt.Sprintf(`
.const W %d
.zero arr 8
main:
    ENTER 0, 1
    PUSH W*8
    GALLOC
    PUSH arr
    STORE
    PUSH 0
    SET 0
fill:
    GET 0
    PUSH W
    LT
    JZ filled
    GET 0
    GET 0
    PUSH 8
    MUL
    PUSH arr
    LOAD
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP fill
filled:
    PUSH 0
    SPAWN scan
    JOIN
    PRINT
    PUSH 0
    EXIT
scan:
    ENTER 1, 2              ; locals: 0 = unused, 1 = i, 2 = sum
scanning:
    GET 1
    PUSH W
    LT
    JZ scanned
    GET 1
    PUSH 8
    MUL
    PUSH arr
    LOAD
    ADD
    LOAD
    GET 2
    ADD
    SET 2
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP scanning
scanned:
    GET 2
    TEXIT
`, words)
}

// scanBytes runs scanProgram on two machines with one core each and
// coherent memory, and returns the bytes the network carried while the
// scan ran, and how many threads migrated.
func scanBytes(t testing.TB, words, migrateMisses int) (int64, int64) {
	c := newClusterWith(t, 2, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = migrateMisses
		cfg.Memory = CoherenceMemory(coherence.Config{})
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, scanProgram(words))
	if !c.runUntil(func() bool { return r.ended }, 4_000_000) {
		t.Fatalf("scan did not end\n%s", c.dump())
	}
	want := fmt.Sprint(words * (words - 1) / 2)
	if r.status.Err() != nil || r.out.String() != want {
		t.Fatalf("scan: status %v output %q, want %s", r.status.Err(), r.out.String(), want)
	}
	migrated := int64(0)
	for _, n := range c.nodes {
		migrated += n.Stats().ThreadsMigrated
	}
	return c.bytes, migrated
}

// TestMigrationMovesTheScanToItsData: a thread scanning an array homed on
// another machine moves there; the network carries a small part of the
// array instead of all of it.
func TestMigrationMovesTheScanToItsData(t *testing.T) {
	const words = 128 << 10 // 1 MiB
	arrayBytes := int64(words * 8)
	off, movedOff := scanBytes(t, words, -1)
	on, movedOn := scanBytes(t, words, 0)
	t.Logf("network bytes for a %d-byte array: %d without migration, %d with (%d moves)", arrayBytes, off, on, movedOn)
	if movedOff != 0 || movedOn == 0 {
		t.Fatalf("threads migrated: %d with migration off, %d on; want 0 and at least 1", movedOff, movedOn)
	}
	if off < arrayBytes {
		t.Errorf("without migration the network carried %d bytes, less than the %d-byte array it must have fetched", off, arrayBytes)
	}
	if on*10 > arrayBytes {
		t.Errorf("with migration the network carried %d bytes, over 10%% of the %d-byte array", on, arrayBytes)
	}
}

// BenchmarkMigrationScan64MiB reports network bytes per array byte for a
// scan of a 64 MiB array homed on another machine, with migration off and on.
func BenchmarkMigrationScan64MiB(b *testing.B) {
	const words = 8 << 20
	for _, mode := range []struct {
		name   string
		misses int
	}{{"off", -1}, {"on", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				bytes, _ := scanBytes(b, words, mode.misses)
				b.ReportMetric(float64(bytes)/float64(words*8), "net-bytes/array-byte")
			}
		})
	}
}
