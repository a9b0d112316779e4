package interp

import (
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/sys"
)

// directTable is the hot path to a process's global memory: the Table of
// its pages held on this machine, when its sys.Global is a coherence
// agent's (coherence.ProcessMemory); nil otherwise, and every global
// access takes the slow path. A Global wrapped for another purpose (locked
// for parallel cores, recorded by a checker) has no hot path: the wrapper
// must see every operation.
//
// exec reaches held pages through a coherence.TLB on its stack (cleared at
// every entry, refilled from the Table on a miss): a LOAD, STORE, FAA or CAS
// of a held global word costs about what a thread-local access does, with
// no message and no interface call. Cores that run on goroutines of their
// own must each register with the agent and bracket their quanta with
// Core.Enter and Exit before they may use a Table (see coherence.Core).
func directTable(g sys.Global) *coherence.Table {
	if pm, ok := g.(*coherence.ProcessMemory); ok {
		return pm.Table()
	}
	return nil
}
