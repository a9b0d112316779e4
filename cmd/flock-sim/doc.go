// Command flock-sim runs Flock inside the deterministic simulator with
// faults drawn from a seed, checks what happened, and reports.
//
//	flock-sim -seed 42                 one seed, human-readable
//	flock-sim -seeds 0:1000 -j 2       a sweep over seeds 0..999 in 2 worker processes
//	flock-sim -seed 42 -trace          the event log with step numbers
//	flock-sim -seed 7 -bug skip-wal-sync -viz /tmp/viz
//	flock-sim -list -json              scenarios and planted bugs with their seed budgets
//
// Exit status: 0 every seed passed; 1 a safety violation; 3 a liveness
// failure; 4 nondeterminism detected; 2 usage error. With several failures
// the most serious wins in the order 4, 1, 3.
package main
