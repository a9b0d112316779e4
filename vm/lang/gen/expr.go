package gen

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

func (f *fnGen) typeOf(e ast.Expr) check.Type { return f.g.info.Types[e].Type }

// expr pushes the value of e: one word, two for strings and slices, the
// address of the value for structs and arrays.
func (f *fnGen) expr(e ast.Expr) {
	tv, ok := f.g.info.Types[e]
	if !ok {
		panic(fmt.Sprintf("gen: expression at %s was not checked", e.Pos()))
	}
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	if tv.Mode == check.ModeConst {
		f.constant(tv.Type, tv.Value)
		return
	}
	switch e := e.(type) {
	case *ast.Paren:
		f.expr(e.X)
	case *ast.Ident:
		f.ident(e)
	case *ast.NilLit:
		f.push(0)
	case *ast.Unary:
		f.unary(e, tv.Type)
	case *ast.Binary:
		f.binary(e, tv.Type)
	case *ast.As:
		f.conversion(e, tv.Type)
	case *ast.Call:
		f.call(e, nil)
	case *ast.Index:
		f.elemAddr(e)
		f.load(tv.Type)
	case *ast.SliceExpr:
		f.slice(e)
	case *ast.Selector:
		f.selector(e, tv.Type)
	case *ast.CompositeLit:
		off := f.frameAlloc(check.SizeOf(tv.Type), check.AlignOf(tv.Type))
		f.compositeInto(e, tv.Type, func() { f.frameAddr(off) })
		f.frameAddr(off)
	case *ast.New:
		f.newExpr(e, tv.Type)
	case *ast.Spawn:
		f.spawn(e)
	default:
		panic(fmt.Sprintf("gen: unexpected expression %T", e))
	}
}

func (f *fnGen) constant(t check.Type, v check.Value) {
	switch v.Kind {
	case check.ValString:
		f.pushString(v.Str)
	default:
		f.push(v.Uint64())
	}
}

func (f *fnGen) ident(e *ast.Ident) {
	switch o := f.g.info.Uses[e].(type) {
	case *check.Var:
		f.loadLoc(f.locOf(o), o.Type)
	case *check.FuncObj:
		f.pushFunc(o)
	default:
		panic(fmt.Sprintf("gen: identifier %s denotes %T", e.Name, o))
	}
}

func (f *fnGen) selector(e *ast.Selector, t check.Type) {
	sel := f.g.info.Selections[e]
	switch sel.Kind {
	case check.SelModuleMember:
		switch o := sel.Obj.(type) {
		case *check.Var:
			f.loadLoc(f.locOf(o), o.Type)
		case *check.FuncObj:
			f.pushFunc(o)
		default:
			panic(fmt.Sprintf("gen: module member %s is %T", e.Sel.Name, o))
		}
	case check.SelField:
		f.fieldAddr(e, sel)
		f.load(t)
	default:
		panic("gen: method selector outside a call")
	}
}

// fieldAddr pushes the address of the field x.f.
func (f *fnGen) fieldAddr(e *ast.Selector, sel *check.Selection) {
	// A pointer's value is the struct's address; a struct's value (class
	// memory) is its address too.
	f.expr(e.X)
	f.addi(sel.Field.Offset)
}

// addr pushes the address of an addressable expression.
func (f *fnGen) addr(e ast.Expr) {
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	switch e := e.(type) {
	case *ast.Paren:
		f.addr(e.X)
	case *ast.Ident:
		v := f.g.info.Uses[e].(*check.Var)
		f.locAddr(f.locOf(v))
	case *ast.Unary: // *p
		f.expr(e.X)
	case *ast.Selector:
		sel := f.g.info.Selections[e]
		if sel.Kind == check.SelModuleMember {
			f.locAddr(f.locOf(sel.Obj.(*check.Var)))
			return
		}
		f.fieldAddr(e, sel)
	case *ast.Index:
		f.elemAddr(e)
	default:
		panic(fmt.Sprintf("gen: address of %T", e))
	}
}

func (f *fnGen) unary(e *ast.Unary, t check.Type) {
	switch e.Op {
	case "&":
		f.addr(e.X)
	case "*":
		f.expr(e.X)
		f.load(t)
	default:
		f.expr(e.X)
		f.unaryOp(e.Op, t)
	}
}

// unaryOp applies - ! or ~ to the word on the stack.
func (f *fnGen) unaryOp(op string, t check.Type) {
	switch op {
	case "!":
		f.emit(isa.EQZ)
	case "-":
		f.emit(isa.NEG)
		f.truncate(t)
	case "~":
		if isByteSized(t) {
			f.push(0xff)
			f.emit(isa.XOR)
		} else {
			f.emit(isa.NOT)
		}
	default:
		panic("gen: unary " + op)
	}
}

// truncate keeps a byte in 0..255 after arithmetic that may carry out.
func (f *fnGen) truncate(t check.Type) {
	if isByteSized(t) {
		f.push(0xff)
		f.emit(isa.AND)
	}
}

var arithOps = map[string]isa.Op{"+": isa.ADD, "-": isa.SUB, "*": isa.MUL, "&": isa.AND, "|": isa.OR, "^": isa.XOR, "<<": isa.SHL}

func (f *fnGen) binary(e *ast.Binary, t check.Type) {
	switch e.Op {
	case "&&", "||", "==", "!=", "<", "<=", ">", ">=":
		if e.Op != "&&" && e.Op != "||" {
			if f.isStringCompare(e) {
				f.stringCompare(e)
				return
			}
			f.expr(e.X)
			f.expr(e.Y)
			f.emit(f.compareOp(e))
			return
		}
		// Through branches: push 1 if it holds, else 0.
		no, end := f.g.newLabel(), f.g.newLabel()
		f.cond(e, no, false)
		f.push(1)
		f.jump(isa.JMP, end)
		f.place(no)
		f.push(0)
		f.place(end)
		return
	}
	f.expr(e.X)
	f.expr(e.Y)
	f.cur = astPos(e.OpAt) // a division traps at its operator
	f.binaryOp(e, t)
}

// binaryOp applies an arithmetic or comparison operator (not && or ||, not
// on strings) to the two words on the stack.
func (f *fnGen) binaryOp(e *ast.Binary, t check.Type) {
	if comparisons[e.Op] {
		f.emit(f.compareOp(e))
		return
	}
	unsigned := check.IsUnsigned(t)
	switch e.Op {
	case "/":
		f.emit(pick(unsigned, isa.DIVU, isa.DIV))
	case "%":
		f.emit(pick(unsigned, isa.MODU, isa.MOD))
	case ">>":
		f.emit(pick(unsigned, isa.SHR, isa.SAR))
	default:
		op, ok := arithOps[e.Op]
		if !ok {
			panic("gen: binary " + e.Op)
		}
		f.emit(op)
		if e.Op == "+" || e.Op == "-" || e.Op == "*" || e.Op == "<<" {
			f.truncate(t)
		}
	}
}

func pick(c bool, a, b isa.Op) isa.Op {
	if c {
		return a
	}
	return b
}

// operandType is the type a comparison compares in.
func (f *fnGen) operandType(e *ast.Binary) check.Type {
	t := f.typeOf(e.X)
	if b, ok := t.(*check.Basic); ok && (b.Kind == check.UntypedInt || b.Kind == check.UntypedNil) {
		return f.typeOf(e.Y)
	}
	return t
}

func (f *fnGen) isStringCompare(e *ast.Binary) bool {
	b, ok := f.operandType(e).(*check.Basic)
	return ok && b.Kind == check.String
}

// compareOp is the comparison instruction for a binary comparison.
func (f *fnGen) compareOp(e *ast.Binary) isa.Op {
	c := condOf(e.Op, check.IsUnsigned(f.operandType(e)))
	return isa.EQ + isa.Op(c)
}

func condOf(op string, unsigned bool) isa.Cond {
	switch op {
	case "==":
		return isa.CondEQ
	case "!=":
		return isa.CondNE
	case "<":
		return pickCond(unsigned, isa.CondLTU, isa.CondLT)
	case "<=":
		return pickCond(unsigned, isa.CondLEU, isa.CondLE)
	case ">":
		return pickCond(unsigned, isa.CondGTU, isa.CondGT)
	case ">=":
		return pickCond(unsigned, isa.CondGEU, isa.CondGE)
	}
	panic("gen: not a comparison: " + op)
}

func pickCond(c bool, a, b isa.Cond) isa.Cond {
	if c {
		return a
	}
	return b
}

func (f *fnGen) conversion(e *ast.As, to check.Type) {
	f.expr(e.X)
	from := f.typeOf(e.X)
	if isByteSized(to) && !isByteSized(from) {
		f.push(0xff)
		f.emit(isa.AND)
	}
}

func (f *fnGen) newExpr(e *ast.New, t check.Type) {
	alloc := pick(e.Global, isa.GALLOC, isa.ALLOC)
	if e.Len == nil {
		elem := t.(*check.Pointer).Elem
		f.push(uint64(max(check.SizeOf(elem), 1)))
		f.emit(alloc)
		return
	}
	elem := t.(*check.Slice).Elem
	size := check.SizeOf(elem)
	// ( n -- p n )
	f.expr(e.Len)
	n := f.temp(1)
	f.set(n)
	f.get(n)
	f.push(0)
	f.emit(isa.LT)
	neg := f.coldLabel(func() {
		f.get(n)
		f.callRuntime("panic_len")
	})
	f.jump(isa.JNZ, neg)
	f.get(n)
	if size != 1 {
		f.push(uint64(size))
		f.emit(isa.MUL)
	}
	f.emit(alloc)
	f.get(n)
	f.release(n)
}

// compositeInto writes a struct or array literal to the address dst pushes.
func (f *fnGen) compositeInto(e *ast.CompositeLit, t check.Type, dst func()) {
	switch t := t.(type) {
	case *check.Struct:
		given := map[*check.Field]ast.Expr{}
		for i, el := range e.Elts {
			if el.Key != nil {
				given[t.FieldByName(el.Key.Name)] = el.Value
			} else {
				given[t.Fields[i]] = el.Value
			}
		}
		// Fields in declaration order; values are evaluated in the order
		// the literal lists them.
		for _, el := range e.Elts {
			var fd *check.Field
			if el.Key != nil {
				fd = t.FieldByName(el.Key.Name)
			} else {
				fd = t.Fields[indexOfElt(e, el)]
			}
			f.exprTo(el.Value, fd.Type, func() {
				dst()
				f.addi(fd.Offset)
			})
		}
		for _, fd := range t.Fields {
			if _, ok := given[fd]; ok {
				continue
			}
			dst()
			f.addi(fd.Offset)
			f.zeroAt(fd.Type)
		}
	case *check.Array:
		size := check.SizeOf(t.Elem)
		for i, el := range e.Elts {
			f.exprTo(el.Value, t.Elem, func() {
				dst()
				f.addi(int64(i) * size)
			})
		}
		if rest := t.Len - int64(len(e.Elts)); rest > 0 {
			dst()
			f.addi(int64(len(e.Elts)) * size)
			f.zeroAt(&check.Array{Len: rest, Elem: t.Elem})
		}
	default:
		panic(fmt.Sprintf("gen: literal of %s", t))
	}
}

func indexOfElt(e *ast.CompositeLit, el *ast.Element) int {
	for i, x := range e.Elts {
		if x == el {
			return i
		}
	}
	panic("gen: element not in its literal")
}

// zeroAt pops an address and zeroes a value of type t there.
func (f *fnGen) zeroAt(t check.Type) {
	if check.ClassOf(t) == check.ClassMemory {
		f.zeroMem(t)
		return
	}
	a := f.temp(1)
	f.set(a)
	f.pushZero(t)
	f.get(a)
	f.store(t)
	f.release(a)
}

// exprTo evaluates e (of type t) and stores it at the address dst pushes;
// literals and calls returning structs are built there directly.
func (f *fnGen) exprTo(e ast.Expr, t check.Type, dst func()) {
	if check.ClassOf(t) == check.ClassMemory {
		switch x := ast.Unparen(e).(type) {
		case *ast.CompositeLit:
			if f.g.info.Types[e].Mode != check.ModeConst {
				f.compositeInto(x, t, dst)
				return
			}
		}
	}
	f.expr(e)
	dst()
	f.store(t)
}
