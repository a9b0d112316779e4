package ast

import "fmt"

// Pos is a 1-based line and column in one file; Line 0 means unknown.
type Pos struct {
	Line, Col int32
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Before reports whether p comes earlier in the file than q.
func (p Pos) Before(q Pos) bool {
	return p.Line < q.Line || p.Line == q.Line && p.Col < q.Col
}

// Node is any syntax tree node.
type Node interface{ Pos() Pos }

// Expr is an expression.
type Expr interface {
	Node
	exprNode()
}

// TypeExpr is a type as written in the source.
type TypeExpr interface {
	Node
	typeNode()
}

// Stmt is a statement.
type Stmt interface {
	Node
	stmtNode()
}

// Decl is a top-level declaration.
type Decl interface {
	Node
	declNode()
}

// Comment is one // comment, Text including the slashes.
type Comment struct {
	At   Pos
	Text string
}

// File is one parsed source file.
type File struct {
	Name     string // the file name, as given to the parser
	Src      string // the source text (diagnostics quote its lines)
	Imports  []*Import
	Decls    []Decl
	Comments []Comment // every comment, in source order
	EndLine  int32     // the last line of the file
	// Ends is the position of the last token of every statement, field and
	// declaration (the formatter keeps comments and blank lines by it).
	Ends map[Node]Pos
}

// Import is `import "path"` or `import name "path"`.
type Import struct {
	At   Pos
	Name *Ident // nil: the last element of the path
	Path *StringLit
}

// ---- expressions ----

type (
	// Ident is a name.
	Ident struct {
		At   Pos
		Name string
	}
	// IntLit is an integer literal; Raw is its text as written.
	IntLit struct {
		At    Pos
		Raw   string
		Value uint64
	}
	// CharLit is a character literal, one byte.
	CharLit struct {
		At    Pos
		Raw   string
		Value byte
	}
	// StringLit is a string literal; Value is decoded.
	StringLit struct {
		At    Pos
		Raw   string
		Value string
	}
	// BoolLit is true or false.
	BoolLit struct {
		At    Pos
		Value bool
	}
	// NilLit is nil.
	NilLit struct{ At Pos }
	// Paren is (X).
	Paren struct {
		At Pos
		X  Expr
	}
	// Unary is Op X with Op one of - ! ~ * &.
	Unary struct {
		At Pos
		Op string
		X  Expr
	}
	// Binary is X Op Y.
	Binary struct {
		X    Expr
		OpAt Pos
		Op   string
		Y    Expr
	}
	// As is the conversion X as Type.
	As struct {
		X    Expr
		AsAt Pos
		Type TypeExpr
	}
	// Call is Fun(Args).
	Call struct {
		Fun    Expr
		Lparen Pos
		Args   []Expr
		Rparen Pos
	}
	// Index is X[Index].
	Index struct {
		X      Expr
		Lbrack Pos
		Index  Expr
	}
	// SliceExpr is X[Lo:Hi]; Lo and Hi may be nil.
	SliceExpr struct {
		X      Expr
		Lbrack Pos
		Lo, Hi Expr
	}
	// Selector is X.Sel: a field, a method, or a name in a module.
	Selector struct {
		X   Expr
		Sel *Ident
	}
	// CompositeLit is Type{Elts}: a struct literal (keyed by field names or
	// positional) or an array literal.
	CompositeLit struct {
		Type      TypeExpr
		Lbrace    Pos
		Elts      []*Element
		Rbrace    Pos
		Multiline bool // the elements were on lines of their own (kept by the formatter)
	}
	// New is `new T`, `new [n]T` (a slice of n elements), with Global set
	// for `global new ...`.
	New struct {
		At     Pos
		Global bool
		Type   TypeExpr // the element type when Len != nil
		Len    Expr     // new [Len]Type: a slice
	}
	// Spawn is `spawn f(args)`: starts a thread, yields its handle.
	Spawn struct {
		At   Pos
		Call *Call
	}
	// BadExpr stands where the parser found no expression (an error was
	// reported there).
	BadExpr struct{ At Pos }
)

// Element is one element of a composite literal: Key is a field name or nil.
type Element struct {
	Key   *Ident
	Value Expr
}

func (e *Ident) Pos() Pos        { return e.At }
func (e *IntLit) Pos() Pos       { return e.At }
func (e *CharLit) Pos() Pos      { return e.At }
func (e *StringLit) Pos() Pos    { return e.At }
func (e *BoolLit) Pos() Pos      { return e.At }
func (e *NilLit) Pos() Pos       { return e.At }
func (e *Paren) Pos() Pos        { return e.At }
func (e *Unary) Pos() Pos        { return e.At }
func (e *Binary) Pos() Pos       { return e.X.Pos() }
func (e *As) Pos() Pos           { return e.X.Pos() }
func (e *Call) Pos() Pos         { return e.Fun.Pos() }
func (e *Index) Pos() Pos        { return e.X.Pos() }
func (e *SliceExpr) Pos() Pos    { return e.X.Pos() }
func (e *Selector) Pos() Pos     { return e.X.Pos() }
func (e *CompositeLit) Pos() Pos { return e.Type.Pos() }
func (e *New) Pos() Pos          { return e.At }
func (e *Spawn) Pos() Pos        { return e.At }
func (e *BadExpr) Pos() Pos      { return e.At }

func (*Ident) exprNode()        {}
func (*IntLit) exprNode()       {}
func (*CharLit) exprNode()      {}
func (*StringLit) exprNode()    {}
func (*BoolLit) exprNode()      {}
func (*NilLit) exprNode()       {}
func (*Paren) exprNode()        {}
func (*Unary) exprNode()        {}
func (*Binary) exprNode()       {}
func (*As) exprNode()           {}
func (*Call) exprNode()         {}
func (*Index) exprNode()        {}
func (*SliceExpr) exprNode()    {}
func (*Selector) exprNode()     {}
func (*CompositeLit) exprNode() {}
func (*New) exprNode()          {}
func (*Spawn) exprNode()        {}
func (*BadExpr) exprNode()      {}

// ---- types ----

type (
	// NamedType is a type name, maybe qualified by a module: int, Point,
	// sync.Mutex.
	NamedType struct {
		Module *Ident // nil: unqualified
		Name   *Ident
	}
	// PointerType is *Elem.
	PointerType struct {
		At   Pos
		Elem TypeExpr
	}
	// ArrayType is [Len]Elem.
	ArrayType struct {
		At   Pos
		Len  Expr
		Elem TypeExpr
	}
	// SliceType is []Elem.
	SliceType struct {
		At   Pos
		Elem TypeExpr
	}
	// FuncType is fn(Params) Results.
	FuncType struct {
		At      Pos
		Params  []TypeExpr
		Results []TypeExpr
	}
	// BadType stands where the parser found no type.
	BadType struct{ At Pos }
)

func (t *NamedType) Pos() Pos {
	if t.Module != nil {
		return t.Module.At
	}
	return t.Name.At
}
func (t *PointerType) Pos() Pos { return t.At }
func (t *ArrayType) Pos() Pos   { return t.At }
func (t *SliceType) Pos() Pos   { return t.At }
func (t *FuncType) Pos() Pos    { return t.At }
func (t *BadType) Pos() Pos     { return t.At }

func (*NamedType) typeNode()   {}
func (*PointerType) typeNode() {}
func (*ArrayType) typeNode()   {}
func (*SliceType) typeNode()   {}
func (*FuncType) typeNode()    {}
func (*BadType) typeNode()     {}

// ---- statements ----

type (
	// ExprStmt is an expression evaluated for its effect (a call).
	ExprStmt struct{ X Expr }
	// Assign is Lhs = Rhs or Lhs op= Rhs (Op "=", "+=", ...).
	Assign struct {
		Lhs  []Expr
		OpAt Pos
		Op   string
		Rhs  []Expr
	}
	// Define is Names := Values.
	Define struct {
		Names  []*Ident
		OpAt   Pos
		Values []Expr
	}
	// IncDec is X++ or X--.
	IncDec struct {
		X  Expr
		Op string // "++" or "--"
	}
	// VarDecl is `var Name Type = Value` (Type or Value may be nil);
	// Global: `global var` (top level only: the variable lives in global
	// memory).
	VarDecl struct {
		At     Pos
		Pub    bool
		Global bool
		Name   *Ident
		Type   TypeExpr
		Value  Expr
	}
	// ConstDecl is `const Name Type = Value` (Type may be nil).
	ConstDecl struct {
		At    Pos
		Pub   bool
		Name  *Ident
		Type  TypeExpr
		Value Expr
	}
	// If is if Cond Then else Else; Else is nil, an *If or a *Block.
	If struct {
		At   Pos
		Cond Expr
		Then *Block
		Else Stmt
	}
	// While is while Cond Body.
	While struct {
		At   Pos
		Cond Expr
		Body *Block
	}
	// ForIn is `for Key, Val in X Body` over an array, slice or string, or
	// `for Key in X..Hi Body` over integers (Hi != nil). Val may be nil;
	// Key may be nil when Val is not (written _).
	ForIn struct {
		At   Pos
		Key  *Ident
		Val  *Ident
		X    Expr
		Hi   Expr
		Body *Block
	}
	// For is `for Init; Cond; Post Body`; each part may be nil; with all
	// three nil and no semicolons it is `for Body`, a loop without end.
	For struct {
		At   Pos
		Init Stmt
		Cond Expr
		Post Stmt
		Body *Block
	}
	// Branch is break or continue.
	Branch struct {
		At  Pos
		Tok string
	}
	// Return is return Results.
	Return struct {
		At      Pos
		Results []Expr
	}
	// Block is { Stmts }.
	Block struct {
		Lbrace Pos
		Stmts  []Stmt
		Rbrace Pos
	}
)

func (s *ExprStmt) Pos() Pos  { return s.X.Pos() }
func (s *Assign) Pos() Pos    { return s.Lhs[0].Pos() }
func (s *Define) Pos() Pos    { return s.Names[0].At }
func (s *IncDec) Pos() Pos    { return s.X.Pos() }
func (s *VarDecl) Pos() Pos   { return s.At }
func (s *ConstDecl) Pos() Pos { return s.At }
func (s *If) Pos() Pos        { return s.At }
func (s *While) Pos() Pos     { return s.At }
func (s *ForIn) Pos() Pos     { return s.At }
func (s *For) Pos() Pos       { return s.At }
func (s *Branch) Pos() Pos    { return s.At }
func (s *Return) Pos() Pos    { return s.At }
func (s *Block) Pos() Pos     { return s.Lbrace }

func (*ExprStmt) stmtNode()  {}
func (*Assign) stmtNode()    {}
func (*Define) stmtNode()    {}
func (*IncDec) stmtNode()    {}
func (*VarDecl) stmtNode()   {}
func (*ConstDecl) stmtNode() {}
func (*If) stmtNode()        {}
func (*While) stmtNode()     {}
func (*ForIn) stmtNode()     {}
func (*For) stmtNode()       {}
func (*Branch) stmtNode()    {}
func (*Return) stmtNode()    {}
func (*Block) stmtNode()     {}

// ---- declarations ----

// Param is one parameter (or the receiver) of a function.
type Param struct {
	Name *Ident
	Type TypeExpr
}

// Field is one field of a struct; Pub fields are visible to other modules.
type Field struct {
	Pub  bool
	Name *Ident
	Type TypeExpr
}

type (
	// FuncDecl is `fn Name(Params) Results Body`, or a method with Recv.
	FuncDecl struct {
		At      Pos
		Pub     bool
		Recv    *Param // nil: a plain function
		Name    *Ident
		Params  []*Param
		Results []TypeExpr
		Body    *Block
	}
	// StructDecl is `struct Name { Fields }`.
	StructDecl struct {
		At     Pos
		Pub    bool
		Name   *Ident
		Fields []*Field
		Rbrace Pos
	}
)

func (d *FuncDecl) Pos() Pos   { return d.At }
func (d *StructDecl) Pos() Pos { return d.At }

func (*FuncDecl) declNode()   {}
func (*StructDecl) declNode() {}
func (*VarDecl) declNode()    {}
func (*ConstDecl) declNode()  {}

// Unparen strips parentheses.
func Unparen(e Expr) Expr {
	for {
		p, ok := e.(*Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}

func (i *Import) Pos() Pos { return i.At }
func (f *Field) Pos() Pos  { return f.Name.At }
func (p *Param) Pos() Pos  { return p.Name.At }

func (f *File) Pos() Pos { return Pos{Line: 1, Col: 1} }
