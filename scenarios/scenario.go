package scenarios

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/sim"
)

// Result values of a Report.
const (
	ResultPass = "pass"
	ResultFail = "fail"
)

// Failure kinds of a failed Report: they map to flock-sim's exit statuses.
const (
	FailureSafety   = "safety"   // a checked property broke: exit status 1
	FailureLiveness = "liveness" // an operation did not finish after healing: exit status 3
)

// Options configures one run of a scenario.
type Options struct {
	Seed uint64
	// Bug names a planted bug to switch on ("" for none); it must be one of
	// the scenario's Bugs.
	Bug string
	// VizDir, when set, receives the HTML visualisation of a failed
	// linearizability check.
	VizDir string
	// Trace, when set, receives the world's event log.
	Trace io.Writer
	// Pin adjusts the fault configuration drawn for the seed (flags that pin
	// knobs); nil keeps the swarm's draw.
	Pin func(*sim.FaultConfig)
	// LimitPins fixes some of the limits the scenario draws for its system
	// (sim.Limits), by name; nil keeps every draw.
	LimitPins map[string]int64
	// Coverage counts the probe marks the run hits into Report.Marks. Marks
	// are process-global: runs that count must not overlap in one process.
	Coverage bool
}

// Report is the outcome of one run, in the shape of DESIGN §6. WallNs and
// Repro are filled in by the caller, which knows the wall clock and the
// command line.
type Report struct {
	Seed      uint64           `json:"seed"`
	Scenario  string           `json:"scenario"`
	Bug       string           `json:"bug,omitempty"`
	Result    string           `json:"result"`
	Failure   string           `json:"failure,omitempty"`
	Violation string           `json:"violation"`
	TraceHash string           `json:"trace_hash"`
	Events    uint64           `json:"events"`
	SimNs     int64            `json:"sim_ns"`
	WallNs    int64            `json:"wall_ns"`
	Faults    map[string]int64 `json:"faults"`
	// Outcomes counts what the faults did (sim.World.Outcomes): writes
	// torn and lost, syncs cut, messages reordered, ...
	Outcomes map[string]int64 `json:"outcomes"`
	// FaultsOn names the fault kinds the seed switched on
	// (sim.FaultConfig.KindsOn): the sweep tests check that each produced
	// its outcome.
	FaultsOn []string `json:"faults_on,omitempty"`
	// Marks counts the probe marks the run hit (those hit at least once),
	// when Options.Coverage asked for them.
	Marks   map[string]int64 `json:"marks,omitempty"`
	Ops     int              `json:"ops"`
	Repro   string           `json:"repro"`
	VizPath string           `json:"viz,omitempty"`
	Config  string           `json:"config"`
}

// Bug is a planted defect and the number of seeds within which the
// scenario's checks must catch it (seeds 0 to Seeds-1, in order).
type Bug struct {
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Seeds    int    `json:"seeds"`
}

// Scenario is one kind of run.
type Scenario struct {
	Name        string
	Description string
	Bugs        []Bug
	Run         func(Options) Report
	// SweepSeeds is how many seeds (0 to SweepSeeds-1) CI's seed sweep
	// (TestSeedSweep) runs of this scenario; FLOCK_SWEEP_SEEDS overrides it
	// for every scenario. Chosen so the whole sweep stays within CI's time.
	SweepSeeds int
	// RegressionSeeds are seeds beyond the sweep that once failed, each for
	// a bug since fixed (the comment beside it says which): the sweep runs
	// them too. A later change may move a seed's timing off the race it
	// found; it still costs little and may catch it again.
	RegressionSeeds []uint64
	// RequiredMarks names the probe marks (package probe) that at least one
	// seed of the scenario's sweep must hit: the rare paths the sweep is
	// there to exercise.
	RequiredMarks []string
	// LimitNames lists the limits the scenario draws for its system
	// (sim.Limits), which Options.LimitPins may fix.
	LimitNames []string
}

// FillWorld copies what a scenario's world counted into the report: trace
// hash, events, simulated time, faults injected and their outcomes, and
// which fault kinds fc switched on. Every scenario calls it when its run
// ends (also after a panic, with what there is).
func FillWorld(rep *Report, w *sim.World, fc sim.FaultConfig) {
	rep.TraceHash = fmt.Sprintf("%016x", w.TraceHash())
	rep.Events = w.Events()
	rep.SimNs = int64(w.Now())
	rep.Faults = w.FaultCounts()
	rep.Outcomes = w.Outcomes()
	rep.FaultsOn = fc.KindsOn()
}

var registry []Scenario

func register(s Scenario) {
	if s.Name == "" || s.Run == nil || s.SweepSeeds <= 0 {
		panic(fmt.Sprintf("scenarios: incomplete scenario %q", s.Name))
	}
	if _, ok := Lookup(s.Name); ok {
		panic(fmt.Sprintf("scenarios: scenario %q registered twice", s.Name))
	}
	for i := range s.Bugs {
		s.Bugs[i].Scenario = s.Name
	}
	registry = append(registry, s)
	slices.SortFunc(registry, func(a, b Scenario) int { return strings.Compare(a.Name, b.Name) })
}

// All returns every scenario, sorted by name.
func All() []Scenario { return slices.Clone(registry) }

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Bugs returns every planted bug of every scenario, sorted by scenario then name.
func Bugs() []Bug {
	var out []Bug
	for _, s := range registry {
		out = append(out, s.Bugs...)
	}
	return out
}

// Run runs one seed of the named scenario after validating the options.
func Run(name string, opts Options) (Report, error) {
	s, ok := Lookup(name)
	if !ok {
		return Report{}, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(names(), ", "))
	}
	for name := range opts.LimitPins {
		if !slices.Contains(s.LimitNames, name) {
			return Report{}, fmt.Errorf("scenario %q draws no limit %q (known: %s)", s.Name, name, strings.Join(s.LimitNames, ", "))
		}
	}
	if opts.Bug != "" && !slices.ContainsFunc(s.Bugs, func(b Bug) bool { return b.Name == opts.Bug }) {
		var known []string
		for _, b := range s.Bugs {
			known = append(known, b.Name)
		}
		return Report{}, fmt.Errorf("scenario %q has no planted bug %q (known: %s)", name, opts.Bug, strings.Join(known, ", "))
	}
	return withCoverage(opts, s.Run), nil
}

// withCoverage runs run, counting the probe marks it hits into the report
// when opts.Coverage asks for them.
func withCoverage(opts Options, run func(Options) Report) Report {
	if !opts.Coverage {
		return run(opts)
	}
	probe.Start()
	defer probe.Stop()
	rep := run(opts)
	rep.Marks = map[string]int64{}
	for name, n := range probe.Counts() {
		if n > 0 {
			rep.Marks[name] = n
		}
	}
	return rep
}

// limitNamesOf lists the limits a drawer drew, in draw order.
func limitNamesOf(l *sim.Limits) []string {
	var names []string
	for _, d := range l.Draws() {
		names = append(names, d.Name)
	}
	return names
}

func names() []string {
	var out []string
	for _, s := range registry {
		out = append(out, s.Name)
	}
	return out
}
