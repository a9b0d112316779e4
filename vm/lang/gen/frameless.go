package gen

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// Code before the frame: the word parameters are still the top words of
// the stack, where the caller pushed them, so leading guards and, for a
// function of one parameter, a whole body run without ENTER.

func (f *fnGen) lazyPrologue() bool {
	if f.fn == nil || f.hasFrame {
		return false
	}
	for _, r := range f.resultPtrs {
		if r >= 0 {
			return false
		}
	}
	for _, p := range f.fn.Params {
		if check.ClassOf(p.Type) != check.ClassWord {
			return false
		}
	}
	return true
}

// guard reports whether an if can run before the frame: no else, a
// condition on parameters and constants, a body of one return of such
// values.
func (f *fnGen) guard(s *ast.If) bool {
	if s.Else != nil || len(s.Then.Stmts) != 1 || !f.paramOnly(s.Cond) {
		return false
	}
	r, ok := s.Then.Stmts[0].(*ast.Return)
	if !ok || len(r.Results) != len(f.results) {
		return false
	}
	for _, e := range r.Results {
		if !f.paramOnly(e) {
			return false
		}
	}
	return true
}

// paramOnly reports whether e uses only word parameters, constants and
// integer, bool and comparison operators (no calls, no memory).
func (f *fnGen) paramOnly(e ast.Expr) bool { return f.wordsOnly(e, nil) }

// wordsOnly reports whether e uses only constants, parameters (only p if p
// is set), integer, bool and comparison operators and conversions; with p
// set, also calls of named functions taking and returning words (but not
// && and ||).
func (f *fnGen) wordsOnly(e ast.Expr, p *check.Var) bool {
	info := f.g.info
	tv := info.Types[e]
	if tv.Mode == check.ModeConst {
		return tv.Value.Kind != check.ValString
	}
	switch e := e.(type) {
	case *ast.Paren:
		return f.wordsOnly(e.X, p)
	case *ast.Ident:
		v, ok := info.Uses[e].(*check.Var)
		if p != nil {
			return v == p
		}
		return ok && v.Param && check.ClassOf(v.Type) == check.ClassWord
	case *ast.Unary:
		return (e.Op == "-" || e.Op == "!" || e.Op == "~") && f.wordsOnly(e.X, p)
	case *ast.As:
		return check.ClassOf(tv.Type) == check.ClassWord && f.wordsOnly(e.X, p)
	case *ast.Binary:
		if _, ok := f.typeOf(e.X).(*check.Basic); !ok && p == nil || f.isStringCompare(e) {
			return false
		}
		if p != nil && (e.Op == "&&" || e.Op == "||") {
			return false
		}
		return f.wordsOnly(e.X, p) && f.wordsOnly(e.Y, p)
	case *ast.Call:
		ci := info.Calls[e]
		if p == nil || ci == nil || ci.Kind != check.CallFunc || len(ci.Sig.Results) != 1 || check.ClassOf(ci.Sig.Results[0]) != check.ClassWord {
			return false
		}
		for i, a := range e.Args {
			if check.ClassOf(ci.Sig.Params[i]) != check.ClassWord || !f.wordsOnly(a, p) {
				return false
			}
		}
		return true
	}
	return false
}

// wordGen emits a wordsOnly expression with the parameters still on the
// stack, under depth words pushed since.
type wordGen struct {
	f     *fnGen
	depth int
	// one: the one-parameter mode (stackReturn): the last read of the
	// parameter moves it to the top instead of copying it.
	one *oneParam
}

type oneParam struct {
	last     *ast.Ident
	consumed bool
}

func (w *wordGen) expr(e ast.Expr) {
	f := w.f
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		f.push(tv.Value.Uint64())
		w.depth++
		return
	}
	switch e := e.(type) {
	case *ast.Paren:
		w.expr(e.X)
	case *ast.Ident:
		w.param(e)
	case *ast.Unary:
		w.expr(e.X)
		f.unaryOp(e.Op, tv.Type)
	case *ast.As:
		w.expr(e.X)
		if isByteSized(tv.Type) && !isByteSized(f.typeOf(e.X)) {
			f.push(0xff)
			f.emit(isa.AND)
		}
	case *ast.Binary:
		if e.Op == "&&" || e.Op == "||" {
			no, end := f.g.newLabel(), f.g.newLabel()
			f.condWith(w, e, no, false)
			f.push(1)
			f.jump(isa.JMP, end)
			f.place(no)
			f.push(0)
			f.place(end)
			w.depth++
			return
		}
		w.expr(e.X)
		w.expr(e.Y)
		f.cur = astPos(e.OpAt)
		f.binaryOp(e, tv.Type)
		w.depth--
	case *ast.Call:
		for _, a := range e.Args {
			w.expr(a)
		}
		f.cur = astPos(e.Lparen)
		f.jump(isa.CALL, f.g.funcLabel(f.g.info.Calls[e].Func))
		w.depth -= len(e.Args) - 1
	default:
		panic(fmt.Sprintf("gen: word expression %T", e))
	}
}

// param pushes a parameter: a copy from below (DUP, OVER, PICK), or, for
// the last read in the one-parameter mode near the top, the parameter
// itself moved up (SWAP, ROT), which leaves nothing to drop at the end.
func (w *wordGen) param(id *ast.Ident) {
	f := w.f
	if w.one != nil && id == w.one.last && w.depth <= 2 {
		switch w.depth {
		case 1:
			f.emit(isa.SWAP)
		case 2:
			f.emit(isa.ROT)
		}
		w.one.consumed = true
		return
	}
	v := f.g.info.Uses[id].(*check.Var)
	switch k := w.depth + f.nparamWords - 1 - f.vars[v].slot; k {
	case 0:
		f.emit(isa.DUP)
	case 1:
		f.emit(isa.OVER)
	default:
		f.emitA(isa.PICK, k)
	}
	w.depth++
}

// value and popped make wordGen a condEmitter.
func (w *wordGen) value(e ast.Expr) { w.expr(e) }
func (w *wordGen) popped(n int)     { w.depth -= n }

// unframedGuard generates a guard before the frame exists.
func (f *fnGen) unframedGuard(s *ast.If) {
	saved := f.at(s.At)
	defer f.restorePos(saved)
	w := &wordGen{f: f}
	skip := f.g.newLabel()
	f.condWith(w, s.Cond, skip, false)
	r := s.Then.Stmts[0].(*ast.Return)
	f.at(r.At)
	switch {
	case f.nparamWords == 1 && len(r.Results) == 1 && f.isParam0(r.Results[0]):
		// The argument is the result, already in place.
		f.emit(isa.RET)
	case f.nparamWords == 0:
		for _, e := range r.Results {
			w.expr(e)
		}
		f.emit(isa.RET)
	case f.stackReturn(r):
	default:
		f.ensureFramed()
		f.stmt(r)
		f.framed = false
	}
	f.place(skip)
}

func (f *fnGen) isParam0(e ast.Expr) bool {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok {
		return false
	}
	v, ok := f.g.info.Uses[id].(*check.Var)
	return ok && v.Param && f.vars[v].slot == 0 && f.g.info.Types[e].Mode != check.ModeConst
}

// stackReturn generates `return e` in a function of one word parameter and
// one word result whose frame was never made, keeping the parameter on the
// stack instead of in a frame slot: this is how one writes fib by hand. It
// reports false (emitting nothing) when e does not qualify.
func (f *fnGen) stackReturn(r *ast.Return) bool {
	if f.fn == nil || f.hasFrame || f.nparamWords != 1 || len(f.fn.Params) != 1 || len(f.results) != 1 || len(r.Results) != 1 {
		return false
	}
	p := f.fn.Params[0]
	if check.ClassOf(p.Type) != check.ClassWord || check.ClassOf(f.results[0]) != check.ClassWord || p.AddrTaken || f.assigns(p) {
		return false
	}
	e := r.Results[0]
	if !f.wordsOnly(e, p) {
		return false
	}
	w := &wordGen{f: f, one: &oneParam{last: lastUse(f.g.info, e, p)}}
	saved := f.at(r.At)
	defer f.restorePos(saved)
	w.expr(e)
	if !w.one.consumed {
		// ( p r -- r )
		f.emit(isa.SWAP)
		f.emit(isa.DROP)
	}
	f.emit(isa.RET)
	return true
}

// assigns reports whether the function's body assigns to v.
func (f *fnGen) assigns(v *check.Var) bool {
	found := false
	target := func(e ast.Expr) {
		if id, ok := ast.Unparen(e).(*ast.Ident); ok && f.g.info.Uses[id] == v {
			found = true
		}
	}
	ast.Inspect(f.fn.Decl.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Assign:
			for _, l := range n.Lhs {
				target(l)
			}
		case *ast.IncDec:
			target(n.X)
		}
		return !found
	})
	return found
}

// lastUse is the read of p that is evaluated last in e.
func lastUse(info *check.Info, e ast.Expr, p *check.Var) *ast.Ident {
	var last *ast.Ident
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && info.Uses[id] == p {
			last = id
		}
		return true
	})
	return last
}
