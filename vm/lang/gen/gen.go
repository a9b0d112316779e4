package gen

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// Options tune code generation.
type Options struct {
	// NoOptimize leaves out the peephole pass (no superinstructions).
	NoOptimize bool
	// FrameChunkBytes is how much thread-local memory is allocated at a
	// time for memory frames (locals that live in memory: structs, arrays,
	// variables whose address is taken); 0: DefaultFrameChunkBytes. A
	// thread allocates its first chunk at its first call of a function
	// with such locals, and another whenever one is full.
	FrameChunkBytes int64
}

// DefaultFrameChunkBytes is the memory frame chunk unless Options say
// otherwise.
const DefaultFrameChunkBytes = 64 << 10

// Generate compiles a checked program (one without errors) to bytecode.
// Only functions reachable from main, the initializers and each other are
// emitted.
func Generate(p *check.Program, opt Options) (*isa.Program, error) {
	if p.Main == nil {
		return nil, fmt.Errorf("the program has no function main")
	}
	if opt.FrameChunkBytes <= 0 {
		opt.FrameChunkBytes = DefaultFrameChunkBytes
	}
	g := &gen{
		prog:      p,
		info:      p.Info,
		opt:       opt,
		funcs:     map[*check.FuncObj]*funcInfo{},
		strs:      map[string]int64{},
		varData:   map[*check.Var]int64{},
		fileIndex: map[*check.Module]int32{},
	}
	for _, m := range p.Modules {
		if m.Main {
			g.mainFile = m.File.Name
		}
	}
	g.files = append(g.files, g.mainFile)
	if err := g.run(); err != nil {
		return nil, err
	}
	return g.link()
}

type gen struct {
	prog     *check.Program
	info     *check.Info
	opt      Options
	mainFile string

	code    []isa.Instr
	pos     []isa.Pos
	file    []int32 // file index per instruction (0: the main file)
	codeImm []bool  // PUSH whose B is a label (a function's address)
	labels  []int   // label id -> instruction index; -1: not placed yet
	relocs  []reloc

	rodata []byte
	strs   map[string]int64 // literal -> offset in rodata

	dataSize  int64
	dataInit  []dataWord // words of data whose initial value is an address
	varData   map[*check.Var]int64
	fspOff    int64 // the data word holding the top of the memory frames (usesFrame)
	fslimOff  int64 // the data word holding the end of the current chunk
	spawnBuf  int64 // offset of the spawn argument buffer (placed at link time)
	spawnMax  int   // words the largest spawn passes through the buffer
	usesFrame bool

	funcs     map[*check.FuncObj]*funcInfo
	queue     []*check.FuncObj
	tramps    []trampJob
	files     []string
	fileIndex map[*check.Module]int32
	symbols   []isa.Symbol
	entry     int // label of __start
}

type funcInfo struct {
	label   int
	tramp   int // label of the spawn trampoline; -1: none yet
	emitted bool
}

// relocKind says what a relocated immediate is relative to.
type relocKind uint8

const (
	relocROData relocKind = iota // B += RODataBase
	relocData                    // B += DataBase
	relocSpawn                   // B += the address of the spawn argument buffer
)

type reloc struct {
	pc   int
	kind relocKind
}

type dataWord struct {
	off  int64
	kind relocKind
	val  int64
}

func (g *gen) newLabel() int {
	g.labels = append(g.labels, -1)
	return len(g.labels) - 1
}

func (g *gen) place(l int) {
	if g.labels[l] != -1 {
		panic(fmt.Sprintf("gen: label %d placed twice", l))
	}
	g.labels[l] = len(g.code)
}

// funcLabel is the entry label of f, queueing f for generation.
func (g *gen) funcLabel(f *check.FuncObj) int {
	fi, ok := g.funcs[f]
	if !ok {
		fi = &funcInfo{label: g.newLabel(), tramp: -1}
		g.funcs[f] = fi
		g.queue = append(g.queue, f)
	}
	return fi.label
}

// str is the rodata offset of a string literal (deduplicated).
func (g *gen) str(s string) int64 {
	if off, ok := g.strs[s]; ok {
		return off
	}
	for len(g.rodata)%8 != 0 {
		g.rodata = append(g.rodata, 0)
	}
	off := int64(len(g.rodata))
	g.rodata = append(g.rodata, s...)
	g.strs[s] = off
	return off
}

// dataAlloc reserves size bytes of writable data aligned to align.
func (g *gen) dataAlloc(size, align int64) int64 {
	if align < 8 {
		align = 8 // every item 8-aligned, like the assembler's
	}
	g.dataSize = (g.dataSize + align - 1) / align * align
	off := g.dataSize
	g.dataSize += size
	return off
}

// fsp is the data offset of the frame pointer word; the limit word
// follows it.
func (g *gen) fsp() int64 {
	if !g.usesFrame {
		g.usesFrame = true
		g.fspOff = g.dataAlloc(8, 8)
		g.fslimOff = g.dataAlloc(8, 8)
	}
	return g.fspOff
}

func (g *gen) moduleFile(m *check.Module) int32 {
	if m == nil || m.Main {
		return 0
	}
	if i, ok := g.fileIndex[m]; ok {
		return i
	}
	i := int32(len(g.files))
	g.files = append(g.files, m.File.Name)
	g.fileIndex[m] = i
	return i
}

// run generates __start and every reachable function.
func (g *gen) run() error {
	g.entry = g.newLabel()
	if err := g.genStart(); err != nil {
		return err
	}
	for len(g.queue) > 0 || len(g.tramps) > 0 {
		if len(g.tramps) > 0 {
			j := g.tramps[0]
			g.tramps = g.tramps[1:]
			g.genTrampoline(j)
			continue
		}
		f := g.queue[0]
		g.queue = g.queue[1:]
		fi := g.funcs[f]
		if fi.emitted {
			continue
		}
		fi.emitted = true
		if err := g.genFunc(f, fi); err != nil {
			return err
		}
	}
	return nil
}

// link lays out the data, resolves labels and relocations, runs the
// peephole pass and builds the program.
func (g *gen) link() (*isa.Program, error) {
	if g.spawnMax > 0 {
		g.spawnBuf = g.dataAlloc(int64(8*g.spawnMax), 8)
	}
	g.removeNops()
	p := &isa.Program{File: g.mainFile, ROData: g.rodata}
	dataBase := int64(p.DataBase())
	if g.dataSize > isa.DataLenMax || int64(len(g.rodata)) > isa.DataLenMax {
		return nil, fmt.Errorf("program data too large: %d + %d bytes", len(g.rodata), g.dataSize)
	}
	p.Data = make([]byte, g.dataSize)
	for _, w := range g.dataInit {
		v := w.val + g.base(w.kind, dataBase)
		for k := range 8 {
			p.Data[w.off+int64(k)] = byte(uint64(v) >> (8 * k))
		}
	}
	for _, r := range g.relocs {
		g.code[r.pc].B += g.base(r.kind, dataBase)
	}
	code, pos, file := g.code, g.pos, g.file
	for pc, in := range code {
		if in.Op.HasTarget() {
			code[pc].A = int32(g.resolve(int(in.A)))
		}
		if g.codeImm[pc] {
			code[pc].B = int64(g.resolve(int(in.B)))
		}
	}
	entry := g.resolve(g.entry)
	funcPC := map[*check.FuncObj]int{}
	for f, fi := range g.funcs {
		if fi.emitted {
			funcPC[f] = g.resolve(fi.label)
		}
	}
	newPC := func(pc int) int { return pc }
	if !g.opt.NoOptimize {
		out, origin := asm.Optimize(code, pos, g.codeImm, entry)
		np := make([]isa.Pos, len(out))
		nf := make([]int32, len(out))
		index := make([]int, len(code)+1)
		for i := range index {
			index[i] = -1
		}
		for pc, o := range origin {
			np[pc], nf[pc] = pos[o], file[o]
			index[o] = pc
		}
		newPC = func(pc int) int {
			if index[pc] < 0 {
				panic(fmt.Sprintf("gen: a label at pc %d fell inside a fused sequence", pc))
			}
			return index[pc]
		}
		code, pos, file = out, np, nf
		entry = newPC(entry)
	}
	if len(code) > isa.CodeLenMax {
		return nil, fmt.Errorf("program has %d instructions, more than %d", len(code), isa.CodeLenMax)
	}
	p.Code, p.Entry = code, entry
	p.Pos = make([]isa.Pos, len(code))
	for pc := range code {
		if file[pc] == 0 {
			p.Pos[pc] = pos[pc]
		}
	}
	g.symbols = append(g.symbols, isa.Symbol{Name: "__start", Kind: isa.SymCode, Value: int64(entry)})
	for f, pc := range funcPC {
		g.symbols = append(g.symbols, isa.Symbol{Name: f.FullName(), Kind: isa.SymCode, Value: int64(newPC(pc))})
	}
	for v, off := range g.varData {
		name := v.Name
		if !v.Module.Main {
			name = v.Module.Name + "." + name
		}
		g.symbols = append(g.symbols, isa.Symbol{Name: name, Kind: isa.SymData, Value: dataBase + off, Len: check.SizeOf(v.Type)})
	}
	if possyms := positionSymbols(g.files, file, pos); len(g.symbols)+len(possyms) <= isa.SymbolMax {
		g.symbols = append(g.symbols, possyms...)
	} // else traps in imported files are named by the main file only
	if len(g.symbols) > isa.SymbolMax {
		g.symbols = g.symbols[:isa.SymbolMax]
	}
	sort.Slice(g.symbols, func(i, j int) bool {
		a, b := g.symbols[i], g.symbols[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		return a.Name < b.Name
	})
	p.Symbols = g.symbols
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("gen: generated an invalid program: %v", err))
	}
	return p, nil
}

func (g *gen) base(k relocKind, dataBase int64) int64 {
	switch k {
	case relocROData:
		return isa.RODataBase
	case relocSpawn:
		return dataBase + g.spawnBuf
	}
	return dataBase
}

// removeNops drops the NOPs code generation left (prologues a function
// turned out not to need); labels on a NOP move to the next instruction.
func (g *gen) removeNops() {
	index := make([]int, len(g.code)+1)
	n := 0
	for pc, in := range g.code {
		index[pc] = n
		if in.Op != isa.NOP {
			g.code[n], g.pos[n], g.file[n], g.codeImm[n] = in, g.pos[pc], g.file[pc], g.codeImm[pc]
			n++
		}
	}
	index[len(g.code)] = n
	if n == 0 {
		panic("gen: no code")
	}
	g.code, g.pos, g.file, g.codeImm = g.code[:n], g.pos[:n], g.file[:n], g.codeImm[:n]
	for l, pc := range g.labels {
		if pc >= 0 {
			g.labels[l] = index[pc]
		}
	}
	kept := g.relocs[:0]
	for _, r := range g.relocs {
		if g.codeWasNop(r.pc, index) {
			continue
		}
		r.pc = index[r.pc]
		kept = append(kept, r)
	}
	g.relocs = kept
}

// codeWasNop reports whether old pc pc was removed (its index equals the
// next one's).
func (g *gen) codeWasNop(pc int, index []int) bool { return index[pc] == index[pc+1] }

func (g *gen) resolve(l int) int {
	pc := g.labels[l]
	if pc < 0 {
		panic(fmt.Sprintf("gen: label %d never placed", l))
	}
	return pc
}

// Positions of instructions that come from files other than the main one
// are kept in the symbol table, since isa.Pos has no file: a symbol
// "@file NAME" with Value k names file k, and "@pos" symbols with Value pc
// and Len file<<42 | line<<21 | col mark each pc where the position changes
// (file 0 is the main file, whose positions are in Program.Pos).
const (
	fileSymPrefix = "@file "
	posSym        = "@pos"
)

func positionSymbols(files []string, file []int32, pos []isa.Pos) []isa.Symbol {
	var syms []isa.Symbol
	for i, f := range files[1:] {
		syms = append(syms, isa.Symbol{Name: fileSymPrefix + f, Kind: isa.SymConst, Value: int64(i + 1)})
	}
	last := int64(-1)
	for pc := range file {
		if file[pc] == 0 {
			if last != 0 && last != -1 {
				syms = append(syms, isa.Symbol{Name: posSym, Kind: isa.SymConst, Value: int64(pc), Len: 0})
			}
			last = 0
			continue
		}
		v := int64(file[pc])<<42 | int64(pos[pc].Line)<<21 | int64(pos[pc].Col)
		if v != last {
			syms = append(syms, isa.Symbol{Name: posSym, Kind: isa.SymConst, Value: int64(pc), Len: v})
			last = v
		}
	}
	return syms
}

// Where names the source position of pc as file:line:col, for programs
// whose code comes from several files (isa.Program.Where knows only the
// main file).
func Where(p *isa.Program, pc int) string {
	if pc >= 0 && pc < len(p.Pos) && p.Pos[pc].Line != 0 {
		return p.Where(pc)
	}
	files := map[int64]string{}
	var best *isa.Symbol
	for i := range p.Symbols {
		s := &p.Symbols[i]
		if s.Kind != isa.SymConst {
			continue
		}
		if name, ok := strings.CutPrefix(s.Name, fileSymPrefix); ok {
			files[s.Value] = name
		}
		if s.Name == posSym && s.Value <= int64(pc) && (best == nil || s.Value > best.Value) {
			best = s
		}
	}
	if best == nil || best.Len == 0 {
		return p.Where(pc)
	}
	f, ok := files[best.Len>>42]
	if !ok {
		return p.Where(pc)
	}
	return fmt.Sprintf("%s:%d:%d", f, (best.Len>>21)&(1<<21-1), best.Len&(1<<21-1))
}

// ---- emitting ----

func (g *gen) emitAt(pos isa.Pos, file int32, op isa.Op, a int32, b int64) int {
	g.code = append(g.code, isa.Instr{Op: op, A: a, B: b})
	g.pos = append(g.pos, pos)
	g.file = append(g.file, file)
	g.codeImm = append(g.codeImm, false)
	return len(g.code) - 1
}

func astPos(p ast.Pos) isa.Pos { return isa.Pos{Line: p.Line, Col: p.Col} }
