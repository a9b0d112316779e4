package interp

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// exec is the dispatch loop: it runs t until its ticks are spent or it
// parks, yields, ends or traps. Registers live in locals; the loop does not
// allocate. Operations outside the hot set go through slowOp with the
// registers saved in t.
func (m *Machine) exec(t *Thread, budget int) (int, stopReason) {
	code := t.p.code
	st := t.stack
	fr := t.frames
	local := t.local
	pc, sp, fp, fl, nf := t.pc, t.sp, t.fp, t.fl, t.nf
	start := budget
	need := 0
	var trap sys.Trap
	var detail string
	var act action
	for {
		in := &code[pc]
		switch in.Op {
		case isa.NOP:
			pc++
		case isa.PUSH:
			if sp >= len(st) {
				need = 1
				goto grow
			}
			st[sp] = uint64(in.B)
			sp++
			pc++
		case isa.DROP:
			if sp < 1 {
				goto underflow
			}
			sp--
			pc++
		case isa.DUP:
			if sp < 1 {
				goto underflow
			}
			if sp >= len(st) {
				need = 1
				goto grow
			}
			st[sp] = st[sp-1]
			sp++
			pc++
		case isa.SWAP:
			if sp < 2 {
				goto underflow
			}
			st[sp-1], st[sp-2] = st[sp-2], st[sp-1]
			pc++
		case isa.OVER:
			if sp < 2 {
				goto underflow
			}
			if sp >= len(st) {
				need = 1
				goto grow
			}
			st[sp] = st[sp-2]
			sp++
			pc++
		case isa.ROT:
			if sp < 3 {
				goto underflow
			}
			st[sp-3], st[sp-2], st[sp-1] = st[sp-2], st[sp-1], st[sp-3]
			pc++
		case isa.PICK:
			n := int(in.A)
			if sp < n+1 {
				goto underflow
			}
			if sp >= len(st) {
				need = 1
				goto grow
			}
			st[sp] = st[sp-1-n]
			sp++
			pc++
		case isa.ENTER:
			a, l := int(in.A), int(in.B)
			if sp < a {
				goto underflow
			}
			if sp+l > len(st) {
				need = l
				goto grow
			}
			clear(st[sp : sp+l])
			fp = sp - a
			fl = a + l
			sp += l
			pc++
		case isa.GET:
			k := int(in.A)
			if k >= fl {
				goto badLocal
			}
			if sp >= len(st) {
				need = 1
				goto grow
			}
			st[sp] = st[fp+k]
			sp++
			pc++
		case isa.SET:
			k := int(in.A)
			if k >= fl {
				goto badLocal
			}
			if sp < 1 {
				goto underflow
			}
			sp--
			st[fp+k] = st[sp]
			pc++
		case isa.TEE:
			k := int(in.A)
			if k >= fl {
				goto badLocal
			}
			if sp < 1 {
				goto underflow
			}
			st[fp+k] = st[sp-1]
			pc++
		case isa.GET2:
			a, b := int(in.A), int(in.B)
			if a >= fl || b >= fl {
				goto badLocal
			}
			if sp+2 > len(st) {
				need = 2
				goto grow
			}
			st[sp] = st[fp+a]
			st[sp+1] = st[fp+b]
			sp += 2
			pc++
		case isa.INCL:
			k := int(in.A)
			if k >= fl {
				goto badLocal
			}
			st[fp+k] += uint64(in.B)
			pc++
		case isa.ADDLL:
			a, b := int(in.A), int(in.B)
			if a >= fl || b >= fl {
				goto badLocal
			}
			st[fp+a] += st[fp+b]
			pc++
		case isa.ADDI:
			if sp < 1 {
				goto underflow
			}
			st[sp-1] += uint64(in.B)
			pc++
		case isa.ADD:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] += st[sp]
			pc++
		case isa.SUB:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] -= st[sp]
			pc++
		case isa.MUL:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] *= st[sp]
			pc++
		case isa.DIV, isa.MOD, isa.DIVU, isa.MODU:
			if sp < 2 {
				goto underflow
			}
			if st[sp-1] == 0 {
				trap = sys.TrapDivZero
				goto trapped
			}
			sp--
			st[sp-1] = divide(in.Op, st[sp-1], st[sp])
			pc++
		case isa.NEG:
			if sp < 1 {
				goto underflow
			}
			st[sp-1] = -st[sp-1]
			pc++
		case isa.AND:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] &= st[sp]
			pc++
		case isa.OR:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] |= st[sp]
			pc++
		case isa.XOR:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] ^= st[sp]
			pc++
		case isa.NOT:
			if sp < 1 {
				goto underflow
			}
			st[sp-1] = ^st[sp-1]
			pc++
		case isa.SHL:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] <<= st[sp] & 63
			pc++
		case isa.SHR:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] >>= st[sp] & 63
			pc++
		case isa.SAR:
			if sp < 2 {
				goto underflow
			}
			sp--
			st[sp-1] = uint64(int64(st[sp-1]) >> (st[sp] & 63))
			pc++
		case isa.EQZ:
			if sp < 1 {
				goto underflow
			}
			var r uint64
			if st[sp-1] == 0 {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.JMP:
			tgt := int(in.A)
			if tgt <= pc {
				budget -= pc - tgt + 1
				if budget <= 0 {
					pc = tgt
					goto quantum
				}
			}
			pc = tgt
		case isa.JZ, isa.JNZ:
			if sp < 1 {
				goto underflow
			}
			sp--
			if (st[sp] == 0) == (in.Op == isa.JZ) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case isa.CALL:
			if nf >= len(fr) {
				goto growFrames
			}
			fr[nf] = frame{ret: int32(pc + 1), fp: int32(fp), fl: int32(fl)}
			nf++
			fl = 0
			pc = int(in.A)
			budget--
			if budget <= 0 {
				goto quantum
			}
		case isa.CALLI:
			if sp < 1 {
				goto underflow
			}
			tgt := st[sp-1]
			if tgt >= uint64(len(code)-1) {
				trap, detail = sys.TrapBadJump, fmt.Sprintf("code address %d", tgt)
				goto trapped
			}
			if nf >= len(fr) {
				goto growFrames
			}
			sp--
			fr[nf] = frame{ret: int32(pc + 1), fp: int32(fp), fl: int32(fl)}
			nf++
			fl = 0
			pc = int(tgt)
			budget--
			if budget <= 0 {
				goto quantum
			}
		case isa.RET:
			if nf == 0 {
				goto threadExit
			}
			nf--
			pc, fp, fl = int(fr[nf].ret), int(fr[nf].fp), int(fr[nf].fl)
		case isa.RETN:
			n := int(in.A)
			if sp-n < fp || sp < n {
				goto underflow
			}
			copy(st[fp:], st[sp-n:sp])
			sp = fp + n
			if nf == 0 {
				goto threadExit
			}
			nf--
			pc, fp, fl = int(fr[nf].ret), int(fr[nf].fp), int(fr[nf].fl)
		case isa.LOAD:
			if sp < 1 {
				goto underflow
			}
			if v, ok := local.Word(st[sp-1]); ok {
				st[sp-1] = v
				pc++
				break
			}
			goto slow
		case isa.STORE:
			if sp < 2 {
				goto underflow
			}
			if local.SetWord(st[sp-1], st[sp-2]) {
				sp -= 2
				pc++
				break
			}
			goto slow
		case opEnd:
			trap, detail = sys.TrapBadJump, "ran past the last instruction"
			goto trapped
		// BEGIN GENERATED: comparisons and fused branches (go test -run TestGenerated, FLOCK_UPDATE_GEN=1)
		case isa.EQ:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] == st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.NE:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] != st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.LT:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if int64(st[sp-1]) < int64(st[sp]) {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.LE:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if int64(st[sp-1]) <= int64(st[sp]) {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.GT:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if int64(st[sp-1]) > int64(st[sp]) {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.GE:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if int64(st[sp-1]) >= int64(st[sp]) {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.LTU:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] < st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.LEU:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] <= st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.GTU:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] > st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case isa.GEU:
			if sp < 2 {
				goto underflow
			}
			sp--
			var r uint64
			if st[sp-1] >= st[sp] {
				r = 1
			}
			st[sp-1] = r
			pc++
		case 85: // JEQ
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] == st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 86: // JNE
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] != st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 87: // JLT
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if int64(st[sp]) < int64(st[sp+1]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 88: // JLE
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if int64(st[sp]) <= int64(st[sp+1]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 89: // JGT
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if int64(st[sp]) > int64(st[sp+1]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 90: // JGE
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if int64(st[sp]) >= int64(st[sp+1]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 91: // JLTU
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] < st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 92: // JLEU
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] <= st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 93: // JGTU
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] > st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 94: // JGEU
			if sp < 2 {
				goto underflow
			}
			sp -= 2
			if st[sp] >= st[sp+1] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 95: // JEQI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] == uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 96: // JNEI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] != uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 97: // JLTI
			if sp < 1 {
				goto underflow
			}
			sp--
			if int64(st[sp]) < int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 98: // JLEI
			if sp < 1 {
				goto underflow
			}
			sp--
			if int64(st[sp]) <= int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 99: // JGTI
			if sp < 1 {
				goto underflow
			}
			sp--
			if int64(st[sp]) > int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 100: // JGEI
			if sp < 1 {
				goto underflow
			}
			sp--
			if int64(st[sp]) >= int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 101: // JLTUI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] < uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 102: // JLEUI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] <= uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 103: // JGTUI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] > uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 104: // JGEUI
			if sp < 1 {
				goto underflow
			}
			sp--
			if st[sp] >= uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 105: // JEQDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] == uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 106: // JNEDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] != uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 107: // JLTDI
			if sp < 1 {
				goto underflow
			}
			if int64(st[sp-1]) < int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 108: // JLEDI
			if sp < 1 {
				goto underflow
			}
			if int64(st[sp-1]) <= int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 109: // JGTDI
			if sp < 1 {
				goto underflow
			}
			if int64(st[sp-1]) > int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 110: // JGEDI
			if sp < 1 {
				goto underflow
			}
			if int64(st[sp-1]) >= int64(uint64(in.B)) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 111: // JLTUDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] < uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 112: // JLEUDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] <= uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 113: // JGTUDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] > uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 114: // JGEUDI
			if sp < 1 {
				goto underflow
			}
			if st[sp-1] >= uint64(in.B) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 115: // JEQLL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] == st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 116: // JNELL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] != st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 117: // JLTLL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) < int64(st[fp+b]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 118: // JLELL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) <= int64(st[fp+b]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 119: // JGTLL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) > int64(st[fp+b]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 120: // JGELL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) >= int64(st[fp+b]) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 121: // JLTULL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] < st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 122: // JLEULL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] <= st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 123: // JGTULL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] > st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 124: // JGEULL
			a, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))
			if a >= fl || b >= fl {
				goto badLocal
			}
			if st[fp+a] >= st[fp+b] {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 125: // JEQLI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] == uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 126: // JNELI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] != uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 127: // JLTLI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) < int64(uint64(int64(isa.Hi(in.B)))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 128: // JLELI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) <= int64(uint64(int64(isa.Hi(in.B)))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 129: // JGTLI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) > int64(uint64(int64(isa.Hi(in.B)))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 130: // JGELI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if int64(st[fp+a]) >= int64(uint64(int64(isa.Hi(in.B)))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 131: // JLTULI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] < uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 132: // JLEULI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] <= uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 133: // JGTULI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] > uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		case 134: // JGEULI
			a := int(isa.Lo(in.B))
			if a >= fl {
				goto badLocal
			}
			if st[fp+a] >= uint64(int64(isa.Hi(in.B))) {
				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
		// END GENERATED
		default:
			goto slow
		}
		continue

	slow:
		t.pc, t.sp, t.fp, t.fl, t.nf, t.stack, t.frames = pc, sp, fp, fl, nf, st, fr
		act = m.slowOp(t)
		switch act {
		case actNext:
			st, fr, local = t.stack, t.frames, t.local
			pc, sp, fp, fl, nf = t.pc, t.sp, t.fp, t.fl, t.nf
			continue
		case actYield:
			return start - budget, stopYield
		case actPark:
			return start - budget, stopPark
		}
		return start - budget, stopGone

	grow:
		t.stack = st
		if !m.growStack(t, sp, need) {
			goto overflow
		}
		st = t.stack
		continue

	growFrames:
		t.frames, t.nf = fr, nf
		if !m.growFrames(t) {
			goto overflow
		}
		fr = t.frames
		continue

	quantum:
		t.pc, t.sp, t.fp, t.fl, t.nf, t.stack, t.frames = pc, sp, fp, fl, nf, st, fr
		return start - budget, stopQuantum

	threadExit:
		{
			var v uint64
			if sp > 0 {
				v = st[sp-1]
			}
			t.pc, t.sp = pc, sp
			m.exitThread(t, v)
			return start - budget, stopGone
		}

	underflow:
		trap = sys.TrapStackUnderflow
		goto trapped
	overflow:
		trap = sys.TrapStackOverflow
		goto trapped
	badLocal:
		trap, detail = sys.TrapBadLocal, fmt.Sprintf("frame has %d slots", fl)
	trapped:
		t.pc, t.sp, t.opPC = pc, sp, pc
		m.trapThread(t, trap, detail)
		return start - budget, stopGone
	}
}

func divide(op isa.Op, a, b uint64) uint64 {
	switch op {
	case isa.DIV:
		return uint64(int64(a) / int64(b))
	case isa.MOD:
		return uint64(int64(a) % int64(b))
	case isa.DIVU:
		return a / b
	}
	return a % b
}
