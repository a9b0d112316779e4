package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/flockvm/flock/scenarios"
)

// failureNondeterminism marks a report whose seed gave two different traces.
const failureNondeterminism = "nondeterminism"

// runSeed runs one seed of the configured scenario and fills in what only
// the command knows: wall time and the repro command. A panic inside the
// simulation is a broken invariant: it becomes a safety failure of this seed
// rather than a crash of the whole sweep.
func runSeed(cfg config, seed uint64, trace io.Writer) scenarios.Report {
	opts := scenarios.Options{Seed: seed, Bug: cfg.bug, VizDir: cfg.vizDir, Trace: trace, Pin: cfg.pins.apply, Coverage: cfg.coverage,
		LimitPins: cfg.limits}
	start := time.Now()
	r := runGuarded(cfg, opts)
	r.WallNs = time.Since(start).Nanoseconds()
	r.Repro = reproCommand(cfg, seed)
	if cfg.determinism && r.Failure != failureNondeterminism {
		opts.Trace, opts.VizDir, opts.Coverage = nil, "", false
		again := runGuarded(cfg, opts)
		if again.TraceHash != r.TraceHash || again.Events != r.Events {
			r.Result, r.Failure = scenarios.ResultFail, failureNondeterminism
			r.Violation = fmt.Sprintf("seed %d run twice gave different traces: hash %s after %d events, then hash %s after %d events",
				seed, r.TraceHash, r.Events, again.TraceHash, again.Events)
		}
	}
	return r
}

func runGuarded(cfg config, opts scenarios.Options) (r scenarios.Report) {
	defer func() {
		if p := recover(); p != nil {
			r = scenarios.Report{
				Seed: opts.Seed, Scenario: cfg.scenario, Bug: opts.Bug,
				Result: scenarios.ResultFail, Failure: scenarios.FailureSafety,
				Violation: fmt.Sprintf("panic: %v\n%s", p, stackHead(debug.Stack(), 40)),
				Faults:    map[string]int64{},
				Outcomes:  map[string]int64{},
			}
		}
	}()
	if cfg.program != nil {
		return runProgramSeed(cfg, opts)
	}
	r, err := scenarios.Run(cfg.scenario, opts)
	if err != nil {
		// Names were validated when the flags were parsed.
		panic(fmt.Sprintf("flock-sim: %v", err))
	}
	return r
}

func stackHead(stack []byte, lines int) string {
	parts := strings.SplitN(string(stack), "\n", lines+1)
	if len(parts) > lines {
		parts = parts[:lines]
	}
	return strings.Join(parts, "\n")
}

// reproCommand is the exact command that runs the same seed again.
func reproCommand(cfg config, seed uint64) string {
	args := []string{"flock-sim", "-seed", strconv.FormatUint(seed, 10)}
	if cfg.program != nil {
		args = append(args, programArgs(cfg)...)
	} else {
		args = append(args, "-scenario", cfg.scenario)
	}
	if cfg.bug != "" {
		args = append(args, "-bug", cfg.bug)
	}
	args = append(args, cfg.pins.args()...)
	args = append(args, cfg.limits.args()...)
	return strings.Join(append(args, programTail(cfg)...), " ")
}

// single runs one seed and prints its report.
func single(cfg config, stdout io.Writer) int {
	var trace io.Writer
	if cfg.trace {
		trace = stdout
	}
	if !cfg.jsonOut {
		fmt.Fprintf(stdout, "seed %d: scenario %s%s\n", cfg.seed, cfg.scenario, bugSuffix(cfg.bug))
	}
	r := runSeed(cfg, cfg.seed, trace)
	if cfg.jsonOut {
		if err := writeJSON(stdout, r); err != nil {
			fmt.Fprintf(os.Stderr, "flock-sim: %v\n", err)
			return exitUsage
		}
	} else {
		printReport(stdout, r, false)
		if cfg.coverage {
			fmt.Fprintf(stdout, "  marks hit: %s\n", formatMarks(r.Marks))
		}
		if cfg.vizDir != "" && r.VizPath == "" {
			fmt.Fprintf(stdout, "  -viz: no page written (a page is written only when the linearizability check fails)\n")
		}
	}
	return reportStatus(r)
}

func bugSuffix(bug string) string {
	if bug == "" {
		return ""
	}
	return ", planted bug " + bug
}

func writeJSON(w io.Writer, r scenarios.Report) error {
	if r.Faults == nil {
		r.Faults = map[string]int64{}
	}
	if r.Outcomes == nil {
		r.Outcomes = map[string]int64{}
	}
	b, err := json.Marshal(r) // map keys are sorted: output is deterministic
	if err != nil {
		return fmt.Errorf("encoding report of seed %d: %w", r.Seed, err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printReport prints a human-readable report; a failure ends with the repro
// command. withHeader prints the naming line a single run printed up front.
func printReport(w io.Writer, r scenarios.Report, withHeader bool) {
	if withHeader {
		fmt.Fprintf(w, "seed %d: scenario %s%s\n", r.Seed, r.Scenario, bugSuffix(r.Bug))
	}
	if r.Config != "" {
		fmt.Fprintf(w, "  faults drawn: %s\n", r.Config)
	}
	fmt.Fprintf(w, "  injected: %s\n", formatFaults(r.Faults))
	fmt.Fprintf(w, "  outcomes: %s\n", formatFaults(nonZero(r.Outcomes)))
	compression := 0.0
	if r.WallNs > 0 {
		compression = float64(r.SimNs) / float64(r.WallNs)
	}
	fmt.Fprintf(w, "  %d ops checked, %d events, %s simulated in %s wall (%.0fx), trace hash %s\n",
		r.Ops, r.Events, time.Duration(r.SimNs).Round(time.Millisecond), time.Duration(r.WallNs).Round(time.Millisecond),
		compression, r.TraceHash)
	if r.Result == scenarios.ResultPass {
		fmt.Fprintln(w, "  result: pass")
		return
	}
	fmt.Fprintf(w, "  result: FAIL (%s): %s\n", r.Failure, indentAfterFirst(r.Violation, "    "))
	if r.VizPath != "" {
		fmt.Fprintf(w, "  visualisation: %s\n", r.VizPath)
	}
	fmt.Fprintf(w, "  repro: %s\n", r.Repro)
}

func indentAfterFirst(s, indent string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+indent)
}

func nonZero(counts map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range counts {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func formatFaults(faults map[string]int64) string {
	if len(faults) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(faults))
	for k := range faults {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, faults[k]))
	}
	return strings.Join(parts, " ")
}
