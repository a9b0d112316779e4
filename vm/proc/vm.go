package proc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// Config sets the VM's limits.
type Config struct {
	Machine interp.Config
	// MemoryBytesMax bounds each process's memory (its threads' stacks and
	// local pages, and its global pages); 0: no limit.
	MemoryBytesMax uint64
	// ThreadsMax bounds the live threads of each process.
	ThreadsMax int
	// BudgetTicks is each process's instruction budget; 0: none.
	BudgetTicks int64
	// ProcessesMax bounds how many processes may exist at once.
	ProcessesMax int
}

// DefaultConfig is the configuration of `flock run` unless flags change it.
var DefaultConfig = Config{MemoryBytesMax: 4 << 30, ThreadsMax: 100000, ProcessesMax: 1000}

// Status is how a process ended.
type Status struct {
	Code uint64            // EXIT's operand or the main thread's exit value
	Trap *interp.TrapError // non-nil: the process trapped
}

// Word is the status as PWAIT reports it: the exit code, or -1 for a trap.
func (s Status) Word() uint64 {
	if s.Trap != nil {
		return ^uint64(0)
	}
	return s.Code
}

// Loader reads a program file for PSTART.
type Loader func(path string) (*isa.Program, error)

// VM is an embedded Flock VM on one machine.
type VM struct {
	cfg       Config
	m         *interp.Machine
	storage   sys.Storage
	load      Loader
	diag      io.Writer
	procs     map[uint64]*process
	nextPID   uint64
	live      int
	completer sys.Completer
	waiting   []procWaiter
	// WrapProcess, when set, may replace the backends of each process before
	// it starts (tests use it to make every answer come later).
	WrapProcess func(p *interp.Process)
}

type process struct {
	pid     uint64
	parent  uint64 // the process that started it with PSTART; 0: started by Start
	ip      *interp.Process
	global  sys.Global
	out     io.Writer
	threads map[uint64]*threadRec
	nextTID uint64
	live    int
	done    bool
	status  Status
}

type threadRec struct {
	exited  bool
	value   uint64
	joiners []sys.ReqID
}

type procWaiter struct {
	req  sys.ReqID
	pids []uint64
}

var _ interp.Kernel = (*VM)(nil)

// New is a VM whose processes use storage, load PSTART programs with load,
// and write diagnostics (e.g. a started program's assembly errors) to diag.
func New(cfg Config, storage sys.Storage, load Loader, diag io.Writer) *VM {
	if cfg.ThreadsMax <= 0 {
		cfg.ThreadsMax = DefaultConfig.ThreadsMax
	}
	if cfg.ProcessesMax <= 0 {
		cfg.ProcessesMax = DefaultConfig.ProcessesMax
	}
	vm := &VM{cfg: cfg, m: interp.NewMachine(cfg.Machine), storage: storage, load: load, diag: diag, procs: map[uint64]*process{}}
	vm.completer = vm.m
	return vm
}

// Machine is the interpreter the VM drives.
func (vm *VM) Machine() *interp.Machine { return vm.m }

// SetCompleter routes answers that come later through c (which must
// eventually hand them to Machine().Complete). For tests that delay them.
func (vm *VM) SetCompleter(c sys.Completer) { vm.completer = c }

// Start creates a process running prog with args; its output goes to out.
func (vm *VM) Start(prog *isa.Program, args []string, out io.Writer) (uint64, error) {
	return vm.start(prog, args, out, 0)
}

func (vm *VM) start(prog *isa.Program, args []string, out io.Writer, parent uint64) (uint64, error) {
	if vm.live >= vm.cfg.ProcessesMax {
		return 0, fmt.Errorf("too many processes (limit %d)", vm.cfg.ProcessesMax)
	}
	vm.nextPID++
	pid := vm.nextPID
	acct := &mem.Account{LimitBytes: vm.cfg.MemoryBytesMax}
	local, trap := mem.NewLocal(prog, acct)
	if trap != sys.TrapNone {
		return 0, fmt.Errorf("%s: loading the program's data: %s", prog.File, trap)
	}
	g := mem.NewLocalGlobal(acct, vm.completer)
	ip := &interp.Process{PID: pid, Program: prog, Args: args, Global: g, Storage: vm.storage, Kernel: vm, Account: acct, BudgetTicks: vm.cfg.BudgetTicks}
	if vm.WrapProcess != nil {
		vm.WrapProcess(ip)
	}
	if err := vm.m.AddProcess(ip); err != nil {
		local.Release()
		return 0, err
	}
	p := &process{pid: pid, parent: parent, ip: ip, global: g, out: out, threads: map[uint64]*threadRec{}, nextTID: 2, live: 1}
	p.threads[1] = &threadRec{}
	vm.procs[pid] = p
	vm.live++
	if err := vm.m.AddThread(&interp.ThreadImage{PID: pid, TID: 1, PC: prog.Entry, Local: local}); err != nil {
		// Only a memory limit too small for one stack gets here.
		local.Release()
		vm.end(p, Status{Trap: &interp.TrapError{PID: pid, PC: -1, Kind: sys.TrapOutOfMemory, Detail: err.Error()}})
	}
	return pid, nil
}

// Status reports how process pid ended; ok is false while it runs (or if
// there is no such process).
func (vm *VM) Status(pid uint64) (Status, bool) {
	p, found := vm.procs[pid]
	if !found || !p.done {
		return Status{}, false
	}
	return p.status, true
}

// Live is how many processes are running.
func (vm *VM) Live() int { return vm.live }

// Run drives the machine until every process has ended, breaking deadlocks
// by ending the youngest stuck process with a deadlock trap.
func (vm *VM) Run() {
	vm.Drive(runSliceTicks, nil)
}

// runSliceTicks is how much Run executes between deadlock checks.
const runSliceTicks = 1 << 20

// Drive is Run with a hook: tick runs after every sliceTicks of execution
// and reports whether answers are still on their way (delivered later by
// tick itself), so the machine is not stuck even if nothing can run now.
func (vm *VM) Drive(sliceTicks int, tick func() bool) {
	for vm.live > 0 {
		used := vm.m.Run(sliceTicks)
		busy := false
		if tick != nil {
			busy = tick()
		}
		if used == 0 && !busy && !vm.m.Runnable() {
			vm.breakDeadlock()
		}
	}
}

// breakDeadlock ends the youngest live process: nothing can run and no
// answer is on its way.
func (vm *VM) breakDeadlock() {
	var victim *process
	for _, pid := range vm.pids() {
		if p := vm.procs[pid]; !p.done {
			victim = p
		}
	}
	if victim == nil {
		panic("proc: deadlock with no live process")
	}
	var waits []string
	for _, pk := range vm.m.Parked() {
		if pk.PID == victim.pid {
			waits = append(waits, fmt.Sprintf("thread %d in %s at %s", pk.TID, pk.Op, victim.ip.Program.Where(pk.PC)))
		}
	}
	err := &interp.TrapError{PID: victim.pid, PC: -1, Kind: sys.TrapDeadlock, Detail: strings.Join(waits, "; ")}
	vm.end(victim, Status{Trap: err})
}

func (vm *VM) pids() []uint64 {
	ids := make([]uint64, 0, len(vm.procs))
	for id := range vm.procs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// end finishes a process: its threads leave the machine, its memory and
// files are released, and processes waiting for it may go on.
func (vm *VM) end(p *process, st Status) {
	if p.done {
		return
	}
	p.done, p.status = true, st
	vm.live--
	if st.Trap != nil && p.parent != 0 {
		// The parent sees only -1 from PWAIT: the trap itself must reach
		// the user, as the main process's does.
		fmt.Fprintf(vm.diag, "flock: %v (process %d, started by process %d)\n", st.Trap, p.pid, p.parent)
	}
	vm.m.RemoveProcess(p.pid)
	p.ip.Global.Release(p.pid)
	vm.storage.Release(p.pid)
	p.threads = nil
	vm.wakeProcWaiters()
}

func (vm *VM) proc(pid uint64) *process {
	p, found := vm.procs[pid]
	if !found || p.done {
		panic(fmt.Sprintf("proc: kernel call for process %d, which is not running", pid))
	}
	return p
}

func (vm *VM) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	p := vm.proc(c.PID)
	if p.live >= vm.cfg.ThreadsMax {
		img.Local.Release()
		return sys.Reply{Trap: sys.TrapThreadLimit}, true
	}
	tid := p.nextTID
	img.TID = tid
	if err := vm.m.AddThread(img); err != nil {
		img.Local.Release()
		if errors.Is(err, interp.ErrOutOfMemory) {
			return sys.Reply{Trap: sys.TrapOutOfMemory}, true
		}
		panic(fmt.Sprintf("proc: spawn in process %d: %v", c.PID, err))
	}
	p.nextTID++
	p.threads[tid] = &threadRec{}
	p.live++
	return sys.Reply{Val: tid}, true
}

func (vm *VM) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	p := vm.proc(c.PID)
	rec, found := p.threads[tid]
	if !found {
		return sys.Reply{Trap: sys.TrapBadThread}, true
	}
	if rec.exited {
		delete(p.threads, tid)
		return sys.Reply{Val: rec.value}, true
	}
	rec.joiners = append(rec.joiners, c.Req)
	return sys.Reply{}, false
}

func (vm *VM) ThreadExited(pid, tid, value uint64) {
	p := vm.proc(pid)
	p.live--
	if tid == 1 {
		vm.end(p, Status{Code: value})
		return
	}
	rec := p.threads[tid]
	rec.exited, rec.value = true, value
	if len(rec.joiners) > 0 {
		delete(p.threads, tid)
		for _, req := range rec.joiners {
			vm.completer.Complete(req, sys.Reply{Val: value})
		}
	}
}

func (vm *VM) Exit(pid, _, status uint64) { vm.end(vm.proc(pid), Status{Code: status}) }

func (vm *VM) Trapped(pid uint64, trap *interp.TrapError) {
	vm.end(vm.proc(pid), Status{Trap: trap})
}

func (vm *VM) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	p := vm.proc(c.PID)
	if _, err := p.out.Write(data); err != nil {
		return sys.ErrReply(sys.EIO), true
	}
	return sys.Reply{Val: uint64(len(data))}, true
}

func (vm *VM) StartProcess(c sys.Caller, path string, args []string) (sys.Reply, bool) {
	parent := vm.proc(c.PID)
	prog, err := vm.load(path)
	if err != nil {
		fmt.Fprintf(vm.diag, "flock: PSTART %s: %v\n", path, err)
		if _, isAsm := err.(asm.ErrorList); isAsm {
			return sys.ErrReply(sys.ENOEXEC), true
		}
		return sys.ErrReply(sys.ENOENT), true
	}
	pid, err := vm.start(prog, args, parent.out, parent.pid)
	if err != nil {
		fmt.Fprintf(vm.diag, "flock: PSTART %s: %v\n", path, err)
		return sys.ErrReply(sys.EINVAL), true
	}
	return sys.Reply{Val: pid}, true
}

func (vm *VM) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	if data, ready := vm.statuses(pids); ready {
		return sys.Reply{Data: data}, true
	}
	vm.waiting = append(vm.waiting, procWaiter{req: c.Req, pids: pids})
	return sys.Reply{}, false
}

// statuses is the PWAIT answer once every pid has ended; unknown pids
// report -ESRCH.
func (vm *VM) statuses(pids []uint64) ([]byte, bool) {
	data := make([]byte, 0, 8*len(pids))
	for _, pid := range pids {
		p, found := vm.procs[pid]
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

func (vm *VM) wakeProcWaiters() {
	kept := vm.waiting[:0]
	var ready []sys.ReqID
	var answers [][]byte
	for _, w := range vm.waiting {
		if data, ok := vm.statuses(w.pids); ok {
			ready = append(ready, w.req)
			answers = append(answers, data)
		} else {
			kept = append(kept, w)
		}
	}
	vm.waiting = kept
	for i, req := range ready {
		vm.completer.Complete(req, sys.Reply{Data: answers[i]})
	}
}
