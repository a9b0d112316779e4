package node

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/raftkv"
)

var (
	markDeclaredDead  = probe.Declare("node/machine-declared-dead", "a node declared a machine dead when its lease lapsed")
	markSelfDead      = probe.Declare("node/declared-dead-rejoined", "a node found itself declared dead and rejoined as a new incarnation")
	markStaleDropped  = probe.Declare("node/stale-incarnation-dropped", "a message from a dead or superseded incarnation was dropped")
	markJoinSuperseds = probe.Declare("node/rejoined-new-incarnation", "a restarted machine replaced its previous incarnation's membership record")
)

// Membership keys in the metadata store (docs/node.md, "Membership").
const (
	keyMachinePrefix = "m/machine/"
	keyLeasePrefix   = "m/lease/"
	keyLeavePrefix   = "m/leave/"
	keyPIDNext       = "m/pid-next"
	keyProcPrefix    = "p/"
)

func machineKey(id netmodel.NodeID) string {
	return keyMachinePrefix + strconv.FormatUint(uint64(id), 10)
}
func leaseKey(id netmodel.NodeID) string { return keyLeasePrefix + strconv.FormatUint(uint64(id), 10) }
func leaveKey(id netmodel.NodeID) string { return keyLeavePrefix + strconv.FormatUint(uint64(id), 10) }

// machineState is a member's state in its record.
type machineState string

const (
	stateAlive machineState = "alive"
	stateDead  machineState = "dead"
	stateLeft  machineState = "left"
)

// machineRecord is the value of m/machine/<id>.
type machineRecord struct {
	Incarnation uint64
	State       machineState
	Provide     Resources
}

func (r machineRecord) encode() string {
	return fmt.Sprintf("%d %s %s", r.Incarnation, r.State, r.Provide)
}

func parseMachineRecord(s string) (machineRecord, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return machineRecord{}, fmt.Errorf("node: machine record %q", s)
	}
	inc, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil || inc == 0 {
		return machineRecord{}, fmt.Errorf("node: machine record %q: incarnation", s)
	}
	r := machineRecord{Incarnation: inc, State: machineState(f[1])}
	switch r.State {
	case stateAlive, stateDead, stateLeft:
	default:
		return machineRecord{}, fmt.Errorf("node: machine record %q: state", s)
	}
	if len(f) == 3 {
		if r.Provide, err = ParseResources(f[2]); err != nil {
			return machineRecord{}, fmt.Errorf("node: machine record %q: %w", s, err)
		}
	}
	return r, nil
}

// lease is the value of m/lease/<id>: the incarnation renewing it, a
// counter that moves at every renewal, and the load it reports (threads
// and cores), which placement uses.
type lease struct {
	Incarnation, Counter uint64
	Threads, Cores       uint64
}

func (l lease) encode() string {
	return fmt.Sprintf("%d %d %d %d", l.Incarnation, l.Counter, l.Threads, l.Cores)
}

func parseLease(s string) (lease, error) {
	var l lease
	f := strings.Fields(s)
	if len(f) != 4 {
		return l, fmt.Errorf("node: lease %q", s)
	}
	vals := make([]uint64, 4)
	for i := range f {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return l, fmt.Errorf("node: lease %q", s)
		}
		vals[i] = v
	}
	return lease{Incarnation: vals[0], Counter: vals[1], Threads: vals[2], Cores: vals[3]}, nil
}

// member is what this node knows of one machine.
type member struct {
	id       netmodel.NodeID
	rec      machineRecord
	lease    lease
	seenTick uint64 // this node's tick when the lease last moved
	// sentThreads counts threads this node placed there since the last
	// lease it saw, so that placement between polls does not pile up.
	sentThreads uint64
	// leaveInc is the incarnation that asked to leave (m/leave/<id>), a
	// voter waiting to be replaced; 0: none.
	leaveInc uint64
}

// membership is this node's view of the VM's machines, read from the
// metadata store, plus what it decided about incarnations.
type membership struct {
	members map[netmodel.NodeID]*member
	// dead holds, per machine, the highest incarnation known dead (declared
	// dead, or superseded by a newer one): its messages are dropped.
	dead map[netmodel.NodeID]uint64
	// newest holds the newest incarnation heard from per machine.
	newest map[netmodel.NodeID]uint64
}

func newMembership() *membership {
	return &membership{members: map[netmodel.NodeID]*member{}, dead: map[netmodel.NodeID]uint64{}, newest: map[netmodel.NodeID]uint64{}}
}

// sortedIDs lists the members in id order.
func (ms *membership) sortedIDs() []netmodel.NodeID {
	ids := make([]netmodel.NodeID, 0, len(ms.members))
	for id := range ms.members {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// alive lists the alive members in id order.
func (ms *membership) alive() []*member {
	var out []*member
	for _, id := range ms.sortedIDs() {
		if m := ms.members[id]; m.rec.State == stateAlive && ms.dead[id] < m.rec.Incarnation {
			out = append(out, m)
		}
	}
	return out
}

// admits reports whether a message from incarnation inc of machine id is
// to be processed, and remembers the newest incarnation heard.
func (ms *membership) admits(id netmodel.NodeID, inc uint64) bool {
	if inc <= ms.dead[id] || inc < ms.newest[id] {
		markStaleDropped.Hit()
		return false
	}
	ms.newest[id] = inc
	return true
}

// errMembership wraps membership records that do not parse: the store is
// written only by nodes, so this is a bug or corruption worth reporting.
var errMembership = errors.New("node: bad membership record")

// update applies a scan of the m/ prefix. It returns the machines whose
// incarnations are newly known dead (declared, or replaced by a restart).
func (ms *membership) update(pairs []raftkv.KV, nowTick uint64) ([]deadMachine, error) {
	var errs []error
	// Records first (their keys sort after the leases'), then leases.
	for _, kv := range pairs {
		if strings.HasPrefix(kv.Key, keyMachinePrefix) {
			id, err := strconv.ParseUint(kv.Key[len(keyMachinePrefix):], 10, 64)
			rec, err2 := parseMachineRecord(kv.Value)
			if err != nil || err2 != nil || id == 0 {
				errs = append(errs, fmt.Errorf("%w: %s = %q", errMembership, kv.Key, kv.Value))
				continue
			}
			ms.setRecord(netmodel.NodeID(id), rec, nowTick)
		}
	}
	ms.updateLeaves(pairs, &errs)
	for _, kv := range pairs {
		if strings.HasPrefix(kv.Key, keyLeasePrefix) {
			id, err := strconv.ParseUint(kv.Key[len(keyLeasePrefix):], 10, 64)
			l, err2 := parseLease(kv.Value)
			if err != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("%w: %s = %q", errMembership, kv.Key, kv.Value))
				continue
			}
			if m := ms.members[netmodel.NodeID(id)]; m != nil && l.Incarnation == m.rec.Incarnation && l != m.lease {
				m.lease, m.seenTick, m.sentThreads = l, nowTick, 0
			}
		}
	}
	return ms.newlyDead(), errors.Join(errs...)
}

// updateLeaves applies the departure requests of voters (m/leave/<id> =
// the incarnation leaving): a request of an earlier incarnation is over.
func (ms *membership) updateLeaves(pairs []raftkv.KV, errs *[]error) {
	for _, m := range ms.members {
		m.leaveInc = 0
	}
	for _, kv := range pairs {
		if !strings.HasPrefix(kv.Key, keyLeavePrefix) {
			continue
		}
		id, err := strconv.ParseUint(kv.Key[len(keyLeavePrefix):], 10, 64)
		inc, err2 := strconv.ParseUint(kv.Value, 10, 64)
		if err != nil || err2 != nil || id == 0 || inc == 0 {
			*errs = append(*errs, fmt.Errorf("%w: %s = %q", errMembership, kv.Key, kv.Value))
			continue
		}
		if m := ms.members[netmodel.NodeID(id)]; m != nil {
			m.leaveInc = inc
		}
	}
}

func (ms *membership) setRecord(id netmodel.NodeID, rec machineRecord, nowTick uint64) {
	m := ms.members[id]
	if m == nil || m.rec.Incarnation != rec.Incarnation {
		m = &member{id: id, seenTick: nowTick}
		ms.members[id] = m
	}
	m.rec = rec
}

// deadMachine is an incarnation of a machine now known dead.
type deadMachine struct {
	id          netmodel.NodeID
	incarnation uint64
}

// newlyDead marks dead the incarnations the records say are over: a record
// in state dead or left, or a record at a newer incarnation (the machine
// restarted, so every older one is over).
func (ms *membership) newlyDead() []deadMachine {
	var out []deadMachine
	for _, id := range ms.sortedIDs() {
		m := ms.members[id]
		over := m.rec.Incarnation - 1
		if m.rec.State != stateAlive {
			over = m.rec.Incarnation
		}
		if over > ms.dead[id] {
			ms.dead[id] = over
			out = append(out, deadMachine{id: id, incarnation: over})
		}
	}
	return out
}

// expired lists the alive members (other than self) whose lease has not
// moved for expireTicks of this node's ticks.
func (ms *membership) expired(self netmodel.NodeID, nowTick, expireTicks uint64) []*member {
	var out []*member
	for _, m := range ms.alive() {
		if m.id != self && nowTick-m.seenTick >= expireTicks {
			out = append(out, m)
		}
	}
	return out
}

// membershipScanMax bounds one read of the membership: two keys per
// machine (three while a voter leaves), so a VM of up to 330 machines (the
// store's default scan limit).
const membershipScanMax = 1000
