package proc

import (
	"container/heap"
	"math/rand/v2"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/sys"
)

// delayer is a fake backend layer that makes every answer come later: it
// holds each reply for a seeded random number of ticks of the driver loop,
// then hands it to the machine. It stands in for the network of a
// distributed VM.
type delayer struct {
	m        *interp.Machine
	rnd      *rand.Rand
	now      int
	seq      int
	delayMax int
	held     []held
	answered int // replies that came later
}

type held struct {
	due, seq int
	id       sys.ReqID
	r        sys.Reply
}

func newDelayer(m *interp.Machine, seed uint64, delayMax int) *delayer {
	return &delayer{m: m, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), delayMax: delayMax}
}

// Complete receives answers that inner backends give later (waits, joins)
// and delays them too.
func (d *delayer) Complete(id sys.ReqID, r sys.Reply) { d.hold(id, r) }

func (d *delayer) hold(id sys.ReqID, r sys.Reply) {
	d.seq++
	heap.Push((*heldQueue)(&d.held), held{due: d.now + d.rnd.IntN(d.delayMax+1), seq: d.seq, id: id, r: r})
}

// heldQueue orders held answers by (due, seq).
type heldQueue []held

func (q heldQueue) Len() int { return len(q) }
func (q heldQueue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].seq < q[j].seq
}
func (q heldQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *heldQueue) Push(x any)   { *q = append(*q, x.(held)) }
func (q *heldQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// later turns an answer given now into one given later.
func (d *delayer) later(c sys.Caller, r sys.Reply, now bool) (sys.Reply, bool) {
	if now {
		d.hold(c.Req, r)
	}
	return sys.Reply{}, false
}

// tick advances time by one and delivers what is due, in (due, seq) order;
// it reports whether answers are still held.
func (d *delayer) tick() bool {
	d.now++
	q := (*heldQueue)(&d.held)
	var due []held
	for q.Len() > 0 && d.held[0].due <= d.now {
		due = append(due, heap.Pop(q).(held))
	}
	for _, h := range due {
		d.answered++
		d.m.Complete(h.id, h.r)
	}
	return len(d.held) > 0
}

// wrap makes every backend of p answer later through d.
func (d *delayer) wrap(p *interp.Process) {
	p.Global = &laterGlobal{p.Global, d}
	p.Storage = &laterStorage{p.Storage, d}
	p.Kernel = &laterKernel{p.Kernel, d}
}

type laterGlobal struct {
	g sys.Global
	d *delayer
}

func (l *laterGlobal) Alloc(c sys.Caller, n uint64) (sys.Reply, bool) {
	r, ok := l.g.Alloc(c, n)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Free(c sys.Caller, a uint64) (sys.Reply, bool) {
	r, ok := l.g.Free(c, a)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Load(c sys.Caller, a uint64, w uint8) (sys.Reply, bool) {
	r, ok := l.g.Load(c, a, w)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Store(c sys.Caller, a uint64, w uint8, v uint64) (sys.Reply, bool) {
	r, ok := l.g.Store(c, a, w, v)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) CAS(c sys.Caller, a, e, n uint64) (sys.Reply, bool) {
	r, ok := l.g.CAS(c, a, e, n)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) FetchAdd(c sys.Caller, a, d uint64) (sys.Reply, bool) {
	r, ok := l.g.FetchAdd(c, a, d)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Fence(c sys.Caller) (sys.Reply, bool) {
	r, ok := l.g.Fence(c)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) ReadBytes(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	r, ok := l.g.ReadBytes(c, a, n)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) WriteBytes(c sys.Caller, a uint64, b []byte) (sys.Reply, bool) {
	r, ok := l.g.WriteBytes(c, a, b)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Wait(c sys.Caller, a, e uint64) (sys.Reply, bool) {
	r, ok := l.g.Wait(c, a, e)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Wake(c sys.Caller, a, n uint64) (sys.Reply, bool) {
	r, ok := l.g.Wake(c, a, n)
	return l.d.later(c, r, ok)
}
func (l *laterGlobal) Release(pid uint64) { l.g.Release(pid) }

type laterStorage struct {
	s sys.Storage
	d *delayer
}

func (l *laterStorage) Open(c sys.Caller, p string, m sys.OpenMode) (sys.Reply, bool) {
	r, ok := l.s.Open(c, p, m)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Close(c sys.Caller, fd uint64) (sys.Reply, bool) {
	r, ok := l.s.Close(c, fd)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Read(c sys.Caller, fd, off, n uint64) (sys.Reply, bool) {
	r, ok := l.s.Read(c, fd, off, n)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Write(c sys.Caller, fd, off uint64, b []byte) (sys.Reply, bool) {
	r, ok := l.s.Write(c, fd, off, b)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Size(c sys.Caller, fd uint64) (sys.Reply, bool) {
	r, ok := l.s.Size(c, fd)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) List(c sys.Caller, p string) (sys.Reply, bool) {
	r, ok := l.s.List(c, p)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Remove(c sys.Caller, p string) (sys.Reply, bool) {
	r, ok := l.s.Remove(c, p)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Mkdir(c sys.Caller, p string) (sys.Reply, bool) {
	r, ok := l.s.Mkdir(c, p)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Rename(c sys.Caller, a, b string) (sys.Reply, bool) {
	r, ok := l.s.Rename(c, a, b)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) GetAttr(c sys.Caller, p string) (sys.Reply, bool) {
	r, ok := l.s.GetAttr(c, p)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) SetAttr(c sys.Caller, p string, ch sys.AttrChange) (sys.Reply, bool) {
	r, ok := l.s.SetAttr(c, p, ch)
	return l.d.later(c, r, ok)
}
func (l *laterStorage) Release(pid uint64) { l.s.Release(pid) }

type laterKernel struct {
	k interp.Kernel
	d *delayer
}

func (l *laterKernel) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	r, ok := l.k.Spawn(c, img)
	return l.d.later(c, r, ok)
}
func (l *laterKernel) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	r, ok := l.k.Join(c, tid)
	return l.d.later(c, r, ok)
}
func (l *laterKernel) StartProcess(c sys.Caller, p string, a []string) (sys.Reply, bool) {
	r, ok := l.k.StartProcess(c, p, a)
	return l.d.later(c, r, ok)
}
func (l *laterKernel) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	r, ok := l.k.WaitProcs(c, pids)
	return l.d.later(c, r, ok)
}
func (l *laterKernel) Output(c sys.Caller, b []byte) (sys.Reply, bool) {
	r, ok := l.k.Output(c, b)
	return l.d.later(c, r, ok)
}
func (l *laterKernel) ThreadExited(pid, tid, v uint64)         { l.k.ThreadExited(pid, tid, v) }
func (l *laterKernel) Exit(pid, tid, s uint64)                 { l.k.Exit(pid, tid, s) }
func (l *laterKernel) Trapped(pid uint64, t *interp.TrapError) { l.k.Trapped(pid, t) }
