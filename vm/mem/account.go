package mem

import "fmt"

// Account counts the memory one process holds against its limit: every
// page materialised in its threads' local memories and in its global
// memory, and (charged by the interpreter) its threads' stacks.
type Account struct {
	UsedBytes  uint64
	LimitBytes uint64 // 0: no limit
}

// Charge takes n bytes; false (and nothing taken) if that would pass the
// limit.
func (a *Account) Charge(n uint64) bool {
	if a.LimitBytes != 0 && (a.UsedBytes+n > a.LimitBytes || a.UsedBytes+n < a.UsedBytes) {
		return false
	}
	a.UsedBytes += n
	return true
}

// Uncharge gives n bytes back.
func (a *Account) Uncharge(n uint64) {
	if n > a.UsedBytes {
		panic(fmt.Sprintf("mem: uncharge %d bytes with only %d charged", n, a.UsedBytes))
	}
	a.UsedBytes -= n
}
