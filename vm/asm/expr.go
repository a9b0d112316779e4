package asm

import "fmt"

type exprKind uint8

const (
	exInt exprKind = iota
	exName
	exLen
	exNeg
	exAdd
	exSub
	exMul
	exDiv
	exMod
)

// expr is an operand expression: integers, names, len(name), unary minus,
// + - * / % (signed, 64-bit wrapping) and parentheses.
type expr struct {
	kind exprKind
	val  uint64
	name string
	col  int
	l, r *expr
}

// exprParser reads an expression from a token slice.
type exprParser struct {
	toks  []token
	i     int
	end   int // column after the last token, for "missing operand" errors
	depth int // nesting of parentheses and unary minus
}

// exprDepthMax bounds expression nesting, so no input exhausts the stack.
const exprDepthMax = 64

func (p *exprParser) peek() *token {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *exprParser) isPunct(s string) bool {
	t := p.peek()
	return t != nil && t.kind == tokPunct && t.text == s
}

func (p *exprParser) parseExpr() (*expr, *colError) {
	l, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for p.isPunct("+") || p.isPunct("-") {
		op := p.peek()
		p.i++
		r, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		k := exAdd
		if op.text == "-" {
			k = exSub
		}
		l = &expr{kind: k, l: l, r: r, col: op.col}
	}
	return l, nil
}

func (p *exprParser) parseTerm() (*expr, *colError) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isPunct("*") || p.isPunct("/") || p.isPunct("%") {
		op := p.peek()
		p.i++
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		k := map[string]exprKind{"*": exMul, "/": exDiv, "%": exMod}[op.text]
		l = &expr{kind: k, l: l, r: r, col: op.col}
	}
	return l, nil
}

func (p *exprParser) parseUnary() (*expr, *colError) {
	t := p.peek()
	if t == nil {
		return nil, &colError{p.end, "missing operand"}
	}
	if p.depth >= exprDepthMax {
		return nil, &colError{t.col, fmt.Sprintf("expression nested deeper than %d", exprDepthMax)}
	}
	p.depth++
	defer func() { p.depth-- }()
	switch {
	case t.kind == tokPunct && t.text == "-":
		p.i++
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &expr{kind: exNeg, l: x, col: t.col}, nil
	case t.kind == tokPunct && t.text == "(":
		p.i++
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if !p.isPunct(")") {
			return nil, &colError{p.colHere(), "missing )"}
		}
		p.i++
		return x, nil
	case t.kind == tokInt:
		p.i++
		return &expr{kind: exInt, val: t.val, col: t.col}, nil
	case t.kind == tokIdent && t.text == "len" && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tokPunct && p.toks[p.i+1].text == "(":
		p.i += 2
		n := p.peek()
		if n == nil || n.kind != tokIdent {
			return nil, &colError{p.colHere(), "len( needs a data name"}
		}
		p.i++
		if !p.isPunct(")") {
			return nil, &colError{p.colHere(), "missing ) after len(" + n.text}
		}
		p.i++
		return &expr{kind: exLen, name: n.text, col: n.col}, nil
	case t.kind == tokIdent:
		p.i++
		return &expr{kind: exName, name: t.text, col: t.col}, nil
	}
	return nil, &colError{t.col, fmt.Sprintf("unexpected %s in operand", describe(t))}
}

func (p *exprParser) colHere() int {
	if t := p.peek(); t != nil {
		return t.col
	}
	return p.end
}

func describe(t *token) string {
	switch t.kind {
	case tokString:
		return "string"
	case tokDirective:
		return "directive ." + t.text
	}
	return fmt.Sprintf("%q", t.text)
}
