package node

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/flockvm/flock/vm/raftkv"
)

// join writes this incarnation's membership record: a CAS over whatever
// record an earlier incarnation left, so two incarnations never both count
// as alive.
func (n *Node) join() {
	key := machineKey(n.cfg.ID)
	rec := machineRecord{Incarnation: n.inc, State: stateAlive, Provide: n.cfg.Provide}
	n.pushMeta("join", true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Get(key, done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed("join", res.Err)
				return
			}
			if res.Found {
				old, err := parseMachineRecord(res.Value)
				switch {
				case err == nil && old.Incarnation == n.inc && old.State == stateAlive:
					// An earlier attempt of this join applied; its answer
					// was lost.
					n.joined = true
					n.renewLease()
					return
				case err == nil && old.Incarnation == n.inc:
					n.rebirth() // declared dead before it heard it had joined
					return
				case err == nil && old.Incarnation > n.inc:
					n.failure = fmt.Errorf("%w: the membership record names incarnation %d, this start drew %d", ErrCorrupt, old.Incarnation, n.inc)
					return
				}
				markJoinSuperseds.Hit()
			}
			n.pushMeta("join", true, func(c *raftkv.Client, done func(raftkv.Result)) error {
				return c.CAS(key, res.Value, res.Found, rec.encode(), done)
			}, func(res raftkv.Result) {
				if res.Err != nil || !res.Swapped {
					n.metaFailed("join", res.Err)
					return
				}
				n.joined = true
				n.cfg.Record("joined as incarnation %d", n.inc)
				n.renewLease()
			})
		})
}

// pushMeta queues a metadata operation; a full queue fails it at once.
func (n *Node) pushMeta(name string, urgent bool, start func(*raftkv.Client, func(raftkv.Result)) error, done func(raftkv.Result)) {
	if err := n.mq.push(&metaOp{name: name, start: start, done: done}, urgent); err != nil {
		n.later(func() { done(raftkv.Result{Err: err}) })
	}
}

// MetaOp runs an operation of the host's (the issuer's records) on the
// node's metadata client, behind the node's own: start begins it on the
// client; done gets its result, later, on the goroutine that drives the
// node, under its lock. A node reborn meanwhile never calls done: the
// caller bounds its wait.
func (n *Node) MetaOp(name string, start func(*raftkv.Client, func(raftkv.Result)) error, done func(raftkv.Result)) {
	defer n.enter()()
	n.pushMeta("host-"+name, false, start, done)
}

// metaFailed notes a metadata operation that did not succeed; whoever
// needs it tries again at a later tick.
func (n *Node) metaFailed(what string, err error) {
	n.stats.MetaErrors++
	if err != nil && !errors.Is(err, raftkv.ErrUnavailable) && !errors.Is(err, raftkv.ErrUnknownOutcome) {
		n.cfg.Record("meta %s: %v", what, err)
	}
}

// leaseCounter moves at every renewal of this incarnation's lease.
func (n *Node) renewLease() {
	if n.mq.pendingNamed("lease") {
		return
	}
	n.leaseCount++
	l := lease{Incarnation: n.inc, Counter: n.leaseCount, Threads: uint64(n.Threads()), Cores: uint64(n.cores.Len())}
	key := leaseKey(n.cfg.ID)
	n.pushMeta("lease", true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, l.encode(), done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed("lease", res.Err)
			}
		})
}

// tickMembership keeps the node's membership: join until joined, renew the
// lease, read everyone's records, declare lapsed machines dead.
func (n *Node) tickMembership() {
	if n.ticks%n.cfg.MembershipPollTicks == 0 {
		n.followLocalReplica() // at the polls' pace: a Status is not free
	}
	if !n.joined {
		if !n.mq.pendingNamed("join") && n.ticks%n.cfg.MembershipPollTicks == 0 {
			n.join()
		}
		return
	}
	if n.ticks%n.cfg.LeaseRenewTicks == 0 {
		n.renewLease()
	}
	if n.ticks%n.cfg.MembershipPollTicks == 0 && !n.mq.pendingNamed("poll") {
		n.pushMeta("poll", true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Scan("m/", membershipScanMax, done) },
			func(res raftkv.Result) {
				if res.Err != nil {
					n.metaFailed("poll", res.Err)
					return
				}
				n.applyMembership(res.Pairs)
				n.readConf()
			})
	}
	n.tickVoterLeave()
	n.tickReplicaHealth()
	n.expireUncommitted()
}

// applyMembership acts on a fresh read of the membership.
func (n *Node) applyMembership(pairs []raftkv.KV) {
	dead, err := n.ms.update(pairs, n.ticks)
	if err != nil {
		n.stats.MembershipRecordsRejected++
		n.cfg.Record("membership: %v", err)
	}
	if me := n.ms.members[n.cfg.ID]; me != nil && me.rec.Incarnation == n.inc && me.rec.State != stateAlive {
		n.rebirth()
		return
	}
	for _, d := range dead {
		if d.id == n.cfg.ID {
			continue
		}
		n.stats.MachinesDeclaredDead++
		n.machineDown(d.id, d.incarnation)
	}
	for _, m := range n.ms.expired(n.cfg.ID, n.ticks, n.cfg.LeaseExpireTicks) {
		n.declareDead(m)
	}
}

// declareDead moves a lapsed machine's record from alive to dead at the
// incarnation this node saw lapse. The CAS makes the declaration happen
// once, whoever notices first; every node acts on it when its poll reads
// it.
func (n *Node) declareDead(m *member) {
	name := "declare-" + strconv.FormatUint(uint64(m.id), 10)
	if n.mq.pendingNamed(name) {
		return
	}
	old := m.rec
	dead := old
	dead.State = stateDead
	key := machineKey(m.id)
	n.pushMeta(name, true, func(c *raftkv.Client, done func(raftkv.Result)) error {
		return c.CAS(key, old.encode(), true, dead.encode(), done)
	}, func(res raftkv.Result) {
		if res.Err != nil {
			n.metaFailed(name, res.Err)
			return
		}
		if res.Swapped {
			markDeclaredDead.Hit()
			n.cfg.Record("declared machine %v incarnation %d dead", m.id, old.Incarnation)
		}
	})
}

// rebirth: this incarnation was declared dead (its lease lapsed while it
// was cut off or paused). It is never trusted again; the node drops
// everything it held and starts over as a new incarnation.
func (n *Node) rebirth() {
	markSelfDead.Hit()
	n.stats.Rejoins++
	n.cfg.Record("declared dead at incarnation %d: rejoining", n.inc)
	for _, pid := range n.table.PIDs() {
		if j, ok := n.jobs[pid]; ok {
			st := lostHere(pid, n.cfg.ID, n.inc)
			n.later(func() { j.done(pid, st) })
		}
	}
	// Starts still waiting for a pid or for the span's answers fail: the
	// new incarnation knows nothing of them, and their callers must hear.
	lost := fmt.Errorf("node %v: incarnation %d declared dead before the process started", n.cfg.ID, n.inc)
	for _, cb := range n.pidWaiters {
		n.later(func() { cb(0, lost) })
	}
	for _, pid := range sortedKeys(n.starting) {
		sp := n.starting[pid]
		n.later(func() { sp.done(0, lost) })
	}
	if n.meta != nil {
		n.meta.close()
		n.meta = nil
	}
	if err := n.boot(); err != nil {
		// The node stops for good (a corrupt incarnation file, say), and
		// a stopped node drains nothing: the answers queued above are
		// given now, or their callers would wait forever (the vm sweep:
		// bit rot on the incarnation file, a job homed there never heard).
		n.failure = err
		deferred := n.deferred
		n.deferred = nil
		for _, fn := range deferred {
			fn()
		}
	}
}

// expireUncommitted forgets processes prepared here whose home never
// committed them (it started them without this node).
func (n *Node) expireUncommitted() {
	for _, pid := range sortedKeys(n.procs) {
		if p := n.procs[pid]; !p.committed && n.ticks-p.prepared > 10*n.cfg.PrepareTicksMax {
			delete(n.procs, pid)
		}
	}
}

// reservePIDBlock takes the next PIDBlock pids from the metadata store.
func (n *Node) reservePIDBlock() {
	if n.mq.pendingNamed("pid-block") || !n.joined {
		return
	}
	n.pushMeta("pid-block", false, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Get(keyPIDNext, done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed("pid-block", res.Err)
				return
			}
			start := uint64(1)
			if res.Found {
				v, err := strconv.ParseUint(res.Value, 10, 64)
				if err != nil || v == 0 {
					n.failure = fmt.Errorf("%w: %s = %q", errMembership, keyPIDNext, res.Value)
					return
				}
				start = v
			}
			end := start + n.cfg.PIDBlock
			n.pushMeta("pid-block", false, func(c *raftkv.Client, done func(raftkv.Result)) error {
				return c.CAS(keyPIDNext, res.Value, res.Found, strconv.FormatUint(end, 10), done)
			}, func(res raftkv.Result) {
				if res.Err != nil || !res.Swapped {
					n.metaFailed("pid-block", res.Err)
					return
				}
				n.pidNext, n.pidEnd = start, end
				n.servePIDs()
			})
		})
}

// tickPIDs retries a pid reservation that failed.
func (n *Node) tickPIDs() {
	if len(n.pidWaiters) > 0 && n.ticks%n.cfg.MembershipPollTicks == 0 {
		n.reservePIDBlock()
	}
}
