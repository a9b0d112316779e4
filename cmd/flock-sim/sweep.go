package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/flockvm/flock/scenarios"
)

// A sweep runs seeds in worker processes, not goroutines: each simulation
// owns its process, so nothing process-global (a library's hidden random
// source, say) can leak between two runs and break determinism.

// workerRestartsMax bounds how often a sweep replaces a worker that died.
const workerRestartsMax = 16

// work is the worker side: read seeds from stdin, one per line; write one
// JSON report per line to stdout.
func work(cfg config, stdin io.Reader, stdout io.Writer) int {
	in := bufio.NewScanner(stdin)
	out := bufio.NewWriter(stdout)
	for in.Scan() {
		seed, err := strconv.ParseUint(strings.TrimSpace(in.Text()), 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flock-sim worker: bad seed line %q\n", in.Text())
			return exitUsage
		}
		if err := writeJSON(out, runSeed(cfg, seed, nil)); err != nil {
			fmt.Fprintf(os.Stderr, "flock-sim worker: %v\n", err)
			return exitUsage
		}
		if err := out.Flush(); err != nil {
			return exitUsage
		}
	}
	return exitPass
}

// workerArgs are the flags a worker process gets: everything that shapes a
// run, nothing that selects seeds or output.
func workerArgs(cfg config) []string {
	args := []string{"-worker"}
	if cfg.program != nil {
		args = append(args, programArgs(cfg)...)
	} else {
		args = append(args, "-scenario", cfg.scenario)
	}
	if cfg.bug != "" {
		args = append(args, "-bug", cfg.bug)
	}
	if cfg.vizDir != "" {
		args = append(args, "-viz", cfg.vizDir)
	}
	if cfg.determinism {
		args = append(args, "-determinism")
	}
	if cfg.coverage {
		args = append(args, "-coverage")
	}
	args = append(args, cfg.pins.args()...)
	args = append(args, cfg.limits.args()...)
	return append(args, programTail(cfg)...)
}

// worker is one child process and the pipes to it.
type worker struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
}

func startWorker(exe string, args []string) (*worker, error) {
	cmd := exec.Command(exe, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdin: %w", err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdout: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", exe, err)
	}
	return &worker{cmd: cmd, in: in, out: bufio.NewReaderSize(outPipe, 1<<16), stderr: &stderr}, nil
}

// runOne sends one seed and reads its report.
func (w *worker) runOne(seed uint64) (scenarios.Report, error) {
	if _, err := fmt.Fprintf(w.in, "%d\n", seed); err != nil {
		return scenarios.Report{}, fmt.Errorf("sending seed %d: %w", seed, err)
	}
	line, err := w.out.ReadBytes('\n')
	if err != nil {
		return scenarios.Report{}, fmt.Errorf("reading report of seed %d: %w", seed, err)
	}
	var r scenarios.Report
	if err := json.Unmarshal(line, &r); err != nil {
		return scenarios.Report{}, fmt.Errorf("decoding report of seed %d: %w", seed, err)
	}
	if r.Seed != seed {
		return scenarios.Report{}, fmt.Errorf("worker answered seed %d for seed %d", r.Seed, seed)
	}
	return r, nil
}

func (w *worker) stop() {
	w.in.Close()
	_ = w.cmd.Wait()
}

// sweep runs every seed of the range in cfg.jobs worker processes and prints
// reports in seed order as they become available.
func sweep(cfg config, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "flock-sim: cannot find own executable: %v\n", err)
		return exitUsage
	}
	total := cfg.seedsEnd - cfg.seedsFirst
	jobs := min(uint64(cfg.jobs), total)
	seeds := make(chan uint64)
	results := make(chan scenarios.Report)
	var fatal error
	var fatalOnce sync.Once
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := driveWorker(exe, workerArgs(cfg), seeds, results); err != nil {
				fatalOnce.Do(func() { fatal = err })
			}
		}()
	}
	stop := make(chan struct{}) // closed at the first failure with -failfast
	go func() {
		defer close(seeds)
		for s := cfg.seedsFirst; s < cfg.seedsEnd; s++ {
			select {
			case seeds <- s:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	start := time.Now()
	bar := newProgress(stderr, int64(total))
	stopped := false
	reports := collect(cfg, results, stdout, bar, func() {
		if cfg.failFast && !stopped {
			stopped = true
			close(stop)
		}
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(stderr)
	}
	if fatal != nil {
		fmt.Fprintf(stderr, "flock-sim: %v\n", fatal)
		return exitUsage
	}
	if uint64(len(reports)) != total && !stopped {
		fmt.Fprintf(stderr, "flock-sim: sweep ended with %d of %d reports\n", len(reports), total)
		return exitUsage
	}
	printSummary(cfg, reports, time.Since(start), stdout, stderr)
	if cfg.coverage {
		w := stdout
		if cfg.jsonOut {
			w = stderr
		}
		printCoverage(w, cfg.scenario, reports)
		for _, silent := range scenarios.SilentFaults(reports) {
			fmt.Fprintf(w, "fault kind %s\n", silent)
		}
	}
	return exitStatus(reports)
}

// driveWorker feeds seeds to one worker process, replacing it if it dies;
// a seed whose worker died is reported as a safety failure with the
// worker's last words.
func driveWorker(exe string, args []string, seeds <-chan uint64, results chan<- scenarios.Report) error {
	w, err := startWorker(exe, args)
	if err != nil {
		return err
	}
	restarts := 0
	for seed := range seeds {
		r, err := w.runOne(seed)
		if err == nil {
			results <- r
			continue
		}
		w.stop()
		results <- scenarios.Report{
			Seed: seed, Result: scenarios.ResultFail, Failure: scenarios.FailureSafety,
			Violation: fmt.Sprintf("worker process died: %v\n%s", err, lastLines(w.stderr.String(), 30)),
			Faults:    map[string]int64{},
			Outcomes:  map[string]int64{},
		}
		if restarts++; restarts > workerRestartsMax {
			return errors.New("workers keep dying; giving up")
		}
		if w, err = startWorker(exe, args); err != nil {
			return err
		}
	}
	w.stop()
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// collect receives reports in completion order and prints them in seed
// order: a report is printed once every lower seed has been.
// onFail is called at every failed report.
func collect(cfg config, results <-chan scenarios.Report, stdout io.Writer, bar *progressbar.ProgressBar, onFail func()) []scenarios.Report {
	pending := map[uint64]scenarios.Report{}
	next := cfg.seedsFirst
	var all []scenarios.Report
	for r := range results {
		if r.Scenario == "" {
			r.Scenario, r.Bug = cfg.scenario, cfg.bug
			r.Repro = reproCommand(cfg, r.Seed)
		}
		pending[r.Seed] = r
		all = append(all, r)
		if r.Result != scenarios.ResultPass {
			onFail()
		}
		if bar != nil {
			_ = bar.Add(1)
		}
		for {
			p, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			emit(cfg, p, stdout, bar)
		}
	}
	slices.SortFunc(all, func(a, b scenarios.Report) int { return cmpUint(a.Seed, b.Seed) })
	return all
}

func emit(cfg config, r scenarios.Report, stdout io.Writer, bar *progressbar.ProgressBar) {
	if cfg.jsonOut {
		_ = writeJSON(stdout, r)
		return
	}
	if r.Result == scenarios.ResultPass {
		return
	}
	if bar != nil {
		_ = bar.Clear()
	}
	printReport(stdout, r, true)
}

func printSummary(cfg config, reports []scenarios.Report, wall time.Duration, stdout, stderr io.Writer) {
	counts := map[string]int{}
	var failed []uint64
	for _, r := range reports {
		if r.Result == scenarios.ResultPass {
			counts["pass"]++
			continue
		}
		counts[r.Failure]++
		failed = append(failed, r.Seed)
	}
	perMin := float64(len(reports)) / wall.Minutes()
	w := stdout
	if cfg.jsonOut {
		w = stderr
	}
	fmt.Fprintf(w, "%d seeds (%d:%d) of scenario %s%s in %s with %d workers (%.0f seeds/min): %d pass, %d safety, %d liveness, %d nondeterminism\n",
		len(reports), cfg.seedsFirst, cfg.seedsEnd, cfg.scenario, bugSuffix(cfg.bug), wall.Round(time.Millisecond), cfg.jobs, perMin,
		counts["pass"], counts[scenarios.FailureSafety], counts[scenarios.FailureLiveness], counts[failureNondeterminism])
	if len(failed) > 0 {
		shown := failed[:min(len(failed), 20)]
		fmt.Fprintf(w, "failing seeds: %v%s\n", shown, map[bool]string{true: " ...", false: ""}[len(failed) > len(shown)])
	}
}

// newProgress returns a progress bar on stderr when it is a terminal, else nil.
func newProgress(stderr io.Writer, total int64) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("seeds"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("seeds"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortStrings(s []string) { slices.Sort(s) }
