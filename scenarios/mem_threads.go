package scenarios

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/sys"
)

// memLayout is the process's global memory as the workload uses it,
// allocated by each home at its first start.
type memLayout struct {
	allocated int      // homes that allocated their block
	hot       []uint64 // words on one hot page: load, store, CAS, fetch-add
	cold      []uint64 // words on cold pages: load, store, CAS (unique values)
	pairs     []uint64 // first words of adjacent pairs that bulk operations cover
	counters  []uint64 // fetch-add only
	misc      []uint64 // each home's misc page
	fenceData []uint64 // pair i's data and flag; thread 0 of machine i writes them
	fenceFlag []uint64
	waitWords []uint64
	byteWords []uint64 // words accessed bytewise only
}

// Offsets in a home's misc page.
const (
	memCounterOff  = 0
	memCounter2Off = 64
	memDataOff     = 128
	memFlagOff     = 192
	memWaitOff     = 256
	memBytesOff    = 320
)

// allocate reserves the home's block: a hot (home 0) or ordinary first
// page, cold pages, and the misc page. A home allocates locally, so the
// answers come at once.
func (mm *memMachine) allocate() {
	r := mm.run
	page := uint64(r.shape.pageBytes)
	pages := uint64(r.shape.coldPages + 2)
	c := sys.Caller{PID: memPID, Req: sys.ReqID{Machine: uint64(mm.id), Incarnation: uint32(mm.inc), Seq: mm.nextSeq()}}
	rep, now := mm.agent.Global(memPID).Alloc(c, pages*page)
	if !now || rep.Trap != sys.TrapNone {
		panic(fmt.Sprintf("scenarios: mem: the home %v could not allocate its block: %+v (answered at once: %v)", mm.id, rep, now))
	}
	b := rep.Val
	l := &r.layout
	if mm.index == 0 {
		l.hot = append(l.hot, b, b+8, b+16, b+24)
		l.pairs = append(l.pairs, b, b+16)
	} else {
		l.cold = append(l.cold, b, b+8)
		l.pairs = append(l.pairs, b)
	}
	for k := uint64(1); k <= uint64(r.shape.coldPages); k++ {
		p := b + k*page
		l.cold = append(l.cold, p, p+8, p+page-8)
		l.pairs = append(l.pairs, p)
		if k < uint64(r.shape.coldPages) {
			l.pairs = append(l.pairs, p+page-8) // and the next page's first word
		}
	}
	m := b + (pages-1)*page
	l.misc = append(l.misc, m)
	l.counters = append(l.counters, m+memCounterOff, m+memCounter2Off)
	l.waitWords = append(l.waitWords, m+memWaitOff)
	l.byteWords = append(l.byteWords, m+memBytesOff)
	l.allocated++
	if l.allocated == r.shape.machines {
		n := len(l.misc)
		for i := range n {
			l.fenceData = append(l.fenceData, l.misc[(i+1)%n]+memDataOff)
			l.fenceFlag = append(l.fenceFlag, l.misc[(i+2)%n]+memFlagOff)
		}
		for _, w := range append(append(append([]uint64(nil), l.cold...), l.fenceData...), append(l.fenceFlag, l.waitWords...)...) {
			r.obs.written[w] = map[uint64]bool{0: true}
		}
		for _, ctr := range l.counters {
			r.obs.counter[ctr] = &memCounter{}
		}
		for _, w := range l.waitWords {
			r.obs.waits[w] = &memWaitCount{}
		}
	}
}

// memMachine is one machine: its agent and threads, for its current
// incarnation.
type memMachine struct {
	run          *memRun
	id           netmodel.NodeID
	index        int
	m            *sim.Machine
	inc          uint64
	agent        *coherence.Agent
	threads      []*memThread
	waker        *memThread // the liveness phase's waker
	pending      map[sys.ReqID]*memThread
	seq          uint64
	issued       [][]*memOp // the threads' requests of every incarnation, by seq (memRun.issuedOp)
	reporting    uint64     // the last incarnation membership is reporting
	crashesNoted uint64     // incarnations whose end noteCrash recorded
	rngs         *rand.Rand
	tickFn       func() // mm.tick, made once
}

// tickLater schedules the machine's next tick.
func (mm *memMachine) tickLater() {
	if mm.tickFn == nil {
		mm.tickFn = mm.tick
	}
	mm.m.After(memTick, "mem.tick", mm.tickFn)
}

func (mm *memMachine) nextSeq() uint64 { mm.seq++; return mm.seq }

// rng is membership's stream for this machine (apart from the machine's).
func (mm *memMachine) rng() *rand.Rand {
	if mm.rngs == nil {
		mm.rngs = sim.Stream(mm.run.opts.Seed, "mem.membership", uint64(mm.id))
	}
	return mm.rngs
}

// boot starts an incarnation: a fresh agent, the process added with the
// homes' incarnations at its start (all 1), and new threads; what the
// previous incarnation's threads had in flight is now unknown.
func (mm *memMachine) boot(m *sim.Machine) netmodel.Receiver {
	r := mm.run
	if m.Incarnation() > 1 {
		r.noteCrash(mm, m.Incarnation()-1)
	}
	mm.m, mm.inc, mm.seq, mm.pending = m, m.Incarnation(), 0, map[sys.ReqID]*memThread{}
	for _, t := range mm.threads {
		t.abandon()
	}
	if mm.waker != nil {
		mm.waker.abandon()
		mm.waker = nil
	}
	cfg := r.lim.config(r.shape.pageBytes)
	var transport netmodel.Transport = m
	if r.opts.Trace != nil {
		transport = memTracer{mm: mm}
	}
	cfg.Self, cfg.Incarnation, cfg.Transport, cfg.Completer, cfg.Rand = mm.id, mm.inc, transport, memCompleter{mm}, m.Rand()
	cfg.Atomics, cfg.Bugs, cfg.Record, cfg.Buggify = r.shape.policy, r.bugs, m.Record, m.Buggify
	cfg.OnApply, cfg.OnExecute = r.noteApply, r.noteExecute
	a, err := coherence.New(cfg)
	if err != nil {
		panic(fmt.Sprintf("scenarios: mem: %v: %v", mm.id, err))
	}
	incs := make([]uint64, len(r.homes))
	for i := range incs {
		incs[i] = 1
	}
	if err := a.AddProcess(memPID, r.homes, coherence.ProcessOptions{HomeIncarnations: incs}); err != nil {
		panic(fmt.Sprintf("scenarios: mem: %v: %v", mm.id, err))
	}
	mm.agent = a
	for _, id := range slices.Sorted(maps.Keys(r.downs)) { // in id order: the run must replay exactly
		if id != mm.id {
			a.MachineDown(id, r.downs[id])
		}
	}
	if mm.inc == 1 {
		mm.allocate()
	}
	mm.threads = nil
	for i := range r.shape.threads[mm.index] {
		t := &memThread{mm: mm, index: i, inc: mm.inc, client: r.newClient(),
			rng: sim.Stream(r.opts.Seed, "mem.thread", uint64(mm.id)<<32|mm.inc<<16|uint64(i))}
		mm.threads = append(mm.threads, t)
		m.After(t.think(), "mem.thread", t.next)
	}
	if r.final.started {
		mm.startWaker()
	}
	m.After(memTick, "mem.tick", mm.tick)
	if r.opts.Trace != nil {
		return netmodel.ReceiverFunc(func(from netmodel.NodeID, payload []byte) {
			mm.trace("%v<-%v %s", mm.id, from, coherence.DescribePayload(payload, r.shape.pageBytes))
			a.Receive(from, payload)
			if memDebugInvariants {
				if err := a.CheckInvariants(); err != nil {
					panic(fmt.Sprintf("%v at %v: %v", mm.id, mm.run.world.Now(), err))
				}
			}
		})
	}
	return netmodel.ReceiverFunc(a.Receive)
}

// memTracer writes every payload an agent sends to the run's trace (not to
// the trace hash: a traced run hashes like an untraced one).
type memTracer struct{ mm *memMachine }

func (t memTracer) Send(to netmodel.NodeID, payload []byte) {
	t.mm.trace("%v->%v %s", t.mm.id, to, coherence.DescribePayload(payload, t.mm.run.shape.pageBytes))
	t.mm.m.Send(to, payload)
}

func (mm *memMachine) trace(format string, args ...any) {
	fmt.Fprintf(mm.run.opts.Trace, "          t=%v mem %s\n", mm.run.world.Now(), fmt.Sprintf(format, args...))
}

func (mm *memMachine) tick() {
	mm.agent.Tick()
	if memDebugInvariants {
		if err := mm.agent.CheckInvariants(); err != nil {
			panic(fmt.Sprintf("%v at %v: %v", mm.id, mm.run.world.Now(), err))
		}
	}
	mm.tickLater()
}

type memCompleter struct{ mm *memMachine }

func (c memCompleter) Complete(id sys.ReqID, rep sys.Reply) {
	t, ok := c.mm.pending[id]
	if !ok {
		c.mm.run.surprise("%v: an answer to %v, which no thread waits for", c.mm.id, id)
		return
	}
	delete(c.mm.pending, id)
	t.answer(rep)
}

func (r *memRun) newClient() int {
	r.final.clients++
	return r.final.clients
}

// memThread is one synthetic thread: a sequential stream of operations.
type memThread struct {
	mm     *memMachine
	index  int
	inc    uint64
	client int
	rng    *rand.Rand
	op     *memOp
	dead   bool // its incarnation ended
	final  bool // it did its final read
	waking bool // a waker of the liveness phase
	// tag is copied into the next operation issued (WAIT and WAKE words).
	tag memOp
	// nextFn and thenLater are t.next and "run later" as func values,
	// made once (a method value or closure made per operation allocates).
	nextFn    func()
	thenLater func(sys.Reply)
}

// memOp is an operation in flight and how to judge its answer.
type memOp struct {
	desc memDesc
	req  sys.ReqID
	ins  []checker.WordInput // the history operations it stands for
	ids  []checker.OpID
	then func(sys.Reply)
	// waitOn, wakeOn: the word of a WAIT or WAKE (for the wait check),
	// wakeN the WAKE's count.
	waitOn, wakeOn, wakeN uint64
	claimed               bool              // an agent said when it ran (noteExecute)
	applied               []coherence.Apply // where it took effect (noteApply)
	// The usual single id and application live here, not in an
	// allocation of their own.
	idsInline     [1]checker.OpID
	appliedInline [1]coherence.Apply
}

func (t *memThread) think() time.Duration {
	return time.Duration(t.rng.Int64N(int64(t.mm.run.shape.thinkMax) + 1))
}

func (t *memThread) who() string { return fmt.Sprintf("%v.i%d thread %d", t.mm.id, t.inc, t.index) }

// later runs the thread's next step after a think time.
func (t *memThread) later() {
	if t.nextFn == nil {
		t.nextFn = t.next
	}
	t.mm.m.After(t.think(), "mem.thread", t.nextFn)
}

// abandon ends a thread whose machine restarted: what it had in flight
// may or may not have taken effect.
func (t *memThread) abandon() {
	t.dead = true
	if op := t.op; op != nil {
		for _, id := range op.ids {
			t.mm.run.obs.hist.Unknown(id)
		}
		t.mm.run.unknownOutcome(op)
		t.op = nil
	}
}

// issue runs one operation: ins are the word-history operations it stands
// for (several, each under its own client, for a bulk access), then is
// called with its answer.
func (t *memThread) issue(d memDesc, ins []checker.WordInput, f func(g sys.Global, c sys.Caller) (sys.Reply, bool), then func(sys.Reply)) {
	mm, r := t.mm, t.mm.run
	c := sys.Caller{PID: memPID, TID: uint64(t.index + 1), Req: sys.ReqID{Machine: uint64(mm.id), Incarnation: uint32(mm.inc), Seq: mm.nextSeq()}}
	op := &memOp{desc: d, req: c.Req, ins: ins, then: then, waitOn: t.tag.waitOn, wakeOn: t.tag.wakeOn, wakeN: t.tag.wakeN}
	op.ids, op.applied = op.idsInline[:0], op.appliedInline[:0]
	t.tag = memOp{}
	at := r.now()
	for _, in := range ins {
		client := t.client
		if len(ins) > 1 {
			client = r.newClient()
		}
		op.ids = append(op.ids, r.obs.hist.Call(client, in, at))
		if in.Kind == checker.WordWrite || in.Kind == checker.WordCAS {
			if set := r.obs.written[in.Addr]; set != nil {
				set[in.Value] = true
			}
		}
	}
	t.op = op
	for uint64(len(mm.issued)) <= mm.inc {
		mm.issued = append(mm.issued, nil)
	}
	for uint64(len(mm.issued[mm.inc])) < c.Req.Seq-1 { // fences and the first ALLOC issue requests of their own
		mm.issued[mm.inc] = append(mm.issued[mm.inc], nil)
	}
	if uint64(len(mm.issued[mm.inc])) != c.Req.Seq-1 {
		panic(fmt.Sprintf("scenarios: mem: %v: request %v issued after request %d", mm.id, c.Req, len(mm.issued[mm.inc])))
	}
	mm.issued[mm.inc] = append(mm.issued[mm.inc], op)
	if r.opts.Trace != nil {
		mm.trace("%s: %v as %v", t.who(), d, c.Req)
	}
	rep, now := f(mm.agent.Global(memPID), c)
	if now {
		if !op.claimed { // a held word, read inside the call
			for _, id := range op.ids {
				r.obs.hist.Claim(id, at)
			}
		}
		t.answer(rep)
		return
	}
	mm.pending[c.Req] = t
}

// answer records the outcome of the thread's operation and goes on.
func (t *memThread) answer(rep sys.Reply) {
	r := t.mm.run
	op := t.op
	t.op = nil
	at := r.now()
	if r.opts.Trace != nil {
		t.mm.trace("%s: %v -> %+v", t.who(), op.desc, rep)
	}
	switch {
	case rep.Trap == sys.TrapLost:
		r.obs.losses = append(r.obs.losses, memLoss{by: lostBy(rep), at: r.world.Now(), t: t, d: op.desc})
		for i, id := range op.ids {
			if op.ins[i].Kind == checker.WordRead {
				r.obs.hist.Return(id, checker.WordOutput{Err: "lost"}, at)
			} else {
				r.obs.hist.Unknown(id)
			}
		}
		r.unknownOutcome(op)
	case rep.Trap != sys.TrapNone:
		r.surprise("%s: %v trapped: %v", t.who(), op.desc, rep.Trap)
		for _, id := range op.ids {
			r.obs.hist.Unknown(id)
		}
	default:
		for i, id := range op.ids {
			out := memOutput(op.ins[i], rep, i, len(op.ins))
			if op.ins[i].Kind == checker.WordRead {
				if r.obs.written[op.ins[i].Addr] != nil {
					r.obs.reads = append(r.obs.reads, memRead{addr: op.ins[i].Addr, val: out.Value, t: t, d: op.desc})
				}
			}
			r.obs.hist.Return(id, out, at)
		}
	}
	if op.then != nil {
		op.then(rep)
	}
}

// memOutput is what the answer says about the i-th of n history
// operations: a bulk read's data holds n bytes (byte registers) or n words.
func memOutput(in checker.WordInput, rep sys.Reply, i, n int) checker.WordOutput {
	var out checker.WordOutput
	switch in.Kind {
	case checker.WordRead:
		out.Value = rep.Val
		switch {
		case rep.Data != nil && len(rep.Data) == n:
			out.Value = uint64(rep.Data[i])
		case rep.Data != nil:
			out.Value = binary.LittleEndian.Uint64(rep.Data[8*i:])
		}
	case checker.WordCAS:
		out.Swapped = rep.Val == 1
		out.Value, out.FoundUnknown = in.Expect, !out.Swapped
	case checker.WordFetchAdd:
		out.Value = rep.Val
	}
	return out
}

// unknownOutcome notes, for the counter and wait checks, an operation that
// may or may not have taken effect.
func (r *memRun) unknownOutcome(op *memOp) {
	for _, in := range op.ins {
		if c := r.obs.counter[in.Addr]; c != nil && in.Kind == checker.WordFetchAdd {
			c.unknown++
		}
	}
	if wc := r.obs.waits[op.waitOn]; wc != nil {
		wc.queuedOrUnknown++
	}
	if wc := r.obs.waits[op.wakeOn]; wc != nil {
		wc.unknownWakes += op.wakeN
	}
}

// next is the thread's next step: a random operation in the safety phase,
// the final read after Heal.
func (t *memThread) next() {
	if t.dead || t.op != nil || t.waking {
		return
	}
	r := t.mm.run
	if r.world.Healed() {
		if !t.final {
			t.finalRead()
		}
		return
	}
	t.random()
}

func (t *memThread) pick(ws []uint64) uint64 { return ws[t.rng.IntN(len(ws))] }

func (t *memThread) value() uint64 {
	r := t.mm.run
	r.final.values++
	return r.final.values<<8 | uint64(t.mm.id)
}

// random issues one of the workload's operations (or sequences).
func (t *memThread) random() {
	l := &t.mm.run.layout
	if t.thenLater == nil {
		t.thenLater = func(sys.Reply) { t.later() }
	}
	done := t.thenLater
	switch p := t.rng.IntN(100); {
	case p < 30:
		t.wordOp(t.pick(l.hot), true, done)
	case p < 50:
		t.wordOp(t.pick(l.cold), false, done)
	case p < 58:
		t.bulk(t.pick(l.pairs), done)
	case p < 68:
		ctr := t.pick(l.counters)
		t.issue(desc("fetch-add %#x", ctr), []checker.WordInput{{Kind: checker.WordFetchAdd, Addr: ctr, Delta: 1}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.FetchAdd(c, ctr, 1) },
			func(rep sys.Reply) { t.counted(ctr, rep); t.later() })
	case p < 76:
		if t.index == 0 && t.mm.index < len(l.fenceData) {
			t.fenceWrite(t.mm.index)
		} else {
			t.fenceRead(t.rng.IntN(len(l.fenceData)))
		}
	case p < 84:
		t.waitOrWake(t.pick(l.waitWords))
	case p < 91:
		t.byteOp(t.pick(l.byteWords), done)
	default:
		t.allocCycle()
	}
}

// wordOp is a load, store, CAS (or, on hot words, fetch-add) of one word.
func (t *memThread) wordOp(addr uint64, hot bool, then func(sys.Reply)) {
	kinds := 3
	if hot {
		kinds = 4
	}
	switch t.rng.IntN(kinds) {
	case 0:
		t.issue(desc("load %#x", addr), []checker.WordInput{{Kind: checker.WordRead, Addr: addr}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, 8) }, then)
	case 1:
		v := t.value()
		t.issue(desc("store %#x=%d", addr, v), []checker.WordInput{{Kind: checker.WordWrite, Addr: addr, Value: v}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, addr, 8, v) }, then)
	case 2:
		v := t.value()
		expect := uint64(0)
		if reads := t.mm.run.obs.reads; len(reads) > 0 && t.rng.IntN(2) == 0 {
			expect = reads[len(reads)-1].val
		}
		t.issue(desc("cas %#x %d->%d", addr, expect, v), []checker.WordInput{{Kind: checker.WordCAS, Addr: addr, Expect: expect, Value: v}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.CAS(c, addr, expect, v) }, then)
	default:
		t.issue(desc("fetch-add %#x", addr), []checker.WordInput{{Kind: checker.WordFetchAdd, Addr: addr, Delta: 1}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.FetchAdd(c, addr, 1) }, then)
	}
}

// bulk reads or writes the pair of words at addr in one operation (maybe
// across a page boundary); each word's part is a history operation.
func (t *memThread) bulk(addr uint64, then func(sys.Reply)) {
	ins := []checker.WordInput{{Kind: checker.WordRead, Addr: addr}, {Kind: checker.WordRead, Addr: addr + 8}}
	if t.rng.IntN(2) == 0 {
		t.issue(desc("read-bytes %#x+16", addr), ins,
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, 16) }, then)
		return
	}
	data := make([]byte, 16)
	for i := range ins {
		v := t.value()
		ins[i] = checker.WordInput{Kind: checker.WordWrite, Addr: addr + uint64(8*i), Value: v}
		binary.LittleEndian.PutUint64(data[8*i:], v)
	}
	t.issue(desc("write-bytes %#x+16", addr), ins,
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, data) }, then)
}

// byteOp loads or stores one byte of a byte-only word, or reads or writes
// the whole word bytewise; each byte is a register of its own.
func (t *memThread) byteOp(word uint64, then func(sys.Reply)) {
	b := word + uint64(t.rng.IntN(8))
	switch t.rng.IntN(4) {
	case 0:
		t.issue(desc("load-byte %#x", b), []checker.WordInput{{Kind: checker.WordRead, Addr: b}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, b, 1) }, then)
	case 1:
		v := uint64(1 + t.rng.IntN(255))
		t.issue(desc("store-byte %#x=%d", b, v), []checker.WordInput{{Kind: checker.WordWrite, Addr: b, Value: v}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, b, 1, v) }, then)
	case 2:
		var ins []checker.WordInput
		for i := range uint64(8) {
			ins = append(ins, checker.WordInput{Kind: checker.WordRead, Addr: word + i})
		}
		t.issue(desc("read-bytes %#x+8", word), ins,
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, word, 8) }, then)
	default:
		data := make([]byte, 8)
		var ins []checker.WordInput
		for i := range data {
			data[i] = byte(1 + t.rng.IntN(255))
			ins = append(ins, checker.WordInput{Kind: checker.WordWrite, Addr: word + uint64(i), Value: uint64(data[i])})
		}
		t.issue(desc("write-bytes %#x+8", word), ins,
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, word, data) }, then)
	}
}

// counted notes a fetch-add on a counter.
func (t *memThread) counted(ctr uint64, rep sys.Reply) {
	c := t.mm.run.obs.counter[ctr]
	switch {
	case rep.Trap == sys.TrapLost:
		c.lost = true
	case rep.Trap == sys.TrapNone:
		c.acked++
	}
}

// fenceWrite: data = v, FENCE, flag = v, with v larger than every value the
// pair had.
func (t *memThread) fenceWrite(pair int) {
	l := &t.mm.run.layout
	data, flag := l.fenceData[pair], l.fenceFlag[pair]
	v := t.value()
	fence := func(next func()) {
		c := sys.Caller{PID: memPID, Req: sys.ReqID{Machine: uint64(t.mm.id), Incarnation: uint32(t.inc), Seq: t.mm.nextSeq()}}
		if _, now := t.mm.agent.Global(memPID).Fence(c); !now {
			t.mm.run.surprise("%s: FENCE parked", t.who())
		}
		next()
	}
	t.issue(desc("fence-pair %d: store data=%d", uint64(pair), v), []checker.WordInput{{Kind: checker.WordWrite, Addr: data, Value: v}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, data, 8, v) },
		func(rep sys.Reply) {
			if rep.Trap != sys.TrapNone {
				t.later()
				return
			}
			fence(func() {
				t.issue(desc("fence-pair %d: store flag=%d", uint64(pair), v), []checker.WordInput{{Kind: checker.WordWrite, Addr: flag, Value: v}},
					func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, flag, 8, v) },
					func(sys.Reply) { t.later() })
			})
		})
}

// fenceRead: load flag, FENCE, load data; data must be at least flag.
func (t *memThread) fenceRead(pair int) {
	l := &t.mm.run.layout
	data, flag := l.fenceData[pair], l.fenceFlag[pair]
	t.issue(desc("fence-pair %d: load flag", uint64(pair)), []checker.WordInput{{Kind: checker.WordRead, Addr: flag}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, flag, 8) },
		func(rep sys.Reply) {
			if rep.Trap != sys.TrapNone {
				t.later()
				return
			}
			f := rep.Val
			c := sys.Caller{PID: memPID, Req: sys.ReqID{Machine: uint64(t.mm.id), Incarnation: uint32(t.inc), Seq: t.mm.nextSeq()}}
			t.mm.agent.Global(memPID).Fence(c)
			t.issue(desc("fence-pair %d: load data", uint64(pair)), []checker.WordInput{{Kind: checker.WordRead, Addr: data}},
				func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, data, 8) },
				func(rep sys.Reply) {
					if rep.Trap == sys.TrapNone {
						t.mm.run.obs.fences = append(t.mm.run.obs.fences, memFenceObs{pair: pair, flag: f, data: rep.Val, t: t})
					}
					t.later()
				})
		})
}

// waitOrWake: a waiter loads the word and waits for it to change; a waker
// stores a new value and wakes some waiters.
func (t *memThread) waitOrWake(w uint64) {
	if t.rng.IntN(2) == 0 {
		t.issue(desc("load %#x (to wait)", w), []checker.WordInput{{Kind: checker.WordRead, Addr: w}},
			func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, w, 8) },
			func(rep sys.Reply) {
				if rep.Trap != sys.TrapNone {
					t.later()
					return
				}
				t.wait(w, rep.Val)
			})
		return
	}
	v := t.value()
	n := uint64(1 + t.rng.IntN(3))
	t.issue(desc("store %#x=%d (to wake)", w, v), []checker.WordInput{{Kind: checker.WordWrite, Addr: w, Value: v}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Store(c, w, 8, v) },
		func(sys.Reply) { t.wake(w, n, func() { t.later() }) })
}

func (t *memThread) wait(w, expect uint64) {
	r := t.mm.run
	t.tag = memOp{waitOn: w}
	t.issue(desc("wait %#x==%d", w, expect), nil,
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Wait(c, w, expect) },
		func(rep sys.Reply) {
			wc := r.obs.waits[w]
			switch {
			case rep.Trap != sys.TrapNone:
			case rep.Val == 0:
				wc.woken++
				wc.queuedOrUnknown++
			}
			t.later()
		})
}

func (t *memThread) wake(w, n uint64, then func()) {
	r := t.mm.run
	t.tag = memOp{wakeOn: w, wakeN: n}
	t.issue(desc("wake %#x n=%d", w, n), nil,
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Wake(c, w, n) },
		func(rep sys.Reply) {
			wc := r.obs.waits[w]
			switch {
			case rep.Trap == sys.TrapLost:
				wc.unknownWakes += n
			case rep.Trap == sys.TrapNone:
				wc.wakeCount += rep.Val
			}
			then()
		})
}

// allocCycle: ALLOC a block, read it (zeros, even where memory is
// reused), write it, FREE it.
func (t *memThread) allocCycle() {
	r := t.mm.run
	size := uint64(8 + t.rng.IntN(3*r.shape.pageBytes))
	t.issue(desc("alloc %d", uint64(size)), nil,
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Alloc(c, size) },
		func(rep sys.Reply) {
			if rep.Trap != sys.TrapNone {
				t.later()
				return
			}
			addr := rep.Val
			t.issue(desc("read-bytes %#x+%d (new)", addr, uint64(size)), nil,
				func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.ReadBytes(c, addr, size) },
				func(rep sys.Reply) {
					if rep.Trap == sys.TrapNone && !r.allZero(rep.Data) {
						for i, b := range rep.Data {
							if b != 0 {
								r.obs.zeros = append(r.obs.zeros, fmt.Sprintf("%s: new block %#x+%d reads %#x at byte %d", t.who(), addr, size, b, i))
								break
							}
						}
					}
					pattern := r.allocPattern(int(size))
					t.issue(desc("write-bytes %#x+%d", addr, uint64(size)), nil,
						func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.WriteBytes(c, addr, pattern) },
						func(sys.Reply) {
							t.issue(desc("free %#x", addr), nil,
								func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Free(c, addr) },
								func(sys.Reply) { t.later() })
						})
				})
		})
}

// allocPattern is the bytes an ALLOC cycle writes into its new block of
// size bytes: byte i is i*7+1. One shared slice, never written (the agent
// copies what it is given), so a cycle allocates none.
func (r *memRun) allocPattern(size int) []byte {
	for i := len(r.pattern); i < size; i++ {
		r.pattern = append(r.pattern, byte(i*7+1))
	}
	return r.pattern[:size:size]
}

// allZero reports whether b holds only zeros (compared with a shared
// buffer of zeros: the vectorised comparison, not a loop of bytes).
func (r *memRun) allZero(b []byte) bool {
	if len(r.zeros) < len(b) {
		r.zeros = make([]byte, len(b))
	}
	return bytes.Equal(b, r.zeros[:len(b)])
}

// finalRead: after Heal, one read of a word, which must get an answer.
func (t *memThread) finalRead() {
	l := &t.mm.run.layout
	addr := t.pick(append(append([]uint64(nil), l.hot...), l.cold...))
	t.issue(desc("final load %#x", addr), []checker.WordInput{{Kind: checker.WordRead, Addr: addr}},
		func(g sys.Global, c sys.Caller) (sys.Reply, bool) { return g.Load(c, addr, 8) },
		func(sys.Reply) { t.final = true })
}

// memDebugInvariants checks every agent's bookkeeping after every tick and
// payload (slow; for debugging a failing seed). The checks always run at the
// end of a run.
var memDebugInvariants = false

// memDesc describes an operation for traces and failure reports; it is
// formatted only when needed.
type memDesc struct {
	f    string
	args [3]uint64
	n    int
}

func desc(f string, args ...uint64) memDesc {
	d := memDesc{f: f}
	d.n = copy(d.args[:], args)
	return d
}

func (d memDesc) String() string {
	args := make([]any, d.n)
	for i := range args {
		args[i] = d.args[i]
	}
	return fmt.Sprintf(d.f, args...)
}
