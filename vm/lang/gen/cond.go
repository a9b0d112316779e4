package gen

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// condEmitter evaluates the operands of a condition: the frame's
// expressions, or the words-only code before the frame.
type condEmitter interface {
	value(e ast.Expr) // pushes e's word
	popped(n int)     // a branch consumed n words
}

type frameEmitter struct{ f *fnGen }

func (e frameEmitter) value(x ast.Expr) { e.f.expr(x) }
func (frameEmitter) popped(int)         {}

var comparisons = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

// cond emits a jump to label taken when e (a bool) equals jumpIf, falling
// through otherwise. Comparisons become a compare and a branch, which the
// peephole pass fuses into one instruction.
func (f *fnGen) cond(e ast.Expr, label int, jumpIf bool) {
	f.condWith(frameEmitter{f}, e, label, jumpIf)
}

func (f *fnGen) condWith(em condEmitter, e ast.Expr, label int, jumpIf bool) {
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
		f.condWith(em, x.X, label, jumpIf)
		return
	case *ast.Unary:
		if x.Op == "!" {
			f.condWith(em, x.X, label, !jumpIf)
			return
		}
	case *ast.Binary:
		switch x.Op {
		case "&&", "||":
			// a && b jumps on false when either is false; on true only when
			// both are. || is the mirror image.
			and := x.Op == "&&"
			if jumpIf != and {
				f.condWith(em, x.X, label, jumpIf)
				f.condWith(em, x.Y, label, jumpIf)
				return
			}
			skip := f.g.newLabel()
			f.condWith(em, x.X, skip, !jumpIf)
			f.condWith(em, x.Y, label, jumpIf)
			f.place(skip)
			return
		case "==", "!=", "<", "<=", ">", ">=":
			if f.isStringCompare(x) {
				f.stringCompare(x)
				f.jump(pick(jumpIf, isa.JNZ, isa.JZ), label)
				return
			}
			em.value(x.X)
			em.value(x.Y)
			op := f.compareOp(x)
			if !jumpIf {
				c, _ := isa.CondOfCompare(op)
				op = isa.EQ + isa.Op(c.Negate())
			}
			f.emit(op)
			f.jump(isa.JNZ, label)
			em.popped(2)
			return
		}
	}
	em.value(e)
	f.jump(pick(jumpIf, isa.JNZ, isa.JZ), label)
	em.popped(1)
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
