package node

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/kernel"
)

// TestParallelCoresAcrossMachines: nodes whose cores run on goroutines of
// their own (as in production) run a program across three machines to its
// exact answer. CI runs it under -race.
func TestParallelCoresAcrossMachines(t *testing.T) {
	c := newClusterParallel(t, 3, 1, nil)
	if got := runCounterParallel(t, c, 16, 50); got != "800\n" {
		t.Errorf("output %q, want 800", got)
	}
}

// TestParallelCoresShareHeldPagesDirectly: with coherent memory across
// three machines, cores on goroutines of their own reach the pages their
// machine holds through the agent's table, without the node's lock; the
// agents revoke access only after the cores' grace periods, so the
// counter's fetch-adds from every machine give the exact answer (CI runs
// it under -race).
func TestParallelCoresShareHeldPagesDirectly(t *testing.T) {
	c := newClusterParallel(t, 3, 2, func(cfg *Config) {
		coherentMemory(cfg)
		cfg.PlaceLocalPerCore = 1 // spread the threads over the machines
	})
	if got := runCounterParallel(t, c, 12, 200); got != "2400\n" {
		t.Errorf("output %q, want 2400", got)
	}
	remote, transfers := int64(0), uint64(0)
	for _, id := range c.ids {
		n := c.nodes[id]
		remote += n.Stats().ThreadsPlacedRemote
		unlock := n.enter()
		st := n.mem.(*coherenceMemory).Stats()
		transfers += st.Forwarded + st.Invalidated + st.DelegatedServed
		direct := n.directCores
		unlock()
		if !direct {
			t.Errorf("%v: directCores = false, want the cores registered with the memory agent", id)
		}
	}
	if remote == 0 || transfers == 0 {
		t.Errorf("threads placed remotely %d, pages handed over or invalidated or delegated %d: want both, or the test shares nothing across machines", remote, transfers)
	}
}

// TestParallelCoresExpressMemory: as on the real cluster, the memory
// service's messages are taken on goroutines of their own (a transport's
// readers calling ReceiveExpress) while the driver delivers the others,
// ticks, and the cores run: the counter's fetch-adds across three machines
// still give the exact answer (CI runs it under -race).
func TestParallelCoresExpressMemory(t *testing.T) {
	c := newClusterParallel(t, 3, 2, func(cfg *Config) {
		coherentMemory(cfg)
		cfg.PlaceLocalPerCore = 1
	})
	c.express = true
	if got := runCounterParallel(t, c, 12, 200); got != "2400\n" {
		t.Errorf("output %q, want 2400", got)
	}
	if c.expressed.Load() == 0 {
		t.Errorf("no message was taken by ReceiveExpress: the test delivers nothing the fast way")
	}
}

// TestReceiveExpressTakesOnlyMemory: a node takes the memory service's
// messages on the caller's goroutine only when its cores run in parallel
// (it has a lock then); any other message, and garbage, is the driver's.
func TestReceiveExpressTakesOnlyMemory(t *testing.T) {
	par := newClusterParallel(t, 1, 1, coherentMemory).nodes[1]
	seq := newCluster(t, 1, 1, 1).nodes[1]
	msg := func(s Service) []byte {
		return append(AppendHeader(nil, Header{Service: s, Incarnation: 1}), 0xff)
	}
	for _, tc := range []struct {
		name    string
		n       *Node
		payload []byte
		want    bool
	}{
		{"memory, parallel cores", par, msg(ServiceMemory), true},
		{"procs, parallel cores", par, msg(ServiceProcs), false},
		{"metadata, parallel cores", par, msg(ServiceMetaServer), false},
		{"garbage, parallel cores", par, []byte{1, 2}, false},
		{"memory, sequential cores", seq, msg(ServiceMemory), false},
	} {
		if got := tc.n.ReceiveExpress(2, tc.payload); got != tc.want {
			t.Errorf("%s: ReceiveExpress = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestParallelCoresHitsSkipTheAgent: on one machine, fetch-adds on a held
// page are served by the cores themselves: the agent sees a small part of
// them (first touches), where the locked path would see every one.
func TestParallelCoresHitsSkipTheAgent(t *testing.T) {
	const threads, adds = 8, 500
	c := newClusterParallel(t, 1, 3, coherentMemory)
	if got := runCounterParallel(t, c, threads, adds); got != fmt.Sprintf("%d\n", threads*adds) {
		t.Fatalf("output %q, want %d", got, threads*adds)
	}
	n := c.nodes[c.ids[0]]
	unlock := n.enter()
	st := n.mem.(*coherenceMemory).Stats()
	unlock()
	slow := st.Hits + st.ReadMisses + st.WriteMisses + st.DelegatedSent
	if slow*10 > threads*adds {
		t.Errorf("the agent served %d of %d fetch-adds (hits %d, misses %d/%d), want under a tenth: the cores should reach the page directly",
			slow, threads*adds, st.Hits, st.ReadMisses, st.WriteMisses)
	}
}

// coherentMemory makes the nodes' memory the coherence agent.
func coherentMemory(cfg *Config) { cfg.Memory = CoherenceMemory(coherence.Config{}) }

// runCounterParallel runs the counter program on machine 1 of c, whose
// nodes run their cores in parallel, and returns its output.
func runCounterParallel(t *testing.T, c *cluster, threads, adds int) string {
	t.Helper()
	if !c.runUntil(c.allJoinedLocked, 40000) {
		t.Fatalf("nodes did not join")
	}
	return runProgramParallel(t, c, readCounterProgram(t, threads, adds))
}

// runProgramParallel runs src on machine 1 of c (parallel cores) to its
// end and returns its output.
func runProgramParallel(tb testing.TB, c *cluster, src string) string {
	tb.Helper()
	out, ended, failure := runProgramParallelFor(tb, c, src, 20_000_000)
	if !ended {
		tb.Fatalf("program did not end")
	}
	if failure != nil {
		tb.Fatalf("program failed: %v", failure)
	}
	return out
}

// runProgramParallelFor runs src on machine 1 of c for at most stepsMax
// steps and reports its output, whether it ended, and how it failed (nil
// if it did not).
func runProgramParallelFor(tb testing.TB, c *cluster, src string, stepsMax int) (string, bool, any) {
	tb.Helper()
	prog, err := asm.Assemble("t.flasm", []byte(src), asm.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var ended atomic.Bool
	var failed atomic.Value
	out := &lockedBuffer{}
	c.nodes[c.ids[0]].Start(Run{Program: prog, User: "root", Out: out},
		func(_ uint64, err error) {
			if err != nil {
				failed.Store(err.Error())
			}
		},
		func(_ uint64, st kernel.Status) {
			if err := st.Err(); err != nil {
				failed.Store(err.Error())
			}
			ended.Store(true)
		})
	for i := 0; i < stepsMax && !ended.Load(); i++ {
		c.run(1, 4)
		runtime.Gosched()
	}
	return out.String(), ended.Load(), failed.Load()
}

func newClusterParallel(t testing.TB, machines int, seed uint64, tweak func(*Config)) *cluster {
	c := newCluster(t, 0, 0, seed)
	c.parallel, c.tweak = true, tweak
	for i := 1; i <= machines; i++ {
		c.ids = append(c.ids, netmodel.NodeID(i))
	}
	c.voters = c.ids
	for _, id := range c.ids {
		disk := c.newDisk(t)
		c.disks[id] = disk
		c.boot(id)
	}
	return c
}

// allJoinedLocked is allJoined for nodes whose state is behind a lock.
func (c *cluster) allJoinedLocked() bool {
	for _, id := range c.ids {
		n := c.nodes[id]
		unlock := n.enter()
		ok := n.joined && len(n.ms.alive()) == len(c.ids)
		unlock()
		if !ok {
			return false
		}
	}
	return true
}
