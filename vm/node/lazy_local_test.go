package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// lazyLeftovers describes pins and held references still kept anywhere
// (after a process ended there must be none).
func (c *cluster) lazyLeftovers() string {
	var b strings.Builder
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil && (len(n.lazy.pins) > 0 || len(n.lazy.held) > 0) {
			fmt.Fprintf(&b, "%v: %d pins, %d held; ", id, len(n.lazy.pins), len(n.lazy.held))
		}
	}
	return b.String()
}

func (c *cluster) stat(f func(Stats) int64) int64 {
	k := int64(0)
	for _, n := range c.nodes {
		k += f(n.Stats())
	}
	return k
}

// TestSpawnRemoteLocalIsLazy: a thread spawned on another machine from a
// 1 MiB local memory carries a reference, fetches the one page it reads
// (its argument's page comes with it), and once it ends the source lets
// the snapshot go.
func TestSpawnRemoteLocalIsLazy(t *testing.T) {
	const size = 1 << 20
	bytes, c := spawnRemoteBytes(t, size, nil)
	if bytes*10 > size {
		t.Errorf("the network carried %d bytes for a %d-byte local memory, want under a tenth", bytes, size)
	}
	if lazy := c.stat(func(s Stats) int64 { return s.ThreadsSpawnedLazy }); lazy != 1 {
		t.Errorf("%d threads spawned lazily, want 1", lazy)
	}
	if got := c.stat(func(s Stats) int64 { return s.LocalPagesFetched }); got != 1 {
		t.Errorf("%d local pages fetched, want 1 (the page the thread read)", got)
	}
	c.run(100, 4)
	if left := c.lazyLeftovers(); left != "" {
		t.Errorf("after the process ended: %s want nothing pinned or held", left)
	}
}

// TestSpawnRemoteLocalSmallIsEager: a local memory of a few pages travels
// in the image: nothing is pinned, nothing fetched.
func TestSpawnRemoteLocalSmallIsEager(t *testing.T) {
	_, c := spawnRemoteBytes(t, 16<<10, nil)
	if lazy, got := c.stat(func(s Stats) int64 { return s.ThreadsSpawnedLazy }), c.stat(func(s Stats) int64 { return s.LocalPagesFetched }); lazy != 0 || got != 0 {
		t.Errorf("a 16 KiB local memory: %d lazy spawns, %d pages fetched; want 0, 0", lazy, got)
	}
}

// TestSpawnRemoteLocalPinsFull: with no room to pin, a thread with a big
// local memory stays on its machine rather than copying it.
func TestSpawnRemoteLocalPinsFull(t *testing.T) {
	c := newClusterWith(t, 2, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
		cfg.LazyPinsMax = 1
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	c.nodes[1].lazy.pins[999] = &pin{pid: 999, snap: nil} // the only pin is taken
	r := c.start(1, spawnBigProgram(1<<20, 0))
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("program did not end\n%s", c.dump())
	}
	if r.status.Err() != nil || r.out.String() != "3" {
		t.Fatalf("status %v output %q, want 3", r.status.Err(), r.out.String())
	}
	if remote := c.stat(func(s Stats) int64 { return s.ThreadsPlacedRemote }); remote != 0 {
		t.Errorf("%d threads placed remotely with the pins full, want 0 (it stays with its memory)", remote)
	}
	delete(c.nodes[1].lazy.pins, 999)
}

// TestSpawnRemoteLocalUnderMessageFaults: drops and duplicates; page
// fetches retransmit, duplicate answers are dropped, the result is the
// same and nothing stays pinned.
func TestSpawnRemoteLocalUnderMessageFaults(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		c := newClusterWith(t, 2, func(cfg *Config) {
			cfg.Provide.Cores = 1
			cfg.PlaceLocalPerCore = 1
			cfg.MigrateMissesMin = -1
		})
		c.rng.Uint64N(seed + 1) // a different fault pattern per seed
		if !c.runUntil(c.allJoined, 40000) {
			t.Fatalf("seed %d: nodes did not join", seed)
		}
		c.dropProb, c.dupProb = 0.2, 0.2
		r := c.start(1, spawnBigProgram(256<<10, 0))
		if !c.runUntil(func() bool { return r.ended }, 400000) {
			t.Fatalf("seed %d: program did not end\n%s", seed, c.dump())
		}
		if r.status.Err() != nil || r.out.String() != "3" {
			t.Errorf("seed %d: status %v output %q, want 3", seed, r.status.Err(), r.out.String())
		}
		c.dropProb, c.dupProb = 0, 0
		c.run(400, 4)
		if left := c.lazyLeftovers(); left != "" {
			t.Errorf("seed %d: after the process ended: %s want nothing pinned or held", seed, left)
		}
		if twice := c.threadsRanTwice(); len(twice) > 0 {
			t.Errorf("seed %d: threads ran twice: %v", seed, twice)
		}
	}
}

// nestedSpawnProgram: main spawns mid (on machine 2); mid fills a big
// local block and spawns leaf (on machine 3) with it, then ends, returning
// leaf's tid; leaf spins, then reads a page of the block; main joins both.
func nestedSpawnProgram(size, spin int) string {
	return fmt.Sprintf(`
.const BIG %d
.const SPIN %d
main:
    ENTER 0, 0
    PUSH 0
    SPAWN mid
    JOIN
    JOIN
    PRINT
    PUSH 0
    EXIT
mid:
    ENTER 1, 2              ; 0 = arg, 1 = block, 2 = i
    PUSH BIG
    ALLOC
    SET 1
fill:
    GET 2
    PUSH BIG/4096
    LT
    JZ filled
    GET 2
    PUSH 1
    ADD
    GET 2
    PUSH 4096
    MUL
    GET 1
    ADD
    STORE
    INCL 2, 1
    JMP fill
filled:
    GET 1
    SPAWN leaf
    RET
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

// TestLazySourceDiesBeforeFetch: the machine a thread's local memory is
// pinned on dies (the thread that spawned it is gone; nothing else of the
// process is there) before the thread touched its pages: the process ends
// with the error naming that machine and the memory lost, never zeros.
func TestLazySourceDiesBeforeFetch(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
		cfg.LeaseRenewTicks, cfg.MembershipPollTicks, cfg.LeaseExpireTicks = 5, 5, 40
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, nestedSpawnProgram(1<<20, 3_000_000))
	// Wait for the pin, then for the spawner to end.
	var source *Node
	if !c.runUntil(func() bool {
		for _, id := range c.ids {
			if n := c.nodes[id]; len(n.lazy.pins) > 0 && id != 1 {
				source = n
			}
		}
		return source != nil && source.Threads() == 0
	}, 400000) {
		t.Fatalf("no thread was spawned lazily from a machine other than the home\n%s", c.dump())
	}
	victim := source.ID()
	c.crash(victim)
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("program did not end after %v died\n%s", victim, c.dump())
	}
	err := r.status.Err()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("machine %d", victim)) || !strings.Contains(err.Error(), "local memory") {
		t.Fatalf("status %v, output %q; want the loss of machine %d's local memory", err, r.out.String(), victim)
	}
	if r.out.String() != "" {
		t.Errorf("output %q: the thread ran on without its memory", r.out.String())
	}
	t.Logf("status: %v", err)
}

// TestLazyThreadSpawnsOnward: a thread whose local memory is still on its
// source spawns onto a third machine: it fetches the rest first, and the
// grandchild reads the right data.
func TestLazyThreadSpawnsOnward(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, onwardProgram)
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("program did not end\n%s", c.dump())
	}
	if r.status.Err() != nil || r.out.String() != "3" {
		t.Fatalf("status %v output %q, want 3", r.status.Err(), r.out.String())
	}
	if lazy, remote := c.stat(func(s Stats) int64 { return s.ThreadsSpawnedLazy }), c.stat(func(s Stats) int64 { return s.ThreadsPlacedRemote }); lazy != 2 || remote != 2 {
		t.Errorf("%d lazy spawns of %d remote ones, want 2 of 2 (the onward one pinned again after fetching)", lazy, remote)
	}
	c.run(100, 4)
	if left := c.lazyLeftovers(); left != "" {
		t.Errorf("after the process ended: %s want nothing pinned or held", left)
	}
}

// onwardProgram: main fills 256 KiB and spawns mid with it (lazy); mid
// spawns leaf with the same block (mid's memory is still partly remote),
// leaf reads page 2.
const onwardProgram = `
.const BIG 262144
main:
    ENTER 0, 2
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
    SPAWN mid
    JOIN
    PRINT
    PUSH 0
    EXIT
mid:
    ENTER 1, 0
    GET 0
    SPAWN leaf
    JOIN
    RET
leaf:
    ENTER 1, 0
    GET 0
    PUSH 8192
    ADD
    LOAD
    RET
`

// TestParallelCoresLazyLocal: with cores on OS threads, a lazily spawned
// thread's faults, fetches and release run under the node's lock (run
// under -race by make test-race).
func TestParallelCoresLazyLocal(t *testing.T) {
	c := newCluster(t, 0, 0, 1)
	c.parallel = true
	c.tweak = func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
	}
	for i := 1; i <= 2; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids
	for _, id := range c.ids {
		c.disks[id] = c.newDisk(t)
		c.boot(id)
	}
	if !c.runUntil(c.allJoinedLocked, 40000) {
		t.Fatalf("nodes did not join")
	}
	// The data hint (the argument is homed on machine 2) sends the
	// spawns there.
	if got := runProgramParallel(t, c, dataHomedProgram(256<<10, 6, 1)); got != "18" {
		t.Errorf("output %q, want 18", got)
	}
	if lazy, got := c.stat(func(s Stats) int64 { return s.ThreadsSpawnedLazy }), c.stat(func(s Stats) int64 { return s.LocalPagesFetched }); lazy == 0 || got == 0 {
		t.Errorf("%d lazy spawns, %d pages fetched; want some of each\n%s", lazy, got, c.dump())
	}
}

// dataHomedProgram: main fills a local block of size bytes (its address
// kept in the data word blk) and spawns k readers whose argument is a
// global address in the region of span member region (never dereferenced:
// only a placement hint); each reader finds the block through blk and
// reads page 2 (3). Prints 3k.
func dataHomedProgram(size, k, region int) string {
	spawns := strings.Repeat("    PUSH HINT\n    SPAWN leaf\n    YIELD\n", k) + "    JOIN\n" + strings.Repeat("    SWAP\n    JOIN\n    ADD\n", k-1)
	return fmt.Sprintf(`
.const BIG %d
.const HINT %d
.zero blk 8
main:
    ENTER 0, 2              ; 0 = block, 1 = i
    PUSH BIG
    ALLOC
    SET 0
    GET 0
    PUSH blk
    STORE
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
%s    PRINT
    PUSH 0
    EXIT
leaf:
    ENTER 1, 0
    PUSH blk
    LOAD
    PUSH 8192
    ADD
    LOAD
    RET
`, size, uint64(1)<<63|uint64(region)<<coherence.RegionShift, spawns)
}

// TestPlacementPrefersTheDataHome: a thread spawned with a global address
// homed on machine 3 runs there, though the spawner's own machine and
// machine 2 have room; a full machine is skipped.
func TestPlacementPrefersTheDataHome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		placeLocal int
		wantOn3    int64
	}{{"room", 4, 2}, {"full", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterWith(t, 3, func(cfg *Config) {
				cfg.Provide.Cores = 1
				cfg.PlaceLocalPerCore = tc.placeLocal
				cfg.MigrateMissesMin = -1
			})
			if !c.runUntil(c.allJoined, 40000) {
				t.Fatalf("nodes did not join")
			}
			r := c.start(1, strings.Replace(dataHomedProgram(16<<10, 2, 2), "    YIELD\n", "", -1))
			if !c.runUntil(func() bool { return r.ended }, 400000) {
				t.Fatalf("program did not end\n%s", c.dump())
			}
			if r.status.Err() != nil || r.out.String() != "6" {
				t.Fatalf("status %v output %q, want 6", r.status.Err(), r.out.String())
			}
			if got := c.nodes[3].Stats().ThreadsStarted; got < tc.wantOn3 {
				t.Errorf("%d threads ran on machine 3, the data's home; want at least %d", got, tc.wantOn3)
			}
			if tc.placeLocal == 4 && c.nodes[1].Stats().ThreadsStarted != 1 {
				t.Errorf("%d threads ran on the spawner's machine, want only main", c.nodes[1].Stats().ThreadsStarted)
			}
		})
	}
}

// TestHandleFetchPagesRefusals: the source answers only for a pin of this
// incarnation and that process, with at most fetchPagesMax mapped pages.
func TestHandleFetchPagesRefusals(t *testing.T) {
	c := newClusterWith(t, 1, nil)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("node did not join")
	}
	n := c.nodes[1]
	acct := &mem.Account{}
	prog := &isa.Program{Data: []byte("data")}
	snap, trap := mem.NewLocal(prog, acct)
	if trap != sys.TrapNone {
		t.Fatal(trap)
	}
	n.procs[7] = &procHere{pid: 7}
	n.lazy.pins[1] = &pin{pid: 7, snap: snap, holder: 2}
	defer func() { delete(n.procs, 7); n.releasePin(1) }()
	dataPage := prog.DataBase() / mem.PageBytes
	many := make([]uint64, fetchPagesMax+1)
	for _, tc := range []struct {
		name  string
		m     procMsg
		errno uint64
	}{
		{"ok", procMsg{pid: 7, value: 1, where: n.inc, span: []uint64{dataPage}}, replyOK},
		{"another incarnation", procMsg{pid: 7, value: 1, where: n.inc + 1, span: []uint64{dataPage}}, replyNotHere},
		{"unknown pin", procMsg{pid: 7, value: 2, where: n.inc, span: []uint64{dataPage}}, replyNoPin},
		{"pin of another process, ended here", procMsg{pid: 8, value: 1, where: n.inc, span: []uint64{dataPage}}, replyEnded},
		{"no pages", procMsg{pid: 7, value: 1, where: n.inc}, replyBadImage},
		{"too many pages", procMsg{pid: 7, value: 1, where: n.inc, span: many}, replyBadImage},
		{"unmapped page", procMsg{pid: 7, value: 1, where: n.inc, span: []uint64{1 << 20}}, replyBadImage},
		{"page past the limit", procMsg{pid: 7, value: 1, where: n.inc, span: []uint64{^uint64(0)}}, replyBadImage},
	} {
		m := tc.m
		m.kind = msgFetchPages
		if got := n.handleFetchPages(&m); got.errno != tc.errno {
			t.Errorf("%s: handleFetchPages = errno %d, want %d", tc.name, got.errno, tc.errno)
		}
	}
}

// TestLazyHolderDiesReleasesPin: the machine running a lazily spawned
// thread dies; the process ends naming it, and the source keeps nothing
// pinned for it.
func TestLazyHolderDiesReleasesPin(t *testing.T) {
	c := newClusterWith(t, 3, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
		cfg.LeaseRenewTicks, cfg.MembershipPollTicks, cfg.LeaseExpireTicks = 5, 5, 40
	})
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	r := c.start(1, spawnBigProgram(256<<10, 3_000_000))
	var holder netmodel.NodeID
	if !c.runUntil(func() bool {
		for _, id := range c.ids {
			if n := c.nodes[id]; len(n.lazy.held) > 0 {
				holder = id
			}
		}
		return holder != 0
	}, 400000) {
		t.Fatalf("no thread was spawned lazily\n%s", c.dump())
	}
	if len(c.nodes[1].lazy.pins) != 1 {
		t.Fatalf("the source pins %d snapshots, want 1", len(c.nodes[1].lazy.pins))
	}
	c.crash(holder)
	if !c.runUntil(func() bool { return r.ended }, 400000) {
		t.Fatalf("program did not end after %v died\n%s", holder, c.dump())
	}
	if err := r.status.Err(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("machine %d", holder)) {
		t.Fatalf("status %v, want the loss of machine %d", err, holder)
	}
	if n := len(c.nodes[1].lazy.pins); n != 0 {
		t.Errorf("the source still pins %d snapshots for a dead holder", n)
	}
}
