// Package coherence is Flock's global memory across machines: one Agent per
// machine keeps the global memories of the processes that may run there
// coherent with every other machine's, so that each aligned word is a
// linearizable atomic register wherever its readers and writers run
// (DESIGN §9; the protocol is docs/memory.md).
//
// An Agent is a sans-IO state machine in etcd raft's RawNode style. Its
// inputs are thread operations (Global(pid) is a sys.Global), messages
// (Receive), ticks at a fixed period (Tick) and membership news
// (MachineDown); its outputs are messages, sent through the
// netmodel.Transport of its Config inside those calls, and the answers to
// operations that parked, delivered through the sys.Completer of its Config
// at the end of the call that produced them (never inside the call that
// parked the operation). It starts no goroutine, reads no clock and draws
// randomness only from Config.Rand.
//
// Pages have a home fixed by their address: region r of a process (address
// bits 40 and up) lives on homes[r], given to AddProcess. The home keeps the
// page's directory entry and master copy; other machines cache copies under
// a single-writer / multiple-reader protocol with invalidation, forwarding
// and per-page epochs that make stale data detectable. Atomics run where the
// page is writable, or, for pages that keep moving, are delegated to the
// home and batched. Lost machines lose exactly the pages only they held;
// every operation on such a page answers sys.TrapLost naming the machine.
//
// The hot path: a process's pages held on this machine are reachable without
// the Agent through its Table (ProcessMemory.Table, Agent.Table) and a
// per-core TLB, whose Load64, Store64, CompareAndSwap and FetchAdd are
// small enough to be inlined into the interpreter's dispatch loop: a few
// dependent loads and an atomic instruction when the page is held, a miss
// otherwise (the slow path is sys.Global). Several interpreter cores may use
// one Table at once; cores on goroutines of their own each register a Core
// and bracket their quanta with Enter and Exit, which lets the Agent revoke
// access without a core missing it. Everything else (every method of Agent
// and of ProcessMemory) runs on the one goroutine that drives the Agent.
//
// Proof: golden protocol traces (testdata/interaction, one per race of
// docs/memory.md), rapid cross-checks against one plain memory and for
// linearizability under loss, duplication, reordering, eviction and
// crashes, fuzz targets for every decoder, the planted Bugs, and the
// simulator's mem scenario.
package coherence
