package check

import (
	"math/big"
	"strings"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
)

// Importer finds the module an import path names.
type Importer interface {
	// Import parses the module path names, imported from the file from.
	// key is unique per module (a canonical path): the same key is the
	// same module. Errors of the parse go to the error list the checker
	// was given; err is for a module that cannot be found or read.
	Import(from *ast.File, path string) (file *ast.File, key string, err error)
}

// RuntimePath is the module every program imports implicitly: the helpers
// generated code calls (copying memory, comparing strings, printing).
const RuntimePath = "runtime"

// Check resolves names and checks the types of the program whose main file
// is main, loading imports through imp. Errors go to errs; the program is
// returned even if there were errors (nil only if main itself is nil).
func Check(main *ast.File, imp Importer, errs *diag.List) *Program {
	c := &checker{
		errs:    errs,
		imp:     imp,
		modules: map[string]*Module{},
		loading: map[string]bool{},
		info: &Info{
			Types:      map[ast.Expr]TypeAndValue{},
			Uses:       map[*ast.Ident]Object{},
			Defs:       map[*ast.Ident]Object{},
			Selections: map[*ast.Selector]*Selection{},
			Calls:      map[*ast.Call]*CallInfo{},
			TypeExprs:  map[ast.TypeExpr]Type{},
			Funcs:      map[*ast.FuncDecl]*FuncObj{},
		},
	}
	prog := &Program{Info: c.info}
	if rt, key, err := imp.Import(main, RuntimePath); err == nil {
		prog.Runtime = c.module(rt, key, false)
	} else {
		c.sinkFor(main).Errorf(1, 1, "cannot load the runtime module: %v", err)
	}
	m := c.module(main, "main:"+main.Name, true)
	prog.Modules = c.order
	c.mod, c.sink = m, c.sinkFor(main)
	if obj, ok := m.Scope.LookupLocal("main").(*FuncObj); ok && obj.Recv == nil {
		prog.Main = obj
		if len(obj.Sig.Params) > 0 || len(obj.Sig.Results) > 1 || len(obj.Sig.Results) == 1 && !Identical(obj.Sig.Results[0], TypInt) {
			c.errorf(obj.At, "main must take no arguments and return nothing or an int (the exit status)")
		}
	} else if len(*errs) == 0 {
		c.sinkFor(main).Errorf(1, 1, "the program has no function main")
	}
	return prog
}

type checker struct {
	errs    *diag.List
	imp     Importer
	info    *Info
	modules map[string]*Module
	order   []*Module
	loading map[string]bool
	sinks   map[*ast.File]*diag.Sink

	// the module and function being checked
	mod       *Module
	sink      *diag.Sink
	fn        *FuncObj
	scope     *Scope
	loops     int
	constPath []*Const
	varPath   []*Var
	curPos    ast.Pos // where assignable reports
}

func (c *checker) sinkFor(f *ast.File) *diag.Sink {
	if c.sinks == nil {
		c.sinks = map[*ast.File]*diag.Sink{}
	}
	s, ok := c.sinks[f]
	if !ok {
		s = diag.NewSink(f.Name, []byte(f.Src), c.errs)
		c.sinks[f] = s
	}
	return s
}

func (c *checker) errorf(pos ast.Pos, format string, args ...any) {
	c.sink.Errorf(int(pos.Line), int(pos.Col), format, args...)
}

// module checks a file as a module (once per key) and everything it
// imports, which come before it in c.order.
func (c *checker) module(f *ast.File, key string, main bool) *Module {
	if m, ok := c.modules[key]; ok {
		return m
	}
	m := &Module{Name: moduleName(f.Name), Key: key, File: f, Main: main, Scope: newScope(universe)}
	c.modules[key] = m
	c.loading[key] = true
	saved := c.save()
	c.mod, c.sink = m, c.sinkFor(f)
	c.imports(m)
	c.collect(m)
	c.restore(saved)
	delete(c.loading, key)
	c.order = append(c.order, m)
	saved = c.save()
	c.mod, c.sink = m, c.sinkFor(f)
	c.bodies(m)
	c.restore(saved)
	m.checked = true
	return m
}

type checkerState struct {
	mod   *Module
	sink  *diag.Sink
	fn    *FuncObj
	scope *Scope
	loops int
}

func (c *checker) save() checkerState {
	return checkerState{c.mod, c.sink, c.fn, c.scope, c.loops}
}

func (c *checker) restore(s checkerState) {
	c.mod, c.sink, c.fn, c.scope, c.loops = s.mod, s.sink, s.fn, s.scope, s.loops
}

// moduleName is the name a file is imported as: its base name without .fl.
func moduleName(path string) string {
	if i := strings.LastIndexAny(path, "/\\"); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, ".fl")
}

func (c *checker) imports(m *Module) {
	for _, imp := range m.File.Imports {
		if imp.Path.Value == "" {
			c.errorf(imp.Path.At, "empty import path")
			continue
		}
		// A module that cannot be had still gets its name, so uses of it
		// are not reported again.
		broken := func() {
			name := moduleName(imp.Path.Value)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if isIdent(name) {
				c.declare(m.Scope, name, &ModuleName{Name: name, At: imp.Path.At, Broken: true}, imp.Path.At)
			}
		}
		f, key, err := c.imp.Import(m.File, imp.Path.Value)
		if err != nil {
			c.errorf(imp.Path.At, "cannot import %s: %v", imp.Path.Raw, err)
			broken()
			continue
		}
		if c.loading[key] {
			c.errorf(imp.Path.At, "import cycle: %s imports %s, which imports it back", m.Name, imp.Path.Raw)
			broken()
			continue
		}
		dep := c.module(f, key, false)
		m.Imports = append(m.Imports, dep)
		name := dep.Name
		at := imp.Path.At
		if imp.Name != nil {
			name, at = imp.Name.Name, imp.Name.At
		}
		if !isIdent(name) {
			c.errorf(imp.Path.At, "module %s has no usable name; import it as: import name %s", imp.Path.Raw, imp.Path.Raw)
			continue
		}
		c.declare(m.Scope, name, &ModuleName{Name: name, At: at, Module: dep}, at)
	}
}

func isIdent(s string) bool {
	if s == "" || s == "_" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || i > 0 && ch >= '0' && ch <= '9') {
			return false
		}
	}
	return true
}

// declare adds obj to scope, reporting a redeclaration. _ declares nothing.
func (c *checker) declare(s *Scope, name string, obj Object, at ast.Pos) {
	if name == "_" {
		return
	}
	if prev, ok := s.names[name]; ok {
		if pp := prev.ObjPos(); pp.Line > 0 {
			c.errorf(at, "%s redeclared in this block (first declared at %d:%d)", name, pp.Line, pp.Col)
		} else {
			c.errorf(at, "%s redeclared in this block", name)
		}
		return
	}
	s.names[name] = obj
}

// collect declares the module's top-level names and resolves struct fields
// and function signatures.
func (c *checker) collect(m *Module) {
	var methods []*ast.FuncDecl
	for _, d := range m.File.Decls {
		switch d := d.(type) {
		case *ast.StructDecl:
			st := &Struct{Name: d.Name.Name, Module: m, Methods: map[string]*FuncObj{}, Pub: d.Pub}
			tn := &TypeName{Name: d.Name.Name, At: d.Name.At, Type: st, Pub: d.Pub, Decl: d}
			c.declare(m.Scope, d.Name.Name, tn, d.Name.At)
			c.info.Defs[d.Name] = tn
			m.Structs = append(m.Structs, st)
		case *ast.ConstDecl:
			k := &Const{Name: d.Name.Name, At: d.Name.At, Module: m, Decl: d, Pub: d.Pub}
			c.declare(m.Scope, d.Name.Name, k, d.Name.At)
			c.info.Defs[d.Name] = k
		case *ast.VarDecl:
			kind := VarData
			if d.Global {
				kind = VarShared
			}
			v := &Var{Name: d.Name.Name, At: d.Name.At, Kind: kind, Module: m, Decl: d, Pub: d.Pub}
			c.declare(m.Scope, d.Name.Name, v, d.Name.At)
			c.info.Defs[d.Name] = v
			m.Vars = append(m.Vars, v)
		case *ast.FuncDecl:
			if d.Recv != nil {
				methods = append(methods, d)
				continue
			}
			f := &FuncObj{Name: d.Name.Name, At: d.Name.At, Decl: d, Module: m, Pub: d.Pub}
			c.declare(m.Scope, d.Name.Name, f, d.Name.At)
			c.info.Defs[d.Name] = f
			c.info.Funcs[d] = f
			m.Funcs = append(m.Funcs, f)
		}
	}
	// Struct fields, then layouts (which need every field's type).
	for _, d := range m.File.Decls {
		if sd, ok := d.(*ast.StructDecl); ok {
			if tn, ok := m.Scope.LookupLocal(sd.Name.Name).(*TypeName); ok && tn.Decl == sd {
				c.fields(tn.Type.(*Struct), sd)
			}
		}
	}
	for _, st := range m.Structs {
		c.layout(st, nil)
	}
	for _, f := range m.Funcs {
		c.signature(f)
	}
	for _, d := range methods {
		c.method(m, d)
	}
}

func (c *checker) fields(st *Struct, d *ast.StructDecl) {
	seen := map[string]bool{}
	for _, f := range d.Fields {
		t := c.typeExpr(f.Type)
		if f.Name.Name != "_" && seen[f.Name.Name] {
			c.errorf(f.Name.At, "field %s declared twice in struct %s", f.Name.Name, st.Name)
			continue
		}
		seen[f.Name.Name] = true
		st.Fields = append(st.Fields, &Field{Name: f.Name.Name, Type: t, Pub: f.Pub})
	}
}

// layout assigns field offsets; a struct that contains itself by value
// (not through a pointer or slice) has no finite size.
func (c *checker) layout(st *Struct, path []*Struct) {
	switch st.state {
	case 2:
		return
	case 1:
		names := []string{}
		for _, s := range append(path, st) {
			names = append(names, s.Name)
		}
		if tn, ok := st.Module.Scope.LookupLocal(st.Name).(*TypeName); ok {
			saved := c.sink
			c.sink = c.sinkFor(st.Module.File)
			c.errorf(tn.At, "struct %s contains itself (%s); hold it through a pointer", st.Name, strings.Join(names, " -> "))
			c.sink = saved
		}
		st.size, st.align, st.state = 8, 8, 2
		return
	}
	st.state = 1
	off, align := int64(0), int64(1)
	for _, f := range st.Fields {
		c.layoutType(f.Type, append(path, st))
		a := AlignOf(f.Type)
		off = (off + a - 1) / a * a
		f.Offset = off
		off += SizeOf(f.Type)
		align = max(align, a)
		if off > sizeMax {
			c.errorf(st.Module.Scope.LookupLocal(st.Name).ObjPos(), "struct %s is larger than %d bytes", st.Name, int64(sizeMax))
			off = 8
		}
	}
	st.size = (off + align - 1) / align * align
	st.align = align
	st.state = 2
}

// sizeMax bounds the size of one type.
const sizeMax = 1 << 28

func (c *checker) layoutType(t Type, path []*Struct) {
	switch t := t.(type) {
	case *Struct:
		if t.state != 2 {
			c.layout(t, path)
		}
	case *Array:
		c.layoutType(t.Elem, path)
	}
}

func (c *checker) signature(f *FuncObj) {
	d := f.Decl
	sig := &Func{}
	for _, p := range d.Params {
		t := c.typeExpr(p.Type)
		sig.Params = append(sig.Params, t)
		v := &Var{Name: p.Name.Name, At: p.Name.At, Type: t, Kind: VarLocal, Module: f.Module, Param: true}
		f.Params = append(f.Params, v)
		c.info.Defs[p.Name] = v
	}
	for _, r := range d.Results {
		sig.Results = append(sig.Results, c.typeExpr(r))
	}
	f.Sig = sig
}

func (c *checker) method(m *Module, d *ast.FuncDecl) {
	rt := c.typeExpr(d.Recv.Type)
	ptr := false
	if p, ok := rt.(*Pointer); ok {
		rt, ptr = p.Elem, true
	}
	st, ok := rt.(*Struct)
	if !ok || st.Module != m {
		if !IsInvalid(rt) {
			c.errorf(d.Recv.Type.Pos(), "a method's receiver must be a struct of this module or a pointer to one, not %s", rt)
		}
		return
	}
	f := &FuncObj{Name: d.Name.Name, At: d.Name.At, Decl: d, Module: m, Recv: st, PtrRecv: ptr, Pub: d.Pub}
	if prev, dup := st.Methods[d.Name.Name]; dup {
		c.errorf(d.Name.At, "method %s.%s redeclared (first declared at %d:%d)", st.Name, d.Name.Name, prev.At.Line, prev.At.Col)
		return
	}
	if st.FieldByName(d.Name.Name) != nil {
		c.errorf(d.Name.At, "struct %s has both a field and a method named %s", st.Name, d.Name.Name)
		return
	}
	recvType := Type(st)
	if ptr {
		recvType = &Pointer{Elem: st}
	}
	recv := &Var{Name: d.Recv.Name.Name, At: d.Recv.Name.At, Type: recvType, Kind: VarLocal, Module: m, Param: true}
	c.info.Defs[d.Recv.Name] = recv
	f.Params = append(f.Params, recv)
	c.signature(f)
	st.Methods[d.Name.Name] = f
	c.info.Defs[d.Name] = f
	c.info.Funcs[d] = f
	m.Funcs = append(m.Funcs, f)
}

// bodies checks constants, top-level variables and function bodies.
func (c *checker) bodies(m *Module) {
	for _, d := range m.File.Decls {
		switch d := d.(type) {
		case *ast.ConstDecl:
			if k, ok := c.info.Defs[d.Name].(*Const); ok {
				c.constant(k)
			}
		case *ast.VarDecl:
			if v, ok := c.info.Defs[d.Name].(*Var); ok {
				c.topVar(v)
			}
		}
	}
	for _, f := range m.Funcs {
		c.funcBody(f)
	}
}

// constant checks a constant's declaration (once; on demand when used
// before its declaration).
func (c *checker) constant(k *Const) {
	switch k.state {
	case 2:
		return
	case 1:
		c.errorf(k.At, "constant %s is defined in terms of itself", k.Name)
		k.Type, k.state = TypInvalid, 2
		return
	}
	k.state = 1
	saved := c.save()
	c.mod, c.sink, c.fn, c.scope = k.Module, c.sinkFor(k.Module.File), nil, k.Module.Scope
	if len(c.constPath) >= constDepthMax {
		c.errorf(k.At, "constants defined through more than %d others", constDepthMax)
		k.Type = TypInvalid
	} else {
		c.constPath = append(c.constPath, k)
		c.constDecl(k, k.Decl)
		c.constPath = c.constPath[:len(c.constPath)-1]
	}
	c.restore(saved)
	k.state = 2
}

const constDepthMax = 200

func (c *checker) constDecl(k *Const, d *ast.ConstDecl) {
	x := c.expr(d.Value)
	if x.mode == ModeInvalid {
		k.Type = TypInvalid
		return
	}
	if x.mode != ModeConst {
		c.errorf(d.Value.Pos(), "%s is not a constant", describeExpr(d.Value))
		k.Type = TypInvalid
		return
	}
	if d.Type != nil {
		t := c.typeExpr(d.Type)
		if IsInvalid(t) {
			k.Type = TypInvalid
			return
		}
		if !c.convertTo(d.Value, &x, t, "constant "+k.Name) {
			k.Type = TypInvalid
			return
		}
	}
	k.Type, k.Value = x.typ, x.val
}

// topVar checks a top-level variable: its type, and its initializer, which
// runs in the main thread before main.
func (c *checker) topVar(v *Var) {
	if v.Type != nil {
		return
	}
	for _, p := range c.varPath {
		if p == v {
			c.errorf(v.At, "the type of %s depends on itself", v.Name)
			v.Type = TypInvalid
			return
		}
	}
	c.varPath = append(c.varPath, v)
	defer func() { c.varPath = c.varPath[:len(c.varPath)-1] }()
	saved := c.save()
	c.mod, c.sink, c.fn, c.scope = v.Module, c.sinkFor(v.Module.File), nil, v.Module.Scope
	defer c.restore(saved)
	d := v.Decl
	var t Type
	if d.Type != nil {
		t = c.typeExpr(d.Type)
	}
	if d.Value != nil {
		x := c.expr(d.Value)
		if t == nil {
			t = c.defaultType(&x, d.Value)
		}
		if x.mode != ModeInvalid && !IsInvalid(t) {
			c.convertTo(d.Value, &x, t, "variable "+v.Name)
		}
	}
	if t == nil {
		t = TypInvalid
	}
	v.Type = t
}

// defaultType is the type a variable declared from x gets.
func (c *checker) defaultType(x *operand, e ast.Expr) Type {
	switch x.mode {
	case ModeInvalid:
		return TypInvalid
	case ModeNoValue:
		c.errorf(e.Pos(), "%s has no value", describeExpr(e))
		return TypInvalid
	case ModeType, ModeBuiltin, ModeModule:
		c.errorf(e.Pos(), "%s is not a value", describeExpr(e))
		return TypInvalid
	}
	if _, ok := x.typ.(*Tuple); ok {
		c.errorf(e.Pos(), "%s returns %d values; declare as many names", describeExpr(e), len(x.typ.(*Tuple).Types))
		return TypInvalid
	}
	switch {
	case isBasic(x.typ, UntypedInt):
		return TypInt
	case isBasic(x.typ, UntypedNil):
		c.errorf(e.Pos(), "nil has no type here; declare the variable's type")
		return TypInvalid
	}
	return x.typ
}

// ---- types written in the source ----

func (c *checker) typeExpr(t ast.TypeExpr) Type {
	r := c.typeExpr1(t)
	c.info.TypeExprs[t] = r
	return r
}

func (c *checker) typeExpr1(t ast.TypeExpr) Type {
	switch t := t.(type) {
	case *ast.NamedType:
		var obj Object
		if t.Module != nil {
			mn, ok := c.scope0().Lookup(t.Module.Name).(*ModuleName)
			if !ok {
				c.errorf(t.Module.At, "%s is not an imported module", t.Module.Name)
				return TypInvalid
			}
			mn.Used = true
			if mn.Broken {
				return TypInvalid
			}
			obj = mn.Module.Scope.LookupLocal(t.Name.Name)
			if obj == nil {
				c.errorf(t.Name.At, "module %s has no type %s", t.Module.Name, t.Name.Name)
				return TypInvalid
			}
			if tn, ok := obj.(*TypeName); ok && !tn.Pub {
				c.errorf(t.Name.At, "%s.%s is private to module %s (declare it pub)", t.Module.Name, t.Name.Name, t.Module.Name)
				return TypInvalid
			}
		} else {
			obj = c.scope0().Lookup(t.Name.Name)
		}
		switch o := obj.(type) {
		case *TypeName:
			c.info.Uses[t.Name] = o
			return o.Type
		case nil:
			c.errorf(t.Name.At, "undefined type %s", t.Name.Name)
		default:
			c.errorf(t.Name.At, "%s is not a type", t.Name.Name)
		}
		return TypInvalid
	case *ast.PointerType:
		return &Pointer{Elem: c.typeExpr(t.Elem)}
	case *ast.SliceType:
		return &Slice{Elem: c.typeExpr(t.Elem)}
	case *ast.ArrayType:
		n := c.arrayLen(t.Len)
		elem := c.typeExpr(t.Elem)
		if IsInvalid(elem) || n < 0 {
			return TypInvalid
		}
		if st, ok := elem.(*Struct); ok && st.state == 2 || !isStruct(elem) {
			if es := SizeOf(elem); es > 0 && n > sizeMax/es {
				c.errorf(t.At, "array of %d %s is larger than %d bytes", n, elem, int64(sizeMax))
				return TypInvalid
			}
		}
		return &Array{Len: n, Elem: elem}
	case *ast.FuncType:
		ft := &Func{}
		for _, p := range t.Params {
			ft.Params = append(ft.Params, c.typeExpr(p))
		}
		for _, r := range t.Results {
			ft.Results = append(ft.Results, c.typeExpr(r))
		}
		return ft
	}
	return TypInvalid
}

func isStruct(t Type) bool {
	_, ok := t.(*Struct)
	return ok
}

func (c *checker) scope0() *Scope {
	if c.scope != nil {
		return c.scope
	}
	return c.mod.Scope
}

// arrayLen evaluates the constant length of an array type; -1 on error.
func (c *checker) arrayLen(e ast.Expr) int64 {
	x := c.expr(e)
	if x.mode == ModeInvalid {
		return -1
	}
	if x.mode != ModeConst || x.val.Kind != ValInt {
		c.errorf(e.Pos(), "an array length must be an integer constant")
		return -1
	}
	if x.val.Int.Sign() < 0 || x.val.Int.Cmp(big.NewInt(sizeMax)) > 0 {
		c.errorf(e.Pos(), "array length %s outside 0..%d", x.val.Int, int64(sizeMax))
		return -1
	}
	return x.val.Int.Int64()
}

func describeExpr(e ast.Expr) string {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return e.Name
	case *ast.Call:
		return describeExpr(e.Fun) + "(...)"
	case *ast.Selector:
		return describeExpr(e.X) + "." + e.Sel.Name
	case *ast.IntLit:
		return e.Raw
	case *ast.StringLit:
		return e.Raw
	}
	return "the expression"
}
