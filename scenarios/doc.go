// Package scenarios holds what a simulation run does and what must hold
// afterwards: workloads, fault profiles, planted bugs and the checks that
// catch them. Each Scenario builds a deterministic world (package sim) from a
// seed, runs a safety phase with faults on and a liveness phase with faults
// healed, checks the history (package checker), and returns a Report.
//
// flock-sim (cmd/flock-sim) runs scenarios one seed at a time or as sweeps;
// tests in this package prove determinism, run a seed sweep, and prove that
// every planted bug is caught within its seed budget.
package scenarios
