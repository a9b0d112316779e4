// Package interp is the Flock interpreter: green threads of many processes
// on one machine, run in deterministic quanta by a Machine that a
// single-threaded event loop drives.
//
// A Machine never blocks and never starts a goroutine. Run or Step executes
// threads for a bounded number of ticks and returns. Every operation that
// reaches outside a thread (global memory, storage, spawn, join, wait,
// output, processes) goes through an interface (sys.Global, sys.Storage,
// Kernel) that may answer later: the thread is parked under a sys.ReqID and
// becomes runnable again when the driver calls Machine.Complete with that
// id. Thread-local memory and the stack are the fast path and never leave
// the thread.
//
// Ticks approximate instructions and are only counted where control can
// loop: a taken backward jump costs the length of the code it jumps back
// over, a call costs one. A quantum and a process's instruction budget are
// measured in ticks; between two such points a thread runs at most the
// length of its program.
package interp
