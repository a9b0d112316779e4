package mem

import (
	"fmt"
	"sync/atomic"
)

// Account counts the memory one process holds against its limit: every
// page materialised in its threads' local memories and in its global
// memory, and (charged by the interpreter) its threads' stacks. Its
// threads may run on several cores at once: it is safe for concurrent use.
type Account struct {
	used       atomic.Uint64
	LimitBytes uint64 // 0: no limit; set before first use
}

// UsedBytes is what is charged now.
func (a *Account) UsedBytes() uint64 { return a.used.Load() }

// Charge takes n bytes; false (and nothing taken) if that would pass the
// limit.
func (a *Account) Charge(n uint64) bool {
	for {
		used := a.used.Load()
		next := used + n
		if next < used || (a.LimitBytes != 0 && next > a.LimitBytes) {
			return false
		}
		if a.used.CompareAndSwap(used, next) {
			return true
		}
	}
}

// Uncharge gives n bytes back.
func (a *Account) Uncharge(n uint64) {
	for {
		used := a.used.Load()
		if n > used {
			panic(fmt.Sprintf("mem: uncharge %d bytes with only %d charged", n, used))
		}
		if a.used.CompareAndSwap(used, used-n) {
			return
		}
	}
}
