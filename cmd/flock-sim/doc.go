// Command flock-sim runs Flock inside the deterministic simulator with
// faults drawn from a seed, checks what happened, and reports.
//
//	flock-sim -seed 42                 one seed, human-readable
//	flock-sim -seeds 0:1000 -j 2       a sweep over seeds 0..999 in 2 worker processes
//	flock-sim -seed 42 -trace          the event log with step numbers
//	flock-sim -seed 2 -bug skip-wal-sync -viz /tmp/viz
//	flock-sim -seeds 0:500 -coverage   per coverage mark, how many seeds reached it
//	flock-sim -seed 7 -limit sessions=2 -fault-crash-io-every=100ms
//	flock-sim -seeds 0:500 -bug NAME -failfast
//	flock-sim -list -json              scenarios, their limits and planted bugs with seed budgets
//
// -viz writes the HTML page of a failed linearizability check; a seed that
// passes, or fails another check, writes none (the report says so).
//
// Exit status: 0 every seed passed; 1 a safety violation; 3 a liveness
// failure; 4 nondeterminism detected; 2 usage error. With several failures
// the most serious wins in the order 4, 1, 3.
//
// The mutate subdirectory holds the mutation driver behind make mutate.
package main
