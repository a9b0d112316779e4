package asm

import "github.com/flockvm/flock/vm/isa"

// Optimize runs the assembler's peephole pass (superinstructions and jump
// threading, exactly as Assemble does) over code built by another front end,
// the Flock compiler. Jump, call and spawn targets are pcs in code; codeImm
// marks PUSHes whose immediate is a code address (nil: none). Every target
// and the entry stays an instruction boundary. It returns the new code and,
// for each new pc, origin: the old pc its instruction (or fused sequence)
// started at. Targets in the result are new pcs.
func Optimize(code []isa.Instr, pos []isa.Pos, codeImm []bool, entry int) (out []isa.Instr, origin []int) {
	labels := map[int]bool{entry: true}
	rs := make([]rinstr, len(code))
	for i, in := range code {
		r := rinstr{op: in.Op, a: int64(in.A), b: in.B, sourceIndex: i}
		if i < len(pos) {
			r.pos = pos[i]
		}
		if in.Op.HasTarget() {
			r.aCode = true
			labels[int(in.A)] = true
		}
		if codeImm != nil && codeImm[i] {
			r.bCode = true
			labels[int(in.B)] = true
		}
		rs[i] = r
	}
	rs = fuse(rs, labels)
	newIndex := make([]int, len(code)+1)
	for i := range newIndex {
		newIndex[i] = -1
	}
	for pc, r := range rs {
		newIndex[r.sourceIndex] = pc
	}
	next := len(rs)
	for i := len(code); i >= 0; i-- {
		if newIndex[i] >= 0 {
			next = newIndex[i]
		} else {
			newIndex[i] = next
		}
	}
	out = make([]isa.Instr, len(rs))
	origin = make([]int, len(rs))
	for pc, r := range rs {
		in := isa.Instr{Op: r.op, A: int32(r.a), B: r.b}
		if r.aCode {
			in.A = int32(newIndex[r.a])
		}
		if r.bCode {
			in.B = int64(newIndex[r.b])
		}
		out[pc] = in
		origin[pc] = r.sourceIndex
	}
	threadJumps(out)
	return out, origin
}
