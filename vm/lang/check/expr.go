package check

import (
	"math/big"

	"github.com/flockvm/flock/vm/lang/ast"
)

// operand is the result of checking an expression.
type operand struct {
	mode Mode
	typ  Type
	val  Value
}

var invalid = operand{mode: ModeInvalid, typ: TypInvalid}

func (c *checker) record(e ast.Expr, x operand) {
	c.info.Types[e] = TypeAndValue{Mode: x.mode, Type: x.typ, Value: x.val}
}

// expr checks e and records what it is. Untyped constants stay untyped
// until an assignment, an operation or a conversion gives them a type.
func (c *checker) expr(e ast.Expr) operand {
	x := c.expr1(e)
	if x.typ == nil {
		x.typ = TypInvalid
	}
	c.record(e, x)
	return x
}

// value checks e, which must be one value.
func (c *checker) value(e ast.Expr) operand {
	x := c.expr(e)
	return c.singleValue(e, x)
}

func (c *checker) singleValue(e ast.Expr, x operand) operand {
	switch x.mode {
	case ModeInvalid:
		return invalid
	case ModeNoValue:
		c.errorf(e.Pos(), "%s has no value", describeExpr(e))
		return invalid
	case ModeType:
		c.errorf(e.Pos(), "%s is a type, not a value", describeExpr(e))
		return invalid
	case ModeBuiltin:
		c.errorf(e.Pos(), "builtin %s must be called", describeExpr(e))
		return invalid
	case ModeModule:
		c.errorf(e.Pos(), "module %s is not a value", describeExpr(e))
		return invalid
	}
	if t, ok := x.typ.(*Tuple); ok {
		c.errorf(e.Pos(), "%s returns %d values where one is expected", describeExpr(e), len(t.Types))
		return invalid
	}
	return x
}

func intConst(v int64) Value { return Value{Kind: ValInt, Int: big.NewInt(v)} }

func constOf(t Type, v Value) operand { return operand{mode: ModeConst, typ: t, val: v} }

func (c *checker) expr1(e ast.Expr) operand {
	switch e := e.(type) {
	case *ast.BadExpr:
		return invalid
	case *ast.IntLit:
		return constOf(TypUntypedInt, Value{Kind: ValInt, Int: new(big.Int).SetUint64(e.Value)})
	case *ast.CharLit:
		return constOf(TypUntypedInt, intConst(int64(e.Value)))
	case *ast.StringLit:
		return constOf(TypString, Value{Kind: ValString, Str: e.Value})
	case *ast.BoolLit:
		return constOf(TypBool, Value{Kind: ValBool, Bool: e.Value})
	case *ast.NilLit:
		return operand{mode: ModeValue, typ: TypUntypedNil}
	case *ast.Ident:
		return c.ident(e)
	case *ast.Paren:
		x := c.expr(e.X)
		return x
	case *ast.Unary:
		return c.unary(e)
	case *ast.Binary:
		return c.binary(e)
	case *ast.As:
		return c.conversion(e)
	case *ast.Call:
		return c.call(e)
	case *ast.Index:
		return c.index(e)
	case *ast.SliceExpr:
		return c.sliceExpr(e)
	case *ast.Selector:
		return c.selector(e, false)
	case *ast.CompositeLit:
		return c.composite(e)
	case *ast.New:
		return c.newExpr(e)
	case *ast.Spawn:
		return c.spawn(e)
	}
	c.errorf(e.Pos(), "unexpected expression")
	return invalid
}

func (c *checker) ident(e *ast.Ident) operand {
	if e.Name == "_" {
		c.errorf(e.At, "_ is not a value")
		return invalid
	}
	obj := c.scope0().Lookup(e.Name)
	if obj == nil {
		c.errorf(e.At, "undefined: %s", e.Name)
		return invalid
	}
	c.info.Uses[e] = obj
	return c.objOperand(obj, e.At)
}

func (c *checker) objOperand(obj Object, at ast.Pos) operand {
	switch o := obj.(type) {
	case *Var:
		if o.Type == nil {
			c.topVar(o)
		}
		if IsInvalid(o.Type) {
			return invalid
		}
		if c.fn == nil && o.Kind != VarLocal && c.mod == o.Module && o.Decl != nil && at.Before(o.Decl.At) {
			c.errorf(at, "%s is used before its declaration: top-level variables are initialized in order", o.Name)
		}
		return operand{mode: ModeVar, typ: o.Type}
	case *Const:
		c.constant(o)
		if IsInvalid(o.Type) {
			return invalid
		}
		return constOf(o.Type, o.Value)
	case *FuncObj:
		if o.Sig == nil {
			return invalid
		}
		return operand{mode: ModeFunc, typ: o.Sig}
	case *TypeName:
		return operand{mode: ModeType, typ: o.Type}
	case *ModuleName:
		o.Used = true
		return operand{mode: ModeModule, typ: TypInvalid}
	case *Builtin:
		return operand{mode: ModeBuiltin, typ: TypInvalid}
	}
	return invalid
}

// ---- constants ----

var (
	intMin  = new(big.Int).Lsh(big.NewInt(-1), 63)
	intMax  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 63), big.NewInt(1))
	uintMax = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1))
	byteMax = big.NewInt(255)
)

// representable reports whether integer v fits type t.
func representable(v *big.Int, t Type) bool {
	b, ok := t.(*Basic)
	if !ok {
		return false
	}
	switch b.Kind {
	case Int:
		return v.Cmp(intMin) >= 0 && v.Cmp(intMax) <= 0
	case Uint:
		return v.Sign() >= 0 && v.Cmp(uintMax) <= 0
	case Byte:
		return v.Sign() >= 0 && v.Cmp(byteMax) <= 0
	case UntypedInt:
		return v.BitLen() <= untypedBitsMax
	}
	return false
}

// untypedBitsMax bounds untyped constants (so 1 << 1000000 is an error,
// not a huge number).
const untypedBitsMax = 512

// wrap reduces v to type t's range with two's-complement wrapping (what
// `as` does to a constant).
func wrap(v *big.Int, t Type) *big.Int {
	b, _ := t.(*Basic)
	if b == nil {
		return v
	}
	var bits uint
	switch b.Kind {
	case Int, Uint:
		bits = 64
	case Byte:
		bits = 8
	default:
		return v
	}
	mod := new(big.Int).Lsh(big.NewInt(1), bits)
	r := new(big.Int).Mod(v, mod) // 0 <= r < mod
	if b.Kind == Int && r.Cmp(intMax) > 0 {
		r.Sub(r, mod)
	}
	return r
}

// assignable reports whether x can be assigned to type t, converting an
// untyped x to t; it reports an error naming context otherwise.
func (c *checker) assignable(x *operand, t Type, context string) bool {
	if x.mode == ModeInvalid || IsInvalid(t) {
		return false
	}
	if isBasic(x.typ, UntypedInt) {
		if !IsInteger(t) {
			c.errorAt(x, "cannot use an integer constant as %s in %s", t, context)
			return false
		}
		if !representable(x.val.Int, t) {
			c.errorAt(x, "constant %s does not fit in %s (in %s)", x.val.Int, t, context)
			return false
		}
		x.typ = t
		return true
	}
	if isBasic(x.typ, UntypedNil) {
		switch t.(type) {
		case *Pointer, *Func:
			x.typ = t
			return true
		}
		c.errorAt(x, "cannot use nil as %s in %s", t, context)
		return false
	}
	if !Identical(x.typ, t) {
		c.errorAt(x, "cannot use %s as %s in %s", x.typ, t, context)
		return false
	}
	return true
}

// errorAt reports at the position of the expression being checked; the
// checker keeps it in pendingPos while converting.
func (c *checker) errorAt(x *operand, format string, args ...any) {
	c.errorf(c.curPos, format, args...)
}

// convertTo assigns x (an operand of expression e) to t and records the
// typed result.
func (c *checker) convertTo(e ast.Expr, x *operand, t Type, context string) bool {
	c.curPos = e.Pos()
	ok := c.assignable(x, t, context)
	if ok {
		c.record(e, *x)
	}
	return ok
}

// ---- unary and binary ----

func (c *checker) unary(e *ast.Unary) operand {
	switch e.Op {
	case "&":
		return c.addressOf(e)
	case "*":
		x := c.value(e.X)
		if x.mode == ModeInvalid {
			return invalid
		}
		p, ok := x.typ.(*Pointer)
		if !ok {
			c.errorf(e.At, "cannot dereference %s, which is not a pointer", x.typ)
			return invalid
		}
		return operand{mode: ModeVar, typ: p.Elem}
	}
	x := c.value(e.X)
	if x.mode == ModeInvalid {
		return invalid
	}
	switch e.Op {
	case "!":
		if !isBasic(x.typ, Bool) {
			c.errorf(e.At, "! needs a bool, not %s", x.typ)
			return invalid
		}
		if x.mode == ModeConst {
			return constOf(TypBool, Value{Kind: ValBool, Bool: !x.val.Bool})
		}
		return operand{mode: ModeValue, typ: TypBool}
	case "-", "~":
		if !IsInteger(x.typ) {
			c.errorf(e.At, "%s needs an integer, not %s", e.Op, x.typ)
			return invalid
		}
		if x.mode == ModeConst {
			v := new(big.Int)
			if e.Op == "-" {
				v.Neg(x.val.Int)
			} else if IsUnsigned(x.typ) {
				v.Sub(wrapMax(x.typ), x.val.Int)
			} else {
				v.Not(x.val.Int)
			}
			return c.constResult(e.At, x.typ, v)
		}
		return operand{mode: ModeValue, typ: x.typ}
	}
	c.errorf(e.At, "unknown operator %s", e.Op)
	return invalid
}

func wrapMax(t Type) *big.Int {
	if isBasic(t, Byte) {
		return byteMax
	}
	return uintMax
}

// constResult is a constant of type t, or an error if it does not fit.
func (c *checker) constResult(at ast.Pos, t Type, v *big.Int) operand {
	if !representable(v, t) {
		if isBasic(t, UntypedInt) {
			c.errorf(at, "constant too large (more than %d bits)", untypedBitsMax)
		} else {
			c.errorf(at, "constant %s overflows %s", v, t)
		}
		return invalid
	}
	return constOf(t, Value{Kind: ValInt, Int: v})
}

func (c *checker) addressOf(e *ast.Unary) operand {
	inner := ast.Unparen(e.X)
	if _, ok := inner.(*ast.CompositeLit); ok {
		c.errorf(e.At, "cannot take the address of a literal: allocate with new and fill it in")
		c.expr(e.X)
		return invalid
	}
	x := c.expr(e.X)
	if x.mode == ModeInvalid {
		return invalid
	}
	if x.mode != ModeVar {
		c.errorf(e.At, "cannot take the address of %s", describeExpr(e.X))
		return invalid
	}
	c.markAddrTaken(e.X)
	return operand{mode: ModeValue, typ: &Pointer{Elem: x.typ}}
}

// markAddrTaken notes that the variable at the root of an addressable
// expression must live in memory.
func (c *checker) markAddrTaken(e ast.Expr) {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		if v, ok := c.info.Uses[e].(*Var); ok {
			v.AddrTaken = true
		}
	case *ast.Selector:
		if sel, ok := c.info.Selections[e]; ok && sel.Kind == SelField && !sel.Deref {
			c.markAddrTaken(e.X)
		}
	case *ast.Index:
		if _, ok := c.info.TypeOf(e.X).(*Array); ok {
			c.markAddrTaken(e.X)
		}
	}
}

var comparisonOps = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (c *checker) binary(e *ast.Binary) operand {
	x := c.value(e.X)
	y := c.value(e.Y)
	if x.mode == ModeInvalid || y.mode == ModeInvalid {
		return invalid
	}
	switch {
	case e.Op == "&&" || e.Op == "||":
		if !isBasic(x.typ, Bool) || !isBasic(y.typ, Bool) {
			c.errorf(e.OpAt, "%s needs bool operands, not %s and %s", e.Op, x.typ, y.typ)
			return invalid
		}
		if x.mode == ModeConst && y.mode == ModeConst {
			v := x.val.Bool && y.val.Bool
			if e.Op == "||" {
				v = x.val.Bool || y.val.Bool
			}
			return constOf(TypBool, Value{Kind: ValBool, Bool: v})
		}
		return operand{mode: ModeValue, typ: TypBool}
	case comparisonOps[e.Op]:
		return c.comparison(e, x, y)
	case e.Op == "<<" || e.Op == ">>":
		return c.shift(e, x, y)
	}
	if !c.matchTypes(e, &x, &y) {
		return invalid
	}
	if e.Op == "+" && isBasic(x.typ, String) {
		if x.mode == ModeConst && y.mode == ModeConst {
			if len(x.val.Str)+len(y.val.Str) > stringConstMax {
				c.errorf(e.OpAt, "constant string longer than %d bytes", stringConstMax)
				return invalid
			}
			return constOf(TypString, Value{Kind: ValString, Str: x.val.Str + y.val.Str})
		}
		c.errorf(e.OpAt, "+ joins only constant strings; build others with strings.Builder")
		return invalid
	}
	if !IsInteger(x.typ) {
		c.errorf(e.OpAt, "%s needs integer operands, not %s", e.Op, x.typ)
		return invalid
	}
	if x.mode == ModeConst && y.mode == ModeConst {
		if (e.Op == "/" || e.Op == "%") && y.val.Int.Sign() == 0 {
			c.errorf(e.OpAt, "division by zero")
			return invalid
		}
		return c.constResult(e.OpAt, x.typ, foldInt(e.Op, x.val.Int, y.val.Int))
	}
	if (e.Op == "/" || e.Op == "%") && y.mode == ModeConst && y.val.Int.Sign() == 0 {
		c.errorf(e.OpAt, "division by zero")
	}
	return operand{mode: ModeValue, typ: x.typ}
}

// stringConstMax bounds a constant string built with +.
const stringConstMax = 1 << 20

func foldInt(op string, a, b *big.Int) *big.Int {
	v := new(big.Int)
	switch op {
	case "+":
		v.Add(a, b)
	case "-":
		v.Sub(a, b)
	case "*":
		v.Mul(a, b)
	case "/":
		v.Quo(a, b)
	case "%":
		v.Rem(a, b)
	case "&":
		v.And(a, b)
	case "|":
		v.Or(a, b)
	case "^":
		v.Xor(a, b)
	}
	return v
}

// matchTypes gives an untyped operand the other one's type and checks that
// both have the same type.
func (c *checker) matchTypes(e *ast.Binary, x, y *operand) bool {
	xu := isBasic(x.typ, UntypedInt) || isBasic(x.typ, UntypedNil)
	yu := isBasic(y.typ, UntypedInt) || isBasic(y.typ, UntypedNil)
	switch {
	case xu && !yu:
		return c.convertTo(e.X, x, y.typ, "the operation "+e.Op)
	case yu && !xu:
		return c.convertTo(e.Y, y, x.typ, "the operation "+e.Op)
	case xu && yu:
		if isBasic(x.typ, UntypedNil) || isBasic(y.typ, UntypedNil) {
			c.errorf(e.OpAt, "%s on nil has no type to compare in", e.Op)
			return false
		}
		return true
	}
	if !Identical(x.typ, y.typ) {
		c.errorf(e.OpAt, "mismatched types %s and %s for %s", x.typ, y.typ, e.Op)
		return false
	}
	return true
}

func comparable(t Type) bool {
	switch t := t.(type) {
	case *Basic:
		return t.Kind != Invalid
	case *Pointer:
		return true
	}
	return false
}

func (c *checker) comparison(e *ast.Binary, x, y operand) operand {
	// A function compares only with nil.
	if _, ok := x.typ.(*Func); ok && isBasic(y.typ, UntypedNil) && (e.Op == "==" || e.Op == "!=") {
		c.convertTo(e.Y, &y, x.typ, "the comparison")
		return operand{mode: ModeValue, typ: TypBool}
	}
	if _, ok := y.typ.(*Func); ok && isBasic(x.typ, UntypedNil) && (e.Op == "==" || e.Op == "!=") {
		c.convertTo(e.X, &x, y.typ, "the comparison")
		return operand{mode: ModeValue, typ: TypBool}
	}
	if !c.matchTypes(e, &x, &y) {
		return invalid
	}
	ordered := e.Op != "==" && e.Op != "!="
	switch {
	case ordered && !(IsInteger(x.typ) || isBasic(x.typ, String)):
		c.errorf(e.OpAt, "%s needs integers or strings, not %s", e.Op, x.typ)
		return invalid
	case !ordered && !comparable(x.typ):
		c.errorf(e.OpAt, "values of type %s cannot be compared with %s", x.typ, e.Op)
		return invalid
	}
	if x.mode == ModeConst && y.mode == ModeConst {
		var r int
		switch x.val.Kind {
		case ValInt:
			r = x.val.Int.Cmp(y.val.Int)
		case ValString:
			r = compareStrings(x.val.Str, y.val.Str)
		case ValBool:
			if x.val.Bool != y.val.Bool {
				r = 1
			}
		}
		var v bool
		switch e.Op {
		case "==":
			v = r == 0
		case "!=":
			v = r != 0
		case "<":
			v = r < 0
		case "<=":
			v = r <= 0
		case ">":
			v = r > 0
		case ">=":
			v = r >= 0
		}
		return constOf(TypBool, Value{Kind: ValBool, Bool: v})
	}
	if isBasic(x.typ, UntypedInt) {
		// Two untyped operands of which one is not constant cannot happen;
		// give both the default type for code generation.
		c.convertTo(e.X, &x, TypInt, "the comparison")
		c.convertTo(e.Y, &y, TypInt, "the comparison")
	}
	return operand{mode: ModeValue, typ: TypBool}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// shiftMax bounds constant shift counts.
const shiftMax = 512

func (c *checker) shift(e *ast.Binary, x, y operand) operand {
	if !IsInteger(x.typ) || !IsInteger(y.typ) {
		c.errorf(e.OpAt, "%s needs integer operands, not %s and %s", e.Op, x.typ, y.typ)
		return invalid
	}
	if y.mode == ModeConst {
		if y.val.Int.Sign() < 0 {
			c.errorf(e.Y.Pos(), "negative shift count %s", y.val.Int)
			return invalid
		}
		if isBasic(y.typ, UntypedInt) {
			c.convertTo(e.Y, &y, TypUint, "the shift count")
		}
	}
	if x.mode == ModeConst && y.mode == ModeConst {
		n := y.val.Int
		if n.Cmp(big.NewInt(shiftMax)) > 0 {
			c.errorf(e.Y.Pos(), "shift count %s too large", n)
			return invalid
		}
		v := new(big.Int)
		if e.Op == "<<" {
			v.Lsh(x.val.Int, uint(n.Int64()))
			if !isBasic(x.typ, UntypedInt) {
				// A typed constant shifted left wraps like the machine.
				v = wrap(v, x.typ)
			}
		} else {
			v.Rsh(x.val.Int, uint(n.Int64()))
		}
		return c.constResult(e.OpAt, x.typ, v)
	}
	if isBasic(x.typ, UntypedInt) {
		c.convertTo(e.X, &x, TypInt, "the shift")
	}
	if isBasic(y.typ, UntypedInt) {
		c.convertTo(e.Y, &y, TypUint, "the shift count")
	}
	return operand{mode: ModeValue, typ: x.typ}
}

// ---- conversions ----

func (c *checker) conversion(e *ast.As) operand {
	x := c.value(e.X)
	t := c.typeExpr(e.Type)
	if x.mode == ModeInvalid || IsInvalid(t) {
		return invalid
	}
	from := x.typ
	if x.mode == ModeConst && x.val.Kind == ValInt && IsInteger(t) {
		return constOf(t, Value{Kind: ValInt, Int: wrap(x.val.Int, t)})
	}
	if isBasic(from, UntypedInt) {
		// A constant to a pointer (an address) is a uint first.
		if _, ok := t.(*Pointer); ok {
			c.convertTo(e.X, &x, TypUint, "the conversion")
			return operand{mode: ModeValue, typ: t}
		}
	}
	if isBasic(from, UntypedNil) {
		if _, ok := t.(*Pointer); ok {
			c.convertTo(e.X, &x, t, "the conversion")
			return operand{mode: ModeValue, typ: t}
		}
	}
	if !convertible(from, t) {
		c.errorf(e.AsAt, "cannot convert %s to %s", from, t)
		return invalid
	}
	if x.mode == ModeConst && x.val.Kind == ValString && Identical(t, TypString) {
		return x
	}
	return operand{mode: ModeValue, typ: t}
}

// convertible lists what `as` converts: integers among themselves (with
// wrapping), bool to integers, pointers to and from uint and int and to
// other pointer types, threads to integers, string and []byte both ways.
func convertible(from, to Type) bool {
	if Identical(from, to) {
		return true
	}
	isInt := func(t Type) bool { return IsInteger(t) && !isBasic(t, UntypedInt) }
	isWordInt := func(t Type) bool { return isBasic(t, Int) || isBasic(t, Uint) }
	_, fromPtr := from.(*Pointer)
	_, toPtr := to.(*Pointer)
	switch {
	case isInt(from) && isInt(to):
		return true
	case isBasic(from, Bool) && isInt(to):
		return true
	case fromPtr && (toPtr || isWordInt(to)):
		return true
	case toPtr && isWordInt(from):
		return true
	case isBasic(from, Thread) && isWordInt(to), isWordInt(from) && isBasic(to, Thread):
		return true
	case isBasic(from, String) && isByteSlice(to), isByteSlice(from) && isBasic(to, String):
		return true
	}
	return false
}

func isByteSlice(t Type) bool {
	s, ok := t.(*Slice)
	return ok && isBasic(s.Elem, Byte)
}

// isBytes reports whether t is string or []byte (what printing, files and
// paths accept).
func isBytes(t Type) bool { return isBasic(t, String) || isByteSlice(t) }

// ---- indexing, slicing, selectors ----

func (c *checker) index(e *ast.Index) operand {
	x := c.value(e.X)
	i := c.value(e.Index)
	if x.mode == ModeInvalid || i.mode == ModeInvalid {
		return invalid
	}
	if p, ok := x.typ.(*Pointer); ok {
		if a, ok := p.Elem.(*Array); ok {
			x = operand{mode: ModeVar, typ: a}
		}
	}
	if !c.indexValue(e.Index, &i) {
		return invalid
	}
	switch t := x.typ.(type) {
	case *Array:
		if i.mode == ModeConst && i.val.Int.Cmp(big.NewInt(t.Len)) >= 0 {
			c.errorf(e.Index.Pos(), "index %s out of range: the array has %d elements", i.val.Int, t.Len)
			return invalid
		}
		mode := ModeValue
		if x.mode == ModeVar {
			mode = ModeVar
		}
		return operand{mode: mode, typ: t.Elem}
	case *Slice:
		return operand{mode: ModeVar, typ: t.Elem}
	case *Basic:
		if t.Kind == String {
			if x.mode == ModeConst && i.mode == ModeConst {
				n := i.val.Int.Int64()
				if n >= int64(len(x.val.Str)) {
					c.errorf(e.Index.Pos(), "index %d out of range: the string has %d bytes", n, len(x.val.Str))
					return invalid
				}
				return constOf(TypByte, intConst(int64(x.val.Str[n])))
			}
			return operand{mode: ModeValue, typ: TypByte}
		}
	}
	c.errorf(e.Lbrack, "cannot index %s (type %s)", describeExpr(e.X), x.typ)
	return invalid
}

// indexValue checks an index or slice bound: an integer, not negative when
// constant; an untyped constant becomes int.
func (c *checker) indexValue(e ast.Expr, i *operand) bool {
	if !IsInteger(i.typ) {
		c.errorf(e.Pos(), "an index must be an integer, not %s", i.typ)
		return false
	}
	if i.mode == ModeConst {
		if i.val.Int.Sign() < 0 {
			c.errorf(e.Pos(), "negative index %s", i.val.Int)
			return false
		}
		if isBasic(i.typ, UntypedInt) {
			return c.convertTo(e, i, TypInt, "the index")
		}
	}
	return true
}

func (c *checker) sliceExpr(e *ast.SliceExpr) operand {
	x := c.value(e.X)
	if x.mode == ModeInvalid {
		return invalid
	}
	var bounds [2]operand
	for k, b := range []ast.Expr{e.Lo, e.Hi} {
		if b == nil {
			continue
		}
		bounds[k] = c.value(b)
		if bounds[k].mode == ModeInvalid || !c.indexValue(b, &bounds[k]) {
			return invalid
		}
	}
	if bounds[0].mode == ModeConst && bounds[1].mode == ModeConst && bounds[0].val.Int.Cmp(bounds[1].val.Int) > 0 {
		c.errorf(e.Lbrack, "inverted slice bounds %s > %s", bounds[0].val.Int, bounds[1].val.Int)
		return invalid
	}
	if p, ok := x.typ.(*Pointer); ok {
		if a, ok := p.Elem.(*Array); ok {
			x = operand{mode: ModeVar, typ: a}
		}
	}
	switch t := x.typ.(type) {
	case *Array:
		if x.mode != ModeVar {
			c.errorf(e.Lbrack, "cannot slice %s: it is not stored in a variable", describeExpr(e.X))
			return invalid
		}
		if bounds[1].mode == ModeConst && bounds[1].val.Int.Cmp(big.NewInt(t.Len)) > 0 {
			c.errorf(e.Hi.Pos(), "slice bound %s out of range: the array has %d elements", bounds[1].val.Int, t.Len)
			return invalid
		}
		c.markAddrTaken(e.X)
		return operand{mode: ModeValue, typ: &Slice{Elem: t.Elem}}
	case *Slice:
		return operand{mode: ModeValue, typ: t}
	case *Basic:
		if t.Kind == String {
			return operand{mode: ModeValue, typ: TypString}
		}
	}
	c.errorf(e.Lbrack, "cannot slice %s (type %s)", describeExpr(e.X), x.typ)
	return invalid
}

// selector checks x.f; inCall allows a method (the call passes the
// receiver).
func (c *checker) selector(e *ast.Selector, inCall bool) operand {
	if id, ok := e.X.(*ast.Ident); ok {
		if mn, ok := c.scope0().Lookup(id.Name).(*ModuleName); ok {
			c.info.Uses[id] = mn
			c.record(e.X, operand{mode: ModeModule, typ: TypInvalid})
			mn.Used = true
			return c.moduleMember(e, mn)
		}
	}
	x := c.expr(e.X)
	if x.mode == ModeInvalid {
		return invalid
	}
	if x.mode == ModeType {
		c.errorf(e.Sel.At, "%s is a type: call methods on a value", describeExpr(e.X))
		return invalid
	}
	x = c.singleValue(e.X, x)
	if x.mode == ModeInvalid {
		return invalid
	}
	var st *Struct
	deref := false
	switch t := x.typ.(type) {
	case *Struct:
		st = t
	case *Pointer:
		st, _ = t.Elem.(*Struct)
		deref = true
	}
	if st == nil {
		c.errorf(e.Sel.At, "%s (type %s) has no field or method %s", describeExpr(e.X), x.typ, e.Sel.Name)
		return invalid
	}
	if f := st.FieldByName(e.Sel.Name); f != nil {
		if !f.Pub && st.Module != c.mod {
			c.errorf(e.Sel.At, "field %s of %s is private to module %s", f.Name, st, st.Module.Name)
			return invalid
		}
		c.info.Selections[e] = &Selection{Kind: SelField, Field: f, Deref: deref}
		mode := x.mode
		if deref || mode == ModeVar {
			mode = ModeVar
		} else {
			mode = ModeValue
		}
		return operand{mode: mode, typ: f.Type}
	}
	if m, ok := st.Methods[e.Sel.Name]; ok {
		if !m.Pub && st.Module != c.mod {
			c.errorf(e.Sel.At, "method %s of %s is private to module %s", m.Name, st, st.Module.Name)
			return invalid
		}
		if !inCall {
			c.errorf(e.Sel.At, "method %s must be called", e.Sel.Name)
			return invalid
		}
		sel := &Selection{Kind: SelMethod, Method: m}
		switch {
		case m.PtrRecv && !deref:
			if x.mode != ModeVar {
				c.errorf(e.Sel.At, "method %s needs a pointer receiver: %s is not stored in a variable", m.Name, describeExpr(e.X))
				return invalid
			}
			sel.AddrRecv = true
			c.markAddrTaken(e.X)
		case !m.PtrRecv && deref:
			sel.DerefRecv = true
		}
		c.info.Selections[e] = sel
		return operand{mode: ModeFunc, typ: m.Sig}
	}
	c.errorf(e.Sel.At, "%s (type %s) has no field or method %s", describeExpr(e.X), x.typ, e.Sel.Name)
	return invalid
}

func (c *checker) moduleMember(e *ast.Selector, mn *ModuleName) operand {
	if mn.Broken {
		return invalid
	}
	obj := mn.Module.Scope.LookupLocal(e.Sel.Name)
	if obj == nil {
		c.errorf(e.Sel.At, "module %s has no %s", mn.Name, e.Sel.Name)
		return invalid
	}
	if !isPub(obj) {
		c.errorf(e.Sel.At, "%s.%s is private to module %s (declare it pub)", mn.Name, e.Sel.Name, mn.Name)
		return invalid
	}
	if _, ok := obj.(*ModuleName); ok {
		c.errorf(e.Sel.At, "%s.%s is a module imported by %s, not a member of it", mn.Name, e.Sel.Name, mn.Name)
		return invalid
	}
	c.info.Selections[e] = &Selection{Kind: SelModuleMember, Obj: obj}
	c.info.Uses[e.Sel] = obj
	return c.objOperand(obj, e.Sel.At)
}

func isPub(o Object) bool {
	switch o := o.(type) {
	case *Var:
		return o.Pub
	case *Const:
		return o.Pub
	case *FuncObj:
		return o.Pub
	case *TypeName:
		return o.Pub
	}
	return false
}

// ---- literals, new, spawn ----

func (c *checker) composite(e *ast.CompositeLit) operand {
	t := c.typeExpr(e.Type)
	switch t := t.(type) {
	case *Struct:
		c.structLit(e, t)
		return operand{mode: ModeValue, typ: t}
	case *Array:
		for i, el := range e.Elts {
			if el.Key != nil {
				c.errorf(el.Key.At, "array literals list values, not names")
				continue
			}
			if int64(i) >= t.Len {
				c.errorf(el.Value.Pos(), "too many values: the array has %d elements", t.Len)
				break
			}
			x := c.value(el.Value)
			c.convertTo(el.Value, &x, t.Elem, "the array literal")
		}
		return operand{mode: ModeValue, typ: t}
	}
	if !IsInvalid(t) {
		c.errorf(e.Lbrace, "%s literals are not supported: only structs and arrays", t)
	}
	for _, el := range e.Elts {
		c.expr(el.Value)
	}
	return invalid
}

func (c *checker) structLit(e *ast.CompositeLit, t *Struct) {
	if t.Module != c.mod {
		for _, f := range t.Fields {
			if !f.Pub {
				c.errorf(e.Lbrace, "cannot write a literal of %s: field %s is private to module %s", t, f.Name, t.Module.Name)
				for _, el := range e.Elts {
					c.expr(el.Value)
				}
				return
			}
		}
	}
	keyed := len(e.Elts) > 0 && e.Elts[0].Key != nil
	seen := map[string]bool{}
	for i, el := range e.Elts {
		if (el.Key != nil) != keyed {
			c.errorf(el.Value.Pos(), "a struct literal names every field or none")
			c.expr(el.Value)
			continue
		}
		var f *Field
		if keyed {
			f = t.FieldByName(el.Key.Name)
			if f == nil {
				c.errorf(el.Key.At, "struct %s has no field %s", t, el.Key.Name)
				c.expr(el.Value)
				continue
			}
			if seen[f.Name] {
				c.errorf(el.Key.At, "field %s given twice", f.Name)
			}
			seen[f.Name] = true
		} else {
			if i >= len(t.Fields) {
				c.errorf(el.Value.Pos(), "too many values for struct %s (%d fields)", t, len(t.Fields))
				break
			}
			f = t.Fields[i]
		}
		x := c.value(el.Value)
		c.convertTo(el.Value, &x, f.Type, "field "+f.Name)
	}
	if !keyed && len(e.Elts) > 0 && len(e.Elts) < len(t.Fields) {
		c.errorf(e.Rbrace, "too few values for struct %s: give all %d fields or name them", t, len(t.Fields))
	}
}

func (c *checker) newExpr(e *ast.New) operand {
	t := c.typeExpr(e.Type)
	if e.Len != nil {
		n := c.value(e.Len)
		if n.mode != ModeInvalid {
			if !IsInteger(n.typ) {
				c.errorf(e.Len.Pos(), "the length of new [n]T must be an integer, not %s", n.typ)
			} else if n.mode == ModeConst && n.val.Int.Sign() < 0 {
				c.errorf(e.Len.Pos(), "negative length %s", n.val.Int)
			} else if isBasic(n.typ, UntypedInt) {
				c.convertTo(e.Len, &n, TypInt, "the length")
			}
		}
		if IsInvalid(t) {
			return invalid
		}
		return operand{mode: ModeValue, typ: &Slice{Elem: t}}
	}
	if IsInvalid(t) {
		return invalid
	}
	return operand{mode: ModeValue, typ: &Pointer{Elem: t}}
}

func (c *checker) spawn(e *ast.Spawn) operand {
	x := c.callExpr(e.Call, true)
	if x.mode == ModeInvalid {
		return invalid
	}
	ci := c.info.Calls[e.Call]
	if ci == nil || ci.Kind != CallFunc && ci.Kind != CallMethod {
		c.errorf(e.Call.Pos(), "spawn needs a call of a named function or method")
		return invalid
	}
	rs := ci.Sig.Results
	if len(rs) > 1 || len(rs) == 1 && ClassOf(rs[0]) != ClassWord {
		c.errorf(e.Call.Pos(), "a spawned function returns nothing or one word (an integer, bool or pointer), which join gives back; %s returns %s", ci.Func.Name, tupleString(rs))
		return invalid
	}
	return operand{mode: ModeValue, typ: TypThread}
}

func tupleString(ts []Type) string {
	if len(ts) == 1 {
		return ts[0].String()
	}
	return (&Tuple{Types: ts}).String()
}
