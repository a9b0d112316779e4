package check

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/ast"
)

// BuiltinID names a predeclared function.
type BuiltinID uint8

const (
	BuiltinNone BuiltinID = iota
	BuiltinLen
	BuiltinPrint
	BuiltinPrintln
	BuiltinPrintf
	BuiltinPanic
	BuiltinExit
	BuiltinArgc
	BuiltinArg
	BuiltinCas
	BuiltinFetchAdd
	BuiltinFence
	BuiltinWait
	BuiltinWake
	BuiltinJoin
	BuiltinTid
	BuiltinPid
	BuiltinYield
	BuiltinFree
	BuiltinOpen
	BuiltinClose
	BuiltinRead
	BuiltinWrite
	BuiltinFsize
	BuiltinList
	BuiltinRemove
	BuiltinMkdir
	BuiltinPstart
	BuiltinPwait
	BuiltinCopy
	numBuiltins
)

var builtinNames = [numBuiltins]string{
	BuiltinLen: "len", BuiltinPrint: "print", BuiltinPrintln: "println", BuiltinPrintf: "printf",
	BuiltinPanic: "panic", BuiltinExit: "exit", BuiltinArgc: "argc", BuiltinArg: "arg",
	BuiltinCas: "cas", BuiltinFetchAdd: "fetch_add", BuiltinFence: "fence", BuiltinWait: "wait",
	BuiltinWake: "wake", BuiltinJoin: "join", BuiltinTid: "tid", BuiltinPid: "pid",
	BuiltinYield: "yield", BuiltinFree: "free", BuiltinOpen: "open", BuiltinClose: "close",
	BuiltinRead: "read", BuiltinWrite: "write", BuiltinFsize: "fsize", BuiltinList: "list",
	BuiltinRemove: "remove", BuiltinMkdir: "mkdir", BuiltinPstart: "pstart", BuiltinPwait: "pwait",
	BuiltinCopy: "copy",
}

func (b BuiltinID) String() string { return builtinNames[b] }

// universe is the scope every module starts in.
var universe = func() *Scope {
	s := newScope(nil)
	for _, t := range []*Basic{TypInt, TypUint, TypByte, TypBool, TypString, TypThread} {
		s.names[t.Name] = &TypeName{Name: t.Name, Type: t, Pub: true}
	}
	for id := BuiltinID(1); id < numBuiltins; id++ {
		s.names[builtinNames[id]] = &Builtin{Name: builtinNames[id], ID: id}
	}
	return s
}()

func (c *checker) call(e *ast.Call) operand { return c.callExpr(e, false) }

// callExpr checks a call; spawned: it is the operand of spawn.
func (c *checker) callExpr(e *ast.Call, spawned bool) operand {
	var x operand
	if sel, ok := ast.Unparen(e.Fun).(*ast.Selector); ok {
		x = c.selector(sel, true)
		c.record(e.Fun, x)
	} else {
		x = c.expr(e.Fun)
	}
	ci := &CallInfo{}
	switch x.mode {
	case ModeInvalid:
		c.args(e.Args)
		return invalid
	case ModeBuiltin:
		if spawned {
			c.errorf(e.Pos(), "cannot spawn a builtin")
			c.args(e.Args)
			return invalid
		}
		b := c.builtinOf(e.Fun)
		c.info.Calls[e] = &CallInfo{Kind: CallBuiltin, Builtin: b}
		return c.builtin(e, b)
	case ModeType:
		c.errorf(e.Pos(), "%s is a type: convert with (x as %s)", describeExpr(e.Fun), x.typ)
		c.args(e.Args)
		return invalid
	case ModeFunc:
		ci.Func = c.funcOf(e.Fun)
		ci.Kind = CallFunc
		if ci.Func != nil && ci.Func.Recv != nil {
			ci.Kind = CallMethod
		}
	case ModeModule:
		c.errorf(e.Pos(), "module %s is not a function", describeExpr(e.Fun))
		c.args(e.Args)
		return invalid
	default:
		if _, ok := x.typ.(*Func); !ok {
			c.errorf(e.Pos(), "cannot call %s (type %s)", describeExpr(e.Fun), x.typ)
			c.args(e.Args)
			return invalid
		}
		ci.Kind = CallIndirect
		if spawned {
			c.errorf(e.Pos(), "spawn needs a named function, not a function value")
		}
	}
	sig := x.typ.(*Func)
	ci.Sig = sig
	c.info.Calls[e] = ci
	if len(e.Args) != len(sig.Params) {
		c.errorf(e.Lparen, "%s takes %d argument%s, got %d", describeExpr(e.Fun), len(sig.Params), plural(len(sig.Params)), len(e.Args))
		c.args(e.Args)
	} else {
		for i, a := range e.Args {
			y := c.value(a)
			c.convertTo(a, &y, sig.Params[i], fmt.Sprintf("argument %d of %s", i+1, describeExpr(e.Fun)))
		}
	}
	switch len(sig.Results) {
	case 0:
		return operand{mode: ModeNoValue, typ: TypInvalid}
	case 1:
		return operand{mode: ModeValue, typ: sig.Results[0]}
	}
	return operand{mode: ModeValue, typ: &Tuple{Types: sig.Results}}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// args checks arguments of a call that is wrong anyway, for their own
// errors.
func (c *checker) args(args []ast.Expr) {
	for _, a := range args {
		c.expr(a)
	}
}

func (c *checker) funcOf(fun ast.Expr) *FuncObj {
	switch f := ast.Unparen(fun).(type) {
	case *ast.Ident:
		o, _ := c.info.Uses[f].(*FuncObj)
		return o
	case *ast.Selector:
		if sel := c.info.Selections[f]; sel != nil {
			if sel.Kind == SelMethod {
				return sel.Method
			}
			o, _ := sel.Obj.(*FuncObj)
			return o
		}
	}
	return nil
}

func (c *checker) builtinOf(fun ast.Expr) BuiltinID {
	if id, ok := ast.Unparen(fun).(*ast.Ident); ok {
		if b, ok := c.info.Uses[id].(*Builtin); ok {
			return b.ID
		}
	}
	return BuiltinNone
}

// builtin checks a call of a builtin.
func (c *checker) builtin(e *ast.Call, b BuiltinID) operand {
	name := b.String()
	nargs := func(n int) bool {
		if len(e.Args) != n {
			c.errorf(e.Lparen, "%s takes %d argument%s, got %d", name, n, plural(n), len(e.Args))
			c.args(e.Args)
			return false
		}
		return true
	}
	// arg checks argument i against t (nil: any single value).
	arg := func(i int, t Type) (operand, bool) {
		x := c.value(e.Args[i])
		if x.mode == ModeInvalid {
			return x, false
		}
		if t != nil {
			return x, c.convertTo(e.Args[i], &x, t, fmt.Sprintf("argument %d of %s", i+1, name))
		}
		return x, true
	}
	bytesArg := func(i int, what string) bool {
		x, ok := arg(i, nil)
		if ok && !isBytes(x.typ) {
			c.errorf(e.Args[i].Pos(), "%s: %s must be a string or []byte, not %s", name, what, x.typ)
			return false
		}
		return ok
	}
	bufArg := func(i int) bool {
		x, ok := arg(i, nil)
		if ok && !isByteSlice(x.typ) {
			c.errorf(e.Args[i].Pos(), "%s: the buffer must be a []byte, not %s", name, x.typ)
			return false
		}
		return ok
	}
	result := func(t Type) operand { return operand{mode: ModeValue, typ: t} }
	none := operand{mode: ModeNoValue, typ: TypInvalid}
	intResult := func(ok bool) operand {
		if !ok {
			return invalid
		}
		return result(TypInt)
	}
	switch b {
	case BuiltinLen:
		if !nargs(1) {
			return invalid
		}
		x, ok := arg(0, nil)
		if !ok {
			return invalid
		}
		t := x.typ
		if p, isPtr := t.(*Pointer); isPtr {
			if a, isArr := p.Elem.(*Array); isArr {
				t = a
			}
		}
		switch t := t.(type) {
		case *Array:
			return constOf(TypInt, intConst(t.Len))
		case *Slice:
			return result(TypInt)
		case *Basic:
			if t.Kind == String {
				if x.mode == ModeConst {
					return constOf(TypInt, intConst(int64(len(x.val.Str))))
				}
				return result(TypInt)
			}
		}
		c.errorf(e.Args[0].Pos(), "len needs a string, an array or a slice, not %s", x.typ)
		return invalid
	case BuiltinPrint, BuiltinPrintln:
		for i := range e.Args {
			x, ok := arg(i, nil)
			if ok {
				c.printable(e.Args[i], &x, name)
			}
		}
		return none
	case BuiltinPrintf:
		c.printf(e)
		return none
	case BuiltinPanic:
		if nargs(1) && bytesArg(0, "the message") {
			return none
		}
		return none
	case BuiltinExit:
		if nargs(1) {
			arg(0, TypInt)
		}
		return none
	case BuiltinArgc, BuiltinTid, BuiltinPid:
		if !nargs(0) {
			return invalid
		}
		return result(TypInt)
	case BuiltinFence, BuiltinYield:
		nargs(0)
		return none
	case BuiltinArg:
		if !nargs(2) {
			return invalid
		}
		_, ok1 := arg(0, TypInt)
		return intResult(bufArg(1) && ok1)
	case BuiltinCas:
		if !nargs(3) {
			return invalid
		}
		elem, ok := c.wordPointer(e, 0, name, false)
		if !ok {
			c.args(e.Args[1:])
			return invalid
		}
		_, ok1 := arg(1, elem)
		_, ok2 := arg(2, elem)
		if !ok1 || !ok2 {
			return invalid
		}
		return result(TypBool)
	case BuiltinFetchAdd:
		if !nargs(2) {
			return invalid
		}
		elem, ok := c.wordPointer(e, 0, name, true)
		if !ok {
			c.args(e.Args[1:])
			return invalid
		}
		if _, ok := arg(1, elem); !ok {
			return invalid
		}
		return result(elem)
	case BuiltinWait:
		if !nargs(2) {
			return invalid
		}
		elem, ok := c.wordPointer(e, 0, name, false)
		if !ok {
			c.args(e.Args[1:])
			return invalid
		}
		if _, ok := arg(1, elem); !ok {
			return invalid
		}
		return result(TypBool)
	case BuiltinWake:
		if !nargs(2) {
			return invalid
		}
		_, ok := c.wordPointer(e, 0, name, false)
		_, ok1 := arg(1, TypInt)
		return intResult(ok && ok1)
	case BuiltinJoin:
		if !nargs(1) {
			return invalid
		}
		_, ok := arg(0, TypThread)
		return intResult(ok)
	case BuiltinFree:
		if !nargs(1) {
			return invalid
		}
		x, ok := arg(0, nil)
		if ok {
			switch x.typ.(type) {
			case *Pointer, *Slice:
			default:
				c.errorf(e.Args[0].Pos(), "free needs a pointer or a slice from new, not %s", x.typ)
			}
		}
		return none
	case BuiltinOpen:
		if !nargs(2) {
			return invalid
		}
		ok := bytesArg(0, "the path")
		_, ok1 := arg(1, TypInt)
		return intResult(ok && ok1)
	case BuiltinClose, BuiltinFsize:
		if !nargs(1) {
			return invalid
		}
		_, ok := arg(0, TypInt)
		return intResult(ok)
	case BuiltinRead:
		if !nargs(3) {
			return invalid
		}
		_, ok := arg(0, TypInt)
		_, ok1 := arg(1, TypInt)
		return intResult(bufArg(2) && ok && ok1)
	case BuiltinWrite:
		if !nargs(3) {
			return invalid
		}
		_, ok := arg(0, TypInt)
		_, ok1 := arg(1, TypInt)
		return intResult(bytesArg(2, "the data") && ok && ok1)
	case BuiltinList:
		if !nargs(2) {
			return invalid
		}
		ok := bytesArg(0, "the path")
		return intResult(bufArg(1) && ok)
	case BuiltinRemove, BuiltinMkdir:
		if !nargs(1) {
			return invalid
		}
		return intResult(bytesArg(0, "the path"))
	case BuiltinPstart:
		if !nargs(2) {
			return invalid
		}
		ok := bytesArg(0, "the path")
		return intResult(bytesArg(1, "the arguments (NUL-separated)") && ok)
	case BuiltinPwait:
		if nargs(1) {
			arg(0, &Slice{Elem: TypInt})
		}
		return none
	case BuiltinCopy:
		if !nargs(2) {
			return invalid
		}
		dst, ok := arg(0, nil)
		src, ok1 := arg(1, nil)
		if !ok || !ok1 {
			return invalid
		}
		ds, isSlice := dst.typ.(*Slice)
		if !isSlice {
			c.errorf(e.Args[0].Pos(), "copy: the destination must be a slice, not %s", dst.typ)
			return invalid
		}
		if !Identical(dst.typ, src.typ) && !(isByteSlice(ds) && isBasic(src.typ, String)) {
			c.errorf(e.Args[1].Pos(), "copy: cannot copy %s into %s", src.typ, dst.typ)
			return invalid
		}
		return result(TypInt)
	}
	c.errorf(e.Pos(), "unknown builtin")
	return invalid
}

// wordPointer checks that argument i is a pointer to a word (int, uint or a
// pointer; arith: int or uint only) and returns the word's type.
func (c *checker) wordPointer(e *ast.Call, i int, name string, arith bool) (Type, bool) {
	x := c.value(e.Args[i])
	if x.mode == ModeInvalid {
		return nil, false
	}
	p, ok := x.typ.(*Pointer)
	if ok && IsWord(p.Elem) && (!arith || IsInteger(p.Elem)) {
		return p.Elem, true
	}
	want := "*int, *uint or a pointer to a pointer"
	if arith {
		want = "*int or *uint"
	}
	c.errorf(e.Args[i].Pos(), "%s needs the address of a word (%s), not %s", name, want, x.typ)
	return nil, false
}

// printable checks a value print and println can print: integers, bool,
// strings and []byte, pointers, threads.
func (c *checker) printable(e ast.Expr, x *operand, name string) bool {
	if isBasic(x.typ, UntypedInt) {
		return c.convertTo(e, x, TypInt, name)
	}
	if isBasic(x.typ, UntypedNil) {
		c.errorf(e.Pos(), "%s cannot print an untyped nil", name)
		return false
	}
	switch t := x.typ.(type) {
	case *Basic, *Pointer:
		return true
	case *Slice:
		if isByteSlice(t) {
			return true
		}
	}
	c.errorf(e.Pos(), "%s cannot print a value of type %s", name, x.typ)
	return false
}

// FormatPiece is one piece of a printf format: literal text, or a verb
// applied to argument Arg (an index into the call's arguments after the
// format).
type FormatPiece struct {
	Lit   string
	Verb  byte // 0: literal
	Width int
	Zero  bool // pad numbers with zeros
	Left  bool // pad on the right
	Arg   int
}

// formatWidthMax bounds a printf width.
const formatWidthMax = 1000

// ParseFormat splits a printf format into pieces; err describes the first
// problem.
func ParseFormat(f string) ([]FormatPiece, string) {
	var out []FormatPiece
	lit := []byte{}
	arg := 0
	flushLit := func() {
		if len(lit) > 0 {
			out = append(out, FormatPiece{Lit: string(lit)})
			lit = []byte{}
		}
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit = append(lit, f[i])
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		p := FormatPiece{Arg: arg}
		for i < len(f) && (f[i] == '-' || f[i] == '0') {
			if f[i] == '-' {
				p.Left = true
			} else {
				p.Zero = true
			}
			i++
		}
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			p.Width = p.Width*10 + int(f[i]-'0')
			if p.Width > formatWidthMax {
				return nil, fmt.Sprintf("width larger than %d", formatWidthMax)
			}
			i++
		}
		if i >= len(f) {
			return nil, "the format ends inside a verb"
		}
		switch f[i] {
		case 'd', 'x', 'c', 's', 't', 'v', 'p':
		default:
			return nil, fmt.Sprintf("unknown verb %%%c (use %%d %%x %%c %%s %%t %%v %%p or %%%%)", f[i])
		}
		p.Verb = f[i]
		flushLit()
		out = append(out, p)
		arg++
	}
	flushLit()
	return out, ""
}

func (c *checker) printf(e *ast.Call) {
	if len(e.Args) == 0 {
		c.errorf(e.Lparen, "printf needs a format string")
		return
	}
	fx := c.value(e.Args[0])
	for _, a := range e.Args[1:] {
		c.value(a)
	}
	if fx.mode == ModeInvalid {
		return
	}
	if fx.mode != ModeConst || fx.val.Kind != ValString {
		c.errorf(e.Args[0].Pos(), "the format of printf must be a constant string")
		return
	}
	pieces, err := ParseFormat(fx.val.Str)
	if err != "" {
		c.errorf(e.Args[0].Pos(), "printf format: %s", err)
		return
	}
	nverbs := 0
	for _, p := range pieces {
		if p.Verb == 0 {
			continue
		}
		nverbs++
		if p.Arg+1 >= len(e.Args) {
			continue
		}
		a := e.Args[p.Arg+1]
		x := c.info.Types[a]
		op := operand{mode: x.Mode, typ: x.Type, val: x.Value}
		if op.mode == ModeInvalid {
			continue
		}
		c.verbArg(a, &op, p.Verb)
	}
	if nverbs != len(e.Args)-1 {
		c.errorf(e.Args[0].Pos(), "printf format has %d verb%s for %d argument%s", nverbs, plural(nverbs), len(e.Args)-1, plural(len(e.Args)-1))
		return
	}
	if c.info.Formats == nil {
		c.info.Formats = map[*ast.Call][]FormatPiece{}
	}
	c.info.Formats[e] = pieces
}

func (c *checker) verbArg(a ast.Expr, x *operand, verb byte) {
	if isBasic(x.typ, UntypedInt) {
		c.convertTo(a, x, TypInt, "printf")
	}
	t := x.typ
	ok := false
	_, isPtr := t.(*Pointer)
	switch verb {
	case 'd', 'c':
		ok = IsInteger(t) || isBasic(t, Thread)
	case 'x':
		ok = IsInteger(t) || isPtr
	case 'p':
		ok = isPtr
	case 's':
		ok = isBytes(t)
	case 't':
		ok = isBasic(t, Bool)
	case 'v':
		c.printable(a, x, "printf") // it reports
		return
	}
	if !ok {
		c.errorf(a.Pos(), "printf verb %%%c cannot format %s", verb, t)
	}
}
