// Package cores runs a machine's interpreter cores, either one after
// another on the caller's goroutine (deterministic: the simulator, tests)
// or each on its own goroutine (production, and flock run -cpus N), behind
// one API, so the code that owns the cores (the node, the embedded VM) has
// no "if parallel" of its own.
//
// The owner's state is single-threaded: it is guarded by one lock that the
// owner holds while it handles events, and that a core takes around every
// call out of the interpreter into that state (the interp.Kernel and
// sys.Storage of its processes, and a sys.Global that is not safe for
// concurrent use, wrapped by Locked*). A global memory that is safe for
// concurrent use (mem.LocalGlobal: atomic words) is handed to the cores
// unwrapped, so memory operations, the hot path of a parallel program,
// take no shared lock. Interpreter state is only ever touched by its own
// core: everything the owner asks of a core (add a thread or a process,
// deliver an answer) goes through Do, Place or Complete, which in parallel
// mode queue it for the core's goroutine and wake it. Nothing blocks on
// another core; a core waits only when it has nothing to run and nothing
// queued.
package cores
