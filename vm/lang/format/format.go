package format

import (
	"bytes"
	"strings"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
	"github.com/flockvm/flock/vm/lang/parse"
)

// Source formats a program: it parses src and prints it in the canonical
// layout. It fails (with every syntax error) rather than print a program it
// could not read completely.
func Source(name string, src []byte) ([]byte, error) {
	var errs diag.List
	f := parse.File(name, src, &errs)
	if len(errs) > 0 {
		return nil, errs.Sort()
	}
	return File(f), nil
}

// File prints a parsed file in the canonical layout.
func File(f *ast.File) []byte {
	p := &printer{comments: f.Comments, ends: f.Ends}
	p.file(f)
	out := bytes.TrimRight(p.buf.Bytes(), "\n")
	return append(out, '\n')
}

const indentText = "    "

type printer struct {
	buf      bytes.Buffer
	indent   int
	comments []ast.Comment
	ci       int // the next comment to print
	ends     map[ast.Node]ast.Pos
	prevLine int32 // source line of the last item printed; 0 at the start of a block
}

func (p *printer) write(s string) { p.buf.WriteString(s) }

func (p *printer) newline() {
	p.buf.WriteByte('\n')
}

func (p *printer) startLine() {
	for range p.indent {
		p.write(indentText)
	}
}

func (p *printer) end(n ast.Node) ast.Pos {
	if e, ok := p.ends[n]; ok {
		return e
	}
	return n.Pos()
}

// gap writes one blank line if the source had at least one between the
// previous item and an item starting at line.
func (p *printer) gap(line int32) {
	if p.prevLine > 0 && line > p.prevLine+1 {
		p.newline()
	}
}

// flush prints, each on its own line, every comment before pos.
func (p *printer) flush(pos ast.Pos) {
	for p.ci < len(p.comments) && p.comments[p.ci].At.Before(pos) {
		c := p.comments[p.ci]
		p.gap(c.At.Line)
		p.startLine()
		p.write(c.Text)
		p.newline()
		p.prevLine = c.At.Line
		p.ci++
	}
}

// trailing appends the comment on source line line, if there is one, to the
// line just printed.
func (p *printer) trailing(line int32) {
	if p.ci < len(p.comments) && p.comments[p.ci].At.Line == line {
		p.write(" ")
		p.write(p.comments[p.ci].Text)
		p.ci++
	}
}

// item prints one line-level item (a statement, declaration or field): the
// comments before it, a blank line kept from the source, the item itself,
// and a comment at the end of its last line.
func (p *printer) item(n ast.Node, print func()) {
	p.flush(n.Pos())
	p.gap(n.Pos().Line)
	p.startLine()
	print()
	end := p.end(n)
	p.trailing(end.Line)
	p.newline()
	p.prevLine = end.Line
}

func (p *printer) file(f *ast.File) {
	for _, imp := range f.Imports {
		p.item(imp, func() {
			p.write("import ")
			if imp.Name != nil {
				p.write(imp.Name.Name + " ")
			}
			p.write(imp.Path.Raw)
		})
	}
	for i, d := range f.Decls {
		// Functions and structs stand apart from their neighbours.
		if i > 0 || len(f.Imports) > 0 {
			prevBig := i > 0 && isBig(f.Decls[i-1])
			if (isBig(d) || prevBig || i == 0) && p.prevLine > 0 && !p.blankPending(d) {
				p.newline()
			}
		}
		p.item(d, func() { p.decl(d) })
	}
	p.flush(ast.Pos{Line: 1 << 30})
}

// blankPending reports whether gap will print a blank line before d (or
// its leading comments) anyway.
func (p *printer) blankPending(d ast.Decl) bool {
	line := d.Pos().Line
	if p.ci < len(p.comments) && p.comments[p.ci].At.Before(d.Pos()) {
		line = p.comments[p.ci].At.Line
	}
	return line > p.prevLine+1
}

func isBig(d ast.Decl) bool {
	switch d.(type) {
	case *ast.FuncDecl, *ast.StructDecl:
		return true
	}
	return false
}

func (p *printer) decl(d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		p.funcDecl(d)
	case *ast.StructDecl:
		p.structDecl(d)
	case *ast.VarDecl:
		p.varDecl(d)
	case *ast.ConstDecl:
		p.constDecl(d)
	}
}

func pubPrefix(pub bool) string {
	if pub {
		return "pub "
	}
	return ""
}

func (p *printer) funcDecl(d *ast.FuncDecl) {
	p.write(pubPrefix(d.Pub) + "fn ")
	if d.Recv != nil {
		p.write("(" + d.Recv.Name.Name + " " + typeString(d.Recv.Type) + ") ")
	}
	p.write(d.Name.Name + "(")
	p.params(d.Params)
	p.write(")")
	p.results(d.Results)
	p.write(" ")
	p.block(d.Body)
}

// params prints parameters, keeping names that shared a type grouped.
func (p *printer) params(ps []*ast.Param) {
	for i, prm := range ps {
		if i > 0 {
			p.write(", ")
		}
		p.write(prm.Name.Name)
		if i+1 < len(ps) && ps[i+1].Type == prm.Type {
			continue
		}
		p.write(" " + typeString(prm.Type))
	}
}

func (p *printer) results(rs []ast.TypeExpr) {
	switch len(rs) {
	case 0:
	case 1:
		p.write(" " + typeString(rs[0]))
	default:
		p.write(" (")
		for i, r := range rs {
			if i > 0 {
				p.write(", ")
			}
			p.write(typeString(r))
		}
		p.write(")")
	}
}

func (p *printer) structDecl(d *ast.StructDecl) {
	p.write(pubPrefix(d.Pub) + "struct " + d.Name.Name + " {")
	if len(d.Fields) == 0 && !p.commentsBefore(d.Rbrace) {
		p.write("}")
		return
	}
	p.newline()
	p.indent++
	p.prevLine = 0
	// Group fields that shared a type (x, y int) back together, and line
	// the types up in one column.
	type line struct {
		names string
		typ   string
		first *ast.Field
		last  *ast.Field
	}
	var lines []line
	for i := 0; i < len(d.Fields); {
		f := d.Fields[i]
		names := pubPrefix(f.Pub) + f.Name.Name
		j := i + 1
		for j < len(d.Fields) && d.Fields[j].Type == f.Type {
			names += ", " + d.Fields[j].Name.Name
			j++
		}
		lines = append(lines, line{names: names, typ: typeString(f.Type), first: f, last: d.Fields[j-1]})
		i = j
	}
	// Types line up within a run of fields with no blank line or comment
	// between them.
	widths := make([]int, len(lines))
	for i := 0; i < len(lines); {
		j := i + 1
		for j < len(lines) && p.end(lines[j-1].last).Line+1 == lines[j].first.Pos().Line {
			j++
		}
		w := 0
		for _, l := range lines[i:j] {
			w = max(w, len(l.names))
		}
		for k := i; k < j; k++ {
			widths[k] = w
		}
		i = j
	}
	for i, l := range lines {
		width := widths[i]
		p.flush(l.first.Pos())
		p.gap(l.first.Pos().Line)
		p.startLine()
		p.write(l.names + strings.Repeat(" ", width-len(l.names)+1) + l.typ)
		end := p.end(l.last)
		p.trailing(end.Line)
		p.newline()
		p.prevLine = end.Line
	}
	p.flushInside(d.Rbrace)
	p.indent--
	p.startLine()
	p.write("}")
}

func (p *printer) commentsBefore(pos ast.Pos) bool {
	return p.ci < len(p.comments) && p.comments[p.ci].At.Before(pos)
}

// flushInside prints the comments before the closing brace at pos, without
// a blank line before the brace.
func (p *printer) flushInside(pos ast.Pos) {
	p.flush(pos)
}

func (p *printer) varDecl(d *ast.VarDecl) {
	p.write(pubPrefix(d.Pub))
	if d.Global {
		p.write("global ")
	}
	p.write("var " + d.Name.Name)
	if d.Type != nil {
		p.write(" " + typeString(d.Type))
	}
	if d.Value != nil {
		p.write(" = ")
		p.expr(d.Value)
	}
}

func (p *printer) constDecl(d *ast.ConstDecl) {
	p.write(pubPrefix(d.Pub) + "const " + d.Name.Name)
	if d.Type != nil {
		p.write(" " + typeString(d.Type))
	}
	p.write(" = ")
	p.expr(d.Value)
}

// block prints { statements } starting on the current line.
func (p *printer) block(b *ast.Block) {
	if len(b.Stmts) == 0 && !p.commentsBefore(b.Rbrace) {
		p.write("{}")
		return
	}
	p.write("{")
	p.newline()
	p.indent++
	p.prevLine = 0
	for _, s := range b.Stmts {
		p.item(s, func() { p.stmt(s) })
	}
	p.flushInside(b.Rbrace)
	p.indent--
	p.startLine()
	p.write("}")
}

func (p *printer) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.ExprStmt:
		p.expr(s.X)
	case *ast.Assign:
		p.exprList(s.Lhs)
		p.write(" " + s.Op + " ")
		p.exprList(s.Rhs)
	case *ast.Define:
		for i, n := range s.Names {
			if i > 0 {
				p.write(", ")
			}
			p.write(n.Name)
		}
		p.write(" := ")
		p.exprList(s.Values)
	case *ast.IncDec:
		p.expr(s.X)
		p.write(s.Op)
	case *ast.VarDecl:
		p.varDecl(s)
	case *ast.ConstDecl:
		p.constDecl(s)
	case *ast.If:
		p.ifStmt(s)
	case *ast.While:
		p.write("while ")
		p.expr(s.Cond)
		p.write(" ")
		p.block(s.Body)
	case *ast.ForIn:
		p.write("for ")
		switch {
		case s.Key != nil && s.Val != nil:
			p.write(s.Key.Name + ", " + s.Val.Name)
		case s.Key != nil:
			p.write(s.Key.Name)
		case s.Val != nil:
			p.write("_, " + s.Val.Name)
		default:
			p.write("_")
		}
		p.write(" in ")
		p.expr(s.X)
		if s.Hi != nil {
			p.write("..")
			p.expr(s.Hi)
		}
		p.write(" ")
		p.block(s.Body)
	case *ast.For:
		p.forStmt(s)
	case *ast.Branch:
		p.write(s.Tok)
	case *ast.Return:
		p.write("return")
		if len(s.Results) > 0 {
			p.write(" ")
			p.exprList(s.Results)
		}
	case *ast.Block:
		p.block(s)
	}
}

func (p *printer) ifStmt(s *ast.If) {
	p.write("if ")
	p.expr(s.Cond)
	p.write(" ")
	p.block(s.Then)
	switch e := s.Else.(type) {
	case *ast.If:
		p.write(" else ")
		p.ifStmt(e)
	case *ast.Block:
		p.write(" else ")
		p.block(e)
	}
}

func (p *printer) forStmt(s *ast.For) {
	p.write("for ")
	switch {
	case s.Init == nil && s.Post == nil && s.Cond == nil:
	case s.Init == nil && s.Post == nil:
		p.expr(s.Cond)
		p.write(" ")
	default:
		if s.Init != nil {
			p.stmt(s.Init)
		}
		p.write("; ")
		if s.Cond != nil {
			p.expr(s.Cond)
		}
		p.write(";")
		if s.Post != nil {
			p.write(" ")
			p.stmt(s.Post)
		}
		p.write(" ")
	}
	p.block(s.Body)
}

func (p *printer) exprList(list []ast.Expr) {
	for i, e := range list {
		if i > 0 {
			p.write(", ")
		}
		p.expr(e)
	}
}

func (p *printer) expr(e ast.Expr) {
	switch e := e.(type) {
	case *ast.Ident:
		p.write(e.Name)
	case *ast.IntLit:
		p.write(e.Raw)
	case *ast.CharLit:
		p.write(e.Raw)
	case *ast.StringLit:
		p.write(e.Raw)
	case *ast.BoolLit:
		if e.Value {
			p.write("true")
		} else {
			p.write("false")
		}
	case *ast.NilLit:
		p.write("nil")
	case *ast.Paren:
		p.write("(")
		p.expr(e.X)
		p.write(")")
	case *ast.Unary:
		p.write(e.Op)
		p.expr(e.X)
	case *ast.Binary:
		p.expr(e.X)
		p.write(" " + e.Op + " ")
		p.expr(e.Y)
	case *ast.As:
		p.expr(e.X)
		p.write(" as " + typeString(e.Type))
	case *ast.Call:
		p.expr(e.Fun)
		p.write("(")
		p.exprList(e.Args)
		p.write(")")
	case *ast.Index:
		p.expr(e.X)
		p.write("[")
		p.expr(e.Index)
		p.write("]")
	case *ast.SliceExpr:
		p.expr(e.X)
		p.write("[")
		if e.Lo != nil {
			p.expr(e.Lo)
		}
		p.write(":")
		if e.Hi != nil {
			p.expr(e.Hi)
		}
		p.write("]")
	case *ast.Selector:
		p.expr(e.X)
		p.write("." + e.Sel.Name)
	case *ast.CompositeLit:
		p.composite(e)
	case *ast.New:
		if e.Global {
			p.write("global ")
		}
		p.write("new ")
		if e.Len != nil {
			p.write("[")
			p.expr(e.Len)
			p.write("]")
		}
		p.write(typeString(e.Type))
	case *ast.Spawn:
		p.write("spawn ")
		p.expr(e.Call)
	case *ast.BadExpr:
		p.write("BAD")
	}
}

func (p *printer) composite(e *ast.CompositeLit) {
	p.write(typeString(e.Type) + "{")
	element := func(el *ast.Element) {
		if el.Key != nil {
			p.write(el.Key.Name + ": ")
		}
		p.expr(el.Value)
	}
	if !e.Multiline || len(e.Elts) == 0 {
		for i, el := range e.Elts {
			if i > 0 {
				p.write(", ")
			}
			element(el)
		}
		p.write("}")
		return
	}
	p.newline()
	p.indent++
	saved := p.prevLine
	p.prevLine = 0
	for _, el := range e.Elts {
		p.item(el.Value, func() {
			element(el)
			p.write(",")
		})
	}
	p.flushInside(e.Rbrace)
	p.indent--
	p.prevLine = saved
	p.startLine()
	p.write("}")
}

// typeString is a type as written in canonical form.
func typeString(t ast.TypeExpr) string {
	var sb strings.Builder
	writeType(&sb, t)
	return sb.String()
}

func writeType(sb *strings.Builder, t ast.TypeExpr) {
	switch t := t.(type) {
	case *ast.NamedType:
		if t.Module != nil {
			sb.WriteString(t.Module.Name + ".")
		}
		sb.WriteString(t.Name.Name)
	case *ast.PointerType:
		sb.WriteString("*")
		writeType(sb, t.Elem)
	case *ast.SliceType:
		sb.WriteString("[]")
		writeType(sb, t.Elem)
	case *ast.ArrayType:
		sb.WriteString("[")
		p := &printer{}
		p.expr(t.Len)
		sb.Write(p.buf.Bytes())
		sb.WriteString("]")
		writeType(sb, t.Elem)
	case *ast.FuncType:
		sb.WriteString("fn(")
		for i, x := range t.Params {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeType(sb, x)
		}
		sb.WriteString(")")
		switch len(t.Results) {
		case 0:
		case 1:
			sb.WriteString(" ")
			writeType(sb, t.Results[0])
		default:
			sb.WriteString(" (")
			for i, x := range t.Results {
				if i > 0 {
					sb.WriteString(", ")
				}
				writeType(sb, x)
			}
			sb.WriteString(")")
		}
	case *ast.BadType:
		sb.WriteString("BAD")
	}
}
