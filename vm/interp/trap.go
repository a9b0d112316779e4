package interp

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// TrapError describes a trap: which process, thread, instruction, pc and
// source position.
type TrapError struct {
	PID, TID uint64
	PC       int
	Op       isa.Op
	Kind     sys.Trap
	Detail   string // e.g. the faulting address
	Where    string // file:line:col
	// LostMachine, for TrapLost, is the failed machine the answer named
	// (0: not named).
	LostMachine uint64
}

func (e *TrapError) Error() string {
	if e.PC < 0 {
		// Not at one instruction: a deadlock, say. Detail names the threads.
		msg := fmt.Sprintf("trap: %s: process %d", e.Kind, e.PID)
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
		return msg
	}
	msg := e.Kind.String()
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return fmt.Sprintf("%s: trap: %s: thread %d of process %d at pc %d (%s)", e.Where, msg, e.TID, e.PID, e.PC, e.Op)
}
