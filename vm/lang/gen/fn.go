package gen

import (
	"fmt"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// locKind says where a variable lives.
type locKind uint8

const (
	locSlot   locKind = iota // local slot(s) of the frame: words and pairs whose address is never taken
	locFrame                 // the function's memory frame, at an offset from its base
	locData                  // thread-local data (top-level var)
	locShared                // global memory; the address is in a data word
)

type loc struct {
	kind locKind
	slot int   // locSlot
	off  int64 // locFrame: offset in the frame; locData, locShared: data offset
}

type loop struct {
	brk, cont int
}

// coldBlock is code off the hot path, emitted after the body: a failed
// run-time check (trap: it ends in a trap at pos), or a slow path that
// jumps back.
type coldBlock struct {
	label int
	pos   isa.Pos
	emit  func()
	trap  bool
}

// fnGen generates one function (or __start).
type fnGen struct {
	g    *gen
	fn   *check.FuncObj // nil: __start
	mod  *check.Module
	file int32
	cur  isa.Pos

	nparamWords int
	paramSlots  []int
	slotTop     int
	slotMax     int
	vars        map[*check.Var]loc

	hasFrame   bool
	fbSlot     int
	frameSize  int64
	patchSize  []int // ADDI instructions that add the frame size
	patchChunk []int // PUSHes of the size of a new chunk
	enters     []int
	retns      []int
	framed     bool

	loops      []loop
	cold       []coldBlock
	resultPtrs []int // per result: the slot of its destination (memory results), else -1
	results    []check.Type
	temps      []int // stack of temp slot allocations (their first slot)
}

func (g *gen) newFnGen(fn *check.FuncObj, mod *check.Module) *fnGen {
	f := &fnGen{g: g, fn: fn, mod: mod, file: g.moduleFile(mod), vars: map[*check.Var]loc{}, fbSlot: -1}
	return f
}

func (f *fnGen) at(p ast.Pos) isa.Pos {
	old := f.cur
	if p.Line > 0 {
		f.cur = astPos(p)
	}
	return old
}

func (f *fnGen) restorePos(p isa.Pos) { f.cur = p }

func (f *fnGen) emit(op isa.Op) int { return f.g.emitAt(f.cur, f.file, op, 0, 0) }

func (f *fnGen) emitA(op isa.Op, a int) int {
	if a < 0 || a >= isa.SlotMax {
		panic(fmt.Sprintf("gen: operand %d of %s out of range", a, op))
	}
	return f.g.emitAt(f.cur, f.file, op, int32(a), 0)
}

func (f *fnGen) push(v uint64) { f.g.emitAt(f.cur, f.file, isa.PUSH, 0, int64(v)) }

// pushReloc pushes an address relative to a base placed at link time.
func (f *fnGen) pushReloc(kind relocKind, off int64) {
	pc := f.g.emitAt(f.cur, f.file, isa.PUSH, 0, off)
	f.g.relocs = append(f.g.relocs, reloc{pc: pc, kind: kind})
}

func (f *fnGen) jump(op isa.Op, label int) {
	f.g.emitAt(f.cur, f.file, op, int32(label), 0)
}

func (f *fnGen) pushFunc(fn *check.FuncObj) {
	pc := f.g.emitAt(f.cur, f.file, isa.PUSH, 0, int64(f.g.funcLabel(fn)))
	f.g.codeImm[pc] = true
}

func (f *fnGen) place(l int) { f.g.place(l) }

func (f *fnGen) get(slot int) { f.emitA(isa.GET, slot) }
func (f *fnGen) set(slot int) { f.emitA(isa.SET, slot) }

// ---- slots ----

func (f *fnGen) allocSlots(n int) int {
	s := f.slotTop
	f.slotTop += n
	f.slotMax = max(f.slotMax, f.slotTop)
	if f.slotTop > isa.SlotMax-1 {
		panic(fmt.Sprintf("gen: %s needs more than %d local slots", f.name(), isa.SlotMax))
	}
	return s
}

// temp reserves n slots for a temporary; release them in reverse order.
func (f *fnGen) temp(n int) int {
	s := f.allocSlots(n)
	f.temps = append(f.temps, s)
	return s
}

func (f *fnGen) release(s int) {
	top := f.temps[len(f.temps)-1]
	if top != s {
		panic(fmt.Sprintf("gen: temps released out of order in %s: %d, want %d", f.name(), s, top))
	}
	f.temps = f.temps[:len(f.temps)-1]
	f.slotTop = s
}

func (f *fnGen) name() string {
	if f.fn == nil {
		return "__start"
	}
	return f.fn.FullName()
}

// frameAlloc reserves bytes of the memory frame.
func (f *fnGen) frameAlloc(size, align int64) int64 {
	if !f.hasFrame {
		panic(fmt.Sprintf("gen: %s allocates frame memory, but the scan found no need for a frame", f.name()))
	}
	if align < 8 {
		align = 8
	}
	off := (f.frameSize + align - 1) / align * align
	f.frameSize = off + max(size, 0)
	return off
}

// frameAddr pushes the address of offset off in the frame.
func (f *fnGen) frameAddr(off int64) {
	f.get(f.fbSlot)
	if off != 0 {
		f.g.emitAt(f.cur, f.file, isa.ADDI, 0, off)
	}
}

// ---- variables ----

func inMemory(v *check.Var) bool {
	return v.AddrTaken || check.ClassOf(v.Type) == check.ClassMemory
}

// declareLocal gives a new local variable its place.
func (f *fnGen) declareLocal(v *check.Var) loc {
	var l loc
	if inMemory(v) {
		l = loc{kind: locFrame, off: f.frameAlloc(check.SizeOf(v.Type), check.AlignOf(v.Type))}
	} else {
		l = loc{kind: locSlot, slot: f.allocSlots(check.Words(v.Type))}
	}
	f.vars[v] = l
	return l
}

func (f *fnGen) locOf(v *check.Var) loc {
	if l, ok := f.vars[v]; ok {
		return l
	}
	switch v.Kind {
	case check.VarData, check.VarShared:
		return loc{kind: map[check.VarKind]locKind{check.VarData: locData, check.VarShared: locShared}[v.Kind], off: f.g.dataVar(v)}
	}
	panic(fmt.Sprintf("gen: variable %s has no place in %s", v.Name, f.name()))
}

// dataVar is the data offset of a top-level variable (for a global var: of
// the word holding its address).
func (g *gen) dataVar(v *check.Var) int64 {
	if off, ok := g.varData[v]; ok {
		return off
	}
	var off int64
	if v.Kind == check.VarShared {
		off = g.dataAlloc(8, 8)
	} else {
		off = g.dataAlloc(check.SizeOf(v.Type), check.AlignOf(v.Type))
	}
	g.varData[v] = off
	return off
}

// ---- functions ----

func (g *gen) genFunc(fn *check.FuncObj, fi *funcInfo) error {
	f := g.newFnGen(fn, fn.Module)
	d := fn.Decl
	f.cur = astPos(d.At)
	f.results = fn.Sig.Results
	f.hasFrame = needsFrame(g.info, fn)
	// Slots: a destination address per memory result, then the parameters
	// (the receiver first), then locals.
	for _, r := range f.results {
		if check.ClassOf(r) == check.ClassMemory {
			f.resultPtrs = append(f.resultPtrs, f.allocSlots(1))
		} else {
			f.resultPtrs = append(f.resultPtrs, -1)
		}
	}
	paramSlots := make([]int, len(fn.Params))
	for i, p := range fn.Params {
		paramSlots[i] = f.allocSlots(check.Words(p.Type))
	}
	f.nparamWords = f.slotTop
	if f.hasFrame {
		f.fbSlot = f.allocSlots(1)
	}
	for i, p := range fn.Params {
		f.vars[p] = loc{kind: locSlot, slot: paramSlots[i]}
	}
	f.paramSlots = paramSlots
	g.place(fi.label)
	f.body(d.Body.Stmts)
	if len(f.results) == 0 {
		f.at(d.Body.Rbrace)
		f.ensureFramed()
		f.ret()
	}
	f.finish()
	return nil
}

// ensureFramed emits the prologue (ENTER, the memory frame, copies of
// struct parameters) if this path of the function has not yet run it.
func (f *fnGen) ensureFramed() {
	if f.framed {
		return
	}
	f.framed = true
	f.enters = append(f.enters, f.g.emitAt(f.cur, f.file, isa.ENTER, int32(f.nparamWords), 0))
	if !f.hasFrame {
		return
	}
	// fb = fsp; fsp += size, unless that passes the chunk's end: then a
	// new chunk (the old one's rest is never used again).
	fsp := f.g.fsp()
	f.pushReloc(relocData, fsp)
	f.emit(isa.LOAD)
	f.emitA(isa.TEE, f.fbSlot)
	f.patchSize = append(f.patchSize, f.g.emitAt(f.cur, f.file, isa.ADDI, 0, 0))
	f.emit(isa.DUP)
	f.pushReloc(relocData, f.g.fslimOff)
	f.emit(isa.LOAD)
	f.emit(isa.GTU)
	back := f.g.newLabel()
	grow := f.g.newLabel()
	f.cold = append(f.cold, coldBlock{label: grow, pos: f.cur, emit: func() { f.growFrames(back) }})
	f.jump(isa.JNZ, grow)
	f.pushReloc(relocData, fsp)
	f.emit(isa.STORE)
	f.place(back)
	if f.fn != nil {
		f.copyMemoryParams()
	}
}

// growFrames allocates a new chunk for memory frames and makes this
// function's frame its first, then continues at back. The stack holds the
// frame's end in the full chunk.
func (f *fnGen) growFrames(back int) {
	f.emit(isa.DROP)
	f.patchChunk = append(f.patchChunk, f.g.emitAt(f.cur, f.file, isa.PUSH, 0, 0))
	f.emit(isa.DUP)
	f.emit(isa.ALLOC)
	f.emitA(isa.TEE, f.fbSlot)
	f.emit(isa.ADD)
	f.pushReloc(relocData, f.g.fslimOff)
	f.emit(isa.STORE)
	f.get(f.fbSlot)
	f.patchSize = append(f.patchSize, f.g.emitAt(f.cur, f.file, isa.ADDI, 0, 0))
	f.pushReloc(relocData, f.g.fsp())
	f.emit(isa.STORE)
	f.jump(isa.JMP, back)
}

// copyMemoryParams copies struct and array arguments (passed by address)
// into the frame, so the callee owns its copy.
func (f *fnGen) copyMemoryParams() {
	for i, p := range f.fn.Params {
		if !inMemory(p) {
			continue
		}
		off := f.frameAlloc(check.SizeOf(p.Type), check.AlignOf(p.Type))
		slot := f.paramSlots[i]
		switch check.ClassOf(p.Type) {
		case check.ClassMemory:
			f.get(slot)
			f.frameAddr(off)
			f.copyMem(p.Type)
		default:
			for w := range check.Words(p.Type) {
				f.get(slot + w)
			}
			f.frameAddr(off)
			f.store(p.Type)
		}
		f.vars[p] = loc{kind: locFrame, off: off}
	}
}

// epilogue pops the memory frame.
func (f *fnGen) epilogue() {
	if f.hasFrame {
		f.get(f.fbSlot)
		f.pushReloc(relocData, f.g.fsp())
		f.emit(isa.STORE)
	}
}

// ret returns the results on the stack (their words).
func (f *fnGen) ret() {
	f.epilogue()
	n := 0
	for _, r := range f.results {
		n += check.Words(r)
	}
	f.retns = append(f.retns, f.emitA(isa.RETN, n))
}

// finish emits the cold blocks and patches the prologues.
func (f *fnGen) finish() {
	for i := 0; i < len(f.cold); i++ {
		cb := f.cold[i]
		f.place(cb.label)
		f.cur = cb.pos
		cb.emit()
		if cb.trap {
			// The trap: a load from the never-mapped page at address 0, at
			// the position of the failed check.
			f.push(0)
			f.emit(isa.LOAD)
		}
	}
	locals := f.slotMax - f.nparamWords
	frameless := f.slotMax == 0
	for _, pc := range f.enters {
		if frameless {
			f.g.code[pc] = isa.Instr{Op: isa.NOP}
		} else {
			f.g.code[pc].B = int64(locals)
		}
	}
	if frameless {
		// No slots at all: nothing to drop below the results.
		for _, pc := range f.retns {
			f.g.code[pc] = isa.Instr{Op: isa.RET}
		}
	}
	size := (f.frameSize + 7) &^ 7
	for _, pc := range f.patchSize {
		f.g.code[pc].B = size
	}
	for _, pc := range f.patchChunk {
		f.g.code[pc].B = max(size, f.g.opt.FrameChunkBytes)
	}
}

// coldLabel registers a failed-check block at the current position; it
// ends in a trap there.
func (f *fnGen) coldLabel(emit func()) int {
	l := f.g.newLabel()
	f.cold = append(f.cold, coldBlock{label: l, pos: f.cur, emit: emit, trap: true})
	return l
}

// panicMsg prints "panic: msg".
func (f *fnGen) panicMsg(msg string) {
	f.pushString(msg)
	f.callRuntime("panic_msg")
}

func (f *fnGen) pushString(s string) {
	if s == "" {
		f.push(0)
		f.push(0)
		return
	}
	f.pushReloc(relocROData, f.g.str(s))
	f.push(uint64(len(s)))
}

// callRuntime calls a function of the runtime module.
func (f *fnGen) callRuntime(name string) {
	rt := f.g.prog.Runtime
	fn, ok := rt.Lookup(name).(*check.FuncObj)
	if !ok {
		panic(fmt.Sprintf("gen: the runtime has no function %s", name))
	}
	f.jump(isa.CALL, f.g.funcLabel(fn))
}

// ---- __start ----

// genStart emits the entry: initialize every module's top-level variables
// in import order, call main, exit with its result.
func (g *gen) genStart() error {
	f := g.newFnGen(nil, nil)
	f.hasFrame = startNeedsFrame(g.info, g.prog)
	if f.hasFrame {
		f.fbSlot = f.allocSlots(1)
	}
	g.place(g.entry)
	f.cur = isa.Pos{Line: 1, Col: 1}
	f.ensureFramed()
	for _, m := range g.prog.Modules {
		f.file = g.moduleFile(m)
		for _, v := range m.Vars {
			f.initTopVar(v)
		}
	}
	f.file = 0
	main := g.prog.Main
	f.cur = astPos(main.At)
	f.jump(isa.CALL, g.funcLabel(main))
	if len(main.Sig.Results) == 0 {
		f.push(0)
	}
	f.emit(isa.EXIT)
	f.finish()
	return nil
}

func (f *fnGen) initTopVar(v *check.Var) {
	d := v.Decl
	saved := f.at(d.At)
	defer f.restorePos(saved)
	l := f.locOf(v)
	if v.Kind == check.VarShared {
		f.push(uint64(max(check.SizeOf(v.Type), 1)))
		f.emit(isa.GALLOC)
		f.pushReloc(relocData, l.off)
		f.emit(isa.STORE)
	}
	if d.Value == nil {
		return // data and global memory start zeroed
	}
	f.assignTo(l, v.Type, d.Value)
}
