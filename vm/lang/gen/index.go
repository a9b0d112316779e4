package gen

import (
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// ref is a word the code can push again without evaluating anything: a
// local slot or a constant.
type ref struct {
	slot  int // -1: constant
	value uint64
}

func constRef(v uint64) ref { return ref{slot: -1, value: v} }

func (r ref) isConst() bool { return r.slot < 0 }

func (f *fnGen) pushRef(r ref) {
	if r.isConst() {
		f.push(r.value)
	} else {
		f.get(r.slot)
	}
}

// seq is an array, slice or string being indexed or sliced.
type seq struct {
	ptr, n ref
	elem   check.Type
	temps  []int // to release, in reverse
}

func (f *fnGen) releaseSeq(s *seq) {
	for i := len(s.temps) - 1; i >= 0; i-- {
		f.release(s.temps[i])
	}
}

// seqOf evaluates the sequence x into refs: its base address and length.
func (f *fnGen) seqOf(x ast.Expr) *seq {
	t := f.typeOf(x)
	if p, ok := t.(*check.Pointer); ok {
		t = p.Elem // a pointer to an array
	}
	s := &seq{elem: check.Elem(t)}
	if a, ok := t.(*check.Array); ok {
		f.expr(x) // the array's address (or the pointer's value)
		tmp := f.temp(1)
		f.set(tmp)
		s.ptr, s.n, s.temps = ref{slot: tmp}, constRef(uint64(a.Len)), []int{tmp}
		return s
	}
	// A slice or string in local slots needs no copy.
	if id, ok := ast.Unparen(x).(*ast.Ident); ok {
		if v, ok := f.g.info.Uses[id].(*check.Var); ok {
			if l, ok := f.vars[v]; ok && l.kind == locSlot {
				s.ptr, s.n = ref{slot: l.slot}, ref{slot: l.slot + 1}
				return s
			}
		}
	}
	f.expr(x)
	tmp := f.temp(2)
	f.set(tmp + 1)
	f.set(tmp)
	s.ptr, s.n, s.temps = ref{slot: tmp}, ref{slot: tmp + 1}, []int{tmp}
	return s
}

// indexRef evaluates an index into a ref.
func (f *fnGen) indexRef(e ast.Expr, temps *[]int) ref {
	tv := f.g.info.Types[e]
	if tv.Mode == check.ModeConst {
		return constRef(tv.Value.Uint64())
	}
	if id, ok := ast.Unparen(e).(*ast.Ident); ok {
		if v, ok := f.g.info.Uses[id].(*check.Var); ok {
			if l, ok := f.vars[v]; ok && l.kind == locSlot {
				return ref{slot: l.slot}
			}
		}
	}
	f.expr(e)
	tmp := f.temp(1)
	f.set(tmp)
	*temps = append(*temps, tmp)
	return ref{slot: tmp}
}

// checkBelow branches to a cold panic unless i < n (strict) or i <= n,
// unsigned (a negative index is a huge one).
func (f *fnGen) checkBelow(i, n ref, strict bool, fail func()) {
	if i.isConst() && n.isConst() {
		if i.value < n.value || !strict && i.value == n.value {
			return
		}
	}
	cold := f.coldLabel(fail)
	if i.isConst() && !n.isConst() {
		// n <= i (strict) or n < i: the fused J<c>LI form wants the slot first.
		f.pushRef(n)
		f.pushRef(i)
		f.emit(pick(strict, isa.LEU, isa.LTU))
	} else {
		f.pushRef(i)
		f.pushRef(n)
		f.emit(pick(strict, isa.GEU, isa.GTU))
	}
	f.jump(isa.JNZ, cold)
}

// elemAddr pushes the address of x[i], after checking i against the
// length.
func (f *fnGen) elemAddr(e *ast.Index) {
	s := f.seqOf(e.X)
	i := f.indexRef(e.Index, &s.temps)
	saved := f.at(e.Lbrack)
	f.checkBelow(i, s.n, true, func() {
		f.pushRef(i)
		f.pushRef(s.n)
		f.callRuntime("panic_index")
	})
	f.restorePos(saved)
	f.offsetAddr(s.ptr, i, check.SizeOf(s.elem))
	f.releaseSeq(s)
}

// offsetAddr pushes ptr + i*size.
func (f *fnGen) offsetAddr(ptr, i ref, size int64) {
	f.pushRef(ptr)
	if i.isConst() {
		f.addi(int64(i.value) * size)
		return
	}
	f.pushRef(i)
	if size != 1 {
		f.push(uint64(size))
		f.emit(isa.MUL)
	}
	f.emit(isa.ADD)
}

// slice pushes x[lo:hi] as (pointer, length).
func (f *fnGen) slice(e *ast.SliceExpr) {
	s := f.seqOf(e.X)
	lo := constRef(0)
	if e.Lo != nil {
		lo = f.indexRef(e.Lo, &s.temps)
	}
	hi := s.n
	if e.Hi != nil {
		hi = f.indexRef(e.Hi, &s.temps)
	}
	saved := f.at(e.Lbrack)
	fail := func() {
		f.pushRef(lo)
		f.pushRef(hi)
		f.pushRef(s.n)
		f.callRuntime("panic_slice")
	}
	if e.Hi != nil {
		f.checkBelow(hi, s.n, false, fail)
	}
	if !(lo.isConst() && lo.value == 0) {
		f.checkBelow(lo, hi, false, fail)
	}
	f.restorePos(saved)
	f.offsetAddr(s.ptr, lo, check.SizeOf(s.elem))
	f.pushRef(hi)
	if !(lo.isConst() && lo.value == 0) {
		f.pushRef(lo)
		f.emit(isa.SUB)
	}
	f.releaseSeq(s)
}
