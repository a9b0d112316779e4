package gen

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// cond emits a jump to label taken when e (a bool) equals jumpIf, falling
// through otherwise. Comparisons become a compare and a branch, which the
// peephole pass fuses into one instruction.
func (f *fnGen) cond(e ast.Expr, label int, jumpIf bool) {
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		if tv.Value.Bool == jumpIf {
			f.jump(isa.JMP, label)
		}
		return
	}
	switch x := e.(type) {
	case *ast.Paren:
		f.cond(x.X, label, jumpIf)
		return
	case *ast.Unary:
		if x.Op == "!" {
			f.cond(x.X, label, !jumpIf)
			return
		}
	case *ast.Binary:
		switch x.Op {
		case "&&", "||":
			// a && b jumps on false when either is false; on true only when
			// both are. || is the mirror image.
			and := x.Op == "&&"
			if jumpIf != and {
				f.cond(x.X, label, jumpIf)
				f.cond(x.Y, label, jumpIf)
				return
			}
			skip := f.g.newLabel()
			f.cond(x.X, skip, !jumpIf)
			f.cond(x.Y, label, jumpIf)
			f.place(skip)
			return
		case "==", "!=", "<", "<=", ">", ">=":
			if f.isStringCompare(x) {
				f.stringCompare(x)
				f.jump(pick(jumpIf, isa.JNZ, isa.JZ), label)
				return
			}
			f.expr(x.X)
			f.expr(x.Y)
			op := f.compareOp(x)
			if !jumpIf {
				c, _ := isa.CondOfCompare(op)
				op = isa.EQ + isa.Op(c.Negate())
			}
			f.emit(op)
			f.jump(isa.JNZ, label)
			return
		}
	}
	f.expr(e)
	f.jump(pick(jumpIf, isa.JNZ, isa.JZ), label)
}

// stringCompare pushes 1 if the string comparison holds, else 0.
func (f *fnGen) stringCompare(e *ast.Binary) {
	f.expr(e.X)
	f.expr(e.Y)
	switch e.Op {
	case "==":
		f.callRuntime("str_eq")
	case "!=":
		f.callRuntime("str_eq")
		f.emit(isa.EQZ)
	default:
		f.callRuntime("str_cmp")
		f.push(0)
		f.emit(isa.EQ + isa.Op(condOf(e.Op, false)))
	}
}
