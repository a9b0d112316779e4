package eval

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

func (fr *frame) typeOf(e ast.Expr) check.Type { return fr.t.m.info.Types[e].Type }

// load reads a value of type t at a: its words (for structs and arrays:
// the address itself).
func (fr *frame) load(a uint64, t check.Type) []uint64 {
	switch check.ClassOf(t) {
	case check.ClassWord:
		if check.SizeOf(t) == 1 {
			return []uint64{fr.t.loadByte(a)}
		}
		return []uint64{fr.t.load8w(a)}
	case check.ClassPair:
		return []uint64{fr.t.load8w(a), fr.t.load8w(a + 8)}
	}
	return []uint64{a}
}

func (fr *frame) store(a uint64, t check.Type, v []uint64) {
	switch check.ClassOf(t) {
	case check.ClassWord:
		if check.SizeOf(t) == 1 {
			fr.t.storeByte(a, v[0])
		} else {
			fr.t.store8w(a, v[0])
		}
	case check.ClassPair:
		fr.t.store8w(a+8, v[1])
		fr.t.store8w(a, v[0])
	case check.ClassMemory:
		fr.memmove(a, v[0], uint64(check.SizeOf(t)))
	}
}

func (fr *frame) varAddr(v *check.Var) uint64 {
	if a, ok := fr.vars[v]; ok {
		return a
	}
	a, ok := fr.t.m.dataVar[v]
	if !ok {
		panic(fmt.Sprintf("eval: variable %s has no address", v.Name))
	}
	if v.Kind == check.VarShared {
		return fr.t.load8w(a)
	}
	return a
}

func (fr *frame) funcValue(f *check.FuncObj) uint64 {
	m := fr.t.m
	if id, ok := m.funcIDs[f]; ok {
		return id
	}
	m.funcs = append(m.funcs, f)
	id := uint64(len(m.funcs))
	m.funcIDs[f] = id
	return id
}

func mask(t check.Type, v uint64) uint64 {
	if check.SizeOf(t) == 1 && check.ClassOf(t) == check.ClassWord {
		return v & 0xff
	}
	return v
}

func (fr *frame) expr(e ast.Expr) []uint64 {
	info := fr.t.m.info
	tv := info.Types[e]
	if tv.Mode == check.ModeConst {
		if tv.Value.Kind == check.ValString {
			return []uint64{fr.t.m.str(tv.Value.Str), uint64(len(tv.Value.Str))}
		}
		return []uint64{tv.Value.Uint64()}
	}
	switch e := e.(type) {
	case *ast.Paren:
		return fr.expr(e.X)
	case *ast.NilLit:
		return []uint64{0}
	case *ast.Ident:
		switch o := info.Uses[e].(type) {
		case *check.Var:
			return fr.load(fr.varAddr(o), o.Type)
		case *check.FuncObj:
			return []uint64{fr.funcValue(o)}
		}
		panic(fmt.Sprintf("eval: identifier %s", e.Name))
	case *ast.Unary:
		return fr.unary(e, tv.Type)
	case *ast.Binary:
		return fr.binary(e, tv.Type)
	case *ast.As:
		v := fr.expr(e.X)
		if check.ClassOf(tv.Type) == check.ClassWord {
			return []uint64{mask(tv.Type, v[0])}
		}
		return v
	case *ast.Call:
		return fr.call(e)
	case *ast.Index:
		return fr.load(fr.elemAddr(e), tv.Type)
	case *ast.SliceExpr:
		return fr.slice(e)
	case *ast.Selector:
		sel := info.Selections[e]
		if sel.Kind == check.SelModuleMember {
			switch o := sel.Obj.(type) {
			case *check.Var:
				return fr.load(fr.varAddr(o), o.Type)
			case *check.FuncObj:
				return []uint64{fr.funcValue(o)}
			}
		}
		return fr.load(fr.addr(e), tv.Type)
	case *ast.CompositeLit:
		a := fr.t.local.alloc(check.SizeOf(tv.Type))
		fr.composite(e, tv.Type, a)
		return []uint64{a}
	case *ast.New:
		return fr.newExpr(e, tv.Type)
	case *ast.Spawn:
		return fr.spawn(e)
	}
	panic(fmt.Sprintf("eval: expression %T", e))
}

// addr is the address of an addressable expression.
func (fr *frame) addr(e ast.Expr) uint64 {
	info := fr.t.m.info
	switch e := e.(type) {
	case *ast.Paren:
		return fr.addr(e.X)
	case *ast.Ident:
		return fr.varAddr(info.Uses[e].(*check.Var))
	case *ast.Unary:
		return fr.expr(e.X)[0]
	case *ast.Selector:
		sel := info.Selections[e]
		if sel.Kind == check.SelModuleMember {
			return fr.varAddr(sel.Obj.(*check.Var))
		}
		// A pointer's value, or a struct's address: both the base.
		return fr.expr(e.X)[0] + uint64(sel.Field.Offset)
	case *ast.Index:
		return fr.elemAddr(e)
	}
	panic(fmt.Sprintf("eval: address of %T", e))
}

func (fr *frame) unary(e *ast.Unary, t check.Type) []uint64 {
	switch e.Op {
	case "&":
		return []uint64{fr.addr(e.X)}
	case "*":
		p := fr.expr(e.X)[0]
		return fr.load(p, t)
	}
	v := fr.expr(e.X)[0]
	switch e.Op {
	case "!":
		return []uint64{b2u(v == 0)}
	case "-":
		return []uint64{mask(t, -v)}
	case "~":
		return []uint64{mask(t, ^v)}
	}
	panic("eval: unary " + e.Op)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (fr *frame) operandType(e *ast.Binary) check.Type {
	t := fr.typeOf(e.X)
	if b, ok := t.(*check.Basic); ok && (b.Kind == check.UntypedInt || b.Kind == check.UntypedNil) {
		return fr.typeOf(e.Y)
	}
	return t
}

func (fr *frame) binary(e *ast.Binary, t check.Type) []uint64 {
	switch e.Op {
	case "&&":
		return []uint64{b2u(fr.cond(e.X) && fr.cond(e.Y))}
	case "||":
		return []uint64{b2u(fr.cond(e.X) || fr.cond(e.Y))}
	}
	x := fr.expr(e.X)
	y := fr.expr(e.Y)
	if compare, ok := comparisons[e.Op]; ok {
		ot := fr.operandType(e)
		if b, ok := ot.(*check.Basic); ok && b.Kind == check.String {
			c := compareBytes(fr.t.readBytes(x[0], x[1]), fr.t.readBytes(y[0], y[1]))
			return []uint64{b2u(compare(uint64(int64(c)), 0, false))}
		}
		return []uint64{b2u(compare(x[0], y[0], check.IsUnsigned(ot)))}
	}
	return []uint64{arith(e.Op, x[0], y[0], t)}
}

var comparisons = map[string]func(a, b uint64, unsigned bool) bool{
	"==": func(a, b uint64, _ bool) bool { return a == b },
	"!=": func(a, b uint64, _ bool) bool { return a != b },
	"<": func(a, b uint64, u bool) bool {
		if u {
			return a < b
		}
		return int64(a) < int64(b)
	},
	"<=": func(a, b uint64, u bool) bool {
		if u {
			return a <= b
		}
		return int64(a) <= int64(b)
	},
	">": func(a, b uint64, u bool) bool {
		if u {
			return a > b
		}
		return int64(a) > int64(b)
	},
	">=": func(a, b uint64, u bool) bool {
		if u {
			return a >= b
		}
		return int64(a) >= int64(b)
	},
}

func compareBytes(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// arith is the machine's integer arithmetic: wrapping, shift counts taken
// mod 64, bytes kept in 0..255.
func arith(op string, a, b uint64, t check.Type) uint64 {
	unsigned := check.IsUnsigned(t)
	var r uint64
	switch op {
	case "+":
		r = a + b
	case "-":
		r = a - b
	case "*":
		r = a * b
	case "/", "%":
		if b == 0 {
			panic(trap{"division by zero"})
		}
		switch {
		case unsigned && op == "/":
			r = a / b
		case unsigned:
			r = a % b
		case op == "/":
			if int64(b) == -1 {
				r = -a // MinInt / -1 wraps to MinInt, as the machine does
			} else {
				r = uint64(int64(a) / int64(b))
			}
		default:
			if int64(b) == -1 {
				r = 0
			} else {
				r = uint64(int64(a) % int64(b))
			}
		}
	case "&":
		r = a & b
	case "|":
		r = a | b
	case "^":
		r = a ^ b
	case "<<":
		r = a << (b & 63)
	case ">>":
		if unsigned {
			r = a >> (b & 63)
		} else {
			r = uint64(int64(a) >> (b & 63))
		}
	default:
		panic("eval: operator " + op)
	}
	return mask(t, r)
}

// seq is the base address, length and element type of a sequence.
func (fr *frame) seq(x ast.Expr) (uint64, uint64, check.Type) {
	t := fr.typeOf(x)
	if p, ok := t.(*check.Pointer); ok {
		t = p.Elem
	}
	v := fr.expr(x)
	if a, ok := t.(*check.Array); ok {
		return v[0], uint64(a.Len), a.Elem
	}
	return v[0], v[1], check.Elem(t)
}

func (fr *frame) elemAddr(e *ast.Index) uint64 {
	ptr, n, elem := fr.seq(e.X)
	i := fr.expr(e.Index)[0]
	if i >= n {
		fr.t.m.out.WriteString(fmt.Sprintf("panic: index %d out of range [0:%d]\n", int64(i), int64(n)))
		panic(trap{"index out of range"})
	}
	return ptr + i*uint64(check.SizeOf(elem))
}

func (fr *frame) slice(e *ast.SliceExpr) []uint64 {
	ptr, n, elem := fr.seq(e.X)
	lo, hi := uint64(0), n
	if e.Lo != nil {
		lo = fr.expr(e.Lo)[0]
	}
	if e.Hi != nil {
		hi = fr.expr(e.Hi)[0]
	}
	if hi > n || lo > hi {
		fr.t.m.out.WriteString(fmt.Sprintf("panic: slice bounds [%d:%d] out of range [0:%d]\n", int64(lo), int64(hi), int64(n)))
		panic(trap{"slice bounds out of range"})
	}
	return []uint64{ptr + lo*uint64(check.SizeOf(elem)), hi - lo}
}

func (fr *frame) composite(e *ast.CompositeLit, t check.Type, a uint64) {
	switch t := t.(type) {
	case *check.Struct:
		for i, el := range e.Elts {
			fd := t.Fields[i]
			if el.Key != nil {
				fd = t.FieldByName(el.Key.Name)
			}
			fr.valueInto(el.Value, fd.Type, a+uint64(fd.Offset))
		}
	case *check.Array:
		size := uint64(check.SizeOf(t.Elem))
		for i, el := range e.Elts {
			fr.valueInto(el.Value, t.Elem, a+uint64(i)*size)
		}
	}
}

func (fr *frame) valueInto(e ast.Expr, t check.Type, a uint64) {
	if lit, ok := ast.Unparen(e).(*ast.CompositeLit); ok && fr.t.m.info.Types[e].Mode != check.ModeConst {
		fr.composite(lit, t, a)
		return
	}
	fr.store(a, t, fr.expr(e))
}

func (fr *frame) newExpr(e *ast.New, t check.Type) []uint64 {
	sp := fr.t.local
	if e.Global {
		sp = fr.t.m.global
	}
	if e.Len == nil {
		return []uint64{sp.alloc(check.SizeOf(t.(*check.Pointer).Elem))}
	}
	n := fr.expr(e.Len)[0]
	if int64(n) < 0 {
		fr.t.m.out.WriteString(fmt.Sprintf("panic: negative length %d in new\n", int64(n)))
		panic(trap{"negative length"})
	}
	size := check.SizeOf(t.(*check.Slice).Elem)
	if n > uint64(fr.t.m.lim.Bytes) {
		panic(trap{"out of memory"})
	}
	return []uint64{sp.alloc(int64(n) * size), n}
}

func (fr *frame) spawn(e *ast.Spawn) []uint64 {
	ci := fr.t.m.info.Calls[e.Call]
	args := fr.args(e.Call, ci)
	m := fr.t.m
	child := &thread{m: m, tid: m.nextTID, local: fr.t.local.clone()}
	m.nextTID++
	r := child.call(ci.Func, args)
	var v uint64
	if len(r) > 0 {
		v = r[0]
	}
	m.joined[child.tid] = v
	return []uint64{child.tid}
}
