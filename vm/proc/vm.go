package proc

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/flockvm/flock/vm/cores"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// Config sets the VM's limits.
type Config struct {
	Machine interp.Config
	// Cores is how many interpreter cores run threads (default 1).
	// Parallel runs each on its own goroutine (Run only); otherwise they
	// take turns, deterministically.
	Cores    int
	Parallel bool
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
type Status = kernel.Status

// Loader reads a program file for PSTART.
type Loader func(path string) (*isa.Program, error)

// VM is an embedded Flock VM on one machine.
type VM struct {
	cfg       Config
	mu        sync.Mutex // the VM's state, when cores run in parallel
	machines  []*interp.Machine
	cores     *cores.Set
	storage   sys.Storage
	load      Loader
	diag      io.Writer
	table     *kernel.Table
	procs     map[uint64]*process // running processes
	nextPID   uint64
	completer sys.Completer
	// WrapProcess, when set, may replace the backends of each process before
	// it starts (tests use it to make every answer come later).
	WrapProcess func(p *interp.Process)
}

// process is what the VM keeps of a process besides its kernel record.
type process struct {
	rec     *kernel.Process
	ip      *interp.Process
	global  sys.Global // the process's memory, unwrapped
	nextTID uint64
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
	cfg.Cores = max(cfg.Cores, 1)
	vm := &VM{cfg: cfg, storage: storage, load: load, diag: diag, procs: map[uint64]*process{}}
	for i := range cfg.Cores {
		mc := cfg.Machine
		mc.Core = uint32(i)
		vm.machines = append(vm.machines, interp.NewMachine(mc))
	}
	vm.cores = cores.New(vm.machines, cfg.Parallel, &vm.mu)
	vm.completer = vm.cores
	vm.table = kernel.NewTable(kernel.Config{ThreadsMax: cfg.ThreadsMax}, vm.cores)
	return vm
}

// Machine is the interpreter of the first core.
func (vm *VM) Machine() *interp.Machine { return vm.machines[0] }

// SetCompleter routes answers that come later through c (which must
// eventually hand them to Machine().Complete). For tests that delay them.
func (vm *VM) SetCompleter(c sys.Completer) {
	vm.completer = c
	vm.table.SetCompleter(c)
}

// Start creates a process running prog with args; its output goes to out.
func (vm *VM) Start(prog *isa.Program, args []string, out io.Writer) (uint64, error) {
	return vm.start(prog, args, out, 0)
}

// machineHere is where every thread of the one-machine VM runs.
const machineHere = 0

func (vm *VM) start(prog *isa.Program, args []string, out io.Writer, parent uint64) (uint64, error) {
	if vm.table.Live() >= vm.cfg.ProcessesMax {
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
	if vm.cfg.Parallel {
		// The global memory is safe for concurrent use and reached without
		// a lock (its words are atomic); kernel calls and storage take the
		// VM's lock. A wrapper WrapProcess put around the memory may not be
		// safe: it takes the lock too.
		if ip.Global != sys.Global(g) {
			ip.Global = cores.LockedGlobal(ip.Global, &vm.mu)
		}
		ip.Storage, ip.Kernel = cores.LockedStorage(ip.Storage, &vm.mu), cores.LockedKernel(ip.Kernel, &vm.mu)
	}
	if err := ip.Program.Validate(); err != nil {
		local.Release()
		return 0, fmt.Errorf("interp: process %d: %w", pid, err)
	}
	vm.cores.DoAll(func(m *interp.Machine) {
		if err := m.AddProcess(ip); err != nil {
			panic(fmt.Sprintf("proc: process %d on a core: %v", pid, err))
		}
	})
	rec := &kernel.Process{PID: pid, Parent: parent, Program: prog, Args: args, Out: out}
	if err := vm.table.Add(rec, machineHere); err != nil {
		panic(fmt.Sprintf("proc: new process %d: %v", pid, err))
	}
	vm.procs[pid] = &process{rec: rec, ip: ip, global: g, nextTID: 2}
	vm.addThread(&interp.ThreadImage{PID: pid, TID: 1, PC: prog.Entry, Local: local})
	return pid, nil
}

// addThread starts a thread on the core with the fewest threads. A thread
// whose stack does not fit in its process's memory ends the process.
func (vm *VM) addThread(img *interp.ThreadImage) {
	pid := img.PID
	vm.cores.Place(func(m *interp.Machine) {
		err := m.AddThread(img)
		if err == nil {
			return
		}
		img.Local.Release()
		if !errors.Is(err, interp.ErrOutOfMemory) {
			panic(fmt.Sprintf("proc: thread %d of process %d: %v", img.TID, pid, err))
		}
		vm.lockedIfParallel(func() {
			vm.end(pid, Status{Trap: &interp.TrapError{PID: pid, TID: img.TID, PC: -1, Kind: sys.TrapOutOfMemory, Detail: err.Error()}})
		})
	})
}

// lockedIfParallel runs fn under the VM's lock when cores run in parallel
// (a core's goroutine calling back into the VM's state).
func (vm *VM) lockedIfParallel(fn func()) {
	if vm.cfg.Parallel {
		vm.mu.Lock()
		defer vm.mu.Unlock()
	}
	fn()
}

// Status reports how process pid ended; ok is false while it runs (or if
// there is no such process).
func (vm *VM) Status(pid uint64) (Status, bool) {
	if vm.cfg.Parallel {
		vm.mu.Lock()
		defer vm.mu.Unlock()
	}
	p, found := vm.table.Process(pid)
	if !found {
		return Status{}, false
	}
	return p.Done()
}

// Live is how many processes are running.
func (vm *VM) Live() int { return vm.table.Live() }

// Run drives the machine until every process has ended, breaking deadlocks
// by ending the youngest stuck process with a deadlock trap.
func (vm *VM) Run() {
	if vm.cfg.Parallel {
		vm.runParallel()
		return
	}
	vm.Drive(runSliceTicks, nil)
}

// runParallel runs every core on its own goroutine until every process has
// ended; when all of them wait with nothing queued, it breaks the deadlock.
func (vm *VM) runParallel() {
	vm.cores.Start(nil)
	defer vm.cores.Stop()
	for {
		vm.cores.WaitIdleOr(vm.allEnded)
		vm.mu.Lock()
		if vm.table.Live() == 0 {
			vm.mu.Unlock()
			return
		}
		if vm.cores.Idle() {
			vm.breakDeadlock()
		}
		vm.mu.Unlock()
	}
}

func (vm *VM) allEnded() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.table.Live() == 0
}

// runSliceTicks is how much Run executes between deadlock checks.
const runSliceTicks = 1 << 20

// Drive is Run with a hook: tick runs after every sliceTicks of execution
// and reports whether answers are still on their way (delivered later by
// tick itself), so the machine is not stuck even if nothing can run now.
func (vm *VM) Drive(sliceTicks int, tick func() bool) {
	for vm.table.Live() > 0 {
		used := vm.cores.Run(sliceTicks)
		busy := false
		if tick != nil {
			busy = tick()
		}
		if used == 0 && !busy && !vm.cores.Runnable() {
			vm.breakDeadlock()
		}
	}
}

// breakDeadlock ends the youngest live process: nothing can run and no
// answer is on its way. Only a VM that sees every thread of its processes
// can tell: this one runs them all on its one machine.
func (vm *VM) breakDeadlock() {
	var victim uint64
	for _, pid := range vm.table.PIDs() {
		if _, running := vm.procs[pid]; running {
			victim = pid
		}
	}
	if victim == 0 {
		panic("proc: deadlock with no live process")
	}
	prog := vm.procs[victim].ip.Program
	var waits []string
	for _, pk := range vm.parked() {
		if pk.PID == victim {
			waits = append(waits, fmt.Sprintf("thread %d in %s at %s", pk.TID, pk.Op, prog.Where(pk.PC)))
		}
	}
	err := &interp.TrapError{PID: victim, PC: -1, Kind: sys.TrapDeadlock, Detail: strings.Join(waits, "; ")}
	vm.end(victim, Status{Trap: err})
}

// end finishes a process: its threads leave the machine, its memory and
// files are released, and processes waiting for it may go on.
func (vm *VM) end(pid uint64, st Status) {
	p, running := vm.procs[pid]
	if !running || !vm.table.End(pid, st) {
		return
	}
	delete(vm.procs, pid)
	vm.cores.DoAll(func(m *interp.Machine) { m.RemoveProcess(pid) })
	if st.Trap != nil && p.rec.Parent != 0 {
		// The parent sees only -1 from PWAIT: the trap itself must reach
		// the user, as the main process's does.
		fmt.Fprintf(vm.diag, "flock: %v (process %d, started by process %d)\n", st.Trap, pid, p.rec.Parent)
	}
	p.global.Release(pid) // safe while cores still run its threads: they trap, unheard
	vm.cores.Notify()
	vm.storage.Release(pid)
}

// proc finds a running process. A kernel call for one that ended is
// possible only with parallel cores (a core still ran its thread while the
// end was on its way to it): the caller drops such calls.
func (vm *VM) proc(pid uint64) (*process, bool) {
	p, running := vm.procs[pid]
	if !running && !vm.cfg.Parallel {
		panic(fmt.Sprintf("proc: kernel call for process %d, which is not running", pid))
	}
	return p, running
}

func (vm *VM) Spawn(c sys.Caller, img *interp.ThreadImage) (sys.Reply, bool) {
	p, ok := vm.proc(c.PID)
	if !ok {
		img.Local.Release()
		return sys.Reply{}, false // the process ended: its threads are being removed
	}
	if err := vm.table.Reserve(c.PID); err != nil {
		img.Local.Release()
		return sys.Reply{Trap: sys.TrapThreadLimit}, true
	}
	tid := p.nextTID
	img.TID = tid
	if vm.cfg.Parallel {
		vm.addThread(img)
	} else if err := vm.machines[vm.cores.LeastLoaded()].AddThread(img); err != nil {
		img.Local.Release()
		if errors.Is(err, interp.ErrOutOfMemory) {
			return sys.Reply{Trap: sys.TrapOutOfMemory}, true
		}
		panic(fmt.Sprintf("proc: spawn in process %d: %v", c.PID, err))
	}
	p.nextTID++
	if err := vm.table.Register(c.PID, tid, machineHere); err != nil {
		panic(fmt.Sprintf("proc: spawn in process %d: %v", c.PID, err))
	}
	return sys.Reply{Val: tid}, true
}

func (vm *VM) Join(c sys.Caller, tid uint64) (sys.Reply, bool) {
	if _, ok := vm.proc(c.PID); !ok {
		return sys.Reply{}, false
	}
	return vm.table.Join(c, tid)
}

func (vm *VM) ThreadExited(pid, tid, value uint64) {
	if _, ok := vm.proc(pid); !ok {
		return
	}
	if tid == 1 {
		vm.end(pid, Status{Code: value})
		return
	}
	vm.table.ThreadExited(pid, tid, value)
}

func (vm *VM) Exit(pid, _, status uint64) {
	if _, ok := vm.proc(pid); ok {
		vm.end(pid, Status{Code: status})
	}
}

func (vm *VM) Trapped(pid uint64, trap *interp.TrapError) {
	if _, ok := vm.proc(pid); ok {
		vm.end(pid, Status{Trap: trap})
	}
}

func (vm *VM) Output(c sys.Caller, data []byte) (sys.Reply, bool) {
	p, ok := vm.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	if _, err := p.rec.Out.Write(data); err != nil {
		return sys.ErrReply(sys.EIO), true
	}
	return sys.Reply{Val: uint64(len(data))}, true
}

func (vm *VM) StartProcess(c sys.Caller, path string, args []string) (sys.Reply, bool) {
	parent, ok := vm.proc(c.PID)
	if !ok {
		return sys.Reply{}, false
	}
	prog, err := vm.load(path)
	if err != nil {
		fmt.Fprintf(vm.diag, "flock: PSTART %s: %v\n", path, err)
		if IsProgramError(err) {
			return sys.ErrReply(sys.ENOEXEC), true
		}
		return sys.ErrReply(sys.ENOENT), true
	}
	pid, err := vm.start(prog, args, parent.rec.Out, c.PID)
	if err != nil {
		fmt.Fprintf(vm.diag, "flock: PSTART %s: %v\n", path, err)
		return sys.ErrReply(sys.EINVAL), true
	}
	return sys.Reply{Val: pid}, true
}

func (vm *VM) WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool) {
	return vm.table.Wait(c, pids)
}

// parked lists every core's parked threads.
func (vm *VM) parked() []interp.Parked { return vm.cores.Parked() }
