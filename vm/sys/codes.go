package sys

// Trap is why a process was stopped by the machine.
type Trap uint8

const (
	TrapNone Trap = iota
	TrapUnmapped
	TrapMisaligned
	TrapStackUnderflow
	TrapStackOverflow
	TrapDivZero
	TrapOutOfMemory
	TrapBadInstruction
	TrapPermission
	TrapBadFree
	TrapBadThread
	TrapThreadLimit
	TrapBudget
	TrapBadJump
	TrapBadLocal
	TrapBadAddress
	TrapDeadlock
	TrapLost
	TrapKilled
	NumTraps
)

var trapText = [NumTraps]string{
	TrapNone:           "no trap",
	TrapUnmapped:       "unmapped address",
	TrapMisaligned:     "misaligned word access",
	TrapStackUnderflow: "stack underflow",
	TrapStackOverflow:  "stack overflow",
	TrapDivZero:        "division by zero",
	TrapOutOfMemory:    "out of memory",
	TrapBadInstruction: "bad instruction",
	TrapPermission:     "permission denied",
	TrapBadFree:        "FREE of an address ALLOC did not return",
	TrapBadThread:      "bad thread id",
	TrapThreadLimit:    "too many threads",
	TrapBudget:         "instruction budget exhausted",
	TrapBadJump:        "jump outside the code",
	TrapBadLocal:       "local slot outside the frame",
	TrapBadAddress:     "bad address",
	TrapDeadlock:       "deadlock: every thread is waiting",
	TrapLost:           "lost with a failed machine",
	TrapKilled:         "killed",
}

func (t Trap) String() string {
	if t < NumTraps {
		return trapText[t]
	}
	return "unknown trap"
}

// Errno is an error a storage or process operation reports to the program
// as the negative value -Errno. Numbers follow Linux.
type Errno uint64

const (
	ENOENT       Errno = 2
	ESRCH        Errno = 3
	EIO          Errno = 5
	ENOEXEC      Errno = 8
	EBADF        Errno = 9
	EAGAIN       Errno = 11
	EACCES       Errno = 13
	EEXIST       Errno = 17
	ENOTDIR      Errno = 20
	EISDIR       Errno = 21
	EINVAL       Errno = 22
	EMFILE       Errno = 24
	EFBIG        Errno = 27
	ENOSPC       Errno = 28
	ENAMETOOLONG Errno = 36
	ENOTEMPTY    Errno = 39
)

// Neg is the word a program receives for the error: -e.
func (e Errno) Neg() uint64 { return -uint64(e) }

// ErrReply is a reply carrying -e.
func ErrReply(e Errno) Reply { return Reply{Val: e.Neg()} }
