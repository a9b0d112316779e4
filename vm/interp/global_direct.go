package interp

import (
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// directTable is the hot path to a process's global memory: the Table of
// its pages held on this machine, when its sys.Global is a coherence
// agent's (coherence.ProcessMemory) or a wrapper that needs to see only the
// misses and says so by forwarding the Table (DirectTabler); nil otherwise,
// and every global access takes the slow path. A Global wrapped to see
// every operation (locked for parallel cores, recorded by a checker) has
// no hot path.
//
// exec reaches held pages through a coherence.TLB on its stack (cleared at
// every entry, refilled from the Table on a miss): a LOAD, STORE, FAA or CAS
// of a held global word costs about what a thread-local access does, with
// no message and no interface call. Cores that run on goroutines of their
// own must each register with the agent and bracket their quanta with
// Core.Enter and Exit before they may use a Table (see coherence.Core).
func directTable(g sys.Global) *coherence.Table {
	if d, ok := g.(DirectTabler); ok {
		return d.Table()
	}
	return nil
}

// DirectTabler is a sys.Global whose held pages the interpreter may reach
// directly (hits never call it; misses do).
type DirectTabler interface {
	sys.Global
	Table() *coherence.Table
}

// directPages is the other hot path: the page store of a process whose
// global memory is all on this machine (mem.LocalGlobal, the embedded VM's),
// reached with atomic word operations and no lock, so parallel cores share
// it at the speed of local memory; nil when g is anything else (or wraps a
// LocalGlobal without forwarding DirectPager).
func directPages(g sys.Global) *mem.GlobalPages {
	if d, ok := g.(DirectPager); ok {
		return d.Pages()
	}
	return nil
}

// DirectPager is a sys.Global whose words the interpreter may reach
// directly in a mem.GlobalPages; what the store does not hold (unmapped,
// misaligned) goes to the sys.Global's methods.
type DirectPager interface {
	sys.Global
	Pages() *mem.GlobalPages
}
