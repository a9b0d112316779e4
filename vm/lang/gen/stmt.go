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
