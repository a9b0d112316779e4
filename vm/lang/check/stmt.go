package check

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/ast"
)

func (c *checker) funcBody(f *FuncObj) {
	if f.Sig == nil || f.Decl.Body == nil {
		return
	}
	c.fn = f
	c.scope = newScope(f.Module.Scope)
	c.loops = 0
	for _, p := range f.Params {
		c.declare(c.scope, p.Name, p, p.At)
	}
	c.stmtList(f.Decl.Body.Stmts)
	if len(f.Sig.Results) > 0 && !c.terminates(f.Decl.Body) {
		c.errorf(f.Decl.Body.Rbrace, "missing return at the end of %s", f.Name)
	}
	c.fn, c.scope = nil, nil
}

func (c *checker) openScope()  { c.scope = newScope(c.scope) }
func (c *checker) closeScope() { c.scope = c.scope.parent }

func (c *checker) stmtList(list []ast.Stmt) {
	for _, s := range list {
		c.stmt(s)
	}
}

func (c *checker) block(b *ast.Block) {
	c.openScope()
	c.stmtList(b.Stmts)
	c.closeScope()
}

func (c *checker) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.ExprStmt:
		c.exprStmt(s)
	case *ast.Define:
		c.define(s)
	case *ast.Assign:
		c.assign(s)
	case *ast.IncDec:
		x := c.value(s.X)
		if x.mode == ModeInvalid {
			return
		}
		if x.mode != ModeVar {
			c.errorf(s.X.Pos(), "cannot assign to %s", describeExpr(s.X))
		} else if !IsInteger(x.typ) {
			c.errorf(s.X.Pos(), "%s needs an integer, not %s", s.Op, x.typ)
		}
	case *ast.VarDecl:
		c.localVar(s)
	case *ast.ConstDecl:
		k := &Const{Name: s.Name.Name, At: s.Name.At, Module: c.mod, Decl: s, state: 1}
		c.constDecl(k, s)
		k.state = 2
		c.declare(c.scope, s.Name.Name, k, s.Name.At)
		c.info.Defs[s.Name] = k
	case *ast.If:
		c.cond(s.Cond, "if")
		c.block(s.Then)
		if s.Else != nil {
			c.stmt(s.Else)
		}
	case *ast.While:
		c.cond(s.Cond, "while")
		c.loops++
		c.block(s.Body)
		c.loops--
	case *ast.For:
		c.openScope()
		if s.Init != nil {
			c.stmt(s.Init)
		}
		if s.Cond != nil {
			c.cond(s.Cond, "for")
		}
		if s.Post != nil {
			if _, ok := s.Post.(*ast.Define); ok {
				c.errorf(s.Post.Pos(), "the post statement of a for loop cannot declare names")
			}
			c.stmt(s.Post)
		}
		c.loops++
		c.block(s.Body)
		c.loops--
		c.closeScope()
	case *ast.ForIn:
		c.forIn(s)
	case *ast.Branch:
		if c.loops == 0 {
			c.errorf(s.At, "%s outside a loop", s.Tok)
		}
	case *ast.Return:
		c.returnStmt(s)
	case *ast.Block:
		c.block(s)
	}
}

func (c *checker) exprStmt(s *ast.ExprStmt) {
	e := ast.Unparen(s.X)
	switch e.(type) {
	case *ast.Call, *ast.Spawn:
		c.expr(s.X)
		return
	}
	x := c.expr(s.X)
	if x.mode != ModeInvalid {
		c.errorf(s.X.Pos(), "%s is evaluated but not used", describeExpr(s.X))
	}
}

func (c *checker) cond(e ast.Expr, what string) {
	x := c.value(e)
	if x.mode != ModeInvalid && !isBasic(x.typ, Bool) {
		c.errorf(e.Pos(), "the condition of %s must be a bool, not %s", what, x.typ)
	}
}

// values checks the right side of := or =: either n expressions, or one
// call returning n values. It returns the types (nil entries for errors).
func (c *checker) values(rhs []ast.Expr, n int, what string, at ast.Pos) ([]operand, bool) {
	if len(rhs) == 1 && n > 1 {
		x := c.expr(rhs[0])
		if x.mode == ModeInvalid {
			return nil, false
		}
		t, ok := x.typ.(*Tuple)
		if !ok || len(t.Types) != n {
			got := 1
			if ok {
				got = len(t.Types)
			}
			c.errorf(at, "%s: %d names but %d value%s", what, n, got, plural(got))
			return nil, false
		}
		out := make([]operand, n)
		for i, tt := range t.Types {
			out[i] = operand{mode: ModeValue, typ: tt}
		}
		return out, true
	}
	if len(rhs) != n {
		c.errorf(at, "%s: %d names but %d values", what, n, len(rhs))
		c.args(rhs)
		return nil, false
	}
	out := make([]operand, n)
	ok := true
	for i, e := range rhs {
		out[i] = c.value(e)
		if out[i].mode == ModeInvalid {
			ok = false
		}
	}
	return out, ok
}

func (c *checker) define(s *ast.Define) {
	xs, ok := c.values(s.Values, len(s.Names), ":=", s.OpAt)
	tuple := len(s.Values) == 1 && len(s.Names) > 1
	for i, n := range s.Names {
		t := Type(TypInvalid)
		if ok {
			x := xs[i]
			if tuple {
				t = x.typ
			} else {
				t = c.defaultType(&x, s.Values[i])
				if !IsInvalid(t) {
					c.convertTo(s.Values[i], &x, t, "the declaration of "+n.Name)
				}
			}
		}
		if n.Name == "_" {
			continue
		}
		if prev := c.scope.LookupLocal(n.Name); prev != nil {
			c.errorf(n.At, "%s is already declared in this block; assign with =", n.Name)
			continue
		}
		v := &Var{Name: n.Name, At: n.At, Type: t, Kind: VarLocal, Module: c.mod}
		c.declare(c.scope, n.Name, v, n.At)
		c.info.Defs[n] = v
	}
}

func (c *checker) localVar(s *ast.VarDecl) {
	if s.Global {
		// The parser reported it; check the rest as a plain var.
		s.Global = false
	}
	var t Type
	if s.Type != nil {
		t = c.typeExpr(s.Type)
	}
	if s.Value != nil {
		var x operand
		if t != nil {
			x = c.value(s.Value)
		} else {
			x = c.expr(s.Value)
			t = c.defaultType(&x, s.Value)
		}
		if x.mode != ModeInvalid && !IsInvalid(t) {
			c.convertTo(s.Value, &x, t, "the declaration of "+s.Name.Name)
		}
	}
	if t == nil {
		t = TypInvalid
	}
	v := &Var{Name: s.Name.Name, At: s.Name.At, Type: t, Kind: VarLocal, Module: c.mod, Decl: s}
	c.declare(c.scope, s.Name.Name, v, s.Name.At)
	c.info.Defs[s.Name] = v
}

func isBlank(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "_"
}

func (c *checker) assign(s *ast.Assign) {
	if s.Op != "=" {
		c.opAssign(s)
		return
	}
	xs, ok := c.values(s.Rhs, len(s.Lhs), "=", s.OpAt)
	for i, l := range s.Lhs {
		if isBlank(l) {
			if ok && xs[i].mode != ModeInvalid && len(s.Rhs) == len(s.Lhs) {
				x := xs[i]
				t := c.defaultType(&x, s.Rhs[i])
				if !IsInvalid(t) {
					c.convertTo(s.Rhs[i], &x, t, "the assignment")
				}
			}
			continue
		}
		lx := c.value(l)
		if lx.mode == ModeInvalid {
			continue
		}
		if lx.mode != ModeVar {
			c.errorf(l.Pos(), "cannot assign to %s", describeExpr(l))
			continue
		}
		if !ok {
			continue
		}
		x := xs[i]
		if len(s.Rhs) == len(s.Lhs) {
			c.convertTo(s.Rhs[i], &x, lx.typ, "the assignment")
		} else if !Identical(x.typ, lx.typ) {
			c.errorf(l.Pos(), "cannot assign %s to %s (type %s)", x.typ, describeExpr(l), lx.typ)
		}
	}
}

func (c *checker) opAssign(s *ast.Assign) {
	if len(s.Lhs) != 1 || len(s.Rhs) != 1 {
		c.errorf(s.OpAt, "%s assigns one value", s.Op)
		return
	}
	lx := c.value(s.Lhs[0])
	x := c.value(s.Rhs[0])
	if lx.mode == ModeInvalid || x.mode == ModeInvalid {
		return
	}
	if lx.mode != ModeVar {
		c.errorf(s.Lhs[0].Pos(), "cannot assign to %s", describeExpr(s.Lhs[0]))
		return
	}
	if !IsInteger(lx.typ) {
		c.errorf(s.OpAt, "%s needs an integer, not %s", s.Op, lx.typ)
		return
	}
	if s.Op == "<<=" || s.Op == ">>=" {
		if !IsInteger(x.typ) {
			c.errorf(s.Rhs[0].Pos(), "the shift count must be an integer, not %s", x.typ)
			return
		}
		if x.mode == ModeConst && x.val.Int.Sign() < 0 {
			c.errorf(s.Rhs[0].Pos(), "negative shift count %s", x.val.Int)
			return
		}
		if isBasic(x.typ, UntypedInt) {
			c.convertTo(s.Rhs[0], &x, TypUint, "the shift count")
		}
		return
	}
	if c.convertTo(s.Rhs[0], &x, lx.typ, "the assignment "+s.Op) {
		if (s.Op == "/=" || s.Op == "%=") && x.mode == ModeConst && x.val.Int.Sign() == 0 {
			c.errorf(s.Rhs[0].Pos(), "division by zero")
		}
	}
}

func (c *checker) forIn(s *ast.ForIn) {
	c.openScope()
	defer c.closeScope()
	var keyT, valT Type
	if s.Hi != nil {
		lo, hi := c.value(s.X), c.value(s.Hi)
		if lo.mode == ModeInvalid || hi.mode == ModeInvalid {
			keyT = TypInvalid
		} else {
			b := &ast.Binary{X: s.X, OpAt: s.X.Pos(), Op: "..", Y: s.Hi}
			if !c.matchTypes(b, &lo, &hi) {
				keyT = TypInvalid
			} else if !IsInteger(lo.typ) {
				c.errorf(s.X.Pos(), "a range needs integers, not %s", lo.typ)
				keyT = TypInvalid
			} else {
				keyT = lo.typ
				if isBasic(keyT, UntypedInt) {
					keyT = TypInt
					c.convertTo(s.X, &lo, TypInt, "the range")
					c.convertTo(s.Hi, &hi, TypInt, "the range")
				}
			}
		}
		if c.info.RangeTypes == nil {
			c.info.RangeTypes = map[*ast.ForIn]Type{}
		}
		c.info.RangeTypes[s] = keyT
	} else {
		x := c.value(s.X)
		keyT, valT = TypInt, TypInvalid
		if x.mode != ModeInvalid {
			t := x.typ
			if p, ok := t.(*Pointer); ok {
				if a, ok := p.Elem.(*Array); ok {
					t = a
				}
			}
			if el := Elem(t); el != nil {
				valT = el
			} else {
				c.errorf(s.X.Pos(), "cannot loop over %s (type %s): for in needs a range a..b, an array, a slice or a string", describeExpr(s.X), x.typ)
			}
		}
	}
	if s.Key != nil {
		v := &Var{Name: s.Key.Name, At: s.Key.At, Type: keyT, Kind: VarLocal, Module: c.mod}
		c.declare(c.scope, s.Key.Name, v, s.Key.At)
		c.info.Defs[s.Key] = v
	}
	if s.Val != nil {
		v := &Var{Name: s.Val.Name, At: s.Val.At, Type: valT, Kind: VarLocal, Module: c.mod}
		c.declare(c.scope, s.Val.Name, v, s.Val.At)
		c.info.Defs[s.Val] = v
	}
	c.loops++
	c.block(s.Body)
	c.loops--
}

func (c *checker) returnStmt(s *ast.Return) {
	if c.fn == nil {
		c.errorf(s.At, "return outside a function")
		return
	}
	want := c.fn.Sig.Results
	if len(s.Results) == 0 {
		if len(want) > 0 {
			c.errorf(s.At, "missing return value%s: %s returns %s", plural(len(want)), c.fn.Name, tupleString(want))
		}
		return
	}
	if len(want) == 0 {
		c.errorf(s.At, "%s returns nothing", c.fn.Name)
		c.args(s.Results)
		return
	}
	xs, ok := c.values(s.Results, len(want), "return", s.At)
	if !ok {
		return
	}
	if len(s.Results) == 1 && len(want) > 1 {
		for i, x := range xs {
			if !Identical(x.typ, want[i]) {
				c.errorf(s.Results[0].Pos(), "return value %d is %s, want %s", i+1, x.typ, want[i])
			}
		}
		return
	}
	for i, e := range s.Results {
		x := xs[i]
		c.convertTo(e, &x, want[i], fmt.Sprintf("return value %d", i+1))
	}
}

// terminates reports whether a statement never completes normally: it
// returns, panics, exits or loops forever.
func (c *checker) terminates(s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.Return:
		return true
	case *ast.ExprStmt:
		call, ok := ast.Unparen(s.X).(*ast.Call)
		if !ok {
			return false
		}
		id, ok := ast.Unparen(call.Fun).(*ast.Ident)
		if !ok {
			return false
		}
		b, ok := c.info.Uses[id].(*Builtin)
		return ok && (b.ID == BuiltinPanic || b.ID == BuiltinExit)
	case *ast.Block:
		return len(s.Stmts) > 0 && c.terminates(s.Stmts[len(s.Stmts)-1])
	case *ast.If:
		return s.Else != nil && c.terminates(s.Then) && c.terminates(s.Else)
	case *ast.For:
		return s.Cond == nil && !hasBreak(s.Body.Stmts)
	case *ast.While:
		b, ok := ast.Unparen(s.Cond).(*ast.BoolLit)
		return ok && b.Value && !hasBreak(s.Body.Stmts)
	}
	return false
}

// hasBreak reports whether a loop body breaks out of its loop.
func hasBreak(list []ast.Stmt) bool {
	for _, s := range list {
		switch s := s.(type) {
		case *ast.Branch:
			if s.Tok == "break" {
				return true
			}
		case *ast.Block:
			if hasBreak(s.Stmts) {
				return true
			}
		case *ast.If:
			if hasBreak(s.Then.Stmts) {
				return true
			}
			if s.Else != nil && hasBreak([]ast.Stmt{s.Else}) {
				return true
			}
		}
	}
	return false
}
