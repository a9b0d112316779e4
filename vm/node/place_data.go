package node

import (
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
)

// Placement that prefers the data (docs/node.md, "Placement"): a spawned
// thread goes where the global memory it will use is homed, when that
// machine has room; otherwise the load decides (place). The hint is cheap:
// the home of a global address is a function of the span and the address
// (a region per span member), so a spawn argument that is a global address
// names the machine at once; without one, the machine most of the
// spawner's recent misses went to (the migration window) is the hint.

var markPlacedByData = probe.Declare("node/placed-by-data", "a spawned thread was placed on another machine because its data is homed there")

// placeSpawn picks the machine for a thread spawned by thread spawner of p.
func (n *Node) placeSpawn(p *procHere, spawner uint64, img *interp.ThreadImage) netmodel.NodeID {
	target := n.place(p)
	if i, ok := n.dataHint(p, spawner, img); ok {
		switch id := p.span[i]; {
		case id == n.cfg.ID:
			if n.roomHere() {
				n.unnoteSent(target)
				target = id
			}
		case n.memberHasRoom(p, i):
			if id != target {
				markPlacedByData.Hit()
				n.unnoteSent(target)
				n.noteSent(id)
				target = id
			}
		}
	}
	if target != n.cfg.ID && !n.pinRoom() && bigLocal(img.Local) {
		// Its local memory would travel whole: it stays with it.
		markLocalPinsFull.Hit()
		n.unnoteSent(target)
		target = n.cfg.ID
	}
	return target
}

// dataHint is the span index of the machine homing the data the new
// thread will use, if known.
func (n *Node) dataHint(p *procHere, spawner uint64, img *interp.ThreadImage) (int, bool) {
	if len(img.Stack) > 0 && img.Stack[0]&isa.GlobalBit != 0 {
		region := (img.Stack[0] &^ isa.GlobalBit) >> coherence.RegionShift
		if region < uint64(len(p.span)) {
			return int(region), true
		}
	}
	w := n.misses[threadKey{p.pid, spawner}]
	if w == nil || w.total < uint32(max(n.cfg.MigrateMissesMin, 1)) {
		return 0, false
	}
	region, most := -1, uint32(0)
	for r, c := range w.byHome {
		if c > most || (c == most && r < region) {
			region, most = r, c
		}
	}
	if region < 0 || region >= len(p.span) || most*4 < w.total*3 {
		return 0, false
	}
	return region, true
}

// roomHere reports whether this node's cores take another thread before
// it spreads them.
func (n *Node) roomHere() bool {
	return n.Threads() < n.cores.Len()*n.cfg.PlaceLocalPerCore
}

// memberHasRoom reports whether span member i takes another thread: alive,
// with cores, under the per-core threshold.
func (n *Node) memberHasRoom(p *procHere, i int) bool {
	load, ok := n.memberLoad(p, i)
	return ok && load < float64(n.cfg.PlaceLocalPerCore)
}

// unnoteSent undoes noteSent for a placement changed before it was used.
func (n *Node) unnoteSent(to netmodel.NodeID) {
	if m := n.ms.members[to]; to != n.cfg.ID && m != nil && m.sentThreads > 0 {
		m.sentThreads--
	}
}
