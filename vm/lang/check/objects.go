package check

import (
	"math/big"

	"github.com/flockvm/flock/vm/lang/ast"
)

// Object is something a name denotes.
type Object interface {
	ObjName() string
	ObjPos() ast.Pos
}

// VarKind says where a variable lives.
type VarKind uint8

const (
	VarLocal  VarKind = iota // a function's local or parameter
	VarData                  // a top-level var: thread-local data, a copy per thread
	VarShared                // a top-level global var: one copy in global memory
)

// Var is a variable.
type Var struct {
	Name   string
	At     ast.Pos
	Type   Type
	Kind   VarKind
	Module *Module
	Param  bool
	// AddrTaken: the program takes its address (&x, a method with a
	// pointer receiver, slicing an array), so it must live in memory.
	AddrTaken bool
	Decl      *ast.VarDecl // top-level vars
	Pub       bool
}

// Const is a named constant.
type Const struct {
	Name   string
	At     ast.Pos
	Type   Type
	Value  Value
	Module *Module
	Decl   *ast.ConstDecl
	Pub    bool
	state  uint8 // 0 unchecked, 1 checking, 2 done
}

// FuncObj is a function or method.
type FuncObj struct {
	Name   string
	At     ast.Pos
	Sig    *Func
	Decl   *ast.FuncDecl
	Module *Module
	Recv   *Struct // methods: the receiver's struct
	// PtrRecv: the receiver is *Recv; else a copy of Recv.
	PtrRecv bool
	Params  []*Var // the receiver first, for methods
	Pub     bool
}

// FullName names the function in symbol tables and messages:
// module.name or module.Type.name; the main module's without a prefix.
func (f *FuncObj) FullName() string {
	name := f.Name
	if f.Recv != nil {
		name = f.Recv.Name + "." + name
	}
	if f.Module != nil && !f.Module.Main {
		name = f.Module.Name + "." + name
	}
	return name
}

// TypeName is a named type.
type TypeName struct {
	Name string
	At   ast.Pos
	Type Type
	Pub  bool
	Decl *ast.StructDecl
}

// ModuleName is an imported module's name in the importing file.
type ModuleName struct {
	Name   string
	At     ast.Pos
	Module *Module
	Used   bool
	Broken bool // the import failed (reported): every use is invalid
}

// Builtin is a predeclared function.
type Builtin struct {
	Name string
	ID   BuiltinID
}

func (o *Var) ObjName() string        { return o.Name }
func (o *Const) ObjName() string      { return o.Name }
func (o *FuncObj) ObjName() string    { return o.Name }
func (o *TypeName) ObjName() string   { return o.Name }
func (o *ModuleName) ObjName() string { return o.Name }
func (o *Builtin) ObjName() string    { return o.Name }

func (o *Var) ObjPos() ast.Pos        { return o.At }
func (o *Const) ObjPos() ast.Pos      { return o.At }
func (o *FuncObj) ObjPos() ast.Pos    { return o.At }
func (o *TypeName) ObjPos() ast.Pos   { return o.At }
func (o *ModuleName) ObjPos() ast.Pos { return o.At }
func (o *Builtin) ObjPos() ast.Pos    { return ast.Pos{} }

// Scope maps names to objects, inside its parent.
type Scope struct {
	parent *Scope
	names  map[string]Object
}

func newScope(parent *Scope) *Scope { return &Scope{parent: parent, names: map[string]Object{}} }

// Lookup finds name here or in an enclosing scope.
func (s *Scope) Lookup(name string) Object {
	for ; s != nil; s = s.parent {
		if o, ok := s.names[name]; ok {
			return o
		}
	}
	return nil
}

// LookupLocal finds name in this scope only.
func (s *Scope) LookupLocal(name string) Object { return s.names[name] }

// Module is one source file of a program and what it declares.
type Module struct {
	Name  string // the name importers refer to it by
	Key   string // unique: the canonical path
	File  *ast.File
	Main  bool
	Scope *Scope
	// Funcs and Vars in declaration order; Structs likewise.
	Funcs   []*FuncObj
	Vars    []*Var
	Structs []*Struct
	Imports []*Module
	checked bool
}

// Mode says what an expression denotes.
type Mode uint8

const (
	ModeInvalid Mode = iota
	ModeNoValue      // a call without results
	ModeValue        // a value that is not addressable
	ModeVar          // an addressable location
	ModeConst        // a constant (Value is set)
	ModeType         // a type
	ModeBuiltin      // a builtin function
	ModeModule       // an imported module's name
	ModeFunc         // a named function (callable directly, or a value)
)

// TypeAndValue is what the checker learned about one expression.
type TypeAndValue struct {
	Mode  Mode
	Type  Type
	Value Value // ModeConst
}

// SelKind says what x.f selects.
type SelKind uint8

const (
	SelField        SelKind = iota // a field of a struct value or of the struct a pointer points to
	SelMethod                      // a method (only in calls)
	SelModuleMember                // a name in another module
)

// Selection describes x.f.
type Selection struct {
	Kind SelKind
	// SelField: the field; Deref: x is a pointer to the struct.
	Field *Field
	Deref bool
	// SelMethod: the method; AddrRecv: pass &x (x addressable, pointer
	// receiver); DerefRecv: pass *x (x a pointer, value receiver).
	Method    *FuncObj
	AddrRecv  bool
	DerefRecv bool
	// SelModuleMember: the object in the module.
	Obj Object
}

// CallKind says what a call calls.
type CallKind uint8

const (
	CallFunc     CallKind = iota // a named function
	CallMethod                   // a method: the receiver goes first
	CallIndirect                 // a function value
	CallBuiltin                  // a builtin
)

// CallInfo describes a call.
type CallInfo struct {
	Kind    CallKind
	Func    *FuncObj // CallFunc, CallMethod
	Builtin BuiltinID
	Sig     *Func
}

// ValueKind is the kind of a constant.
type ValueKind uint8

const (
	ValNone ValueKind = iota
	ValInt
	ValBool
	ValString
)

// Value is a constant value; integers have unbounded precision until they
// get a type.
type Value struct {
	Kind ValueKind
	Int  *big.Int
	Bool bool
	Str  string
}

// Uint64 is the integer as a 64-bit word (two's complement for negative
// values; the checker has made sure it fits its type).
func (v Value) Uint64() uint64 {
	switch v.Kind {
	case ValInt:
		if v.Int.Sign() < 0 {
			return uint64(v.Int.Int64())
		}
		return v.Int.Uint64()
	case ValBool:
		if v.Bool {
			return 1
		}
	}
	return 0
}

// Info is everything the checker recorded, for code generation and the
// reference evaluator.
type Info struct {
	Types      map[ast.Expr]TypeAndValue
	Uses       map[*ast.Ident]Object
	Defs       map[*ast.Ident]Object
	Selections map[*ast.Selector]*Selection
	Calls      map[*ast.Call]*CallInfo
	// Types written in the source: declarations, conversions, new.
	TypeExprs map[ast.TypeExpr]Type
	// Funcs maps declarations to their objects.
	Funcs map[*ast.FuncDecl]*FuncObj
	// Formats holds the parsed format of every printf call.
	Formats map[*ast.Call][]FormatPiece
	// RangeTypes is the type of the loop counter of every for-in over
	// integers.
	RangeTypes map[*ast.ForIn]Type
}

// TypeOf is the type of an expression.
func (in *Info) TypeOf(e ast.Expr) Type { return in.Types[e].Type }

// Program is a checked program: every module, imports before importers.
type Program struct {
	Modules []*Module
	Main    *FuncObj
	Info    *Info
	Runtime *Module
}

// Lookup finds a top-level function of a module by name.
func (m *Module) Lookup(name string) Object { return m.Scope.LookupLocal(name) }
