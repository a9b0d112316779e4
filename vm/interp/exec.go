package interp

import (
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// exitReason is why exec returned.
type exitReason uint8

const (
	exitQuantum    exitReason = iota // the ticks are spent
	exitSlow                         // the instruction at t.pc needs slowOp
	exitGrow                         // the stack needs t.need more words
	exitGrowFrames                   // the call stack needs another frame
	exitThread                       // the thread ended; t.exitValue
	exitTrap                         // t.trapKind (t.trapArg)
)

// exec is the dispatch loop: it runs t from t.pc until its ticks are spent
// or something needs the machine. It calls no function (but a TLB refill on
// a global access's first touch of a page), so the registers (pc, sp, fp,
// fl, the stack and the budget) stay in CPU registers; every other path
// saves them into t and returns. It does not allocate.
func exec(t *Thread, code []isa.Instr, budget int) (int, exitReason) {
	st := t.stack
	pc, sp, fp, fl := t.pc, t.sp, t.fp, t.fl
	gt := directTable(t.p.Global) // global pages held here (global_direct.go)
	gp := t.p.pages               // or all of them, in one store
	var tlb coherence.TLB
	start := budget
	var why exitReason
	for {
		in := &code[pc]
		switch in.Op {
		case isa.NOP:
			pc++
		case isa.PUSH:
			if sp >= len(st) {
				t.need = 1
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
				t.need = 1
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
				t.need = 1
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
				t.need = 1
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
				t.need = l
				goto grow
			}
			for i := sp; i < sp+l; i++ {
				st[i] = 0
			}
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
				t.need = 1
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
				t.need = 2
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
			b := st[sp-1]
			if b == 0 {
				t.trapKind = sys.TrapDivZero
				goto trapped
			}
			sp--
			a := st[sp-1]
			switch in.Op {
			case isa.DIV:
				if b == ^uint64(0) {
					a = -a // MinInt64 / -1 wraps to MinInt64
				} else {
					a = uint64(int64(a) / int64(b))
				}
			case isa.MOD:
				if b == ^uint64(0) {
					a = 0
				} else {
					a = uint64(int64(a) % int64(b))
				}
			case isa.DIVU:
				a /= b
			default:
				a %= b
			}
			st[sp-1] = a
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
			nf := t.nf
			if nf >= len(t.frames) {
				why = exitGrowFrames
				goto save
			}
			t.frames[nf] = frame{ret: int32(pc + 1), fp: int32(fp), fl: int32(fl)}
			t.nf = nf + 1
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
				t.trapKind, t.trapArg = sys.TrapBadJump, tgt
				goto trapped
			}
			nf := t.nf
			if nf >= len(t.frames) {
				why = exitGrowFrames
				goto save
			}
			sp--
			t.frames[nf] = frame{ret: int32(pc + 1), fp: int32(fp), fl: int32(fl)}
			t.nf = nf + 1
			fl = 0
			pc = int(tgt)
			budget--
			if budget <= 0 {
				goto quantum
			}
		case isa.RET:
			nf := t.nf - 1
			if nf < 0 {
				goto threadExit
			}
			f := t.frames[nf]
			t.nf = nf
			pc, fp, fl = int(f.ret), int(f.fp), int(f.fl)
		case isa.RETN:
			n := int(in.A)
			if sp-n < fp || sp < n {
				goto underflow
			}
			for i := 0; i < n; i++ {
				st[fp+i] = st[sp-n+i]
			}
			sp = fp + n
			nf := t.nf - 1
			if nf < 0 {
				goto threadExit
			}
			f := t.frames[nf]
			t.nf = nf
			pc, fp, fl = int(f.ret), int(f.fp), int(f.fl)
		case opEnd:
			t.trapKind, t.trapArg = sys.TrapBadJump, uint64(pc)
			goto trapped
		// BEGIN GENERATED: memory accesses, comparisons and fused branches (go test -run TestGenerated, FLOCK_UPDATE_GEN=1)
		case isa.LOAD:
			if sp < 1 {
				goto underflow
			}
			if a := st[sp-1]; a&isa.GlobalBit == 0 {
				if v, ok := t.local.Word(a); ok {
					st[sp-1] = v
					pc++
					break
				}
			} else if gt != nil {
				v, ok := tlb.Load64(gt, a)
				if !ok && tlb.Fill(gt, a) {
					v, ok = tlb.Load64(gt, a)
				}
				if ok {
					st[sp-1] = v
					pc++
					break
				}
			} else if gp != nil {
				if v, ok := gp.Load64(a); ok {
					st[sp-1] = v
					pc++
					break
				}
			}
			why = exitSlow
			goto save
		case isa.STORE:
			if sp < 2 {
				goto underflow
			}
			if a := st[sp-1]; a&isa.GlobalBit == 0 {
				if a&7 == 0 && t.local.SetWord(a, st[sp-2]) {
					sp -= 2
					pc++
					break
				}
			} else if gt != nil {
				ok := tlb.Store64(gt, a, st[sp-2])
				if !ok && tlb.Fill(gt, a) {
					ok = tlb.Store64(gt, a, st[sp-2])
				}
				if ok {
					sp -= 2
					pc++
					break
				}
			} else if gp != nil && gp.Store64(a, st[sp-2]) {
				sp -= 2
				pc++
				break
			}
			why = exitSlow
			goto save
		case isa.FAA:
			if sp >= 2 && (gt != nil || gp != nil) {
				var old uint64
				var ok bool
				if gt != nil {
					old, ok = tlb.FetchAdd(gt, st[sp-2], st[sp-1])
					if !ok && tlb.Fill(gt, st[sp-2]) {
						old, ok = tlb.FetchAdd(gt, st[sp-2], st[sp-1])
					}
				} else {
					old, ok = gp.FetchAdd(st[sp-2], st[sp-1])
				}
				if ok {
					sp--
					st[sp-1] = old
					pc++
					break
				}
			}
			why = exitSlow
			goto save
		case isa.CAS:
			if sp >= 3 && (gt != nil || gp != nil) {
				var swapped, ok bool
				if gt != nil {
					swapped, ok = tlb.CompareAndSwap(gt, st[sp-3], st[sp-2], st[sp-1])
					if !ok && tlb.Fill(gt, st[sp-3]) {
						swapped, ok = tlb.CompareAndSwap(gt, st[sp-3], st[sp-2], st[sp-1])
					}
				} else {
					swapped, ok = gp.CompareAndSwap(st[sp-3], st[sp-2], st[sp-1])
				}
				if ok {
					var r uint64
					if swapped {
						r = 1
					}
					sp -= 2
					st[sp-1] = r
					pc++
					break
				}
			}
			why = exitSlow
			goto save
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
		case isa.JEQ:
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
		case isa.JNE:
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
		case isa.JLT:
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
		case isa.JLE:
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
		case isa.JGT:
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
		case isa.JGE:
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
		case isa.JLTU:
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
		case isa.JLEU:
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
		case isa.JGTU:
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
		case isa.JGEU:
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
		case isa.JEQI:
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
		case isa.JNEI:
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
		case isa.JLTI:
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
		case isa.JLEI:
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
		case isa.JGTI:
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
		case isa.JGEI:
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
		case isa.JLTUI:
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
		case isa.JLEUI:
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
		case isa.JGTUI:
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
		case isa.JGEUI:
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
		case isa.JEQDI:
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
		case isa.JNEDI:
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
		case isa.JLTDI:
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
		case isa.JLEDI:
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
		case isa.JGTDI:
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
		case isa.JGEDI:
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
		case isa.JLTUDI:
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
		case isa.JLEUDI:
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
		case isa.JGTUDI:
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
		case isa.JGEUDI:
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
		case isa.JEQLL:
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
		case isa.JNELL:
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
		case isa.JLTLL:
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
		case isa.JLELL:
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
		case isa.JGTLL:
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
		case isa.JGELL:
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
		case isa.JLTULL:
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
		case isa.JLEULL:
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
		case isa.JGTULL:
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
		case isa.JGEULL:
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
		case isa.JEQLI:
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
		case isa.JNELI:
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
		case isa.JLTLI:
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
		case isa.JLELI:
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
		case isa.JGTLI:
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
		case isa.JGELI:
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
		case isa.JLTULI:
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
		case isa.JLEULI:
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
		case isa.JGTULI:
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
		case isa.JGEULI:
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
			why = exitSlow
			goto save
		}
		continue

	save:
		t.pc, t.sp, t.fp, t.fl, t.stack = pc, sp, fp, fl, st
		return start - budget, why

	grow:
		why = exitGrow
		goto save

	quantum:
		why = exitQuantum
		goto save

	threadExit:
		t.exitValue = 0
		if sp > 0 {
			t.exitValue = st[sp-1]
		}
		why = exitThread
		goto save

	underflow:
		t.trapKind = sys.TrapStackUnderflow
		goto trapped
	badLocal:
		t.trapKind = sys.TrapBadLocal
	trapped:
		why = exitTrap
		goto save
	}
}
