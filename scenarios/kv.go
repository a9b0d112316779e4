package scenarios

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/raftkv"
)

// The kv scenario: 3 to 5 machines run a raftkv replica each, 2 to 5 client
// machines (spared by the nemesis, reached by partitions) issue get, put,
// delete and CAS with retries. Safety phase with the seed's faults, then
// Heal and a liveness phase in which every client must finish its operation
// in flight and a final round of reads and a write, all with definite
// results, and every surviving replica must catch up.

const kvScenarioName = "kv"

// kvTick is the period of every server's and client's Tick.
const kvTick = 10 * time.Millisecond

// Bounds of a kv run. The liveness bound is generous against the protocol's
// own timeouts (elections take ~0.1-0.2s, client attempts 0.3s) so that a
// failure to finish means stuck, not slow.
const (
	kvLivenessBound   = 30 * time.Second
	kvConvergeBound   = 10 * time.Second
	kvClientAttempts  = 10
	kvRequestTimeout  = 30 // ticks
	kvServerIDFirst   = 1
	kvClientIDFirst   = 101
	kvFinalWritesEach = 1
	kvCheckStepsMax   = 20_000_000
)

func init() {
	var bugs []Bug
	// Seed budgets: measured over seeds 0:500 (flock-sim -seeds 0:500 -bug
	// NAME), each at least twice the longest run of seeds without a catch,
	// so that workload changes do not make TestPlantedBugsCaught flaky.
	// ack-before-commit: 233/500, first at 2, longest gap 9.
	// apply-retry-twice: 238/500, first at 2, longest gap 14.
	// skip-wal-sync: 125/500, first at 2, longest gap 18.
	// stale-follower-read: 127/500, first at 12, longest gap 20.
	budgets := map[string]int{
		"ack-before-commit":   30,
		"apply-retry-twice":   30,
		"skip-wal-sync":       40,
		"stale-follower-read": 50,
	}
	for _, name := range raftkv.BugNames() {
		budget, ok := budgets[name]
		if !ok {
			panic(fmt.Sprintf("scenarios: raftkv bug %q has no seed budget", name))
		}
		bugs = append(bugs, Bug{Name: name, Seeds: budget})
	}
	register(Scenario{
		Name:        kvScenarioName,
		Description: "raft-replicated key-value store (vm/raftkv): 3-5 replicas, clients with retries, linearizability and log invariants",
		Bugs:        bugs,
		Run:         runKV,
		SweepSeeds:  1000,
	})
}

// kvShape is what a seed draws besides faults: the cluster and workload.
type kvShape struct {
	servers         int
	clients         int
	keys            int
	safety          time.Duration
	thinkMax        time.Duration
	snapshotEntries uint64
}

func drawKVShape(seed uint64) kvShape {
	rng := sim.Stream(seed, "kv.shape", 0)
	return kvShape{
		servers:         3 + rng.IntN(3),
		clients:         2 + rng.IntN(4),
		keys:            1 + rng.IntN(6),
		safety:          3*time.Second + time.Duration(rng.Int64N(5000))*time.Millisecond,
		thinkMax:        time.Duration(5+rng.IntN(45)) * time.Millisecond,
		snapshotEntries: []uint64{20, 100, 1000}[rng.IntN(3)],
	}
}

func (s kvShape) String() string {
	return fmt.Sprintf("servers=%d clients=%d keys=%d safety=%v think<=%v snapshot-every=%d",
		s.servers, s.clients, s.keys, s.safety, s.thinkMax, s.snapshotEntries)
}

// kvRun is one run of the scenario: the world and everything observed.
type kvRun struct {
	opts    Options
	shape   kvShape
	bugs    raftkv.Bugs
	world   *sim.World
	servers []*kvServer
	clients []*kvClient
	history checker.KVHistory
	acked   []checker.RequestID
	applied map[uint64][]checker.Applied
	// surprises are protocol answers no correct system gives (e.g. a stale
	// request error to a well-behaved client): safety violations.
	surprises []string
}

func runKV(opts Options) (rep Report) {
	r := &kvRun{opts: opts, shape: drawKVShape(opts.Seed), applied: map[uint64][]checker.Applied{}}
	rep = Report{Seed: opts.Seed, Scenario: kvScenarioName, Bug: opts.Bug, Faults: map[string]int64{}}
	defer func() {
		if p := recover(); p != nil {
			rep.Result, rep.Failure = ResultFail, FailureSafety
			rep.Violation = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
			r.fillCounters(&rep)
		}
	}()
	if opts.Bug != "" {
		bugs, err := raftkv.ParseBug(opts.Bug)
		if err != nil {
			panic(fmt.Sprintf("scenarios: %v", err))
		}
		r.bugs = bugs
	}
	faults := sim.Swarm(opts.Seed, r.shape.servers)
	if opts.Pin != nil {
		opts.Pin(&faults)
	}
	if err := faults.Validate(); err != nil {
		panic(fmt.Sprintf("scenarios: pinned faults invalid: %v", err))
	}
	rep.Config = r.shape.String() + " | " + faults.String()
	r.world = sim.NewWorld(sim.Config{Seed: opts.Seed, Faults: faults, Trace: opts.Trace})
	r.start()

	r.world.RunUntil(sim.Time(r.shape.safety))
	r.world.Heal()
	for _, c := range r.clients {
		c.startFinalRound()
	}
	livenessEnd := r.world.Now().Add(kvLivenessBound)
	finished := r.world.RunWhile(func() bool { return !r.clientsDone() }, livenessEnd)
	converged := finished && r.world.RunWhile(func() bool { return !r.serversConverged() }, r.world.Now().Add(kvConvergeBound))

	r.check(&rep, finished, converged)
	r.fillCounters(&rep)
	return rep
}

// start adds the machines: servers first, then clients.
func (r *kvRun) start() {
	var peers []sim.NodeID
	for i := range r.shape.servers {
		peers = append(peers, sim.NodeID(kvServerIDFirst+i))
	}
	for _, id := range peers {
		s := &kvServer{run: r, id: id, peers: peers}
		r.servers = append(r.servers, s)
		r.world.AddMachine(id, s.boot)
	}
	for i := range r.shape.clients {
		c := &kvClient{run: r, index: i, servers: peers, rng: sim.Stream(r.opts.Seed, "kv.client", uint64(i))}
		r.clients = append(r.clients, c)
		m := r.world.AddMachine(sim.NodeID(kvClientIDFirst+i), c.boot)
		m.SpareFromNemesis()
	}
}

func (r *kvRun) clientsDone() bool {
	for _, c := range r.clients {
		if !c.done {
			return false
		}
	}
	return true
}

// serversConverged: every replica that has not fail-stopped has applied
// everything any replica committed.
func (r *kvRun) serversConverged() bool {
	var commitMax uint64
	for _, s := range r.servers {
		if s.srv != nil {
			commitMax = max(commitMax, s.srv.Status().Commit)
		}
	}
	for _, s := range r.servers {
		if s.failStop != "" {
			continue
		}
		if s.srv == nil || s.srv.Status().Applied < commitMax {
			return false
		}
	}
	return true
}

func (r *kvRun) surprise(format string, args ...any) {
	if len(r.surprises) < 20 {
		r.surprises = append(r.surprises, fmt.Sprintf(format, args...))
	}
}

func (r *kvRun) fillCounters(rep *Report) {
	if r.world == nil {
		return
	}
	rep.TraceHash = fmt.Sprintf("%016x", r.world.TraceHash())
	rep.Events = r.world.Events()
	rep.SimNs = int64(r.world.Now())
	rep.Faults = r.world.FaultCounts()
	for _, s := range r.servers {
		if s.failStop != "" {
			rep.Faults["fail_stop"]++
		}
		if s.reopens > 0 {
			rep.Faults["server_reopen"] += int64(s.reopens)
		}
	}
	rep.Ops = r.history.Len()
}

// statusLine describes every server, for failure reports.
func (r *kvRun) statusLine() string {
	var parts []string
	for _, s := range r.servers {
		switch {
		case s.failStop != "":
			parts = append(parts, fmt.Sprintf("%v fail-stopped (%s)", s.id, s.failStop))
		case s.srv == nil:
			parts = append(parts, fmt.Sprintf("%v down", s.id))
		default:
			st := s.srv.Status()
			parts = append(parts, fmt.Sprintf("%v %v term=%d leader=%v commit=%d applied=%d",
				s.id, st.State, st.Term, st.Leader, st.Commit, st.Applied))
		}
	}
	return strings.Join(parts, "; ")
}
