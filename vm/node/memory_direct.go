package node

import (
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/cores"
	"github.com/flockvm/flock/vm/sys"
)

// The direct path with parallel cores. A core that runs on a goroutine of
// its own reaches the global pages this machine holds the way a single
// core does (through the memory agent's Table, with atomic word
// operations, no lock, no call), and takes the node's lock only on a miss.
// The agent must then know when a core may be touching a page: each core
// is registered with it (coherence.Core) and brackets every slice it runs
// with Enter and Exit, and the agent completes a revocation (an
// invalidation, a transfer, an eviction) only once every core that was
// inside a slice when the page's access was lowered has left it, so no
// store in flight on another core is missed (docs/memory.md, "Cores").
// The cores' after-slice hook and the driver's Drain poll the agent for
// revocations whose grace period has passed.

// coreRegistrar is a Memory whose pages cores may reach directly.
type coreRegistrar interface {
	NewCore() *coherence.Core
}

// registerDirectCores registers every parallel core with the memory agent
// and brackets its slices, when the agent offers a direct path.
func (n *Node) registerDirectCores() {
	n.directCores = false
	reg, ok := n.mem.(coreRegistrar)
	if !ok || !n.cfg.ParallelCores {
		return
	}
	for i := range n.cores.Len() {
		c := reg.NewCore()
		n.cores.Bracket(i, c.Enter, c.Exit)
	}
	n.directCores = true
}

// tabler is a Global that offers its held pages (coherence.ProcessMemory,
// or a wrapper forwarding them).
type tabler interface {
	Table() *coherence.Table
}

// lockedGlobal is g as a parallel core calls it: every call under the
// node's lock, and, when the cores are registered with the agent, the
// held pages reachable directly. The Table is taken here, under the lock:
// a core must not ask the agent for it.
func (n *Node) lockedGlobal(g sys.Global) sys.Global {
	locked := cores.LockedGlobal(g, &n.mu)
	if !n.directCores {
		return locked
	}
	tg, ok := g.(tabler)
	if !ok {
		return locked
	}
	t := tg.Table()
	if t == nil {
		return locked
	}
	return &directGlobal{Global: locked, table: t}
}

// directGlobal is a locked Global whose held pages the interpreter reaches
// through table (interp.DirectTabler).
type directGlobal struct {
	sys.Global
	table *coherence.Table
}

func (g *directGlobal) Table() *coherence.Table { return g.table }
