// Package probe names the rare paths of Flock's code, so that a simulator
// sweep can say how often each one ran (FoundationDB's CODE_PROBE,
// TigerBeetle's coverage marks).
//
// A package declares its marks once, at init, and hits them where the rare
// thing happens:
//
//	var tornTail = probe.Declare("wal/torn-tail-truncated", "a torn record at the tail was cut off at recovery")
//	...
//	tornTail.Hit()
//
// Hit costs one atomic load when no one is counting. A runner that counts
// (flock-sim -coverage, the coverage test) calls Start before a run and
// Counts after it. Marks are process-global: runs that count must not
// overlap in one process (simulations already run one per process at a
// time, because of raft's global randomness).
//
// Mark names are "package/what-happened", lower case with dashes; the
// declaring package owns the names under its prefix.
package probe
