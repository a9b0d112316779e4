package eval

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// frame is one call: the addresses of its variables (every variable lives
// in memory here: simpler than the compiler's slots, and that is the point).
type frame struct {
	t       *thread
	fn      *check.FuncObj
	vars    map[*check.Var]uint64
	results []uint64
}

type ctrl uint8

const (
	next ctrl = iota
	brk
	cont
	ret
)

func (t *thread) call(fn *check.FuncObj, args [][]uint64) []uint64 {
	t.step()
	t.depth++
	if t.depth > t.m.lim.Depth {
		panic(trap{"stack overflow"})
	}
	defer func() { t.depth-- }()
	fr := &frame{t: t, fn: fn, vars: map[*check.Var]uint64{}}
	for i, p := range fn.Params {
		a := t.local.alloc(check.SizeOf(p.Type))
		fr.store(a, p.Type, args[i])
		fr.vars[p] = a
	}
	fr.stmts(fn.Decl.Body.Stmts)
	// Struct results become the caller's own copies.
	var out []uint64
	at := 0
	for _, r := range fn.Sig.Results {
		w := check.Words(r)
		v := fr.results[at : at+w]
		if check.ClassOf(r) == check.ClassMemory {
			v = []uint64{fr.copyToTemp(r, v[0])}
		}
		out = append(out, v...)
		at += w
	}
	return out
}

func (fr *frame) copyToTemp(t check.Type, src uint64) uint64 {
	a := fr.t.local.alloc(check.SizeOf(t))
	fr.memmove(a, src, uint64(check.SizeOf(t)))
	return a
}

func (fr *frame) memmove(dst, src, n uint64) {
	b := fr.t.readBytes(src, n)
	for i, c := range b {
		fr.t.storeByte(dst+uint64(i), uint64(c))
	}
}

func (fr *frame) stmts(list []ast.Stmt) ctrl {
	for _, s := range list {
		if c := fr.stmt(s); c != next {
			return c
		}
	}
	return next
}

func (fr *frame) declare(v *check.Var) uint64 {
	a := fr.t.local.alloc(check.SizeOf(v.Type))
	fr.vars[v] = a
	return a
}

func (fr *frame) def(id *ast.Ident) (*check.Var, bool) {
	v, ok := fr.t.m.info.Defs[id].(*check.Var)
	return v, ok
}

func (fr *frame) stmt(s ast.Stmt) ctrl {
	fr.t.step()
	switch s := s.(type) {
	case *ast.ExprStmt:
		fr.expr(s.X)
	case *ast.Define:
		fr.define(s)
	case *ast.Assign:
		fr.assign(s)
	case *ast.IncDec:
		op := "+"
		if s.Op == "--" {
			op = "-"
		}
		fr.opAssign(s.X, op, nil)
	case *ast.VarDecl:
		v, _ := fr.def(s.Name)
		if s.Value != nil {
			val := fr.expr(s.Value)
			fr.store(fr.declare(v), v.Type, val)
		} else {
			fr.declare(v)
		}
	case *ast.ConstDecl:
	case *ast.If:
		if fr.cond(s.Cond) {
			return fr.stmts(s.Then.Stmts)
		}
		if s.Else != nil {
			return fr.stmt(s.Else)
		}
	case *ast.While:
		for fr.cond(s.Cond) {
			if c := fr.stmts(s.Body.Stmts); c == brk {
				break
			} else if c == ret {
				return ret
			}
			fr.t.step()
		}
	case *ast.For:
		if s.Init != nil {
			fr.stmt(s.Init)
		}
		for s.Cond == nil || fr.cond(s.Cond) {
			c := fr.stmts(s.Body.Stmts)
			if c == brk {
				break
			}
			if c == ret {
				return ret
			}
			if s.Post != nil {
				fr.stmt(s.Post)
			}
			fr.t.step()
		}
	case *ast.ForIn:
		return fr.forIn(s)
	case *ast.Branch:
		if s.Tok == "break" {
			return brk
		}
		return cont
	case *ast.Return:
		fr.results = nil
		if len(s.Results) == 1 && len(fr.fn.Sig.Results) > 1 {
			fr.results = fr.expr(s.Results[0])
		} else {
			for _, e := range s.Results {
				fr.results = append(fr.results, fr.expr(e)...)
			}
		}
		return ret
	case *ast.Block:
		return fr.stmts(s.Stmts)
	default:
		panic(fmt.Sprintf("eval: statement %T", s))
	}
	return next
}

func (fr *frame) cond(e ast.Expr) bool { return fr.expr(e)[0] != 0 }

func (fr *frame) forIn(s *ast.ForIn) ctrl {
	info := fr.t.m.info
	if s.Hi != nil {
		t := info.RangeTypes[s]
		var k uint64
		if s.Key != nil {
			v, _ := fr.def(s.Key)
			k = fr.declare(v)
		} else {
			k = fr.t.local.alloc(8)
		}
		fr.store(k, t, fr.expr(s.X))
		hi := fr.expr(s.Hi)[0]
		unsigned := check.IsUnsigned(t)
		for {
			cur := fr.load(k, t)[0]
			if unsigned && cur >= hi || !unsigned && int64(cur) >= int64(hi) {
				return next
			}
			c := fr.stmts(s.Body.Stmts)
			if c == brk {
				return next
			}
			if c == ret {
				return ret
			}
			// The counter steps like the compiled loop: a plain add.
			fr.store(k, t, []uint64{fr.load(k, t)[0] + 1})
			fr.t.step()
		}
	}
	ptr, n, elem := fr.seq(s.X)
	size := uint64(check.SizeOf(elem))
	var key, val uint64
	var keyVar, valVar *check.Var
	if s.Key != nil {
		keyVar, _ = fr.def(s.Key)
		key = fr.declare(keyVar)
	}
	if s.Val != nil {
		valVar, _ = fr.def(s.Val)
		val = fr.declare(valVar)
	}
	for i := uint64(0); i < n; i++ {
		if keyVar != nil {
			fr.store(key, check.TypInt, []uint64{i})
		}
		if valVar != nil {
			fr.store(val, elem, fr.load(ptr+i*size, elem))
		}
		c := fr.stmts(s.Body.Stmts)
		if c == brk {
			return next
		}
		if c == ret {
			return ret
		}
		fr.t.step()
	}
	return next
}

// values evaluates the right side of a multiple assignment: every value
// first (struct values copied, so later stores cannot change them).
func (fr *frame) values(rhs []ast.Expr, n int) ([][]uint64, []check.Type) {
	info := fr.t.m.info
	if len(rhs) == 1 && n > 1 {
		flat := fr.expr(rhs[0])
		types := info.TypeOf(rhs[0]).(*check.Tuple).Types
		var out [][]uint64
		at := 0
		for _, t := range types {
			w := check.Words(t)
			out = append(out, flat[at:at+w])
			at += w
		}
		return out, types
	}
	var out [][]uint64
	var types []check.Type
	for _, e := range rhs {
		t := info.TypeOf(e)
		if b, ok := t.(*check.Basic); ok && b.Kind == check.UntypedInt {
			t = check.TypInt
		}
		v := fr.expr(e)
		if check.ClassOf(t) == check.ClassMemory {
			v = []uint64{fr.copyToTemp(t, v[0])}
		}
		out = append(out, v)
		types = append(types, t)
	}
	return out, types
}

func (fr *frame) define(s *ast.Define) {
	if len(s.Names) == 1 && len(s.Values) == 1 {
		val := fr.expr(s.Values[0])
		if v, ok := fr.def(s.Names[0]); ok {
			fr.store(fr.declare(v), v.Type, val)
		}
		return
	}
	vals, _ := fr.values(s.Values, len(s.Names))
	addrs := make([]uint64, len(s.Names))
	vars := make([]*check.Var, len(s.Names))
	for i, n := range s.Names {
		if v, ok := fr.def(n); ok {
			vars[i] = v
			addrs[i] = fr.declare(v)
		}
	}
	for i := len(s.Names) - 1; i >= 0; i-- {
		if vars[i] != nil {
			fr.store(addrs[i], vars[i].Type, vals[i])
		}
	}
}

func (fr *frame) assign(s *ast.Assign) {
	if s.Op != "=" {
		fr.opAssign(s.Lhs[0], s.Op[:len(s.Op)-1], s.Rhs[0])
		return
	}
	info := fr.t.m.info
	if len(s.Lhs) == 1 && len(s.Rhs) == 1 {
		v := fr.expr(s.Rhs[0])
		fr.storeTo(s.Lhs[0], info.TypeOf(s.Lhs[0]), v)
		return
	}
	vals, _ := fr.values(s.Rhs, len(s.Lhs))
	for i := len(s.Lhs) - 1; i >= 0; i-- {
		fr.storeTo(s.Lhs[i], info.TypeOf(s.Lhs[i]), vals[i])
	}
}

func (fr *frame) storeTo(lhs ast.Expr, t check.Type, v []uint64) {
	if id, ok := lhs.(*ast.Ident); ok && id.Name == "_" {
		return
	}
	fr.store(fr.addr(lhs), t, v)
}

func (fr *frame) opAssign(lhs ast.Expr, op string, rhs ast.Expr) {
	t := fr.t.m.info.TypeOf(lhs)
	a := fr.addr(lhs)
	cur := fr.load(a, t)[0]
	var y uint64 = 1
	if rhs != nil {
		y = fr.expr(rhs)[0]
	}
	fr.store(a, t, []uint64{arith(op, cur, y, t)})
}
