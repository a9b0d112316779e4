package interp

import (
	"errors"
	"fmt"
	"sort"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// Config holds a machine's limits.
type Config struct {
	// QuantumTicks is how long a thread runs before the next one gets a turn.
	QuantumTicks int
	// StackWordsMax bounds each thread's data stack.
	StackWordsMax int
	// CallDepthMax bounds each thread's call stack.
	CallDepthMax int
	// Machine, Incarnation and Core name this interpreter in every request
	// id it makes (sys.ReqID), so ids are unique across the machines of a
	// VM, their restarts and their cores.
	Machine     uint64
	Incarnation uint32
	Core        uint32
}

// DefaultConfig is what NewMachine fills zero fields with.
var DefaultConfig = Config{QuantumTicks: 10000, StackWordsMax: 1 << 20, CallDepthMax: 1 << 16}

// Machine runs threads of processes on one machine. It is driven from one
// goroutine: Run/Step execute, Complete delivers answers that came later.
type Machine struct {
	cfg     Config
	procs   map[uint64]*procState
	parked  map[uint64]*Thread // by request sequence number (the rest of the id is this machine's)
	queue   runQueue
	nextReq sys.ReqID
	threads int
}

type procState struct {
	*Process
	code      []isa.Instr // Program.Code plus a sentinel that traps
	threads   map[uint64]*Thread
	ticksLeft int64 // budget left; only used when BudgetTicks > 0
	removed   bool
	// pages is the global memory's page store when exec may reach it
	// directly (global_direct.go); found once here, not at every entry to
	// exec: a process's Global does not change while it runs.
	pages *mem.GlobalPages
}

// opEnd is the sentinel after the last instruction: falling off the end of
// the code traps.
const opEnd = isa.NumOps

// NewMachine is an empty machine.
func NewMachine(cfg Config) *Machine {
	if cfg.QuantumTicks <= 0 {
		cfg.QuantumTicks = DefaultConfig.QuantumTicks
	}
	if cfg.StackWordsMax <= 0 {
		cfg.StackWordsMax = DefaultConfig.StackWordsMax
	}
	if cfg.CallDepthMax <= 0 {
		cfg.CallDepthMax = DefaultConfig.CallDepthMax
	}
	return &Machine{cfg: cfg, procs: map[uint64]*procState{}, parked: map[uint64]*Thread{}, nextReq: sys.ReqID{Machine: cfg.Machine, Incarnation: cfg.Incarnation, Core: cfg.Core}}
}

// Config is the machine's configuration.
func (m *Machine) Config() Config { return m.cfg }

// AddProcess lets the machine run threads of p. The program must be valid.
func (m *Machine) AddProcess(p *Process) error {
	if _, ok := m.procs[p.PID]; ok {
		return fmt.Errorf("interp: process %d already on this machine", p.PID)
	}
	if err := p.Program.Validate(); err != nil {
		return fmt.Errorf("interp: process %d: %w", p.PID, err)
	}
	code := make([]isa.Instr, len(p.Program.Code)+1)
	copy(code, p.Program.Code)
	code[len(code)-1] = isa.Instr{Op: opEnd}
	m.procs[p.PID] = &procState{Process: p, code: code, threads: map[uint64]*Thread{}, ticksLeft: p.BudgetTicks, pages: directPages(p.Global)}
	return nil
}

// RemoveProcess drops every thread of the process from this machine,
// releasing their memory. Answers still outstanding for them are ignored
// when they arrive.
func (m *Machine) RemoveProcess(pid uint64) {
	p, ok := m.procs[pid]
	if !ok {
		return
	}
	for _, tid := range sortedTIDs(p.threads) {
		m.dropThread(p.threads[tid])
	}
	p.removed = true
	delete(m.procs, pid)
}

func sortedTIDs(ts map[uint64]*Thread) []uint64 {
	ids := make([]uint64, 0, len(ts))
	for id := range ts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// dropThread removes a thread from the machine for good.
func (m *Machine) dropThread(t *Thread) {
	if t.state == stateDead {
		return
	}
	if t.state == stateParked {
		delete(m.parked, t.reqSeq)
	}
	t.state = stateDead
	delete(t.p.threads, t.tid)
	m.threads--
	uncharge(t.p.Account, stackBytes(t))
	if t.local != nil {
		t.local.Release()
		t.local = nil
	}
	t.stack, t.frames = nil, nil
}

// ErrOutOfMemory: the thread's stack does not fit in its process's memory
// limit.
var ErrOutOfMemory = errors.New("interp: out of memory for the thread's stack")

// AddThread starts running a thread (a spawned one, the main one, or one
// that migrated here). Its process must be on the machine.
func (m *Machine) AddThread(img *ThreadImage) error {
	p, ok := m.procs[img.PID]
	if !ok {
		return fmt.Errorf("interp: thread %d: process %d not on this machine", img.TID, img.PID)
	}
	if _, dup := p.threads[img.TID]; dup {
		return fmt.Errorf("interp: thread %d of process %d already on this machine", img.TID, img.PID)
	}
	if img.PC < 0 || img.PC >= len(p.Program.Code) {
		return fmt.Errorf("interp: thread %d: pc %d outside the code", img.TID, img.PC)
	}
	if img.Local == nil {
		return fmt.Errorf("interp: thread %d: no local memory", img.TID)
	}
	if err := m.checkImage(p, img); err != nil {
		return err
	}
	// Every frame's slots must lie inside the stack slice (exec relies on
	// it); words above the stack top are not carried and read as zero.
	size := max(initialStackWords, len(img.Stack), img.FP+img.FL)
	for _, f := range img.Frames {
		size = max(size, int(f.FP)+int(f.FL))
	}
	if !charge(p.Account, uint64(size)*8+uint64(len(img.Frames))*frameBytes) {
		return ErrOutOfMemory
	}
	t := &Thread{pid: img.PID, tid: img.TID, p: p, pc: img.PC, local: img.Local, stack: make([]uint64, size), fp: img.FP, fl: img.FL}
	t.sp = copy(t.stack, img.Stack)
	if len(img.Frames) > 0 {
		t.frames = make([]frame, len(img.Frames))
		for i, f := range img.Frames {
			t.frames[i] = frame{ret: f.Ret, fp: f.FP, fl: f.FL}
		}
		t.nf = len(img.Frames)
	}
	p.threads[t.tid] = t
	m.threads++
	m.makeRunnable(t)
	return nil
}

// checkImage rejects an image the interpreter could not run safely.
func (m *Machine) checkImage(p *procState, img *ThreadImage) error {
	if len(img.Stack) > m.cfg.StackWordsMax {
		return fmt.Errorf("interp: thread %d: stack of %d words exceeds %d", img.TID, len(img.Stack), m.cfg.StackWordsMax)
	}
	if len(img.Frames) > m.cfg.CallDepthMax {
		return fmt.Errorf("interp: thread %d: %d call frames exceed %d", img.TID, len(img.Frames), m.cfg.CallDepthMax)
	}
	validFrame := func(fp, fl int) bool { return fp >= 0 && fl >= 0 && fp+fl <= m.cfg.StackWordsMax }
	if !validFrame(img.FP, img.FL) {
		return fmt.Errorf("interp: thread %d: frame %d+%d outside the stack limit", img.TID, img.FP, img.FL)
	}
	for _, f := range img.Frames {
		if f.Ret < 0 || int(f.Ret) >= len(p.code) || !validFrame(int(f.FP), int(f.FL)) {
			return fmt.Errorf("interp: thread %d: bad call frame %+v", img.TID, f)
		}
	}
	return nil
}

// Detach takes a thread off the machine and returns its image, to be added
// to another machine (migration). Only a runnable thread between two
// instructions can move; its local memory goes with the image. Stack words
// above the top (stale slots of popped frames) are not carried.
func (m *Machine) Detach(pid, tid uint64) (*ThreadImage, error) {
	t, err := m.thread(pid, tid)
	if err != nil {
		return nil, err
	}
	if t.state != stateRunnable || t.resume {
		return nil, fmt.Errorf("interp: thread %d of process %d is waiting for an answer", tid, pid)
	}
	img := &ThreadImage{PID: pid, TID: tid, PC: t.pc, Stack: append([]uint64(nil), t.stack[:t.sp]...), FP: t.fp, FL: t.fl, Local: t.local}
	for _, f := range t.frames[:t.nf] {
		img.Frames = append(img.Frames, Frame{Ret: f.ret, FP: f.fp, FL: f.fl})
	}
	t.local = nil // the image owns it now
	m.dropThread(t)
	return img, nil
}

// Hold sets a thread aside for Detach: one waiting for an answer finishes
// that operation when the answer comes and then stops, between two
// instructions, as a runnable thread that no core runs until Unhold (or
// Detach takes it). A thread that waits on the network most of the time,
// which Detach alone would almost never find between two instructions, can
// so be moved.
func (m *Machine) Hold(pid, tid uint64) error {
	t, err := m.thread(pid, tid)
	if err != nil {
		return err
	}
	t.held = true
	return nil
}

// Unhold lets a held thread run again; a thread not here is ignored.
func (m *Machine) Unhold(pid, tid uint64) {
	t, err := m.thread(pid, tid)
	if err != nil || !t.held {
		return
	}
	t.held = false
	if t.state == stateRunnable {
		m.makeRunnable(t)
	}
}

func (m *Machine) thread(pid, tid uint64) (*Thread, error) {
	p, ok := m.procs[pid]
	if !ok {
		return nil, fmt.Errorf("interp: process %d not on this machine", pid)
	}
	t, ok := p.threads[tid]
	if !ok {
		return nil, fmt.Errorf("interp: thread %d of process %d not on this machine", tid, pid)
	}
	return t, nil
}

// Complete delivers the answer to a parked operation and makes its thread
// runnable. Unknown ids (the process ended meanwhile) are ignored.
func (m *Machine) Complete(id sys.ReqID, r sys.Reply) {
	if id.Machine != m.nextReq.Machine || id.Incarnation != m.nextReq.Incarnation || id.Core != m.nextReq.Core {
		return // not one of this core's requests
	}
	t, ok := m.parked[id.Seq]
	if !ok {
		return
	}
	delete(m.parked, id.Seq)
	t.reply = r
	t.resume = true
	m.makeRunnable(t)
}

func (m *Machine) makeRunnable(t *Thread) {
	t.state = stateRunnable
	if !t.queued {
		t.queued = true
		m.queue.push(t)
	}
}

// park records that t waits for the answer to req.
func (m *Machine) park(t *Thread, req sys.ReqID) {
	t.state = stateParked
	t.reqSeq = req.Seq
	m.parked[req.Seq] = t
}

func (m *Machine) newCaller(t *Thread) sys.Caller {
	m.nextReq.Seq++
	return sys.Caller{PID: t.pid, TID: t.tid, User: t.p.User, Req: m.nextReq}
}

// StepResult says what one Step did.
type StepResult struct {
	Ran   bool   // false: no thread was runnable
	PID   uint64 // the thread that ran
	TID   uint64
	Ticks int // ticks it used
}

// Step runs the next runnable thread for one quantum (or until it parks,
// yields, ends or traps).
func (m *Machine) Step() StepResult {
	return m.step(m.cfg.QuantumTicks)
}

func (m *Machine) step(quantum int) StepResult {
	t := m.queue.pop()
	for t != nil && (t.state != stateRunnable || (t.held && !t.resume)) {
		t.queued = false
		t = m.queue.pop()
	}
	if t == nil {
		return StepResult{}
	}
	t.queued = false
	res := StepResult{Ran: true, PID: t.pid, TID: t.tid}
	q := quantum
	p := t.p
	if p.BudgetTicks > 0 {
		q = int(min(int64(q), p.ticksLeft))
	}
	used, why := m.runThread(t, q)
	res.Ticks = used
	if p.BudgetTicks > 0 {
		p.ticksLeft -= int64(used)
		if why == stopQuantum && p.ticksLeft <= 0 && t.state == stateRunnable {
			t.opPC = t.pc // where this thread stopped, not its last slow operation
			m.trapThread(t, sys.TrapBudget, fmt.Sprintf("%d ticks", p.BudgetTicks))
			return res
		}
	}
	if t.state == stateRunnable && !t.held {
		m.makeRunnable(t)
	}
	return res
}

// Run steps runnable threads until about ticksMax ticks have run or none is
// runnable; it returns the ticks used.
func (m *Machine) Run(ticksMax int) int {
	used := 0
	for used < ticksMax {
		r := m.step(min(m.cfg.QuantumTicks, ticksMax-used))
		if !r.Ran {
			break
		}
		used += max(r.Ticks, 1)
	}
	return used
}

// Runnable reports whether some thread can run.
func (m *Machine) Runnable() bool {
	for _, t := range m.queue.items[m.queue.head:] {
		if t.state == stateRunnable && (!t.held || t.resume) {
			return true
		}
	}
	return false
}

// Threads is how many threads live on the machine.
func (m *Machine) Threads() int { return m.threads }

// Parked describes a thread waiting for an answer.
type Parked struct {
	Req      sys.ReqID
	PID, TID uint64
	Op       isa.Op
	PC       int
}

// Parked lists the threads waiting for answers, by request id.
func (m *Machine) Parked() []Parked {
	out := make([]Parked, 0, len(m.parked))
	for seq, t := range m.parked {
		id := m.nextReq
		id.Seq = seq
		out = append(out, Parked{Req: id, PID: t.pid, TID: t.tid, Op: t.sc.op, PC: t.opPC})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Req.Less(out[j].Req) })
	return out
}

// ProcessThreads lists the live threads of a process on this machine.
func (m *Machine) ProcessThreads(pid uint64) []uint64 {
	p, ok := m.procs[pid]
	if !ok {
		return nil
	}
	return sortedTIDs(p.threads)
}

// runQueue is a FIFO of threads.
type runQueue struct {
	items []*Thread
	head  int
}

func (q *runQueue) push(t *Thread) { q.items = append(q.items, t) }

func (q *runQueue) pop() *Thread {
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return nil
	}
	t := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	return t
}
