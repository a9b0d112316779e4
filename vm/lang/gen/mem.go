package gen

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/check"
)

// isByteSized reports whether t is held in one byte in memory.
func isByteSized(t check.Type) bool {
	return check.SizeOf(t) == 1 && check.ClassOf(t) == check.ClassWord
}

// load replaces the address on top of the stack with the value there
// (memory types: the address is the value).
func (f *fnGen) load(t check.Type) {
	switch check.ClassOf(t) {
	case check.ClassWord:
		if isByteSized(t) {
			f.emit(isa.LOADB)
		} else {
			f.emit(isa.LOAD)
		}
	case check.ClassPair:
		f.emit(isa.DUP)
		f.emit(isa.LOAD)
		f.emit(isa.SWAP)
		f.addi(8)
		f.emit(isa.LOAD)
	}
}

// store pops an address and the value below it and writes the value there.
func (f *fnGen) store(t check.Type) {
	switch check.ClassOf(t) {
	case check.ClassWord:
		if isByteSized(t) {
			f.emit(isa.STOREB)
		} else {
			f.emit(isa.STORE)
		}
	case check.ClassPair:
		// ( p n a -- ): n at a+8, p at a.
		f.emit(isa.DUP)
		f.emit(isa.ROT)
		f.emit(isa.SWAP)
		f.addi(8)
		f.emit(isa.STORE)
		f.emit(isa.STORE)
	case check.ClassMemory:
		f.copyMem(t)
	}
}

func (f *fnGen) addi(k int64) {
	if k != 0 {
		f.g.emitAt(f.cur, f.file, isa.ADDI, 0, k)
	}
}

// inlineCopyMax is the largest copy done with inline loads and stores.
const inlineCopyMax = 64

// copyMem pops a destination address and a source address below it and
// copies a value of type t.
func (f *fnGen) copyMem(t check.Type) {
	size := check.SizeOf(t)
	if size == 0 {
		f.emit(isa.DROP)
		f.emit(isa.DROP)
		return
	}
	words := size%8 == 0 && check.AlignOf(t) == 8
	if size > inlineCopyMax || !words && size > 8 {
		// ( src dst -- ) -> memmove(dst, src, size)
		f.emit(isa.SWAP)
		f.push(uint64(size))
		f.callRuntime("memmove")
		return
	}
	dst := f.temp(2)
	src := dst + 1
	f.set(dst)
	f.set(src)
	step := int64(8)
	if !words {
		step = 1
	}
	for off := int64(0); off < size; off += step {
		f.get(src)
		f.addi(off)
		if words {
			f.emit(isa.LOAD)
		} else {
			f.emit(isa.LOADB)
		}
		f.get(dst)
		f.addi(off)
		if words {
			f.emit(isa.STORE)
		} else {
			f.emit(isa.STOREB)
		}
	}
	f.release(dst)
}

// zeroMem pops an address and zeroes a value of type t there.
func (f *fnGen) zeroMem(t check.Type) {
	size := check.SizeOf(t)
	words := size%8 == 0 && check.AlignOf(t) == 8
	if size == 0 {
		f.emit(isa.DROP)
		return
	}
	if size > inlineCopyMax || !words && size > 8 {
		f.push(uint64(size))
		f.callRuntime("memzero")
		return
	}
	step := int64(8)
	if !words {
		step = 1
	}
	for off := int64(0); off < size; off += step {
		if off+step < size {
			f.emit(isa.DUP)
		}
		f.push(0)
		f.emit(isa.SWAP)
		f.addi(off)
		if words {
			f.emit(isa.STORE)
		} else {
			f.emit(isa.STOREB)
		}
	}
}

// pushZero pushes the zero value of a word or pair type.
func (f *fnGen) pushZero(t check.Type) {
	for range check.Words(t) {
		f.push(0)
	}
}

// varAddr pushes the address of a variable that lives in memory.
func (f *fnGen) locAddr(l loc) {
	switch l.kind {
	case locFrame:
		f.frameAddr(l.off)
	case locData:
		f.pushReloc(relocData, l.off)
	case locShared:
		f.pushReloc(relocData, l.off)
		f.emit(isa.LOAD)
	default:
		panic("gen: the address of a variable in slots")
	}
}

// loadLoc pushes the value of the variable at l.
func (f *fnGen) loadLoc(l loc, t check.Type) {
	if l.kind == locSlot {
		for w := range check.Words(t) {
			f.get(l.slot + w)
		}
		return
	}
	f.locAddr(l)
	f.load(t)
}

// storeLoc pops a value into the variable at l.
func (f *fnGen) storeLoc(l loc, t check.Type) {
	if l.kind == locSlot {
		for w := check.Words(t) - 1; w >= 0; w-- {
			f.set(l.slot + w)
		}
		return
	}
	f.locAddr(l)
	f.store(t)
}

// zeroLoc sets the variable at l to its zero value.
func (f *fnGen) zeroLoc(l loc, t check.Type) {
	if check.ClassOf(t) == check.ClassMemory {
		f.locAddr(l)
		f.zeroMem(t)
		return
	}
	f.pushZero(t)
	f.storeLoc(l, t)
}
