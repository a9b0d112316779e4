package gen

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// call pushes the results of a call; dst, if set, pushes the address where
// the (single, struct) result must be built.
func (f *fnGen) call(e *ast.Call, dst func()) {
	ci := f.g.info.Calls[e]
	if ci.Kind == check.CallBuiltin {
		f.builtin(e, ci.Builtin)
		return
	}
	// Destinations of struct results: the caller's choice, else temporaries.
	for _, r := range ci.Sig.Results {
		if check.ClassOf(r) != check.ClassMemory {
			continue
		}
		if dst != nil {
			dst()
			dst = nil
			continue
		}
		off := f.frameAlloc(check.SizeOf(r), check.AlignOf(r))
		f.frameAddr(off)
	}
	f.callArgs(e, ci)
}

// callWithDests is a call whose struct results go to the given slots'
// addresses (return g() passing our destinations on).
func (f *fnGen) callWithDests(e *ast.Call, slots []int) {
	ci := f.g.info.Calls[e]
	for i, r := range ci.Sig.Results {
		if check.ClassOf(r) == check.ClassMemory {
			f.get(slots[i])
		}
	}
	f.callArgs(e, ci)
}

// callArgs pushes the receiver and arguments and calls.
func (f *fnGen) callArgs(e *ast.Call, ci *check.CallInfo) {
	f.pushArgs(e, ci)
	saved := f.at(e.Lparen)
	defer f.restorePos(saved)
	switch ci.Kind {
	case check.CallFunc, check.CallMethod:
		f.jump(isa.CALL, f.g.funcLabel(ci.Func))
	case check.CallIndirect:
		f.expr(e.Fun)
		// A nil function value would call pc 0.
		f.emit(isa.DUP)
		f.push(0)
		f.emit(isa.EQ)
		f.jump(isa.JNZ, f.coldLabel(func() { f.panicMsg("call of a nil function value") }))
		f.emit(isa.CALLI)
	}
}

// pushArgs pushes the receiver (for a method) and the arguments; it returns
// how many words it pushed.
func (f *fnGen) pushArgs(e *ast.Call, ci *check.CallInfo) int {
	n := 0
	if ci.Kind == check.CallMethod {
		sel := ast.Unparen(e.Fun).(*ast.Selector)
		s := f.g.info.Selections[sel]
		if s.AddrRecv {
			f.addr(sel.X)
		} else {
			// A pointer receiver gets the pointer; a struct receiver the
			// struct's address, which *p already is.
			f.expr(sel.X)
		}
		n++
	}
	for _, a := range e.Args {
		f.expr(a)
		n += check.Words(f.typeOf(a))
	}
	return n
}

// spawn starts a thread running a call and pushes its handle.
func (f *fnGen) spawn(e *ast.Spawn) {
	ci := f.g.info.Calls[e.Call]
	words := f.pushArgs(e.Call, ci)
	saved := f.at(e.At)
	defer f.restorePos(saved)
	if words <= 1 {
		// SPAWN starts the function with its one word on the stack, just as
		// a call would; with none, a dummy word lies below its frame.
		if words == 0 {
			f.push(0)
		}
		f.jump(isa.SPAWN, f.g.funcLabel(ci.Func))
		return
	}
	// More words travel through the spawn buffer in this thread's local
	// memory, which the new thread starts with a snapshot of.
	for k := words - 1; k >= 0; k-- {
		f.pushReloc(relocSpawn, int64(8*k))
		f.emit(isa.STORE)
	}
	f.push(0)
	f.jump(isa.SPAWN, f.g.trampoline(ci.Func, words))
}

// trampoline is the entry of threads spawned on fn with words argument
// words: it loads them from the spawn buffer and calls fn; fn's result is
// the thread's exit value.
func (g *gen) trampoline(fn *check.FuncObj, words int) int {
	fi := g.funcs[fn]
	if fi == nil {
		g.funcLabel(fn)
		fi = g.funcs[fn]
	}
	if fi.tramp >= 0 {
		return fi.tramp
	}
	fi.tramp = g.newLabel()
	g.spawnMax = max(g.spawnMax, words)
	g.tramps = append(g.tramps, trampJob{fn: fn, label: fi.tramp, words: words})
	return fi.tramp
}

type trampJob struct {
	fn    *check.FuncObj
	label int
	words int
}

func (g *gen) genTrampoline(j trampJob) {
	f := g.newFnGen(nil, j.fn.Module)
	f.cur = astPos(j.fn.At)
	g.place(j.label)
	f.emit(isa.DROP)
	for k := range j.words {
		f.pushReloc(relocSpawn, int64(8*k))
		f.emit(isa.LOAD)
	}
	f.jump(isa.CALL, g.funcLabel(j.fn))
	f.emit(isa.RET)
}

// ---- builtins ----

func (f *fnGen) builtin(e *ast.Call, b check.BuiltinID) {
	args := e.Args
	all := func() {
		for _, a := range args {
			f.expr(a)
		}
	}
	switch b {
	case check.BuiltinLen:
		t := f.typeOf(args[0])
		if id, ok := ast.Unparen(args[0]).(*ast.Ident); ok {
			if v, ok := f.g.info.Uses[id].(*check.Var); ok {
				if l, ok := f.vars[v]; ok && l.kind == locSlot {
					f.get(l.slot + 1)
					return
				}
			}
		}
		_ = t
		f.expr(args[0])
		f.emit(isa.SWAP)
		f.emit(isa.DROP)
	case check.BuiltinPrint, check.BuiltinPrintln:
		f.print(args, b == check.BuiltinPrintln)
	case check.BuiltinPrintf:
		f.printf(e)
	case check.BuiltinPanic:
		f.expr(args[0])
		f.callRuntime("panic_msg")
		f.push(0)
		f.emit(isa.LOAD)
	case check.BuiltinExit:
		all()
		f.emit(isa.EXIT)
	case check.BuiltinArgc:
		f.emit(isa.ARGC)
	case check.BuiltinTid:
		f.emit(isa.TID)
	case check.BuiltinPid:
		f.emit(isa.PID)
	case check.BuiltinFence:
		f.emit(isa.FENCE)
	case check.BuiltinYield:
		f.emit(isa.YIELD)
	case check.BuiltinArg:
		all() // ( i addr cap -- len )
		f.emit(isa.ARG)
	case check.BuiltinCas:
		all()
		f.emit(isa.CAS)
	case check.BuiltinFetchAdd:
		all()
		f.emit(isa.FAA)
	case check.BuiltinWait:
		all()
		f.emit(isa.WAIT)
		f.emit(isa.EQZ) // true: slept and was woken
	case check.BuiltinWake:
		all()
		f.emit(isa.WAKE)
	case check.BuiltinJoin:
		all()
		f.emit(isa.JOIN)
	case check.BuiltinFree:
		// free(nil) and free of an empty slice do nothing, as in C.
		f.expr(args[0])
		if check.ClassOf(f.typeOf(args[0])) == check.ClassPair {
			f.emit(isa.DROP)
		}
		skip, end := f.g.newLabel(), f.g.newLabel()
		f.emit(isa.DUP)
		f.jump(isa.JZ, skip)
		f.emit(isa.FREE)
		f.jump(isa.JMP, end)
		f.place(skip)
		f.emit(isa.DROP)
		f.place(end)
	case check.BuiltinOpen:
		all()
		f.emit(isa.OPEN)
	case check.BuiltinClose:
		all()
		f.emit(isa.CLOSE)
	case check.BuiltinFsize:
		all()
		f.emit(isa.FSIZE)
	case check.BuiltinRead:
		all()
		f.emit(isa.READ)
	case check.BuiltinWrite:
		all()
		f.emit(isa.WRITE)
	case check.BuiltinList:
		all()
		f.emit(isa.LIST)
	case check.BuiltinRemove:
		all()
		f.emit(isa.REMOVE)
	case check.BuiltinMkdir:
		all()
		f.emit(isa.MKDIR)
	case check.BuiltinPstart:
		all()
		f.emit(isa.PSTART)
	case check.BuiltinPwait:
		all()
		f.emit(isa.PWAIT)
	case check.BuiltinCopy:
		all()
		elem := check.Elem(f.typeOf(args[0]))
		f.push(uint64(check.SizeOf(elem)))
		f.callRuntime("copy_mem")
	default:
		panic(fmt.Sprintf("gen: builtin %s", b))
	}
}

// isPlain reports whether evaluating e can neither trap nor have an
// effect: a constant or a variable.
func isPlain(info *check.Info, e ast.Expr) bool {
	if info.Types[e].Mode == check.ModeConst {
		return true
	}
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		_, ok := info.Uses[e].(*check.Var)
		return ok
	}
	return false
}

// evalArgs evaluates print arguments. The language says every argument is
// evaluated before anything is printed; when all are plain (constants and
// variables, which neither trap nor change anything) that cannot be told
// apart from evaluating each as it is printed, which needs no temporaries.
// Otherwise every argument but the constants goes to a temporary first (a
// variable too: a later argument may change it). get(i) pushes argument
// i's value.
func (f *fnGen) evalArgs(args []ast.Expr) (get func(i int), done func()) {
	eager := false
	for _, a := range args {
		if !isPlain(f.g.info, a) {
			eager = true
		}
	}
	if !eager {
		return func(i int) { f.expr(args[i]) }, func() {}
	}
	isConst := func(a ast.Expr) bool { return f.g.info.Types[a].Mode == check.ModeConst }
	slots := make([]int, len(args))
	total := 0
	for _, a := range args {
		if !isConst(a) {
			total += check.Words(f.typeOf(a))
		}
	}
	base := f.temp(total)
	at := base
	for i, a := range args {
		slots[i] = -1
		if isConst(a) {
			continue
		}
		slots[i] = at
		f.expr(a)
		w := check.Words(f.typeOf(a))
		for k := w - 1; k >= 0; k-- {
			f.set(at + k)
		}
		at += w
	}
	return func(i int) {
			if slots[i] < 0 {
				f.expr(args[i])
				return
			}
			for k := range check.Words(f.typeOf(args[i])) {
				f.get(slots[i] + k)
			}
		}, func() {
			f.release(base)
		}
}

func (f *fnGen) print(args []ast.Expr, line bool) {
	get, done := f.evalArgs(args)
	for i, a := range args {
		if line && i > 0 {
			f.push(' ')
			f.emit(isa.PUTC)
		}
		if tv := f.g.info.Types[a]; tv.Mode == check.ModeConst && tv.Value.Kind == check.ValString {
			if tv.Value.Str != "" {
				f.pushString(tv.Value.Str)
				f.emit(isa.PRINTS)
			}
			continue
		}
		get(i)
		f.printValue(f.typeOf(a), 'v')
	}
	if line {
		f.push('\n')
		f.emit(isa.PUTC)
	}
	done()
}

// printValue prints the value on the stack as the verb says (no width).
func (f *fnGen) printValue(t check.Type, verb byte) {
	switch verb {
	case 'c':
		f.emit(isa.PUTC)
		return
	case 'x':
		f.push(0)
		f.push(0)
		f.callRuntime("print_hex")
		return
	case 'p':
		f.callRuntime("print_ptr")
		return
	}
	switch t := t.(type) {
	case *check.Basic:
		switch t.Kind {
		case check.Int, check.Thread, check.UntypedInt:
			f.emit(isa.PRINT)
		case check.Uint, check.Byte:
			f.emit(isa.PRINTU)
		case check.Bool:
			f.callRuntime("print_bool")
		case check.String:
			f.emit(isa.PRINTS)
		default:
			panic(fmt.Sprintf("gen: print of %s", t))
		}
	case *check.Slice:
		f.emit(isa.PRINTS)
	case *check.Pointer:
		f.callRuntime("print_ptr")
	default:
		panic(fmt.Sprintf("gen: print of %s", t))
	}
}

func (f *fnGen) printf(e *ast.Call) {
	pieces := f.g.info.Formats[e]
	args := e.Args[1:]
	get, done := f.evalArgs(args)
	for _, p := range pieces {
		if p.Verb == 0 {
			f.pushString(p.Lit)
			f.emit(isa.PRINTS)
			continue
		}
		t := f.typeOf(args[p.Arg])
		get(p.Arg)
		if p.Width == 0 {
			f.printValue(t, p.Verb)
			continue
		}
		f.printPadded(t, p)
	}
	done()
}

// printPadded prints the value on the stack with a width.
func (f *fnGen) printPadded(t check.Type, p check.FormatPiece) {
	flags := uint64(0)
	if p.Zero {
		flags |= 1
	}
	if p.Left {
		flags |= 2
	}
	verb := p.Verb
	if verb == 'v' {
		switch {
		case check.IsInteger(t) || isKind(t, check.Thread):
			verb = 'd'
		case isKind(t, check.Bool):
			verb = 't'
		case check.ClassOf(t) == check.ClassPair:
			verb = 's'
		default:
			verb = 'p'
		}
	}
	f.push(uint64(p.Width))
	f.push(flags)
	switch verb {
	case 'd':
		if check.IsUnsigned(t) {
			f.callRuntime("fmt_uint")
		} else {
			f.callRuntime("fmt_int")
		}
	case 'x':
		f.callRuntime("print_hex")
	case 'p':
		f.callRuntime("fmt_ptr")
	case 'c':
		f.callRuntime("fmt_char")
	case 's':
		f.callRuntime("fmt_str")
	case 't':
		f.callRuntime("fmt_bool")
	}
}

func isKind(t check.Type, k check.BasicKind) bool {
	b, ok := t.(*check.Basic)
	return ok && b.Kind == k
}
