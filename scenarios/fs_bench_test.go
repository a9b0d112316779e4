package scenarios

import (
	"fmt"
	"testing"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/sys"
)

// BenchmarkFSScenario runs one seed of the fs scenario per iteration (seeds
// 0, 1, 2, ...) and reports time compression (simulated time per wall
// time), simulated events per wall second and seeds per minute on one core.
func BenchmarkFSScenario(b *testing.B) { benchScenario(b, fsScenarioName) }

// fsBench is a fault-free simulated VM (sim.NoFaults: 200 µs links, a fast
// SSD) of storage machines and one client machine, driven one operation at
// a time by the benchmark.
type fsBench struct {
	b      *testing.B
	run    *fsRun
	client *fsNode
	view   *dfs.Storage
	seq    uint64
	reply  *sys.Reply
}

func newFSBench(b *testing.B, machines, chunkSizeBytes int) *fsBench {
	r := &fsRun{opts: Options{Seed: 1}, dead: map[sim.NodeID]bool{}, downSince: map[sim.NodeID]sim.Time{},
		damaged: map[sim.NodeID]bool{}, everR1: map[string]bool{}, applied: map[uint64][]checker.Applied{}}
	r.shape = fsShape{machines: machines, chunkSizeBytes: chunkSizeBytes}
	r.world = sim.NewWorld(sim.Config{Seed: 1, Faults: sim.NoFaults()})
	for i := range machines {
		id := sim.NodeID(fsStorageIDFirst + i)
		r.allMachines = append(r.allMachines, id)
		if i < 3 {
			r.voters = append(r.voters, id)
		}
	}
	r.allMachines = append(r.allMachines, fsClientIDFirst)
	for i := range machines {
		n := &fsNode{run: r, id: r.allMachines[i], voter: i < 3, quota: 1 << 40}
		r.nodes = append(r.nodes, n)
		r.world.AddMachine(n.id, n.boot)
	}
	fb := &fsBench{b: b, run: r}
	fb.client = &fsNode{run: r, id: fsClientIDFirst}
	r.nodes = append(r.nodes, fb.client)
	r.world.AddMachine(fb.client.id, fb.client.boot)
	r.addGod()
	r.world.RunFor(time.Second)
	fb.view = fb.client.svc.Storage(1, sys.UserRoot, fb)
	return fb
}

func (fb *fsBench) Complete(_ sys.ReqID, r sys.Reply) { fb.reply = &r }

// do runs one operation to its answer and returns it with its simulated
// duration.
func (fb *fsBench) do(op func(sys.Caller) (sys.Reply, bool)) (sys.Reply, time.Duration) {
	fb.seq++
	c := sys.Caller{PID: 1, TID: 1, User: sys.UserRoot, Req: sys.ReqID{Machine: fsClientIDFirst, Incarnation: 1, Seq: fb.seq}}
	fb.reply = nil
	start := fb.run.world.Now()
	if r, now := op(c); now {
		return r, 0
	}
	if !fb.run.world.RunWhile(func() bool { return fb.reply == nil }, start.Add(time.Minute)) {
		fb.b.Fatalf("operation not answered within a simulated minute")
	}
	return *fb.reply, time.Duration(fb.run.world.Now() - start)
}

func (fb *fsBench) mustDo(what string, op func(sys.Caller) (sys.Reply, bool)) (sys.Reply, time.Duration) {
	r, d := fb.do(op)
	if int64(r.Val) < 0 {
		fb.b.Fatalf("%s = %d", what, int64(r.Val))
	}
	return r, d
}

// BenchmarkFSSimIO writes and then reads size bytes per operation, one at
// a time, in the simulator, and reports their simulated latency and the
// throughput one client gets (simulated time: the figures do not depend
// on this machine).
func BenchmarkFSSimIO(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, r := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("%dKiB/R=%d", size>>10, r), func(b *testing.B) { benchSimIO(b, size, r) })
		}
	}
}

func benchSimIO(b *testing.B, size, r int) {
	fb := newFSBench(b, 5, 64<<10)
	fb.mustDo("setattr", func(c sys.Caller) (sys.Reply, bool) {
		return fb.view.SetAttr(c, "/", sys.AttrChange{Redundancy: uint8(r)})
	})
	rep, _ := fb.mustDo("open", func(c sys.Caller) (sys.Reply, bool) { return fb.view.Open(c, "/bench", sys.OpenOrCreate) })
	fd := rep.Val
	data := make([]byte, size)
	var writeNs, readNs time.Duration
	for i := 0; i < b.N; i++ {
		off := uint64(i%16) * uint64(size)
		_, d := fb.mustDo("write", func(c sys.Caller) (sys.Reply, bool) { return fb.view.Write(c, fd, off, data) })
		writeNs += d
		got, d := fb.mustDo("read", func(c sys.Caller) (sys.Reply, bool) { return fb.view.Read(c, fd, off, uint64(size)) })
		if got.Val != uint64(size) {
			b.Fatalf("read %d bytes, want %d", got.Val, size)
		}
		readNs += d
	}
	n := float64(b.N)
	b.ReportMetric(float64(writeNs.Microseconds())/n, "sim-write-µs/op")
	b.ReportMetric(float64(readNs.Microseconds())/n, "sim-read-µs/op")
	b.ReportMetric(float64(size)*n/writeNs.Seconds()/1e6, "sim-write-MB/s")
	b.ReportMetric(float64(size)*n/readNs.Seconds()/1e6, "sim-read-MB/s")
}

// BenchmarkFSRepair fills files with R=2 on 5 machines, then one machine
// dies and is declared dead: repair copies what it held from the other
// replicas. Reported: the bytes the dead machine held and the bytes repair
// moved (about equal: nothing is copied twice), and the simulated time
// until every chunk had two good copies again.
func BenchmarkFSRepair(b *testing.B) {
	for i := 0; i < b.N; i++ {
		fb := newFSBench(b, 5, 16<<10)
		fb.mustDo("setattr", func(c sys.Caller) (sys.Reply, bool) {
			return fb.view.SetAttr(c, "/", sys.AttrChange{Redundancy: 2})
		})
		data := make([]byte, 256<<10)
		for f := range 16 {
			path := fmt.Sprintf("/f%d", f)
			rep, _ := fb.mustDo("open", func(c sys.Caller) (sys.Reply, bool) { return fb.view.Open(c, path, sys.OpenOrCreate) })
			fb.mustDo("write", func(c sys.Caller) (sys.Reply, bool) { return fb.view.Write(c, rep.Val, 0, data) })
		}
		fb.run.world.RunFor(5 * time.Second) // superseded and orphaned copies collected
		victim := fb.run.nodes[3]
		_, lost := victim.svc.Holdings()
		repairBefore := fb.repairBytes()
		fb.run.world.Crash(victim.id)
		start := fb.run.world.Now()
		fb.run.declare(victim.id, true)
		for {
			fb.run.world.RunFor(500 * time.Millisecond)
			pairs, ok := fb.run.scanStore(fb.run.world.Now().Add(time.Minute))
			if !ok {
				b.Fatal("store scan failed")
			}
			if a := dfs.Audit(pairs, fb.run.service); a.Violation == "" && len(a.Lost) == 0 {
				break
			}
			if fb.run.world.Now() > start.Add(5*time.Minute) {
				b.Fatal("redundancy not restored in 5 simulated minutes")
			}
		}
		b.ReportMetric(float64(lost), "lost-bytes")
		b.ReportMetric(float64(fb.repairBytes()-repairBefore), "repair-bytes")
		b.ReportMetric(time.Duration(fb.run.world.Now()-start).Seconds(), "sim-repair-s")
	}
}

func (fb *fsBench) repairBytes() uint64 {
	var n uint64
	for _, nd := range fb.run.nodes {
		if nd.svc != nil && fb.run.world.Machine(nd.id).Up() {
			n += nd.svc.Stats().RepairBytes
		}
	}
	return n
}
