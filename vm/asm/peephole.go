package asm

import (
	"math"
	"sort"

	"github.com/flockvm/flock/vm/isa"
)

// fuse replaces common instruction sequences with superinstructions. A
// sequence is fused only when no label points inside it, so every jump
// still lands on an instruction boundary of the original program.
func fuse(rs []rinstr, labels map[int]bool) []rinstr {
	out := make([]rinstr, 0, len(rs))
	for i := 0; i < len(rs); {
		r, n := fuseAt(rs[i:], labels)
		if n == 0 {
			out = append(out, rs[i])
			i++
			continue
		}
		r.pos, r.sourceIndex = rs[i].pos, rs[i].sourceIndex
		out = append(out, r)
		i += n
	}
	return out
}

// fuseAt tries every pattern at the start of rs, longest first; n = 0: none.
func fuseAt(rs []rinstr, labels map[int]bool) (rinstr, int) {
	// avail is how many instructions from rs[0] on may be fused together.
	avail := 1
	for avail < len(rs) && avail < 4 && !labels[rs[avail].sourceIndex] {
		avail++
	}
	op := func(i int) isa.Op {
		if i < avail {
			return rs[i].op
		}
		return isa.NOP
	}
	isImm := func(i int) bool { return op(i) == isa.PUSH && !rs[i].bCode }
	fits32 := func(v int64) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }
	// branch reports the condition a compare at i followed by JZ/JNZ at i+1
	// jumps on.
	branch := func(i int) (isa.Cond, bool) {
		c, ok := isa.CondOfCompare(op(i))
		if !ok {
			return 0, false
		}
		switch op(i + 1) {
		case isa.JNZ:
			return c, true
		case isa.JZ:
			return c.Negate(), true
		}
		return 0, false
	}
	if avail >= 4 {
		if c, ok := branch(2); ok {
			target := rs[3].a
			switch {
			case op(0) == isa.GET && op(1) == isa.GET:
				return rinstr{op: isa.CondBranch(isa.FormLL, c), b: isa.PackSlots(int32(rs[0].a), int32(rs[1].a)), a: target, aCode: true}, 4
			case op(0) == isa.GET && isImm(1) && fits32(rs[1].b):
				return rinstr{op: isa.CondBranch(isa.FormLI, c), b: isa.PackSlotImm(int32(rs[0].a), int32(rs[1].b)), a: target, aCode: true}, 4
			case op(0) == isa.DUP && isImm(1):
				return rinstr{op: isa.CondBranch(isa.FormDI, c), b: rs[1].b, a: target, aCode: true}, 4
			}
		}
		if op(0) == isa.GET && op(3) == isa.SET && rs[3].a == rs[0].a {
			switch {
			case op(1) == isa.GET && op(2) == isa.ADD:
				return rinstr{op: isa.ADDLL, a: rs[0].a, b: rs[1].a}, 4
			case isImm(1) && op(2) == isa.ADD:
				return rinstr{op: isa.INCL, a: rs[0].a, b: rs[1].b}, 4
			case isImm(1) && op(2) == isa.SUB && rs[1].b != math.MinInt64:
				return rinstr{op: isa.INCL, a: rs[0].a, b: -rs[1].b}, 4
			}
		}
	}
	if avail >= 3 && isImm(0) {
		if c, ok := branch(1); ok {
			return rinstr{op: isa.CondBranch(isa.FormSI, c), b: rs[0].b, a: rs[2].a, aCode: true}, 3
		}
	}
	if avail >= 2 {
		if c, ok := branch(0); ok {
			return rinstr{op: isa.CondBranch(isa.FormSS, c), a: rs[1].a, aCode: true}, 2
		}
		switch {
		case isImm(0) && op(1) == isa.ADD:
			return rinstr{op: isa.ADDI, b: rs[0].b}, 2
		case isImm(0) && op(1) == isa.SUB && rs[0].b != math.MinInt64:
			return rinstr{op: isa.ADDI, b: -rs[0].b}, 2
		case op(0) == isa.SET && op(1) == isa.GET && rs[0].a == rs[1].a:
			return rinstr{op: isa.TEE, a: rs[0].a}, 2
		case op(0) == isa.GET && op(1) == isa.GET:
			return rinstr{op: isa.GET2, a: rs[0].a, b: rs[1].a}, 2
		case op(0) == isa.EQZ && op(1) == isa.JZ:
			return rinstr{op: isa.JNZ, a: rs[1].a, aCode: true}, 2
		case op(0) == isa.EQZ && op(1) == isa.JNZ:
			return rinstr{op: isa.JZ, a: rs[1].a, aCode: true}, 2
		}
	}
	return rinstr{}, 0
}

// threadJumps rewrites "JMP t" where t holds a conditional branch whose
// target is the instruction right after the JMP (the bottom of a while
// loop): the JMP becomes the negated branch to t+1, saving one dispatch per
// iteration with exactly the same effect.
func threadJumps(code []isa.Instr) {
	for pc, in := range code {
		if in.Op != isa.JMP {
			continue
		}
		t := int(in.A)
		tgt := code[t]
		if int(tgt.A) != pc+1 || t+1 >= len(code) || t == pc {
			continue
		}
		if form, c, ok := isa.BranchOf(tgt.Op); ok {
			code[pc] = isa.Instr{Op: isa.CondBranch(form, c.Negate()), A: int32(t + 1), B: tgt.B}
		} else if tgt.Op == isa.JZ || tgt.Op == isa.JNZ {
			code[pc] = isa.Instr{Op: isa.JZ + isa.JNZ - tgt.Op, A: int32(t + 1)}
		}
	}
}

func sortSymbols(syms []isa.Symbol) {
	sort.Slice(syms, func(i, j int) bool {
		if syms[i].Kind != syms[j].Kind {
			return syms[i].Kind < syms[j].Kind
		}
		if syms[i].Value != syms[j].Value {
			return syms[i].Value < syms[j].Value
		}
		return syms[i].Name < syms[j].Name
	})
}
