package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/flockvm/flock/scenarios"
	"github.com/flockvm/flock/sim"
)

// Exit statuses (DESIGN §6).
const (
	exitPass           = 0
	exitSafety         = 1
	exitUsage          = 2
	exitLiveness       = 3
	exitNondeterminism = 4
)

// seedsMax bounds one sweep so a typo cannot start a run that never ends.
const seedsMax = 10_000_000

// config is the parsed command line.
type config struct {
	seed        uint64
	seedSet     bool
	seedsFirst  uint64
	seedsEnd    uint64 // exclusive
	sweep       bool
	jobs        int
	scenario    string
	bug         string
	vizDir      string
	jsonOut     bool
	trace       bool
	list        bool
	determinism bool
	coverage    bool
	failFast    bool
	worker      bool
	pins        faultPins
	limits      limitPins
	// programPath, machines and programArgs select a user's program
	// (-program); program is it loaded, with its reference answer.
	programPath string
	programArgs []string
	machines    int
	program     *userProgram
}

// The simulator trades memory for speed: a run allocates messages, pages
// and histories at a high rate and keeps little, so the collector runs at
// gcPercent (8x the live heap) within a soft limit of gcMemoryLimitBytes per
// process. GOGC or GOMEMLIMIT in the environment take precedence.
const (
	gcPercent          = 800
	gcMemoryLimitBytes = 4 << 30
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimitBytes)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "flock-sim: %v\n", err)
		fmt.Fprintln(stderr, "run 'flock-sim -h' for usage")
		return exitUsage
	}
	if cfg.programPath != "" && !cfg.list {
		p, err := loadUserProgram(cfg.programPath, cfg.programArgs)
		if err != nil {
			fmt.Fprintf(stderr, "flock-sim: %v\n", err)
			return exitUsage
		}
		cfg.program, cfg.scenario = p, "program:"+filepath.Base(p.path)
	}
	switch {
	case cfg.list:
		return list(cfg, stdout)
	case cfg.worker:
		return work(cfg, stdin, stdout)
	case cfg.sweep:
		return sweep(cfg, stdout, stderr)
	default:
		return single(cfg, stdout)
	}
}

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("flock-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.String("seed", "", "run one `seed` (an unsigned integer)")
	seeds := fs.String("seeds", "", "run a sweep over seeds `A:B` (A inclusive, B exclusive)")
	fs.IntVar(&cfg.jobs, "j", runtime.NumCPU(), "worker processes for a sweep")
	fs.StringVar(&cfg.scenario, "scenario", "kv", "the scenario to run (see -list)")
	fs.StringVar(&cfg.bug, "bug", "", "switch on a planted bug (see -list)")
	fs.StringVar(&cfg.vizDir, "viz", "", "write the HTML visualisation of a failed check to `dir`")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print one JSON object per seed")
	fs.BoolVar(&cfg.trace, "trace", false, "print the event log with step numbers (one seed only)")
	fs.BoolVar(&cfg.list, "list", false, "list scenarios and planted bugs")
	fs.BoolVar(&cfg.determinism, "determinism", false, "run each seed twice and fail (exit 4) if the trace hashes differ")
	fs.BoolVar(&cfg.coverage, "coverage", false, "count the probe marks each seed hits; a sweep prints, per mark, how many seeds hit it")
	fs.BoolVar(&cfg.failFast, "failfast", false, "stop a sweep at its first failing seed")
	fs.BoolVar(&cfg.worker, "worker", false, "internal: read seeds from stdin, write JSON reports to stdout")
	cfg.pins = registerFaultPins(fs)
	fs.Var(&cfg.limits, "limit", "fix a limit the scenario draws for its system, `name=value` (repeatable; see -list)")
	fs.StringVar(&cfg.programPath, "program", "", "run your own program `file` (.fl, .flasm, .flb) on a simulated VM with faults; the arguments after the flags are its own")
	fs.IntVar(&cfg.machines, "machines", 0, "with -program: the simulated VM's machines (0: drawn, 3 to 7)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: flock-sim [-seed N | -seeds A:B] [flags]\n")
		fmt.Fprintf(stderr, "       flock-sim -program FILE [-machines N] [-seed N | -seeds A:B] [flags] [-- program arguments]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexit status: 0 pass, 1 safety violation, 2 usage, 3 liveness failure, 4 nondeterminism\n")
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := parseProgramFlags(&cfg, fs); err != nil {
		return cfg, err
	}
	if *seed != "" && *seeds != "" {
		return cfg, errors.New("-seed and -seeds are exclusive")
	}
	if *seed != "" {
		v, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("-seed %q: not an unsigned integer", *seed)
		}
		cfg.seed, cfg.seedSet = v, true
	}
	if *seeds != "" {
		first, end, err := parseSeedRange(*seeds)
		if err != nil {
			return cfg, err
		}
		cfg.seedsFirst, cfg.seedsEnd, cfg.sweep = first, end, true
	}
	if cfg.list || cfg.worker {
		return cfg, nil
	}
	if !cfg.seedSet && !cfg.sweep {
		return cfg, errors.New("give -seed N or -seeds A:B")
	}
	if cfg.jobs < 1 || cfg.jobs > 256 {
		return cfg, fmt.Errorf("-j %d: want 1..256", cfg.jobs)
	}
	if cfg.trace && cfg.sweep {
		return cfg, errors.New("-trace needs a single -seed")
	}
	if cfg.programPath == "" {
		if err := validateNames(cfg.scenario, cfg.bug); err != nil {
			return cfg, err
		}
	}
	if err := cfg.limits.validate(cfg.scenario); err != nil {
		return cfg, err
	}
	probe := sim.Swarm(0, 3)
	cfg.pins.apply(&probe)
	if err := probe.Validate(); err != nil {
		return cfg, fmt.Errorf("fault flags: %w", err)
	}
	return cfg, nil
}

// validateNames checks the scenario and bug names without running anything.
func validateNames(scenario, bug string) error {
	s, ok := scenarios.Lookup(scenario)
	if !ok {
		var known []string
		for _, s := range scenarios.All() {
			known = append(known, s.Name)
		}
		return fmt.Errorf("-scenario %q: unknown (known: %s)", scenario, strings.Join(known, ", "))
	}
	if bug == "" {
		return nil
	}
	var known []string
	for _, b := range s.Bugs {
		if b.Name == bug {
			return nil
		}
		known = append(known, b.Name)
	}
	return fmt.Errorf("-bug %q: scenario %s has no such planted bug (known: %s)", bug, scenario, strings.Join(known, ", "))
}

func parseSeedRange(s string) (first, end uint64, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("-seeds %q: want A:B", s)
	}
	first, errA := strconv.ParseUint(a, 10, 64)
	end, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return 0, 0, fmt.Errorf("-seeds %q: A and B must be unsigned integers", s)
	}
	if end <= first {
		return 0, 0, fmt.Errorf("-seeds %q: B must be greater than A", s)
	}
	if end-first > seedsMax {
		return 0, 0, fmt.Errorf("-seeds %q: at most %d seeds per sweep", s, seedsMax)
	}
	return first, end, nil
}

func list(cfg config, stdout io.Writer) int {
	all := scenarios.All()
	if cfg.jsonOut {
		out := struct {
			Scenarios []string        `json:"scenarios"`
			Bugs      []scenarios.Bug `json:"bugs"`
		}{Scenarios: []string{}, Bugs: scenarios.Bugs()}
		for _, s := range all {
			out.Scenarios = append(out.Scenarios, s.Name)
		}
		if out.Bugs == nil {
			out.Bugs = []scenarios.Bug{}
		}
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(out); err != nil {
			return exitUsage
		}
		return exitPass
	}
	fmt.Fprintln(stdout, "scenarios:")
	for _, s := range all {
		fmt.Fprintf(stdout, "  %-12s %s\n", s.Name, s.Description)
		if len(s.LimitNames) > 0 {
			fmt.Fprintf(stdout, "  %-12s limits (-limit name=value): %s\n", "", strings.Join(s.LimitNames, " "))
		}
	}
	fmt.Fprintln(stdout, "planted bugs (caught within the first N seeds):")
	for _, b := range scenarios.Bugs() {
		fmt.Fprintf(stdout, "  %-24s scenario %-8s N=%d\n", b.Name, b.Scenario, b.Seeds)
	}
	return exitPass
}

// exitStatus maps reports to the process exit status, the most serious first.
func exitStatus(reports []scenarios.Report) int {
	status := exitPass
	rank := map[int]int{exitPass: 0, exitLiveness: 1, exitSafety: 2, exitNondeterminism: 3}
	for _, r := range reports {
		s := reportStatus(r)
		if rank[s] > rank[status] {
			status = s
		}
	}
	return status
}

func reportStatus(r scenarios.Report) int {
	if r.Result == scenarios.ResultPass {
		return exitPass
	}
	switch r.Failure {
	case scenarios.FailureLiveness:
		return exitLiveness
	case failureNondeterminism:
		return exitNondeterminism
	default:
		return exitSafety
	}
}
