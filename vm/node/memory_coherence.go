package node

import (
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/mem"
)

// CoherenceMemory makes every incarnation's memory agent from base (its
// limits, policy and planted bugs); the node fills in who it is, its
// transport, completer and random stream. RAM the machine provides bounds
// the agent: half for pages homed here, half for cached copies.
func CoherenceMemory(base coherence.Config) func(MemoryConfig) (Memory, error) {
	return func(mc MemoryConfig) (Memory, error) {
		cfg := base
		cfg.Self, cfg.Incarnation, cfg.Transport, cfg.Completer, cfg.Rand = mc.Self, mc.Incarnation, mc.Transport, mc.Completer, mc.Rand
		if cfg.Record == nil {
			cfg.Record = mc.Record
		}
		if mc.RAMBytes > 0 {
			if cfg.HomeBytesMax == 0 {
				cfg.HomeBytesMax = mc.RAMBytes / 2
			}
			if cfg.CacheBytesMax == 0 {
				cfg.CacheBytesMax = mc.RAMBytes / 2
			}
		}
		a, err := coherence.New(cfg)
		if err != nil {
			return nil, err
		}
		return &coherenceMemory{Agent: a}, nil
	}
}

// coherenceMemory is a coherence.Agent as the node's Memory.
type coherenceMemory struct{ *coherence.Agent }

func (m *coherenceMemory) AddProcess(pid uint64, span []netmodel.NodeID, incarnations []uint64, _ *mem.Account) error {
	return m.Agent.AddProcess(pid, span, coherence.ProcessOptions{HomeIncarnations: incarnations})
}

// MemoryStats is the coherence agent's counters (page hits on its slow
// path, misses, invalidations, delegation, losses); ok is false if the
// node's Memory is not a coherence agent.
func (n *Node) MemoryStats() (coherence.Stats, bool) {
	defer n.enter()()
	m, ok := n.mem.(interface{ Stats() coherence.Stats })
	if !ok {
		return coherence.Stats{}, false
	}
	return m.Stats(), true
}
