package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// Environment variables the server children read (flags of the parent set
// them, so every child of one run gets the same).
const (
	// cpuProfileEnv names a directory: each server process writes a CPU
	// profile there, <system>-<id>.pprof, from start to SIGTERM.
	cpuProfileEnv = "BENCH_CPUPROFILE_DIR"
	// statsEnv, if set, makes each Flock replica print its counters at exit.
	statsEnv = "BENCH_STATS"
)

// startCPUProfile starts a CPU profile named name under the directory
// cpuProfileEnv gives, if it is set; the returned function stops it.
func startCPUProfile(name string) (stop func(), err error) {
	dir := os.Getenv(cpuProfileEnv)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
