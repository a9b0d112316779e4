package scenarios

import (
	"fmt"
	"math"
	"runtime/debug"
	"slices"
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
	// NAME -json), each at least twice the longest run of seeds without a
	// catch, so that workload changes do not make TestPlantedBugsCaught
	// flaky. Caught in N of 500 seeds, first at F, longest gap G:
	// ack-before-commit: 396/500, first at 2, longest gap 4.
	// apply-retry-twice: 291/500, first at 1, longest gap 5.
	// evict-live-session: 13/500, first at 47, longest gap 125.
	// read-index-off-by-one: 27/500, first at 66, longest gap 66.
	// remove-live-segment: 52/500, first at 26, longest gap 31.
	// retry-under-new-seq: 41/500, first at 18, longest gap 41.
	// send-before-persist: 233/500, first at 5, longest gap 11.
	// skip-torn-tail-truncate: 16/500, first at 9, longest gap 88.
	// skip-wal-sync: 230/500, first at 1, longest gap 12.
	// stale-follower-read: 171/500, first at 1, longest gap 12.
	budgets := map[string]int{
		"ack-before-commit":       30,
		"apply-retry-twice":       30,
		"evict-live-session":      250,
		"read-index-off-by-one":   140,
		"remove-live-segment":     70,
		"retry-under-new-seq":     90,
		"send-before-persist":     30,
		"skip-torn-tail-truncate": 180,
		"skip-wal-sync":           40,
		"stale-follower-read":     50,
	}
	names := append(raftkv.BugNames(), kvBugNames()...)
	slices.Sort(names)
	for _, name := range names {
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
		// The rare paths the sweep must reach; each is hit by at least 5%
		// of seeds 0:500 (flock-sim -seeds 0:500 -coverage).
		LimitNames: limitNamesOf(drawKVLimits(0, nil, 1).drawn),
		RequiredMarks: []string{
			"raftkv/apply-late",
			"raftkv/leader-changed-during-read",
			"raftkv/leader-lost-quorum",
			"raftkv/pending-expired",
			"raftkv/read-expired",
			"raftkv/read-index-retried",
			"raftkv/read-served-by-follower",
			"raftkv/read-waited-for-apply",
			"raftkv/request-deduplicated",
			"raftkv/request-overloaded",
			"raftkv/retry-joined-pending",
			"raftkv/session-evicted",
			"raftkv/session-expired-request",
			"raftkv/snapshot-installed",
			"raftkv/snapshot-sent",
			"wal/segment-rotated",
			"wal/segments-removed",
			"wal/torn-tail-short",
			"wal/torn-tail-truncated",
		},
	})
}

// kvShape is what a seed draws besides faults: the cluster and workload.
type kvShape struct {
	servers  int
	clients  int
	keys     int
	safety   time.Duration
	thinkMax time.Duration
	// sessionChurn is the chance that a client drops its session before an
	// operation (an application restarting, say): abandoned sessions age
	// in the table until a registration evicts them.
	sessionChurn float64
	limits       kvLimits
}

func drawKVShape(seed uint64, pins map[string]int64) kvShape {
	rng := sim.Stream(seed, "kv.shape", 0)
	s := kvShape{
		servers:  3 + rng.IntN(3),
		clients:  2 + rng.IntN(4),
		keys:     1 + rng.IntN(6),
		safety:   3*time.Second + time.Duration(rng.Int64N(5000))*time.Millisecond,
		thinkMax: time.Duration(5+rng.IntN(45)) * time.Millisecond,
	}
	if rng.IntN(2) == 0 {
		s.sessionChurn = 0.01 * math.Pow(20, rng.Float64()) // 1% to 20%
	}
	s.limits = drawKVLimits(seed, pins, s.clients)
	return s
}

func (s kvShape) String() string {
	return fmt.Sprintf("servers=%d clients=%d keys=%d safety=%v think<=%v churn=%.3g %s",
		s.servers, s.clients, s.keys, s.safety, s.thinkMax, s.sessionChurn, s.limits.drawn)
}

// kvRun is one run of the scenario: the world and everything observed.
type kvRun struct {
	opts    Options
	shape   kvShape
	bugs    raftkv.Bugs
	appBugs kvBugs
	faults  sim.FaultConfig
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
	r := &kvRun{opts: opts, shape: drawKVShape(opts.Seed, opts.LimitPins), applied: map[uint64][]checker.Applied{}}
	rep = Report{Seed: opts.Seed, Scenario: kvScenarioName, Bug: opts.Bug, Faults: map[string]int64{}}
	defer func() {
		if p := recover(); p != nil {
			rep.Result, rep.Failure = ResultFail, FailureSafety
			rep.Violation = fmt.Sprintf("panic: %v\n%s", p, debug.Stack())
			r.fillCounters(&rep)
		}
	}()
	if opts.Bug != "" {
		r.parseBug(opts.Bug)
	}
	faults := sim.Swarm(opts.Seed, r.shape.servers)
	if opts.Pin != nil {
		opts.Pin(&faults)
	}
	if err := faults.Validate(); err != nil {
		panic(fmt.Sprintf("scenarios: pinned faults invalid: %v", err))
	}
	if unknown := r.shape.limits.drawn.UnknownPins(); len(unknown) > 0 {
		panic(fmt.Sprintf("scenarios: kv has no limits %v (it draws: %v)", unknown, limitNamesOf(r.shape.limits.drawn)))
	}
	rep.Config = r.shape.String() + " | " + faults.String()
	r.faults = faults
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
	if converged && len(r.livenessFailures(finished, converged)) == 0 {
		r.restartServers()
	}

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

// kvBugs are the kv workload's own planted defects: mistakes of an
// application on top of raftkv, switched on like raftkv's (flock-sim -bug).
type kvBugs struct {
	// RetryUnderNewSeq: the application retries a write whose outcome is
	// unknown as a new operation, so the store sees a new sequence number
	// and cannot recognise the retry. If the first attempt did apply, the
	// logical write is applied twice.
	RetryUnderNewSeq bool
}

var kvBugTable = []struct {
	name string
	flag func(*kvBugs) *bool
}{
	{"retry-under-new-seq", func(b *kvBugs) *bool { return &b.RetryUnderNewSeq }},
}

func kvBugNames() []string {
	var names []string
	for _, b := range kvBugTable {
		names = append(names, b.name)
	}
	return names
}

// parseBug switches on a planted bug of the workload or of raftkv.
func (r *kvRun) parseBug(name string) {
	for _, b := range kvBugTable {
		if b.name == name {
			*b.flag(&r.appBugs) = true
			return
		}
	}
	bugs, err := raftkv.ParseBug(name)
	if err != nil {
		panic(fmt.Sprintf("scenarios: %v", err))
	}
	r.bugs = bugs
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

// restartServers restarts every replica's process once more over its disk
// at the end of the run: whatever the run left on disk (rotated and
// removed segments, truncated tails, snapshots) must recover. A replica
// that finds its state corrupt fail-stops, which the checks report as a
// durability violation unless its disk rotted.
func (r *kvRun) restartServers() {
	for _, s := range r.servers {
		if s.failStop == "" && s.srv != nil {
			s.restartProcess()
		}
	}
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
	FillWorld(rep, r.world, r.faults)
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
