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
// A driver (the simulator, or proc.VM on one machine) looks like this:
//
//	m := interp.NewMachine(interp.Config{Machine: id, Incarnation: inc})
//	m.AddProcess(&interp.Process{PID: pid, Program: prog, Global: g, Storage: s, Kernel: k, Account: acct})
//	m.AddThread(&interp.ThreadImage{PID: pid, TID: 1, PC: prog.Entry, Local: local})
//	for {
//		r := m.Step()           // one quantum of the next runnable thread
//		advanceClock(r.Ticks)   // ticks ≈ instructions
//		deliverDueAnswers()     // calls m.Complete(id, reply) for answers that arrived
//		if !r.Ran && nothingInFlight() { break }
//	}
//
// Rules for backends: a method that returns (reply, true) has answered; one
// that returns (_, false) must later call Complete(c.Req, reply) exactly
// once, from the driving goroutine, and never from inside the call itself.
// Answers for threads whose process ended are ignored. Request ids carry
// Config.Machine, Incarnation and Core (sys.ReqID), so they are unique across
// machines, restarts and cores, and double as deduplication ids on the
// network.
//
// Threads move between machines with Detach and AddThread; EncodeImage and
// DecodeImage turn a ThreadImage (registers, stack, frames, local memory)
// into checksummed bytes and back; EncodeImageLazy leaves the local
// memory's pages on a pinned snapshot, and a thread that touches one of
// them parks while its Local's page source fetches it (local_fault.go).
//
// Ticks approximate instructions and are only counted where control can
// loop: a taken backward jump costs the length of the code it jumps back
// over, a call costs one. A quantum and a process's instruction budget are
// measured in ticks; between two such points a thread runs at most the
// length of its program.
//
// Speed: exec, the dispatch loop, calls no function; every slow path saves
// the registers into the Thread and returns to execLoop, so the Go compiler
// keeps pc, sp, the frame and the budget in registers.
package interp
