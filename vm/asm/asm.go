package asm

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flockvm/flock/vm/isa"
)

// Options tune assembly.
type Options struct {
	// NoOptimize turns the peephole pass off: every source instruction
	// becomes exactly one instruction.
	NoOptimize bool
}

// Assemble turns .flasm source into a program. On failure the error is an
// ErrorList whose entries read file:line:col: message.
func Assemble(file string, src []byte, opt Options) (*isa.Program, error) {
	if len(src) > isa.SourceLenMax {
		return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: "source too large"}}
	}
	a := &assembler{
		file:   file,
		names:  map[string]*symbol{},
		broken: map[string]bool{},
		labels: map[int]bool{},
	}
	for i, line := range strings.Split(string(src), "\n") {
		if len(a.errs) >= errorsMax {
			break
		}
		a.parseLine(i+1, line)
	}
	if len(a.errs) > 0 {
		// Building stops at the first errors, but a name used and never
		// defined is reported with them: a user fixes everything in one go.
		a.reportUndefined()
	}
	if len(a.errs) == 0 {
		a.layoutData()
	}
	var prog *isa.Program
	if len(a.errs) == 0 {
		prog = a.build(opt)
	}
	if len(a.errs) > 0 {
		return nil, a.errs.sorted()
	}
	if err := prog.Validate(); err != nil {
		// The assembler only emits valid programs; anything else is a bug here.
		panic(fmt.Sprintf("asm: %s assembled into an invalid program: %v", file, err))
	}
	return prog, nil
}

type symKind uint8

const (
	symLabel symKind = iota
	symConst
	symData
)

type symbol struct {
	kind symKind
	pos  isa.Pos
	// symLabel: index of the instruction it names.
	index int
	// symConst
	expr  *expr
	state uint8 // 0 unevaluated, 1 evaluating, 2 done
	val   int64
	// symData
	data *dataItem
}

type dataKind uint8

const (
	dataString dataKind = iota // read-only bytes
	dataWords                  // writable words
	dataZero                   // writable zeros
)

type dataItem struct {
	kind  dataKind
	name  string
	pos   isa.Pos
	bytes []byte
	exprs []*expr // dataWords: values; dataZero: one size
	addr  uint64
	size  uint64
}

type source struct {
	op   isa.Op
	args []*expr
	pos  isa.Pos
}

// constDepthMax bounds how deep constants may refer to constants.
const constDepthMax = 1000

type assembler struct {
	constDepth int
	file       string
	errs       ErrorList
	names      map[string]*symbol
	broken     map[string]bool // names whose definition had an error
	instrs     []source
	labels     map[int]bool // instruction indexes a label names
	data       []*dataItem
	entry      string
	entryPos   isa.Pos
	ro, rw     []byte
}

func (a *assembler) errorf(pos isa.Pos, format string, args ...any) {
	if len(a.errs) < errorsMax {
		a.errs = append(a.errs, &Error{File: a.file, Line: int(pos.Line), Col: int(pos.Col), Msg: fmt.Sprintf(format, args...)})
	}
}

func (a *assembler) parseLine(lineNo int, line string) {
	toks, cerr := lexLine(line)
	if cerr != nil {
		a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(cerr.col)}, "%s", cerr.msg)
		return
	}
	pos := func(t token) isa.Pos { return isa.Pos{Line: int32(lineNo), Col: int32(t.col)} }
	// Labels: NAME ':' (several may share a line).
	for len(toks) >= 2 && toks[0].kind == tokIdent && toks[1].kind == tokPunct && toks[1].text == ":" {
		a.define(toks[0].text, &symbol{kind: symLabel, pos: pos(toks[0]), index: len(a.instrs)})
		a.labels[len(a.instrs)] = true
		toks = toks[2:]
	}
	if len(toks) == 0 {
		return
	}
	head, rest := toks[0], toks[1:]
	end := len(line) + 1
	switch head.kind {
	case tokDirective:
		a.directive(head, rest, pos(head), lineNo, end)
	case tokIdent:
		op, ok := isa.Lookup(head.text)
		if !ok {
			a.errorf(pos(head), "unknown instruction %q", head.text)
			return
		}
		args, ok := a.operands(rest, lineNo, end)
		if !ok {
			return
		}
		if want := op.Info().Operands.Count(); len(args) != want {
			a.errorf(pos(head), "%s takes %d operand%s, got %d", op, want, plural(want), len(args))
			return
		}
		a.instrs = append(a.instrs, source{op: op, args: args, pos: pos(head)})
	default:
		a.errorf(pos(head), "expected an instruction, a label or a directive, found %s", describe(&head))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// operands parses comma- or space-separated expressions.
func (a *assembler) operands(toks []token, lineNo, end int) ([]*expr, bool) {
	p := &exprParser{toks: toks, end: end}
	var out []*expr
	for p.i < len(toks) {
		e, err := p.parseExpr()
		if err != nil {
			a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(err.col)}, "%s", err.msg)
			return nil, false
		}
		out = append(out, e)
		if p.isPunct(",") {
			p.i++
			if p.i == len(toks) {
				a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(end)}, "missing operand after ,")
				return nil, false
			}
		}
	}
	return out, true
}

func (a *assembler) define(name string, s *symbol) {
	if prev, ok := a.names[name]; ok {
		a.errorf(s.pos, "%s redefined (first defined at %s:%d:%d)", name, a.file, prev.pos.Line, prev.pos.Col)
		return
	}
	if len(name) > isa.NameLenMax {
		a.errorf(s.pos, "name longer than %d bytes", isa.NameLenMax)
		return
	}
	if name == "len" {
		a.errorf(s.pos, "len is reserved and cannot name a label, constant or data")
		return
	}
	a.names[name] = s
}

func (a *assembler) directive(head token, rest []token, pos isa.Pos, lineNo, end int) {
	nameTok := func() (string, []token, bool) {
		if len(rest) == 0 || rest[0].kind != tokIdent {
			a.errorf(pos, ".%s needs a name", head.text)
			return "", nil, false
		}
		return rest[0].text, rest[1:], true
	}
	if len(rest) > 0 && rest[0].kind == tokIdent && head.text != "entry" {
		// A definition that fails is not reported again as undefined
		// wherever it is used.
		name := rest[0].text
		defer func() {
			if _, ok := a.names[name]; !ok {
				a.broken[name] = true
			}
		}()
	}
	switch head.text {
	case "entry":
		if len(rest) != 1 || rest[0].kind != tokIdent {
			a.errorf(pos, ".entry needs one label name")
			return
		}
		if a.entry != "" {
			a.errorf(pos, "second .entry")
			return
		}
		a.entry, a.entryPos = rest[0].text, isa.Pos{Line: int32(lineNo), Col: int32(rest[0].col)}
	case "const":
		name, args, ok := nameTok()
		if !ok {
			return
		}
		exprs, ok := a.operands(args, lineNo, end)
		if !ok {
			return
		}
		if len(exprs) != 1 {
			a.errorf(pos, ".const %s needs one value", name)
			return
		}
		a.define(name, &symbol{kind: symConst, pos: pos, expr: exprs[0]})
	case "string", "bytes":
		name, args, ok := nameTok()
		if !ok {
			return
		}
		a.bytesDirective(name, args, pos, lineNo, end)
	case "words", "zero":
		name, args, ok := nameTok()
		if !ok {
			return
		}
		exprs, ok := a.operands(args, lineNo, end)
		if !ok {
			return
		}
		item := &dataItem{kind: dataWords, name: name, pos: pos, exprs: exprs}
		if head.text == "zero" {
			item.kind = dataZero
			if len(exprs) != 1 {
				a.errorf(pos, ".zero %s needs one size", name)
				return
			}
		} else if len(exprs) == 0 {
			a.errorf(pos, ".words %s needs at least one value", name)
			return
		}
		a.data = append(a.data, item)
		a.define(name, &symbol{kind: symData, pos: pos, data: item})
	default:
		a.errorf(pos, "unknown directive .%s", head.text)
	}
}

// bytesDirective handles .string and .bytes: a list of strings and byte
// values, read-only.
func (a *assembler) bytesDirective(name string, args []token, pos isa.Pos, lineNo, end int) {
	var buf []byte
	p := &exprParser{toks: args, end: end}
	for p.i < len(args) {
		t := args[p.i]
		if t.kind == tokString {
			buf = append(buf, t.text...)
			p.i++
		} else {
			e, err := p.parseExpr()
			if err != nil {
				a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(err.col)}, "%s", err.msg)
				return
			}
			v, ok := a.evalConst(e, lineNo)
			if !ok {
				return
			}
			if v < -128 || v > 255 {
				a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(e.col)}, "byte value %d outside -128..255", v)
				return
			}
			buf = append(buf, byte(v))
		}
		if p.isPunct(",") {
			p.i++
		}
	}
	if len(buf) == 0 && len(args) == 0 {
		a.errorf(pos, "%s needs a string or bytes", name)
		return
	}
	item := &dataItem{kind: dataString, name: name, pos: pos, bytes: buf}
	a.data = append(a.data, item)
	a.define(name, &symbol{kind: symData, pos: pos, data: item})
}

// evalConst evaluates an expression that may only use numbers and
// constants (data sizes and byte values are needed before layout).
func (a *assembler) evalConst(e *expr, lineNo int) (int64, bool) {
	v, err := a.eval(e, lineNo, false)
	if err != nil {
		a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(err.col)}, "%s", err.msg)
		return 0, false
	}
	if v.code {
		a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(e.col)}, "a code label is not a constant here")
		return 0, false
	}
	return v.v, true
}

// value is an evaluated operand. code: v is a code label (an index into
// the source instructions, renumbered after the peephole pass).
type value struct {
	v    int64
	code bool
}

func (a *assembler) eval(e *expr, lineNo int, dataReady bool) (value, *colError) {
	switch e.kind {
	case exInt:
		return value{v: int64(e.val)}, nil
	case exName, exLen:
		s, ok := a.names[e.name]
		if !ok {
			return value{}, &colError{e.col, fmt.Sprintf("undefined name %s", e.name)}
		}
		if e.kind == exLen {
			if s.kind != symData {
				return value{}, &colError{e.col, fmt.Sprintf("len(%s): %s is not data", e.name, e.name)}
			}
			if !dataReady && s.data.kind != dataString {
				return value{}, &colError{e.col, fmt.Sprintf("len(%s) is not known yet here", e.name)}
			}
			if s.data.kind == dataString {
				return value{v: int64(len(s.data.bytes))}, nil
			}
			return value{v: int64(s.data.size)}, nil
		}
		switch s.kind {
		case symLabel:
			return value{v: int64(s.index), code: true}, nil
		case symData:
			if !dataReady {
				return value{}, &colError{e.col, fmt.Sprintf("the address of %s is not known yet here", e.name)}
			}
			return value{v: int64(s.data.addr)}, nil
		}
		return a.evalSymConst(s, e, lineNo, dataReady)
	case exNeg:
		x, err := a.eval(e.l, lineNo, dataReady)
		if err != nil {
			return value{}, err
		}
		if x.code {
			return value{}, &colError{e.col, "arithmetic on a code label"}
		}
		return value{v: -x.v}, nil
	}
	l, err := a.eval(e.l, lineNo, dataReady)
	if err != nil {
		return value{}, err
	}
	r, err := a.eval(e.r, lineNo, dataReady)
	if err != nil {
		return value{}, err
	}
	if l.code || r.code {
		return value{}, &colError{e.col, "arithmetic on a code label"}
	}
	switch e.kind {
	case exAdd:
		return value{v: l.v + r.v}, nil
	case exSub:
		return value{v: l.v - r.v}, nil
	case exDiv, exMod:
		if r.v == 0 {
			return value{}, &colError{e.col, "division by zero in a constant expression"}
		}
		if e.kind == exDiv {
			return value{v: l.v / r.v}, nil
		}
		return value{v: l.v % r.v}, nil
	}
	return value{v: l.v * r.v}, nil
}

func (a *assembler) evalSymConst(s *symbol, e *expr, lineNo int, dataReady bool) (value, *colError) {
	switch s.state {
	case 2:
		return value{v: s.val}, nil
	case 1:
		return value{}, &colError{e.col, fmt.Sprintf("constant %s is defined in terms of itself", e.name)}
	}
	if a.constDepth >= constDepthMax {
		return value{}, &colError{e.col, fmt.Sprintf("constants defined through more than %d others", constDepthMax)}
	}
	s.state = 1
	a.constDepth++
	v, err := a.eval(s.expr, int(s.pos.Line), dataReady)
	a.constDepth--
	s.state = 0
	if err != nil {
		return value{}, err
	}
	if v.code {
		return value{}, &colError{e.col, fmt.Sprintf("constant %s names a code label", e.name)}
	}
	if dataReady {
		s.state, s.val = 2, v.v
	}
	return value{v: v.v}, nil
}

// layoutData places read-only items from RODataBase and writable ones from
// the page after, each 8-aligned.
func (a *assembler) layoutData() {
	for _, d := range a.data {
		switch d.kind {
		case dataString:
			d.size = uint64(len(d.bytes))
		case dataWords:
			d.size = 8 * uint64(len(d.exprs))
		case dataZero:
			n, ok := a.evalConst(d.exprs[0], int(d.pos.Line))
			if !ok {
				return
			}
			if n < 0 || n > isa.DataLenMax {
				a.errorf(d.pos, ".zero %s: size %d outside 0..%d", d.name, n, isa.DataLenMax)
				return
			}
			d.size = uint64(n)
		}
	}
	for _, d := range a.data {
		if d.kind == dataString {
			a.ro = pad8(a.ro)
			d.addr = isa.RODataBase + uint64(len(a.ro))
			a.ro = append(a.ro, d.bytes...)
		}
	}
	base := (&isa.Program{ROData: a.ro}).DataBase()
	var rwLen uint64
	for _, d := range a.data {
		if d.kind != dataString {
			rwLen = (rwLen + 7) &^ 7
			d.addr = base + rwLen
			rwLen += d.size
		}
	}
	if uint64(len(a.ro)) > isa.DataLenMax || rwLen > isa.DataLenMax {
		a.errorf(isa.Pos{Line: 1, Col: 1}, "program data too large: %d + %d bytes", len(a.ro), rwLen)
		return
	}
	a.rw = make([]byte, rwLen)
	for _, d := range a.data {
		if d.kind != dataWords {
			continue
		}
		for i, e := range d.exprs {
			v, err := a.eval(e, int(d.pos.Line), true)
			if err != nil {
				a.errorf(isa.Pos{Line: d.pos.Line, Col: int32(err.col)}, "%s", err.msg)
				return
			}
			if v.code {
				a.errorf(d.pos, ".words %s: code labels are not data", d.name)
				return
			}
			off := d.addr - base + 8*uint64(i)
			for k := range 8 {
				a.rw[off+uint64(k)] = byte(uint64(v.v) >> (8 * k))
			}
		}
	}
}

func pad8(b []byte) []byte {
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// rinstr is an instruction with evaluated operands; code-label operands still
// hold source-instruction indexes.
type rinstr struct {
	op          isa.Op
	a           int64
	b           int64
	aCode       bool // a is a code label
	bCode       bool // b (a PUSH immediate) is a code label
	pos         isa.Pos
	sourceIndex int
}

func (a *assembler) build(opt Options) *isa.Program {
	if len(a.instrs) == 0 {
		a.errorf(isa.Pos{Line: 1, Col: 1}, "program has no instructions")
		return nil
	}
	rs := make([]rinstr, 0, len(a.instrs))
	for i, s := range a.instrs {
		r, ok := a.resolve(s)
		if !ok {
			continue
		}
		r.sourceIndex = i
		rs = append(rs, r)
	}
	entry := a.entryIndex()
	if len(a.errs) > 0 {
		return nil
	}
	if !opt.NoOptimize {
		rs = fuse(rs, a.labels)
	}
	if len(rs) > isa.CodeLenMax {
		a.errorf(isa.Pos{Line: 1, Col: 1}, "program has %d instructions, more than %d", len(rs), isa.CodeLenMax)
		return nil
	}
	if len(a.names) > isa.SymbolMax {
		a.errorf(isa.Pos{Line: 1, Col: 1}, "program has %d names, more than %d", len(a.names), isa.SymbolMax)
		return nil
	}
	return a.finish(rs, entry, !opt.NoOptimize)
}

func (a *assembler) entryIndex() int {
	name, pos := a.entry, a.entryPos
	if name == "" {
		if s, ok := a.names["main"]; ok && s.kind == symLabel {
			return s.index
		}
		return 0
	}
	s, ok := a.names[name]
	if !ok || s.kind != symLabel {
		a.errorf(pos, ".entry %s: no such label", name)
		return 0
	}
	return s.index
}

// resolve evaluates a source instruction's operands into their fields.
func (a *assembler) resolve(s source) (rinstr, bool) {
	vals := make([]value, len(s.args))
	for i, e := range s.args {
		v, err := a.eval(e, int(s.pos.Line), true)
		if err != nil {
			a.errorf(isa.Pos{Line: s.pos.Line, Col: int32(err.col)}, "%s", err.msg)
			return rinstr{}, false
		}
		vals[i] = v
	}
	r := rinstr{op: s.op, pos: s.pos}
	bad := func(i int, format string, args ...any) (rinstr, bool) {
		a.errorf(isa.Pos{Line: s.pos.Line, Col: int32(s.args[i].col)}, "%s: "+format, append([]any{s.op}, args...)...)
		return rinstr{}, false
	}
	label := func(i int) bool {
		if !vals[i].code {
			bad(i, "operand %d must be a code label", i+1)
			return false
		}
		r.a, r.aCode = vals[i].v, true
		return true
	}
	small := func(i int, what string) (int64, bool) {
		if vals[i].code {
			bad(i, "%s must be a number, not a code label", what)
			return 0, false
		}
		if vals[i].v < 0 || vals[i].v >= isa.SlotMax {
			bad(i, "%s %d outside 0..%d", what, vals[i].v, isa.SlotMax-1)
			return 0, false
		}
		return vals[i].v, true
	}
	imm := func(i int) (int64, bool) {
		if vals[i].code {
			bad(i, "a code label is not an immediate here")
			return 0, false
		}
		return vals[i].v, true
	}
	imm32 := func(i int) (int64, bool) {
		v, ok := imm(i)
		if ok && (v < math.MinInt32 || v > math.MaxInt32) {
			bad(i, "immediate %d does not fit in 32 bits", v)
			return 0, false
		}
		return v, ok
	}
	var ok = true
	switch s.op.Info().Operands {
	case isa.OperImm:
		r.b, r.bCode = vals[0].v, vals[0].code
		if vals[0].code && s.op != isa.PUSH {
			_, ok = imm(0)
		}
	case isa.OperLabel:
		ok = label(0)
	case isa.OperSlot:
		r.a, ok = small(0, "slot")
	case isa.OperCount:
		r.a, ok = small(0, "count")
	case isa.OperEnter:
		if r.a, ok = small(0, "argument count"); ok {
			r.b, ok = small(1, "local count")
		}
	case isa.OperSlotImm:
		if r.a, ok = small(0, "slot"); ok {
			r.b, ok = imm(1)
		}
	case isa.OperSlotSlot:
		if r.a, ok = small(0, "slot"); ok {
			r.b, ok = small(1, "slot")
		}
	case isa.OperImmLabel:
		if r.b, ok = imm(0); ok {
			ok = label(1)
		}
	case isa.OperSlotSlotL:
		var x, y int64
		if x, ok = small(0, "slot"); ok {
			if y, ok = small(1, "slot"); ok {
				r.b = isa.PackSlots(int32(x), int32(y))
				ok = label(2)
			}
		}
	case isa.OperSlotImmL:
		var x, y int64
		if x, ok = small(0, "slot"); ok {
			if y, ok = imm32(1); ok {
				r.b = isa.PackSlotImm(int32(x), int32(y))
				ok = label(2)
			}
		}
	}
	return r, ok
}

// finish renumbers code labels after fusion and builds the program.
func (a *assembler) finish(rs []rinstr, entry int, thread bool) *isa.Program {
	// newIndex[source index] = pc of the instruction that now starts there.
	newIndex := make([]int, len(a.instrs)+1)
	for i := range newIndex {
		newIndex[i] = -1
	}
	for pc, r := range rs {
		newIndex[r.sourceIndex] = pc
	}
	// A label never points inside a fused sequence, and a label after the
	// last instruction points one past the end; fill gaps forward.
	next := len(rs)
	for i := len(a.instrs); i >= 0; i-- {
		if newIndex[i] >= 0 {
			next = newIndex[i]
		} else {
			newIndex[i] = next
		}
	}
	p := &isa.Program{File: a.file, ROData: a.ro, Data: a.rw, Entry: newIndex[entry]}
	for _, r := range rs {
		in := isa.Instr{Op: r.op, A: int32(r.a), B: r.b}
		if r.aCode {
			in.A = int32(newIndex[r.a])
		}
		if r.bCode {
			in.B = int64(newIndex[r.b])
		}
		p.Code = append(p.Code, in)
		p.Pos = append(p.Pos, r.pos)
	}
	for pc, in := range p.Code {
		if in.Op.HasTarget() && int(in.A) >= len(p.Code) {
			a.errorf(p.Pos[pc], "%s: label at the end of the program names no instruction", in.Op)
		}
	}
	if p.Entry >= len(p.Code) {
		a.errorf(a.entryPos, "entry label names no instruction")
	}
	if len(a.errs) > 0 {
		return nil
	}
	if thread {
		threadJumps(p.Code)
	}
	p.Symbols = a.symbolTable(newIndex)
	return p
}

func (a *assembler) symbolTable(newIndex []int) []isa.Symbol {
	var syms []isa.Symbol
	for name, s := range a.names {
		switch s.kind {
		case symLabel:
			syms = append(syms, isa.Symbol{Name: name, Kind: isa.SymCode, Value: int64(newIndex[s.index])})
		case symData:
			syms = append(syms, isa.Symbol{Name: name, Kind: isa.SymData, Value: int64(s.data.addr), Len: int64(s.data.size)})
		case symConst:
			v, _ := a.eval(&expr{kind: exName, name: name}, int(s.pos.Line), true)
			syms = append(syms, isa.Symbol{Name: name, Kind: isa.SymConst, Value: v.v})
		}
	}
	sortSymbols(syms)
	return syms
}

// reportUndefined reports every name used in an operand, a data value or a
// constant that no line defines (and no failed definition tried to).
func (a *assembler) reportUndefined() {
	for _, in := range a.instrs {
		for _, e := range in.args {
			a.undefinedIn(e, int(in.pos.Line))
		}
	}
	for _, d := range a.data {
		for _, e := range d.exprs {
			a.undefinedIn(e, int(d.pos.Line))
		}
	}
	consts := make([]*symbol, 0, len(a.names))
	for _, s := range a.names {
		if s.kind == symConst {
			consts = append(consts, s)
		}
	}
	sort.Slice(consts, func(i, j int) bool { return consts[i].pos.Line < consts[j].pos.Line })
	for _, s := range consts {
		a.undefinedIn(s.expr, int(s.pos.Line))
	}
	a.errs = a.errs.deduplicated()
}

// undefinedIn recurses at most exprDepthMax deep: the parser bounds nesting.
func (a *assembler) undefinedIn(e *expr, lineNo int) {
	if e == nil {
		return
	}
	if e.kind == exName || e.kind == exLen {
		if _, ok := a.names[e.name]; !ok && !a.broken[e.name] {
			a.errorf(isa.Pos{Line: int32(lineNo), Col: int32(e.col)}, "undefined name %s", e.name)
		}
		return
	}
	a.undefinedIn(e.l, lineNo)
	a.undefinedIn(e.r, lineNo)
}
