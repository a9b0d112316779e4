package node

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/raftkv"
)

var (
	markMetaReopened = probe.Declare("node/meta-replica-reopened", "the metadata replica was reopened after a disk error")
	markMetaFailStop = probe.Declare("node/meta-replica-fail-stop", "the metadata replica found its persisted state corrupt and stopped for good")
)

// metaReplica is this node's replica of the metadata store, supervised as
// an operator-less production machine would: reopened after a disk error
// (a process restart over the same disk), stopped for good when its
// persisted state is corrupt (serving again could lose acknowledged data).
type metaReplica struct {
	cfg      raftkv.Config
	srv      *raftkv.Server
	reopens  int
	failStop error
	record   func(format string, args ...any)
	opened   func() // after every successful open
	diskFull func() // the replica failed, or could not open, for a full disk
}

func newMetaReplica(cfg raftkv.Config, record func(string, ...any), opened, diskFull func()) *metaReplica {
	r := &metaReplica{cfg: cfg, record: record, opened: opened, diskFull: diskFull}
	r.open()
	return r
}

func (r *metaReplica) open() {
	srv, err := raftkv.Open(r.cfg)
	switch {
	case err == nil:
		r.srv = srv
		r.opened()
	case errors.Is(err, raftkv.ErrCorrupt):
		r.stop(err)
	default:
		// A transient disk error (read error, full disk): try again at the
		// next tick.
		r.record("meta: open failed: %v", err)
		if errors.Is(err, diskmodel.ErrNoSpace) {
			r.diskFull()
		}
	}
}

func (r *metaReplica) stop(err error) {
	r.failStop = err
	markMetaFailStop.Hit()
	r.record("meta: fail-stop: %v", err)
}

func (r *metaReplica) tick() {
	if r.failStop != nil {
		return
	}
	if r.srv != nil && r.srv.Err() != nil {
		err := r.srv.Err()
		_ = r.srv.Close()
		r.srv = nil
		if errors.Is(err, raftkv.ErrCorrupt) {
			r.stop(err)
			return
		}
		r.record("meta: server failed: %v", err)
		if errors.Is(err, diskmodel.ErrNoSpace) {
			r.diskFull()
		}
		r.reopens++
		markMetaReopened.Hit()
	}
	if r.srv == nil {
		r.open()
	}
	if r.srv != nil {
		r.srv.Tick()
	}
}

// receive hands the replica a message; if stepOnly, raft's output for it
// waits for flush (group commit).
func (r *metaReplica) receive(from uint64, payload []byte, stepOnly bool) {
	switch {
	case r.srv == nil:
	case stepOnly:
		r.srv.Step(nodeID(from), payload)
	default:
		r.srv.Receive(nodeID(from), payload)
	}
}

func (r *metaReplica) flush() {
	if r.srv != nil {
		r.srv.Flush()
	}
}

func (r *metaReplica) close() {
	if r.srv != nil {
		_ = r.srv.Close()
		r.srv = nil
	}
}

// metaOp is one metadata operation waiting for the node's client.
type metaOp struct {
	name  string
	start func(c *raftkv.Client, done func(raftkv.Result)) error
	done  func(raftkv.Result)
}

// metaQueue runs metadata operations one at a time on the node's one
// raftkv client (a client has one operation in flight), urgent ones
// (membership: leases, declarations) before the others.
type metaQueue struct {
	c       *raftkv.Client
	urgent  []*metaOp
	normal  []*metaOp
	max     int
	running *metaOp
	// urgentStreak counts urgent operations run in a row while others
	// waited (metaUrgentStreakMax).
	urgentStreak int
}

// metaUrgentStreakMax urgent operations in a row, then a waiting normal
// one runs: membership's periodic work (leases, polls, reads of the
// members) comes due faster than a slow store serves it, and a pid block
// queued behind it waited for good (the vm sweep, a 1-voter store on
// 3 ms links: a process never started). One normal operation delays a
// lease by one round of the store.
const metaUrgentStreakMax = 3

// errMetaQueueFull: too many metadata operations wait; the caller fails
// its request (it is retried by whoever asked, or reported).
var errMetaQueueFull = errors.New("node: metadata queue full")

func (q *metaQueue) push(op *metaOp, urgent bool) error {
	if len(q.urgent)+len(q.normal) >= q.max {
		return errMetaQueueFull
	}
	if urgent {
		q.urgent = append(q.urgent, op)
	} else {
		q.normal = append(q.normal, op)
	}
	q.next()
	return nil
}

// pendingNamed reports whether an operation of that name waits or runs.
func (q *metaQueue) pendingNamed(name string) bool {
	if q.running != nil && q.running.name == name {
		return true
	}
	for _, l := range [][]*metaOp{q.urgent, q.normal} {
		for _, op := range l {
			if op.name == name {
				return true
			}
		}
	}
	return false
}

func (q *metaQueue) next() {
	for q.running == nil && !q.c.Busy() {
		var op *metaOp
		switch {
		case len(q.urgent) > 0 && (len(q.normal) == 0 || q.urgentStreak < metaUrgentStreakMax):
			op, q.urgent = q.urgent[0], q.urgent[1:]
			q.urgentStreak++
		case len(q.normal) > 0:
			op, q.normal = q.normal[0], q.normal[1:]
			q.urgentStreak = 0
		default:
			return
		}
		q.running = op
		err := op.start(q.c, func(res raftkv.Result) {
			q.running = nil
			op.done(res)
			q.next()
		})
		if err != nil {
			q.running = nil
			op.done(raftkv.Result{Err: fmt.Errorf("node: metadata %s: %w", op.name, err)})
		}
	}
}

func (q *metaQueue) len() int { return len(q.urgent) + len(q.normal) }
