// Command compare runs the two benchmark programs of the Flock VM —
// the sum of i for 0 <= i < N, and fib(30) by plain recursion — on Flock
// (the hand-written assembly examples/loop.flasm and examples/fib.flasm,
// and the Flock language versions examples/loop.fl and examples/fib.fl),
// gopher-lua and goja, in one process, and prints each engine's figures and
// its ratio to Flock's assembly.
//
//	cd bench/compare && go run . [-n 100000000] [-reps 5]
//
// It is its own module so the main module does not depend on the peers.
package main
