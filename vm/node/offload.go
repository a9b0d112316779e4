package node

import (
	"sync"
	"sync/atomic"
)

// Disk work off the driver's goroutine (Config.Offload): a job runs on the
// host's worker, its completion comes back as an input the node takes at
// its next Drain, under its lock, like a message.

// offloaded is a job's completion waiting for the node.
type offloaded struct {
	inc    uint64 // the incarnation that started the job: a reborn node drops it
	always bool   // run whatever the incarnation (a metadata replica's WAL sync)
	done   func()
}

// offloadQueue holds completions, filled from the worker's goroutine.
type offloadQueue struct {
	mu    sync.Mutex
	ready []offloaded
	// running counts the jobs started and not finished, of every
	// incarnation: a reborn node opens its chunk store only once its old
	// self's writes are on disk, so that the store's scan at open finds
	// them (a file written after the scan would be known to no inventory,
	// its space never reclaimed).
	running atomic.Int64
}

func (q *offloadQueue) push(o offloaded) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ready = append(q.ready, o)
}

func (q *offloadQueue) take() []offloaded {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ready
	q.ready = nil
	return out
}

func (q *offloadQueue) pending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) > 0
}

// diskWorker is the node as the chunk store's dfs.DiskWorker.
type diskWorker struct {
	n   *Node
	inc uint64
}

// Do runs job through Config.Offload; done runs at the node's next Drain.
// The worker's goroutine never takes the node's lock.
func (w diskWorker) Do(job, done func()) { w.through(w.n.cfg.Offload, job, done) }

func (w diskWorker) through(offload func(func()), job, done func()) {
	w.n.offloadJob(offloaded{inc: w.inc, done: done}, offload, job)
}

// offloadJob runs job through offload; its completion c is taken at the
// node's next Drain (c.done runs then, for c's incarnation or always).
func (n *Node) offloadJob(c offloaded, offload func(func()), job func()) {
	n.offload.running.Add(1)
	offload(func() {
		job()
		n.offload.push(c)
		n.offload.running.Add(-1)
		if n.cfg.Wake != nil {
			n.cfg.Wake()
		}
	})
}

// backgroundDiskWorker is a diskWorker with Config.OffloadBackground: a
// dfs.BackgroundWorker.
type backgroundDiskWorker struct{ diskWorker }

// DoBackground is Do through Config.OffloadBackground.
func (w backgroundDiskWorker) DoBackground(job, done func()) {
	w.through(w.n.cfg.OffloadBackground, job, done)
}

// runOffloaded runs the completions that came back (this incarnation's).
func (n *Node) runOffloaded() {
	for _, o := range n.offload.take() {
		if o.always || o.inc == n.inc {
			o.done()
		}
	}
}
