package parse

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
)

// SourceLenMax bounds a source file.
const SourceLenMax = 1 << 24

// nestingMax bounds how deep expressions, types and blocks may nest, so no
// input exhausts the stack.
const nestingMax = 300

// File parses one source file. Errors go to errs (file:line:col with the
// source line); the tree is returned even when there were errors, with the
// broken parts left out.
func File(name string, src []byte, errs *diag.List) *ast.File {
	sink := diag.NewSink(name, src, errs)
	f := &ast.File{Name: name, Src: string(src), Ends: map[ast.Node]ast.Pos{}}
	if len(src) > SourceLenMax {
		sink.Errorf(1, 1, "source file too large: %d bytes, at most %d", len(src), SourceLenMax)
		return f
	}
	p := &parser{sink: sink, file: f}
	lx := &lexer{src: string(src), line: 1, errf: p.errorf}
	for {
		t := lx.next()
		p.toks = append(p.toks, t)
		if t.kind == tEOF {
			break
		}
	}
	f.Comments = lx.comments
	f.EndLine = lx.line
	p.tok = p.toks[0]
	p.parseFile()
	return f
}

type parser struct {
	sink    *diag.Sink
	file    *ast.File
	toks    []token
	i       int
	tok     token
	prevEnd ast.Pos // position of the last token consumed
	exprLev int     // < 0: in a control clause, where T{ is not a literal
	depth   int
	lastErr int // token index of the last error, to report one per spot
}

func (p *parser) errorf(pos ast.Pos, format string, args ...any) {
	p.sink.Errorf(int(pos.Line), int(pos.Col), format, args...)
}

func (p *parser) next() {
	p.prevEnd = p.tok.pos
	if p.i < len(p.toks)-1 {
		p.i++
	}
	p.tok = p.toks[p.i]
}

func (p *parser) peek(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) is(text string) bool {
	return (p.tok.kind == tOp || p.tok.kind == tKeyword) && p.tok.text == text
}

func (p *parser) got(text string) bool {
	if p.is(text) {
		p.next()
		return true
	}
	return false
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tIdent:
		return "name " + t.text
	case tInt, tChar:
		return "literal " + t.text
	case tString:
		return "string " + t.text
	case tKeyword:
		return "keyword " + t.text
	}
	if t.text == ";" && t.auto {
		return "newline"
	}
	return fmt.Sprintf("%q", t.text)
}

// syntaxError reports "expected X, found Y" once per token.
func (p *parser) syntaxError(expected string) {
	if p.lastErr == p.i+1 {
		return
	}
	p.lastErr = p.i + 1
	p.errorf(p.tok.pos, "expected %s, found %s", expected, describe(p.tok))
}

func (p *parser) expect(text string) ast.Pos {
	pos := p.tok.pos
	if !p.got(text) {
		p.syntaxError(fmt.Sprintf("%q", text))
	}
	return pos
}

// skipTo advances to one of the given tokens (or the end), for recovery.
func (p *parser) skipTo(texts ...string) {
	for p.tok.kind != tEOF {
		for _, t := range texts {
			if p.is(t) {
				return
			}
		}
		p.next()
	}
}

// enter bounds nesting; it reports false (and an error) when too deep.
func (p *parser) enter() bool {
	p.depth++
	if p.depth > nestingMax {
		if p.depth == nestingMax+1 {
			p.errorf(p.tok.pos, "nested deeper than %d levels", nestingMax)
		}
		return false
	}
	return true
}

func (p *parser) leave() { p.depth-- }

func (p *parser) end(n ast.Node) { p.file.Ends[n] = p.prevEnd }

// ---- file and declarations ----

func (p *parser) parseFile() {
	for p.got(";") {
	}
	for p.is("import") {
		p.file.Imports = append(p.file.Imports, p.parseImport())
		p.semi()
	}
	for p.tok.kind != tEOF && !p.sink.Full() {
		start := p.i
		if d := p.parseDecl(); d != nil {
			p.file.Decls = append(p.file.Decls, d)
		}
		p.semi()
		if p.i == start {
			p.next() // never loop in place
		}
	}
}

// semi consumes the ; that ends a statement or declaration, recovering to the
// next one when something else is there.
func (p *parser) semi() {
	if p.is(")") || p.is("}") {
		return
	}
	if p.got(";") {
		for p.got(";") {
		}
		return
	}
	if p.tok.kind == tEOF {
		return
	}
	p.syntaxError("newline or ;")
	p.skipTo(";", "}")
	p.got(";")
}

func (p *parser) parseImport() *ast.Import {
	imp := &ast.Import{At: p.tok.pos}
	p.next()
	if p.tok.kind == tIdent {
		imp.Name = p.ident()
	}
	if p.tok.kind != tString {
		p.syntaxError("an import path string")
		p.skipTo(";")
		imp.Path = &ast.StringLit{At: p.tok.pos}
		return imp
	}
	imp.Path = &ast.StringLit{At: p.tok.pos, Raw: p.tok.text, Value: p.tok.str}
	p.next()
	p.end(imp)
	return imp
}

func (p *parser) parseDecl() ast.Decl {
	at := p.tok.pos
	pub := p.got("pub")
	switch {
	case p.is("fn"):
		return p.parseFunc(at, pub)
	case p.is("struct"):
		return p.parseStruct(at, pub)
	case p.is("const"):
		return p.parseConst(at, pub)
	case p.is("var"), p.is("global"):
		return p.parseVar(at, pub, true)
	case p.is("import"):
		p.errorf(p.tok.pos, "imports must come before every other declaration")
		p.parseImport()
		return nil
	}
	if hint, ok := declHints[p.tok.text]; ok && p.tok.kind == tIdent {
		p.errorf(p.tok.pos, "%s", hint)
	} else {
		p.syntaxError("a declaration (fn, struct, const, var or global var)")
	}
	p.skipTo(";")
	return nil
}

// declHints answer the words other languages start declarations with.
var declHints = map[string]string{
	"func": "Flock declares functions with fn: fn name(a int) int { ... }",
	"type": "Flock declares structs with struct Name { fields }",
	"let":  "Flock declares variables with var (or := inside functions)",
}

func (p *parser) ident() *ast.Ident {
	if p.tok.kind != tIdent {
		p.syntaxError("a name")
		return &ast.Ident{At: p.tok.pos, Name: "_"}
	}
	id := &ast.Ident{At: p.tok.pos, Name: p.tok.text}
	p.next()
	return id
}

func (p *parser) parseFunc(at ast.Pos, pub bool) *ast.FuncDecl {
	p.next() // fn
	d := &ast.FuncDecl{At: at, Pub: pub}
	if p.is("(") {
		p.next()
		recv := &ast.Param{Name: p.ident()}
		recv.Type = p.parseType()
		d.Recv = recv
		p.expect(")")
	}
	d.Name = p.ident()
	p.expect("(")
	d.Params = p.parseParams()
	p.expect(")")
	if p.is("-") && p.peek(1).text == ">" {
		p.errorf(p.tok.pos, "results follow the parameters without an arrow: fn f(a int) int")
		p.next()
		p.next()
	}
	if !p.is("{") {
		d.Results = p.parseResults()
	}
	if !p.is("{") {
		p.syntaxError("{ to start the function body")
		p.skipTo("{", ";")
	}
	if p.is("{") {
		d.Body = p.parseBlock()
	} else {
		d.Body = &ast.Block{Lbrace: p.tok.pos, Rbrace: p.tok.pos}
	}
	p.end(d)
	return d
}

// parseParams reads `a int, b, c string` (names sharing a type may be
// grouped, as in Go).
func (p *parser) parseParams() []*ast.Param {
	var out []*ast.Param
	var pending []*ast.Ident
	for !p.is(")") && p.tok.kind != tEOF {
		name := p.ident()
		if p.is(",") {
			pending = append(pending, name)
			p.next()
			continue
		}
		if p.is(")") {
			pending = append(pending, name)
			break
		}
		t := p.parseType()
		for _, n := range append(pending, name) {
			out = append(out, &ast.Param{Name: n, Type: t})
		}
		pending = nil
		if !p.got(",") {
			break
		}
	}
	for _, n := range pending {
		p.errorf(n.At, "parameter %s needs a type", n.Name)
	}
	return out
}

func (p *parser) parseResults() []ast.TypeExpr {
	if !p.is("(") {
		return []ast.TypeExpr{p.parseType()}
	}
	p.next()
	var out []ast.TypeExpr
	for !p.is(")") && p.tok.kind != tEOF {
		out = append(out, p.parseType())
		if !p.got(",") {
			break
		}
	}
	p.expect(")")
	return out
}

func (p *parser) parseStruct(at ast.Pos, pub bool) *ast.StructDecl {
	p.next()
	d := &ast.StructDecl{At: at, Pub: pub, Name: p.ident()}
	p.expect("{")
	for p.got(";") {
	}
	for !p.is("}") && p.tok.kind != tEOF {
		start := p.i
		pub := p.got("pub")
		var names []*ast.Ident
		names = append(names, p.ident())
		for p.got(",") {
			names = append(names, p.ident())
		}
		t := p.parseType()
		for _, n := range names {
			f := &ast.Field{Pub: pub, Name: n, Type: t}
			d.Fields = append(d.Fields, f)
			p.end(f)
		}
		p.semi()
		if p.i == start {
			p.next()
		}
	}
	d.Rbrace = p.expect("}")
	p.end(d)
	return d
}

func (p *parser) parseConst(at ast.Pos, pub bool) *ast.ConstDecl {
	p.next()
	d := &ast.ConstDecl{At: at, Pub: pub, Name: p.ident()}
	if !p.is("=") {
		d.Type = p.parseType()
	}
	p.expect("=")
	d.Value = p.parseExpr()
	p.end(d)
	return d
}

func (p *parser) parseVar(at ast.Pos, pub, top bool) *ast.VarDecl {
	d := &ast.VarDecl{At: at, Pub: pub}
	if p.is("global") {
		if !top {
			p.errorf(p.tok.pos, "global var is only allowed at the top level; inside a function allocate with global new")
		}
		d.Global = true
		p.next()
	}
	p.expect("var")
	d.Name = p.ident()
	if !p.is("=") && !p.is(";") && !p.is("}") {
		d.Type = p.parseType()
	}
	if p.got("=") {
		d.Value = p.parseExpr()
	}
	if d.Type == nil && d.Value == nil {
		p.errorf(d.Name.At, "var %s needs a type or a value", d.Name.Name)
	}
	p.end(d)
	return d
}

// ---- types ----

func (p *parser) parseType() ast.TypeExpr {
	if !p.enter() {
		p.leave()
		return &ast.BadType{At: p.tok.pos}
	}
	defer p.leave()
	at := p.tok.pos
	switch {
	case p.tok.kind == tIdent:
		name := p.ident()
		if p.is(".") && p.peek(1).kind == tIdent {
			p.next()
			return &ast.NamedType{Module: name, Name: p.ident()}
		}
		return &ast.NamedType{Name: name}
	case p.is("*"):
		p.next()
		return &ast.PointerType{At: at, Elem: p.parseType()}
	case p.is("["):
		p.next()
		if p.got("]") {
			return &ast.SliceType{At: at, Elem: p.parseType()}
		}
		n := p.parseExpr()
		p.expect("]")
		return &ast.ArrayType{At: at, Len: n, Elem: p.parseType()}
	case p.is("fn"):
		p.next()
		ft := &ast.FuncType{At: at}
		p.expect("(")
		for !p.is(")") && p.tok.kind != tEOF {
			ft.Params = append(ft.Params, p.parseType())
			if !p.got(",") {
				break
			}
		}
		p.expect(")")
		if p.startsType() {
			ft.Results = p.parseResults()
		}
		return ft
	}
	p.syntaxError("a type")
	return &ast.BadType{At: at}
}

// startsType reports whether the token can begin a result type after fn(...).
func (p *parser) startsType() bool {
	return p.tok.kind == tIdent || p.is("*") || p.is("[") || p.is("fn") || p.is("(")
}

// ---- statements ----

func (p *parser) parseBlock() *ast.Block {
	b := &ast.Block{Lbrace: p.expect("{")}
	if !p.enter() {
		p.leave()
		p.skipBalanced()
		b.Rbrace = p.prevEnd
		return b
	}
	defer p.leave()
	b.Stmts = p.parseStmtList()
	b.Rbrace = p.expect("}")
	return b
}

// skipBalanced skips to the } that closes the current block.
func (p *parser) skipBalanced() {
	depth := 1
	for p.tok.kind != tEOF {
		switch {
		case p.is("{"):
			depth++
		case p.is("}"):
			depth--
			if depth == 0 {
				p.next()
				return
			}
		}
		p.next()
	}
}

func (p *parser) parseStmtList() []ast.Stmt {
	var out []ast.Stmt
	for p.got(";") {
	}
	for !p.is("}") && p.tok.kind != tEOF && !p.sink.Full() {
		start := p.i
		if s := p.parseStmt(); s != nil {
			out = append(out, s)
		}
		p.semi()
		if p.i == start {
			p.next()
		}
	}
	return out
}

func (p *parser) parseStmt() ast.Stmt {
	at := p.tok.pos
	switch {
	case p.is("var"):
		return p.parseVar(at, false, false)
	case p.is("global"):
		return p.parseVar(at, false, false)
	case p.is("const"):
		return p.parseConst(at, false)
	case p.is("if"):
		return p.parseIf()
	case p.is("while"):
		p.next()
		s := &ast.While{At: at, Cond: p.parseCond()}
		s.Body = p.parseBody()
		p.end(s)
		return s
	case p.is("for"):
		return p.parseFor()
	case p.is("break"), p.is("continue"):
		s := &ast.Branch{At: at, Tok: p.tok.text}
		p.next()
		p.end(s)
		return s
	case p.is("return"):
		p.next()
		s := &ast.Return{At: at}
		if !p.is(";") && !p.is("}") {
			s.Results = p.parseExprList()
		}
		p.end(s)
		return s
	case p.is("{"):
		b := p.parseBlock()
		p.end(b)
		return b
	case p.is("fn"), p.is("struct"), p.is("pub"), p.is("import"):
		p.errorf(at, "%s declarations belong at the top level", p.tok.text)
		p.skipTo(";", "}")
		return nil
	}
	s := p.parseSimpleStmt()
	if s != nil {
		p.end(s)
	}
	return s
}

// parseBody is the block of a loop or an if.
func (p *parser) parseBody() *ast.Block {
	if !p.is("{") {
		p.syntaxError("{")
		p.skipTo("{", ";", "}")
		if !p.is("{") {
			return &ast.Block{Lbrace: p.tok.pos, Rbrace: p.tok.pos}
		}
	}
	return p.parseBlock()
}

// parseCond is an expression in a control clause: T{ there starts the
// body, not a composite literal.
func (p *parser) parseCond() ast.Expr {
	old := p.exprLev
	p.exprLev = -1
	e := p.parseExpr()
	p.exprLev = old
	return e
}

func (p *parser) parseIf() *ast.If {
	s := &ast.If{At: p.tok.pos}
	p.next()
	s.Cond = p.parseCond()
	s.Then = p.parseBody()
	if p.is("else") {
		p.next()
		switch {
		case p.is("if"):
			if p.enter() {
				s.Else = p.parseIf()
			} else {
				p.skipTo(";", "}")
			}
			p.leave()
		case p.is("{"):
			s.Else = p.parseBlock()
		default:
			p.syntaxError("if or { after else")
		}
	}
	p.end(s)
	return s
}

func (p *parser) parseFor() ast.Stmt {
	at := p.tok.pos
	p.next()
	if p.is("{") {
		s := &ast.For{At: at, Body: p.parseBlock()}
		p.end(s)
		return s
	}
	// for k in x / for k, v in x / for _, v in x
	if p.tok.kind == tIdent && (p.peek(1).text == "in" || p.peek(1).text == "," && p.peek(2).kind == tIdent && p.peek(3).text == "in") {
		s := &ast.ForIn{At: at}
		first := p.ident()
		if p.got(",") {
			s.Val = p.ident()
		}
		if first.Name != "_" {
			s.Key = first
		}
		p.expect("in")
		old := p.exprLev
		p.exprLev = -1
		s.X = p.parseExpr()
		if p.got("..") {
			s.Hi = p.parseExpr()
			if s.Val != nil {
				p.errorf(s.Val.At, "a range of integers has one loop variable")
			}
		}
		p.exprLev = old
		s.Body = p.parseBody()
		p.end(s)
		return s
	}
	s := &ast.For{At: at}
	old := p.exprLev
	p.exprLev = -1
	var init ast.Stmt
	if !p.is(";") {
		init = p.parseSimpleStmt()
	}
	if p.is("{") {
		// for cond { ... }
		es, ok := init.(*ast.ExprStmt)
		if !ok && init != nil {
			p.errorf(init.Pos(), "a for loop with one clause needs a condition")
		}
		if es != nil {
			s.Cond = es.X
		}
		p.exprLev = old
		s.Body = p.parseBlock()
		p.end(s)
		return s
	}
	s.Init = init
	p.expect(";")
	if !p.is(";") {
		s.Cond = p.parseExpr()
	}
	p.expect(";")
	if !p.is("{") {
		s.Post = p.parseSimpleStmt()
	}
	p.exprLev = old
	s.Body = p.parseBody()
	p.end(s)
	return s
}

var assignOps = map[string]bool{
	"=": true, "+=": true, "-=": true, "*=": true, "/=": true, "%=": true,
	"&=": true, "|=": true, "^=": true, "<<=": true, ">>=": true,
}

func (p *parser) parseSimpleStmt() ast.Stmt {
	lhs := p.parseExprList()
	switch {
	case p.is(":="):
		at := p.tok.pos
		p.next()
		d := &ast.Define{OpAt: at, Values: p.parseExprList()}
		for _, e := range lhs {
			id, ok := e.(*ast.Ident)
			if !ok {
				p.errorf(e.Pos(), "the left side of := must be names")
				id = &ast.Ident{At: e.Pos(), Name: "_"}
			}
			d.Names = append(d.Names, id)
		}
		return d
	case p.tok.kind == tOp && assignOps[p.tok.text]:
		op, at := p.tok.text, p.tok.pos
		p.next()
		return &ast.Assign{Lhs: lhs, OpAt: at, Op: op, Rhs: p.parseExprList()}
	case p.is("++"), p.is("--"):
		op := p.tok.text
		p.next()
		if len(lhs) != 1 {
			p.errorf(lhs[0].Pos(), "%s applies to one operand", op)
		}
		return &ast.IncDec{X: lhs[0], Op: op}
	}
	if len(lhs) > 1 {
		p.syntaxError(":= or =")
	}
	return &ast.ExprStmt{X: lhs[0]}
}

// ---- expressions ----

func (p *parser) parseExprList() []ast.Expr {
	list := []ast.Expr{p.parseExpr()}
	for p.got(",") {
		list = append(list, p.parseExpr())
	}
	return list
}

var precedence = map[string]int{
	"||": 1,
	"&&": 2,
	"==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
	"+": 4, "-": 4, "|": 4, "^": 4,
	"*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5, "&": 5,
}

func (p *parser) parseExpr() ast.Expr {
	if !p.enter() {
		p.leave()
		bad := &ast.BadExpr{At: p.tok.pos}
		p.skipTo(";", "}")
		return bad
	}
	defer p.leave()
	return p.parseBinary(1)
}

func (p *parser) parseBinary(prec int) ast.Expr {
	x := p.parseAs()
	for {
		if p.tok.kind != tOp {
			return x
		}
		op := p.tok.text
		q, ok := precedence[op]
		if !ok || q < prec {
			return x
		}
		at := p.tok.pos
		p.next()
		y := p.parseBinary(q + 1)
		x = &ast.Binary{X: x, OpAt: at, Op: op, Y: y}
	}
}

func (p *parser) parseAs() ast.Expr {
	x := p.parseUnary()
	for p.is("as") {
		at := p.tok.pos
		p.next()
		x = &ast.As{X: x, AsAt: at, Type: p.parseType()}
	}
	return x
}

func (p *parser) parseUnary() ast.Expr {
	if !p.enter() {
		p.leave()
		bad := &ast.BadExpr{At: p.tok.pos}
		p.skipTo(";", "}")
		return bad
	}
	defer p.leave()
	at := p.tok.pos
	switch {
	case p.tok.kind == tOp && (p.tok.text == "-" || p.tok.text == "!" || p.tok.text == "~" || p.tok.text == "*" || p.tok.text == "&"):
		op := p.tok.text
		p.next()
		return &ast.Unary{At: at, Op: op, X: p.parseUnary()}
	case p.tok.kind == tOp && p.tok.text == "^":
		p.errorf(at, "bitwise not is ~x")
		p.next()
		return &ast.Unary{At: at, Op: "~", X: p.parseUnary()}
	case p.is("new"):
		return p.parseNew(at, false)
	case p.is("global"):
		p.next()
		if !p.is("new") {
			p.syntaxError("new after global (global new T)")
			return &ast.BadExpr{At: at}
		}
		return p.parseNew(at, true)
	case p.is("spawn"):
		p.next()
		x := p.parsePrimary()
		call, ok := x.(*ast.Call)
		if !ok {
			p.errorf(x.Pos(), "spawn needs a function call: spawn f(args)")
			call = &ast.Call{Fun: x, Lparen: x.Pos(), Rparen: x.Pos()}
		}
		return &ast.Spawn{At: at, Call: call}
	}
	return p.parsePrimary()
}

func (p *parser) parseNew(at ast.Pos, global bool) ast.Expr {
	p.next() // new
	n := &ast.New{At: at, Global: global}
	if p.is("[") && !(p.peek(1).text == "]") {
		p.next()
		n.Len = p.parseExpr()
		p.expect("]")
	}
	n.Type = p.parseType()
	return n
}

func (p *parser) parsePrimary() ast.Expr {
	x := p.parseOperand()
	for {
		switch {
		case p.is("."):
			p.next()
			x = &ast.Selector{X: x, Sel: p.ident()}
		case p.is("("):
			x = p.parseCall(x)
		case p.is("["):
			x = p.parseIndex(x)
		case p.is("{") && p.exprLev >= 0 && isTypeName(x):
			x = p.parseComposite(toType(x))
		default:
			return x
		}
	}
}

// isTypeName reports whether x could name a struct type: T or mod.T.
func isTypeName(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.Ident:
		return true
	case *ast.Selector:
		_, ok := x.X.(*ast.Ident)
		return ok
	}
	return false
}

func toType(x ast.Expr) ast.TypeExpr {
	switch x := x.(type) {
	case *ast.Ident:
		return &ast.NamedType{Name: x}
	case *ast.Selector:
		return &ast.NamedType{Module: x.X.(*ast.Ident), Name: x.Sel}
	}
	panic(fmt.Sprintf("parse: toType of %T", x))
}

func (p *parser) parseCall(fun ast.Expr) ast.Expr {
	c := &ast.Call{Fun: fun, Lparen: p.tok.pos}
	p.next()
	old := p.exprLev
	p.exprLev = 0
	for p.got(";") {
	}
	for !p.is(")") && p.tok.kind != tEOF {
		c.Args = append(c.Args, p.parseExpr())
		if !p.got(",") {
			break
		}
		for p.got(";") {
		}
	}
	p.exprLev = old
	c.Rparen = p.expect(")")
	return c
}

func (p *parser) parseIndex(x ast.Expr) ast.Expr {
	at := p.tok.pos
	p.next()
	old := p.exprLev
	p.exprLev = 0
	defer func() { p.exprLev = old }()
	var lo ast.Expr
	if !p.is(":") {
		lo = p.parseExpr()
	}
	if p.got(":") {
		s := &ast.SliceExpr{X: x, Lbrack: at, Lo: lo}
		if !p.is("]") {
			s.Hi = p.parseExpr()
		}
		p.expect("]")
		return s
	}
	p.expect("]")
	return &ast.Index{X: x, Lbrack: at, Index: lo}
}

func (p *parser) parseComposite(t ast.TypeExpr) ast.Expr {
	c := &ast.CompositeLit{Type: t, Lbrace: p.tok.pos}
	p.next()
	old := p.exprLev
	p.exprLev = 0
	sawNewline := false
	for p.got(";") {
		sawNewline = true
	}
	for !p.is("}") && p.tok.kind != tEOF {
		el := &ast.Element{}
		if p.tok.kind == tIdent && p.peek(1).text == ":" {
			el.Key = p.ident()
			p.next()
		}
		el.Value = p.parseExpr()
		c.Elts = append(c.Elts, el)
		p.end(el.Value)
		if !p.got(",") {
			if p.got(";") {
				sawNewline = true
				for p.got(";") {
				}
				if !p.is("}") {
					p.syntaxError(", or }")
				}
			}
			break
		}
		for p.got(";") {
			sawNewline = true
		}
	}
	p.exprLev = old
	c.Rbrace = p.expect("}")
	c.Multiline = sawNewline || c.Rbrace.Line > c.Lbrace.Line
	return c
}

func (p *parser) parseOperand() ast.Expr {
	t := p.tok
	switch t.kind {
	case tIdent:
		p.next()
		return &ast.Ident{At: t.pos, Name: t.text}
	case tInt:
		p.next()
		return &ast.IntLit{At: t.pos, Raw: t.text, Value: t.val}
	case tChar:
		p.next()
		return &ast.CharLit{At: t.pos, Raw: t.text, Value: byte(t.val)}
	case tString:
		p.next()
		return &ast.StringLit{At: t.pos, Raw: t.text, Value: t.str}
	case tKeyword:
		switch t.text {
		case "true", "false":
			p.next()
			return &ast.BoolLit{At: t.pos, Value: t.text == "true"}
		case "nil":
			p.next()
			return &ast.NilLit{At: t.pos}
		}
	case tOp:
		switch t.text {
		case "(":
			p.next()
			old := p.exprLev
			p.exprLev = 0
			x := p.parseExpr()
			p.exprLev = old
			p.expect(")")
			return &ast.Paren{At: t.pos, X: x}
		case "[":
			// an array literal: [N]T{...}
			typ := p.parseType()
			if !p.is("{") {
				p.syntaxError("{ after the array type of a literal")
				return &ast.BadExpr{At: t.pos}
			}
			return p.parseComposite(typ)
		}
	}
	p.syntaxError("an expression")
	// Leave ; } ) for the caller to recover at; skip anything else.
	if !p.is(";") && !p.is("}") && !p.is(")") && t.kind != tEOF {
		p.next()
	}
	return &ast.BadExpr{At: t.pos}
}
