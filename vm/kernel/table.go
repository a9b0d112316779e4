package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// Status is how a process ended.
type Status struct {
	Code uint64            // EXIT's operand or the main thread's exit value
	Trap *interp.TrapError // non-nil: the process trapped
	Lost *LostError        // non-nil: part of the process died with a machine
}

// Word is the status as PWAIT reports it: the exit code, or -1 for a trap
// or a loss.
func (s Status) Word() uint64 {
	if s.Trap != nil || s.Lost != nil {
		return ^uint64(0)
	}
	return s.Code
}

// Err is the error that ended the process, or nil for an exit.
func (s Status) Err() error {
	switch {
	case s.Trap != nil:
		return s.Trap
	case s.Lost != nil:
		return s.Lost
	}
	return nil
}

// LostError: a process had a thread, or the only copy of some of its memory,
// on a machine that failed. Its threads there are never re-run.
type LostError struct {
	PID         uint64
	Machine     uint64 // the failed machine (a netmodel.NodeID)
	Incarnation uint64 // the incarnation that failed
	What        string // what was there: "thread 7", "global memory page 0x...", "the process's home"
}

func (e *LostError) Error() string {
	return fmt.Sprintf("process %d: lost with machine %d (incarnation %d): %s", e.PID, e.Machine, e.Incarnation, e.What)
}

// Process is one process homed on this machine.
type Process struct {
	PID     uint64
	Parent  uint64 // the process that started it; 0: a client did
	User    string
	Program *isa.Program
	Args    []string
	// Out receives the process's output, in the order each thread wrote it.
	Out io.Writer

	threads map[uint64]*threadRec
	live    int
	done    bool
	status  Status
}

type threadRec struct {
	// v is the machine the thread runs on until it exits, its exit value
	// after (one word: a record is kept per thread, thousands per process).
	v       uint64
	joiners []sys.ReqID
	started bool // registered by its spawner (the main thread: at once)
	exited  bool
}

// Done reports whether the process has ended, and how.
func (p *Process) Done() (Status, bool) { return p.status, p.done }

// Live is how many of its threads are running.
func (p *Process) Live() int { return p.live }

// Config bounds a Table.
type Config struct {
	// ThreadsMax bounds the live threads of each process.
	ThreadsMax int
	// EndedMax bounds how many ended processes are remembered (for PWAIT
	// and Status); the oldest are forgotten first, and a PWAIT on a
	// forgotten pid answers -ESRCH.
	EndedMax int
	// WaitersMax bounds the parked PWAIT and JOIN requests of the table.
	WaitersMax int
}

// DefaultConfig fills zero fields of a Config.
var DefaultConfig = Config{ThreadsMax: 100000, EndedMax: 100000, WaitersMax: 1 << 20}

// Table is the process table. The zero Table is not usable: see NewTable.
type Table struct {
	cfg     Config
	done    sys.Completer
	procs   map[uint64]*Process
	ended   []uint64 // ended pids, oldest first
	live    int
	waiting []procWaiter
	parked  int // JOIN and PWAIT requests waiting
}

type procWaiter struct {
	req  sys.ReqID
	pid  uint64 // the waiting process
	pids []uint64
}

// NewTable is an empty table answering parked requests through done.
func NewTable(cfg Config, done sys.Completer) *Table {
	if cfg.ThreadsMax <= 0 {
		cfg.ThreadsMax = DefaultConfig.ThreadsMax
	}
	if cfg.EndedMax <= 0 {
		cfg.EndedMax = DefaultConfig.EndedMax
	}
	if cfg.WaitersMax <= 0 {
		cfg.WaitersMax = DefaultConfig.WaitersMax
	}
	return &Table{cfg: cfg, done: done, procs: map[uint64]*Process{}}
}

// SetCompleter routes answers through c from now on.
func (t *Table) SetCompleter(c sys.Completer) { t.done = c }

// Errors of Add and Register.
var (
	ErrDuplicate   = errors.New("kernel: already in the table")
	ErrNoProcess   = errors.New("kernel: no such process")
	ErrEnded       = errors.New("kernel: the process has ended")
	ErrThreadLimit = errors.New("kernel: too many threads")
	ErrWaiters     = errors.New("kernel: too many waiters")
)

// Add puts a new process in the table with its main thread (tid 1) on
// machine where.
func (t *Table) Add(p *Process, where uint64) error {
	if _, dup := t.procs[p.PID]; dup {
		return fmt.Errorf("process %d: %w", p.PID, ErrDuplicate)
	}
	p.threads = map[uint64]*threadRec{1: {v: where, started: true}}
	p.live, p.done, p.status = 1, false, Status{}
	t.procs[p.PID] = p
	t.live++
	return nil
}

// Process finds a process, running or ended (while remembered).
func (t *Table) Process(pid uint64) (*Process, bool) {
	p, ok := t.procs[pid]
	return p, ok
}

// running returns the process if it is running.
func (t *Table) running(pid uint64) (*Process, error) {
	p, ok := t.procs[pid]
	if !ok {
		return nil, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
	}
	if p.done {
		return nil, fmt.Errorf("process %d: %w", pid, ErrEnded)
	}
	return p, nil
}

// Live is how many processes are running.
func (t *Table) Live() int { return t.live }

// PIDs lists every process in the table, running or ended, in pid order.
func (t *Table) PIDs() []uint64 {
	ids := make([]uint64, 0, len(t.procs))
	for id := range t.procs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Reserve checks that the process may start one more thread; Register
// then records it. Spawning is two steps because the thread may have to
// travel to another machine in between.
func (t *Table) Reserve(pid uint64) error {
	p, err := t.running(pid)
	if err != nil {
		return err
	}
	if p.live >= t.cfg.ThreadsMax {
		return fmt.Errorf("process %d: %d threads: %w", pid, p.live, ErrThreadLimit)
	}
	return nil
}

// Register records that thread tid of pid runs on machine where. The
// thread may already have exited (its exit overtook the registration).
func (t *Table) Register(pid, tid, where uint64) error {
	p, err := t.running(pid)
	if err != nil {
		return err
	}
	rec, ok := p.threads[tid]
	if ok && rec.started {
		return fmt.Errorf("process %d thread %d: %w", pid, tid, ErrDuplicate)
	}
	if !ok {
		rec = &threadRec{}
		p.threads[tid] = rec
		p.live++
	}
	if !rec.exited {
		rec.v = where
	}
	rec.started = true
	if rec.exited {
		t.wakeJoiners(p, tid, rec)
	}
	return nil
}

// ThreadExited records that a thread ended with value. The main thread's
// end ends the process with that value as its code; it reports whether the
// process ended (then the caller stops the process everywhere).
func (t *Table) ThreadExited(pid, tid, value uint64) (ended bool) {
	p, err := t.running(pid)
	if err != nil {
		return false // a late report for an ended process
	}
	rec, ok := p.threads[tid]
	if !ok {
		// The exit overtook the spawner's registration.
		rec = &threadRec{}
		p.threads[tid] = rec
		p.live++
	}
	if rec.exited {
		return false // a duplicate report
	}
	rec.exited, rec.v = true, value
	p.live--
	if tid == 1 {
		return t.End(pid, Status{Code: value})
	}
	if rec.started {
		t.wakeJoiners(p, tid, rec)
	}
	return false
}

// wakeJoiners answers the JOINs of an exited thread; a joined thread's
// record is forgotten (each thread can be joined once).
func (t *Table) wakeJoiners(p *Process, tid uint64, rec *threadRec) {
	if len(rec.joiners) == 0 {
		return
	}
	delete(p.threads, tid)
	for _, req := range rec.joiners {
		t.parked--
		t.done.Complete(req, sys.Reply{Val: rec.v})
	}
	rec.joiners = nil
}

// Join waits for thread tid of the caller's process to end; Val is its exit
// value. An unknown tid, or one already joined, traps.
func (t *Table) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	p, err := t.running(c.PID)
	if err != nil {
		panic(fmt.Sprintf("kernel: JOIN from process %d, which is not running: %v", c.PID, err))
	}
	rec, ok := p.threads[tid]
	if !ok || !rec.started {
		return sys.Reply{Trap: sys.TrapBadThread}, true
	}
	if rec.exited {
		delete(p.threads, tid)
		return sys.Reply{Val: rec.v}, true
	}
	if t.parked >= t.cfg.WaitersMax {
		return sys.Reply{Trap: sys.TrapThreadLimit}, true
	}
	t.parked++
	rec.joiners = append(rec.joiners, c.Req)
	return sys.Reply{}, false
}

// End ends a running process with st and answers whoever waits for it. It
// reports whether the process was running (then the caller removes its
// threads from every machine and releases its memory and files).
func (t *Table) End(pid uint64, st Status) bool {
	p, err := t.running(pid)
	if err != nil {
		return false
	}
	p.done, p.status = true, st
	t.live--
	// Joiners of its threads are threads of the process itself: they are
	// gone with it, and their answers are not delivered.
	for _, rec := range p.threads {
		t.parked -= len(rec.joiners)
	}
	p.threads = nil
	t.ended = append(t.ended, pid)
	t.forgetOldest()
	t.dropWaitsOf(pid)
	t.wakeProcWaiters()
	return true
}

// dropWaitsOf forgets the PWAITs of an ended process: its threads are gone.
func (t *Table) dropWaitsOf(pid uint64) {
	kept := t.waiting[:0]
	for _, w := range t.waiting {
		if w.pid == pid {
			t.parked--
			continue
		}
		kept = append(kept, w)
	}
	t.waiting = kept
}

func (t *Table) forgetOldest() {
	for len(t.ended) > t.cfg.EndedMax {
		delete(t.procs, t.ended[0])
		t.ended = t.ended[1:]
	}
}

// Wait waits until every process in pids has ended. Data: one
// little-endian word per pid, its status word; a pid not in the table
// reports -ESRCH.
func (t *Table) Wait(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	if data, ready := t.statuses(pids); ready {
		return sys.Reply{Data: data}, true
	}
	if t.parked >= t.cfg.WaitersMax {
		return sys.Reply{Trap: sys.TrapThreadLimit}, true
	}
	t.parked++
	t.waiting = append(t.waiting, procWaiter{req: c.Req, pid: c.PID, pids: pids})
	return sys.Reply{}, false
}

func (t *Table) statuses(pids []uint64) ([]byte, bool) {
	data := make([]byte, 0, 8*len(pids))
	for _, pid := range pids {
		p, found := t.procs[pid]
		switch {
		case !found:
			data = binary.LittleEndian.AppendUint64(data, sys.ESRCH.Neg())
		case !p.done:
			return nil, false
		default:
			data = binary.LittleEndian.AppendUint64(data, p.status.Word())
		}
	}
	return data, true
}

func (t *Table) wakeProcWaiters() {
	kept := t.waiting[:0]
	var ready []procWaiter
	var answers [][]byte
	for _, w := range t.waiting {
		if data, ok := t.statuses(w.pids); ok {
			ready = append(ready, w)
			answers = append(answers, data)
		} else {
			kept = append(kept, w)
		}
	}
	t.waiting = kept
	for i, w := range ready {
		t.parked--
		t.done.Complete(w.req, sys.Reply{Data: answers[i]})
	}
}

// ThreadsOn lists, in pid order, the running processes with a live thread
// on machine where, with the lowest such tid of each.
func (t *Table) ThreadsOn(where uint64) []ThreadRef {
	var out []ThreadRef
	for _, pid := range t.PIDs() {
		p := t.procs[pid]
		if p.done {
			continue
		}
		best := uint64(0)
		for tid, rec := range p.threads {
			if !rec.exited && rec.v == where && (best == 0 || tid < best) {
				best = tid
			}
		}
		if best != 0 {
			out = append(out, ThreadRef{PID: pid, TID: best})
		}
	}
	return out
}

// ThreadRef names a thread.
type ThreadRef struct{ PID, TID uint64 }

// Parked is how many JOIN and PWAIT requests wait.
func (t *Table) Parked() int { return t.parked }

// Registered reports whether thread tid of a running process pid has been
// registered by its spawner (the main thread always is).
func (t *Table) Registered(pid, tid uint64) bool {
	p, err := t.running(pid)
	if err != nil {
		return false
	}
	rec, ok := p.threads[tid]
	return ok && rec.started
}

// Moved records that a running thread now runs on machine where.
func (t *Table) Moved(pid, tid, where uint64) {
	p, err := t.running(pid)
	if err != nil {
		return
	}
	if rec, ok := p.threads[tid]; ok && !rec.exited {
		rec.v = where
	}
}
