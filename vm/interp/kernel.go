package interp

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// Kernel is what the machine asks about threads, processes and output. Like
// sys.Global it may answer later: a method returning (_, false) promises a
// Machine.Complete(c.Req, reply) later. On one machine proc.VM
// implements it; across machines the node's process manager does, and its
// placement decides where a spawned thread runs.
type Kernel interface {
	// Spawn starts a thread from img (img.TID is zero: the kernel picks the
	// id). Val: the new thread's id.
	Spawn(c sys.Caller, img *ThreadImage) (sys.Reply, bool)
	// Join waits for thread tid of the caller's process to end. Val: its
	// exit value.
	Join(c sys.Caller, tid uint64) (sys.Reply, bool)
	// StartProcess starts a process from the program file at path (in storage)
	// with args. Val: its pid, or -errno.
	StartProcess(c sys.Caller, path string, args []string) (sys.Reply, bool)
	// WaitProcs waits until every process in pids has ended. Data: one
	// little-endian word per pid, its exit status.
	WaitProcs(c sys.Caller, pids []uint64) (sys.Reply, bool)
	// Output appends data to the process's output.
	Output(c sys.Caller, data []byte) (sys.Reply, bool)

	// ThreadExited reports that a thread ended normally with value. The
	// thread is already gone from the machine.
	ThreadExited(pid, tid, value uint64)
	// Exit reports that a thread executed EXIT: the process must end with
	// status (the kernel removes it from every machine).
	Exit(pid, tid, status uint64)
	// Trapped reports a trap: the process must end. The thread is already
	// gone from the machine.
	Trapped(pid uint64, trap *TrapError)
}

// ThreadImage is everything needed to start a thread, or to move one
// between machines (Machine.Detach, then AddThread elsewhere).
type ThreadImage struct {
	PID, TID uint64
	PC       int
	Stack    []uint64
	Frames   []Frame // call frames, outermost first
	FP, FL   int     // the current frame: base and slot count
	Local    *mem.Local
}

// Frame is a saved call frame: where RET continues, and the caller's frame.
type Frame struct {
	Ret, FP, FL int32
}

// Process is what a machine needs to run threads of one process.
type Process struct {
	PID     uint64
	User    string // the user the process runs as (sys.Caller.User)
	Program *isa.Program
	Args    []string
	Global  sys.Global
	Storage sys.Storage
	Kernel  Kernel
	Account *mem.Account
	// BudgetTicks is the process's instruction budget in ticks; 0: none.
	BudgetTicks int64
}
