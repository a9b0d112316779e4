package gen

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// body generates a function body. Leading guards that only test
// parameters (`if n < 2 { return n }`) run before the frame is made, so
// the common early exit of a recursive function costs no ENTER.
func (f *fnGen) body(stmts []ast.Stmt) {
	i := 0
	if f.lazyPrologue() {
		for ; i < len(stmts); i++ {
			s, ok := stmts[i].(*ast.If)
			if !ok || !f.guard(s) {
				break
			}
			f.unframedGuard(s)
		}
	}
	if i == len(stmts)-1 && !f.framed {
		if r, ok := stmts[i].(*ast.Return); ok && f.stackReturn(r) {
			return
		}
	}
	f.ensureFramed()
	for _, s := range stmts[i:] {
		f.stmt(s)
	}
}

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
func (f *fnGen) paramOnly(e ast.Expr) bool {
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		return tv.Value.Kind != check.ValString
	}
	switch e := e.(type) {
	case *ast.Paren:
		return f.paramOnly(e.X)
	case *ast.Ident:
		v, ok := f.g.info.Uses[e].(*check.Var)
		return ok && v.Param && check.ClassOf(v.Type) == check.ClassWord
	case *ast.Unary:
		return (e.Op == "-" || e.Op == "!" || e.Op == "~") && f.paramOnly(e.X)
	case *ast.Binary:
		if _, ok := f.typeOf(e.X).(*check.Basic); !ok {
			return false
		}
		if f.isStringCompare(e) {
			return false
		}
		return f.paramOnly(e.X) && f.paramOnly(e.Y)
	case *ast.As:
		return f.paramOnly(e.X)
	}
	return false
}

// unframed generates param-only code before ENTER: the parameters are the
// top words of the stack, under depth words pushed since.
type unframed struct {
	f     *fnGen
	depth int
}

func (u *unframed) expr(e ast.Expr) {
	f := u.f
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		f.push(tv.Value.Uint64())
		u.depth++
		return
	}
	switch e := e.(type) {
	case *ast.Paren:
		u.expr(e.X)
	case *ast.Ident:
		v := f.g.info.Uses[e].(*check.Var)
		k := u.depth + f.nparamWords - 1 - f.vars[v].slot
		switch k {
		case 0:
			f.emit(isa.DUP)
		case 1:
			f.emit(isa.OVER)
		default:
			f.emitA(isa.PICK, k)
		}
		u.depth++
	case *ast.Unary:
		u.expr(e.X)
		switch e.Op {
		case "!":
			f.emit(isa.EQZ)
		case "-":
			f.emit(isa.NEG)
			f.truncate(tv.Type)
		case "~":
			if isByteSized(tv.Type) {
				f.push(0xff)
				f.emit(isa.XOR)
			} else {
				f.emit(isa.NOT)
			}
		}
	case *ast.As:
		u.expr(e.X)
		if isByteSized(tv.Type) && !isByteSized(f.typeOf(e.X)) {
			f.push(0xff)
			f.emit(isa.AND)
		}
	case *ast.Binary:
		if e.Op == "&&" || e.Op == "||" {
			no, end := f.g.newLabel(), f.g.newLabel()
			u.cond(e, no, false)
			f.push(1)
			f.jump(isa.JMP, end)
			f.place(no)
			f.push(0)
			f.place(end)
			u.depth++
			return
		}
		u.expr(e.X)
		u.expr(e.Y)
		u.depth--
		if _, ok := comparisons[e.Op]; ok {
			f.emit(f.compareOp(e))
			return
		}
		unsigned := check.IsUnsigned(tv.Type)
		switch e.Op {
		case "/":
			f.emit(pick(unsigned, isa.DIVU, isa.DIV))
		case "%":
			f.emit(pick(unsigned, isa.MODU, isa.MOD))
		case ">>":
			f.emit(pick(unsigned, isa.SHR, isa.SAR))
		default:
			f.emit(arithOps[e.Op])
			if e.Op == "+" || e.Op == "-" || e.Op == "*" || e.Op == "<<" {
				f.truncate(tv.Type)
			}
		}
	}
}

var comparisons = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (u *unframed) cond(e ast.Expr, label int, jumpIf bool) {
	f := u.f
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
		u.cond(x.X, label, jumpIf)
		return
	case *ast.Unary:
		if x.Op == "!" {
			u.cond(x.X, label, !jumpIf)
			return
		}
	case *ast.Binary:
		switch {
		case x.Op == "&&" || x.Op == "||":
			and := x.Op == "&&"
			if jumpIf != and {
				u.cond(x.X, label, jumpIf)
				u.cond(x.Y, label, jumpIf)
				return
			}
			skip := f.g.newLabel()
			u.cond(x.X, skip, !jumpIf)
			u.cond(x.Y, label, jumpIf)
			f.place(skip)
			return
		case comparisons[x.Op]:
			u.expr(x.X)
			u.expr(x.Y)
			u.depth -= 2
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
	u.expr(e)
	u.depth--
	f.jump(pick(jumpIf, isa.JNZ, isa.JZ), label)
}

// unframedGuard generates a guard before the frame exists.
func (f *fnGen) unframedGuard(s *ast.If) {
	saved := f.at(s.At)
	defer f.restorePos(saved)
	u := &unframed{f: f}
	skip := f.g.newLabel()
	u.cond(s.Cond, skip, false)
	r := s.Then.Stmts[0].(*ast.Return)
	f.at(r.At)
	switch {
	case f.nparamWords == 1 && len(r.Results) == 1 && f.isParam0(r.Results[0]):
		// The argument is the result, already in place.
		f.emit(isa.RET)
	case f.nparamWords == 0:
		for _, e := range r.Results {
			u.expr(e)
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

// ---- statements ----

func (f *fnGen) stmts(list []ast.Stmt) {
	for _, s := range list {
		f.stmt(s)
	}
}

func (f *fnGen) block(b *ast.Block) {
	top := f.slotTop
	f.stmts(b.Stmts)
	f.slotTop = top
}

func (f *fnGen) stmt(s ast.Stmt) {
	saved := f.at(s.Pos())
	defer f.restorePos(saved)
	switch s := s.(type) {
	case *ast.ExprStmt:
		f.exprStmt(s.X)
	case *ast.Define:
		f.define(s)
	case *ast.Assign:
		f.assign(s)
	case *ast.IncDec:
		op := "+"
		if s.Op == "--" {
			op = "-"
		}
		f.opAssign(s.X, op, nil, 1)
	case *ast.VarDecl:
		v := f.g.info.Defs[s.Name].(*check.Var)
		if s.Value != nil {
			f.initVar(v, s.Value)
		} else {
			f.zeroLoc(f.declareLocal(v), v.Type)
		}
	case *ast.ConstDecl:
		// Constants are folded into their uses.
	case *ast.If:
		f.ifStmt(s)
	case *ast.While:
		top, done := f.g.newLabel(), f.g.newLabel()
		f.place(top)
		f.cond(s.Cond, done, false)
		f.loopBody(s.Body, done, top)
		f.jump(isa.JMP, top)
		f.place(done)
	case *ast.For:
		f.forStmt(s)
	case *ast.ForIn:
		f.forIn(s)
	case *ast.Branch:
		l := f.loops[len(f.loops)-1]
		if s.Tok == "break" {
			f.jump(isa.JMP, l.brk)
		} else {
			f.jump(isa.JMP, l.cont)
		}
	case *ast.Return:
		f.returnStmt(s)
	case *ast.Block:
		f.block(s)
	default:
		panic(fmt.Sprintf("gen: statement %T", s))
	}
}

func (f *fnGen) loopBody(b *ast.Block, brk, cont int) {
	f.loops = append(f.loops, loop{brk: brk, cont: cont})
	f.block(b)
	f.loops = f.loops[:len(f.loops)-1]
}

// exprStmt evaluates a call (or spawn) and drops its results.
func (f *fnGen) exprStmt(e ast.Expr) {
	f.expr(e)
	t := f.typeOf(e)
	n := 0
	if tup, ok := t.(*check.Tuple); ok {
		for _, x := range tup.Types {
			n += check.Words(x)
		}
	} else if f.g.info.Types[e].Mode != check.ModeNoValue {
		n = check.Words(t)
	}
	for range n {
		f.emit(isa.DROP)
	}
}

func (f *fnGen) ifStmt(s *ast.If) {
	elseL, end := f.g.newLabel(), f.g.newLabel()
	f.cond(s.Cond, elseL, false)
	f.block(s.Then)
	if s.Else == nil {
		f.place(elseL)
		f.place(end)
		return
	}
	if !terminates(s.Then) {
		f.jump(isa.JMP, end)
	}
	f.place(elseL)
	f.stmt(s.Else)
	f.place(end)
}

// terminates is a conservative check that a block ends in a return, so no
// jump over the else is needed.
func terminates(b *ast.Block) bool {
	if len(b.Stmts) == 0 {
		return false
	}
	_, ok := b.Stmts[len(b.Stmts)-1].(*ast.Return)
	return ok
}

func (f *fnGen) forStmt(s *ast.For) {
	top := f.slotTop
	if s.Init != nil {
		f.stmt(s.Init)
	}
	start, cont, done := f.g.newLabel(), f.g.newLabel(), f.g.newLabel()
	f.place(start)
	if s.Cond != nil {
		f.cond(s.Cond, done, false)
	}
	f.loopBody(s.Body, done, cont)
	f.place(cont)
	if s.Post != nil {
		f.stmt(s.Post)
	}
	f.jump(isa.JMP, start)
	f.place(done)
	f.slotTop = top
}

// forIn generates for k in lo..hi and for k, v in sequence.
func (f *fnGen) forIn(s *ast.ForIn) {
	top := f.slotTop
	defer func() { f.slotTop = top }()
	start, cont, done := f.g.newLabel(), f.g.newLabel(), f.g.newLabel()
	if s.Hi != nil {
		t := f.g.info.RangeTypes[s]
		// The loop variable is the counter: the body may change it.
		var k loc
		if s.Key != nil {
			k = f.declareLocal(f.g.info.Defs[s.Key].(*check.Var))
		} else {
			k = loc{kind: locSlot, slot: f.allocSlots(1)}
		}
		f.expr(s.X)
		f.storeLoc(k, t)
		var hi ref
		if tv := f.g.info.Types[s.Hi]; tv.Mode == check.ModeConst {
			hi = constRef(tv.Value.Uint64())
		} else {
			f.expr(s.Hi)
			hi = ref{slot: f.allocSlots(1)}
			f.set(hi.slot)
		}
		f.place(start)
		f.loadLoc(k, t)
		f.pushRef(hi)
		f.emit(isa.EQ + isa.Op(pickCond(check.IsUnsigned(t), isa.CondGEU, isa.CondGE)))
		f.jump(isa.JNZ, done)
		f.loopBody(s.Body, done, cont)
		f.place(cont)
		if k.kind == locSlot {
			f.get(k.slot)
			f.push(1)
			f.emit(isa.ADD)
			f.set(k.slot)
		} else {
			f.locAddr(k)
			f.emit(isa.DUP)
			f.load(t)
			f.addi(1)
			f.emit(isa.SWAP)
			f.store(t)
		}
		f.jump(isa.JMP, start)
		f.place(done)
		return
	}
	sq := f.seqOf(s.X)
	elemSize := check.SizeOf(sq.elem)
	var key, val *check.Var
	if s.Key != nil {
		key = f.g.info.Defs[s.Key].(*check.Var)
	}
	if s.Val != nil {
		val = f.g.info.Defs[s.Val].(*check.Var)
	}
	if key == nil {
		// Walk a pointer from the start to the end: one add per element.
		p := f.allocSlots(2)
		end := p + 1
		f.pushRef(sq.ptr)
		f.emit(isa.DUP)
		f.set(p)
		f.pushRef(sq.n)
		if elemSize != 1 {
			f.push(uint64(elemSize))
			f.emit(isa.MUL)
		}
		f.emit(isa.ADD)
		f.set(end)
		var vl loc
		if val != nil {
			vl = f.declareLocal(val)
		}
		f.place(start)
		f.get(p)
		f.get(end)
		f.emit(isa.GEU)
		f.jump(isa.JNZ, done)
		if val != nil {
			f.get(p)
			f.load(sq.elem)
			f.storeLoc(vl, sq.elem)
		}
		f.loopBody(s.Body, done, cont)
		f.place(cont)
		f.get(p)
		f.push(uint64(elemSize))
		f.emit(isa.ADD)
		f.set(p)
		f.jump(isa.JMP, start)
		f.place(done)
		return
	}
	i := f.allocSlots(1)
	kl := f.declareLocal(key)
	var vl loc
	if val != nil {
		vl = f.declareLocal(val)
	}
	f.push(0)
	f.set(i)
	f.place(start)
	f.get(i)
	f.pushRef(sq.n)
	f.emit(isa.GEU)
	f.jump(isa.JNZ, done)
	f.get(i)
	f.storeLoc(kl, check.TypInt)
	if val != nil {
		f.offsetAddr(sq.ptr, ref{slot: i}, elemSize)
		f.load(sq.elem)
		f.storeLoc(vl, sq.elem)
	}
	f.loopBody(s.Body, done, cont)
	f.place(cont)
	f.get(i)
	f.push(1)
	f.emit(isa.ADD)
	f.set(i)
	f.jump(isa.JMP, start)
	f.place(done)
}

// ---- declarations and assignments ----

// initVar declares a local and gives it the value of e.
func (f *fnGen) initVar(v *check.Var, e ast.Expr) {
	// Evaluate first: the new variable is not in scope in its initializer,
	// but its slots may be reused ones.
	if check.ClassOf(v.Type) == check.ClassMemory {
		l := f.declareLocal(v)
		f.assignTo(l, v.Type, e)
		return
	}
	f.expr(e)
	l := f.declareLocal(v)
	f.storeLoc(l, v.Type)
}

// assignTo stores e into a fresh variable at l (nothing else can see it,
// so struct literals and struct results are built in place).
func (f *fnGen) assignTo(l loc, t check.Type, e ast.Expr) {
	if check.ClassOf(t) == check.ClassMemory {
		if call, ok := ast.Unparen(e).(*ast.Call); ok && memoryResults(f.g.info, call) {
			f.call(call, func() { f.locAddr(l) })
			f.emit(isa.DROP) // the callee gives back the address it filled
			return
		}
		f.exprTo(e, t, func() { f.locAddr(l) })
		return
	}
	f.expr(e)
	f.storeLoc(l, t)
}

func (f *fnGen) define(s *ast.Define) {
	if len(s.Names) == len(s.Values) && len(s.Names) == 1 {
		n := s.Names[0]
		if v, ok := f.g.info.Defs[n].(*check.Var); ok {
			f.initVar(v, s.Values[0])
		} else {
			f.exprStmt(s.Values[0])
		}
		return
	}
	// Several names: evaluate every value, then store from the last.
	types := f.pushValues(s.Values, len(s.Names))
	var locs []*loc
	for _, n := range s.Names {
		if v, ok := f.g.info.Defs[n].(*check.Var); ok {
			l := f.declareLocal(v)
			locs = append(locs, &l)
		} else {
			locs = append(locs, nil)
		}
	}
	for i := len(s.Names) - 1; i >= 0; i-- {
		if locs[i] == nil {
			f.dropValue(types[i])
			continue
		}
		f.storeLoc(*locs[i], types[i])
	}
}

func (f *fnGen) dropValue(t check.Type) {
	for range check.Words(t) {
		f.emit(isa.DROP)
	}
}

// pushValues pushes n values: n expressions, or the results of one call.
// Struct values are first copied to temporaries of the frame, so later
// stores cannot change them.
func (f *fnGen) pushValues(values []ast.Expr, n int) []check.Type {
	var types []check.Type
	if len(values) == 1 && n > 1 {
		f.expr(values[0])
		types = f.typeOf(values[0]).(*check.Tuple).Types
		return types
	}
	for _, e := range values {
		t := f.typeOf(e)
		if b, ok := t.(*check.Basic); ok && b.Kind == check.UntypedInt {
			t = check.TypInt
		}
		f.expr(e)
		if check.ClassOf(t) == check.ClassMemory {
			off := f.frameAlloc(check.SizeOf(t), check.AlignOf(t))
			f.frameAddr(off)
			f.copyMem(t)
			f.frameAddr(off)
		}
		types = append(types, t)
	}
	return types
}

func (f *fnGen) assign(s *ast.Assign) {
	if s.Op != "=" {
		f.opAssign(s.Lhs[0], s.Op[:len(s.Op)-1], s.Rhs[0], 0)
		return
	}
	if len(s.Lhs) == 1 && len(s.Rhs) == 1 {
		f.expr(s.Rhs[0])
		f.storeTo(s.Lhs[0], f.typeOf(s.Lhs[0]), f.typeOf(s.Rhs[0]))
		return
	}
	types := f.pushValues(s.Rhs, len(s.Lhs))
	for i := len(s.Lhs) - 1; i >= 0; i-- {
		f.storeTo(s.Lhs[i], f.typeOf(s.Lhs[i]), types[i])
	}
}

// storeTo pops a value into the location lhs (the blank _ drops it).
func (f *fnGen) storeTo(lhs ast.Expr, t, valueType check.Type) {
	saved := f.at(lhs.Pos())
	defer f.restorePos(saved)
	if id, ok := lhs.(*ast.Ident); ok {
		if id.Name == "_" {
			f.dropValue(valueType)
			return
		}
		if v, ok := f.g.info.Uses[id].(*check.Var); ok {
			f.storeLoc(f.locOf(v), v.Type)
			return
		}
	}
	if sel, ok := lhs.(*ast.Selector); ok {
		if s := f.g.info.Selections[sel]; s != nil && s.Kind == check.SelModuleMember {
			v := s.Obj.(*check.Var)
			f.storeLoc(f.locOf(v), v.Type)
			return
		}
	}
	f.addr(lhs)
	f.store(t)
}

// opAssign is lhs op= rhs (rhs nil: the constant k, for ++ and --).
func (f *fnGen) opAssign(lhs ast.Expr, op string, rhs ast.Expr, k uint64) {
	t := f.typeOf(lhs)
	operand := func() {
		if rhs == nil {
			f.push(k)
		} else {
			f.expr(rhs)
		}
	}
	apply := func() {
		unsigned := check.IsUnsigned(t)
		switch op {
		case "/":
			f.emit(pick(unsigned, isa.DIVU, isa.DIV))
		case "%":
			f.emit(pick(unsigned, isa.MODU, isa.MOD))
		case ">>":
			f.emit(pick(unsigned, isa.SHR, isa.SAR))
		default:
			f.emit(arithOps[op])
			if op == "+" || op == "-" || op == "*" || op == "<<" {
				f.truncate(t)
			}
		}
	}
	if id, ok := lhs.(*ast.Ident); ok {
		if v, ok := f.g.info.Uses[id].(*check.Var); ok {
			if l := f.locOf(v); l.kind == locSlot {
				f.get(l.slot)
				operand()
				apply()
				f.set(l.slot)
				return
			}
		}
	}
	// ( addr -- ): addr; DUP; LOAD; operand; op; SWAP; STORE
	f.addr(lhs)
	f.emit(isa.DUP)
	f.load(t)
	operand()
	apply()
	f.emit(isa.SWAP)
	f.store(t)
}

func (f *fnGen) returnStmt(s *ast.Return) {
	if len(s.Results) == 1 && len(f.results) > 1 {
		// return g(): g's results are ours; g fills our destinations.
		call := ast.Unparen(s.Results[0]).(*ast.Call)
		f.callWithDests(call, f.resultPtrs)
		f.ret()
		return
	}
	for i, e := range s.Results {
		t := f.results[i]
		if rp := f.resultPtrs[i]; rp >= 0 {
			f.expr(e)
			f.get(rp)
			f.copyMem(t)
			f.get(rp)
			continue
		}
		f.expr(e)
	}
	f.ret()
}

// ---- functions of one parameter that need no frame ----

// stackReturn generates `return e` in a function of one word parameter and
// one word result whose frame was never made, keeping the parameter on the
// stack instead of in a frame slot: reads of it copy it (DUP, OVER, PICK),
// and its last read, when it lies near the top, moves it there instead
// (SWAP, ROT) so nothing is left to drop. This is how one writes fib by
// hand. It reports false (emitting nothing) when e does not qualify.
func (f *fnGen) stackReturn(r *ast.Return) bool {
	if f.fn == nil || f.hasFrame || f.nparamWords != 1 || len(f.fn.Params) != 1 || len(f.results) != 1 || len(r.Results) != 1 {
		return false
	}
	p := f.fn.Params[0]
	if check.ClassOf(p.Type) != check.ClassWord || check.ClassOf(f.results[0]) != check.ClassWord || p.AddrTaken || f.assigns(p) {
		return false
	}
	e := r.Results[0]
	if !f.stackable(e, p) {
		return false
	}
	sg := &stackGen{f: f, param: p, last: lastUse(f.g.info, e, p)}
	saved := f.at(r.At)
	defer f.restorePos(saved)
	sg.expr(e)
	if !sg.consumed {
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

// stackable reports whether e uses only constants, the parameter p,
// integer and comparison operators, conversions and calls of named
// functions taking and returning words.
func (f *fnGen) stackable(e ast.Expr, p *check.Var) bool {
	info := f.g.info
	tv := info.Types[e]
	if tv.Mode == check.ModeConst {
		return tv.Value.Kind != check.ValString
	}
	switch e := e.(type) {
	case *ast.Paren:
		return f.stackable(e.X, p)
	case *ast.Ident:
		return info.Uses[e] == p
	case *ast.Unary:
		return (e.Op == "-" || e.Op == "!" || e.Op == "~") && f.stackable(e.X, p)
	case *ast.As:
		return check.ClassOf(tv.Type) == check.ClassWord && f.stackable(e.X, p)
	case *ast.Binary:
		if e.Op == "&&" || e.Op == "||" || f.isStringCompare(e) {
			return false
		}
		return f.stackable(e.X, p) && f.stackable(e.Y, p)
	case *ast.Call:
		ci := info.Calls[e]
		if ci == nil || ci.Kind != check.CallFunc || len(ci.Sig.Results) != 1 || check.ClassOf(ci.Sig.Results[0]) != check.ClassWord {
			return false
		}
		for i, a := range e.Args {
			if check.ClassOf(ci.Sig.Params[i]) != check.ClassWord || !f.stackable(a, p) {
				return false
			}
		}
		return true
	}
	return false
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

// stackGen emits a stackable expression; depth is how many words lie on
// the parameter while it is still there.
type stackGen struct {
	f        *fnGen
	param    *check.Var
	last     *ast.Ident
	depth    int
	consumed bool
}

func (s *stackGen) expr(e ast.Expr) {
	f := s.f
	saved := f.at(e.Pos())
	defer f.restorePos(saved)
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		f.push(tv.Value.Uint64())
		s.depth++
		return
	}
	switch e := e.(type) {
	case *ast.Paren:
		s.expr(e.X)
	case *ast.Ident:
		if e == s.last && s.depth <= 2 {
			// Move the parameter up instead of copying it.
			switch s.depth {
			case 1:
				f.emit(isa.SWAP)
			case 2:
				f.emit(isa.ROT)
			}
			s.consumed = true
			return
		}
		switch s.depth {
		case 0:
			f.emit(isa.DUP)
		case 1:
			f.emit(isa.OVER)
		default:
			f.emitA(isa.PICK, s.depth)
		}
		s.depth++
	case *ast.Unary:
		s.expr(e.X)
		f.unaryOp(e.Op, tv.Type)
	case *ast.As:
		s.expr(e.X)
		if isByteSized(tv.Type) && !isByteSized(f.typeOf(e.X)) {
			f.push(0xff)
			f.emit(isa.AND)
		}
	case *ast.Binary:
		s.expr(e.X)
		s.expr(e.Y)
		f.cur = astPos(e.OpAt)
		f.binaryOp(e, tv.Type)
		s.depth--
	case *ast.Call:
		for _, a := range e.Args {
			s.expr(a)
		}
		f.cur = astPos(e.Lparen)
		f.jump(isa.CALL, f.g.funcLabel(f.g.info.Calls[e].Func))
		s.depth -= len(e.Args) - 1
	default:
		panic(fmt.Sprintf("gen: stack expression %T", e))
	}
}
