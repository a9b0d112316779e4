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
// the Agent through its Table (Agent.Table), whose Load64, Store64,
// CompareAndSwap and FetchAdd cost a few dependent loads and an atomic
// instruction when the page is held, and report a miss otherwise. Several
// interpreter cores may use one Table at once; each registers a Core and
// brackets its quanta with Enter and Exit, which lets the Agent revoke access
// without a core missing it. Everything else (every method of Agent and of
// the sys.Global it returns) runs on the one goroutine that drives the
// Agent.
package coherence
