package parse

import (
	"fmt"
	"strings"

	"github.com/flockvm/flock/vm/lang/ast"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tChar
	tString
	tKeyword
	tOp // operators and punctuation, text in tok.text
)

type token struct {
	kind tokKind
	text string // identifier, keyword, operator; the raw text of a literal
	pos  ast.Pos
	val  uint64 // tInt, tChar
	str  string // tString: decoded
	auto bool   // a semicolon inserted at a newline
}

var keywords = map[string]bool{
	"fn": true, "struct": true, "const": true, "var": true, "global": true, "pub": true,
	"import": true, "if": true, "else": true, "while": true, "for": true, "in": true,
	"break": true, "continue": true, "return": true, "new": true, "spawn": true, "as": true,
	"true": true, "false": true, "nil": true,
}

// operators, longest first within each starting character.
var operators = []string{
	"<<=", ">>=",
	"&&", "||", "==", "!=", "<=", ">=", "<<", ">>", ":=", "+=", "-=", "*=", "/=", "%=",
	"&=", "|=", "^=", "++", "--", "..",
	"+", "-", "*", "/", "%", "&", "|", "^", "~", "!", "<", ">", "=", "(", ")", "[", "]",
	"{", "}", ",", ";", ".", ":",
}

// lexer produces tokens with Go's semicolon rule: a newline after an
// identifier, a literal, one of the keywords break continue return true
// false nil, or one of ) ] } ++ -- ends the statement.
type lexer struct {
	src      string
	i        int
	line     int32
	lineAt   int // offset of the current line's first byte
	semi     bool
	comments []ast.Comment
	errf     func(pos ast.Pos, format string, args ...any)
}

func (l *lexer) pos() ast.Pos { return ast.Pos{Line: l.line, Col: int32(l.i-l.lineAt) + 1} }

func (l *lexer) newline() {
	l.line++
	l.lineAt = l.i
}

// next returns the next token.
func (l *lexer) next() token {
	for {
		if l.i >= len(l.src) {
			if l.semi {
				l.semi = false
				return token{kind: tOp, text: ";", pos: l.pos(), auto: true}
			}
			return token{kind: tEOF, pos: l.pos()}
		}
		c := l.src[l.i]
		switch {
		case c == '\n':
			if l.semi {
				l.semi = false
				t := token{kind: tOp, text: ";", pos: l.pos(), auto: true}
				l.i++
				l.newline()
				return t
			}
			l.i++
			l.newline()
			continue
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
			continue
		case c == '/' && l.i+1 < len(l.src) && l.src[l.i+1] == '/':
			start := l.pos()
			j := strings.IndexByte(l.src[l.i:], '\n')
			if j < 0 {
				j = len(l.src) - l.i
			}
			l.comments = append(l.comments, ast.Comment{At: start, Text: strings.TrimRight(l.src[l.i:l.i+j], " \t\r")})
			l.i += j
			continue
		}
		t := l.scan()
		switch t.kind {
		case tIdent, tInt, tChar, tString:
			l.semi = true
		case tKeyword:
			switch t.text {
			case "break", "continue", "return", "true", "false", "nil":
				l.semi = true
			default:
				l.semi = false
			}
		case tOp:
			switch t.text {
			case ")", "]", "}", "++", "--":
				l.semi = true
			default:
				l.semi = false
			}
		}
		return t
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// scan reads one token at l.i (not a space, newline or comment).
func (l *lexer) scan() token {
	pos := l.pos()
	c := l.src[l.i]
	switch {
	case isLetter(c):
		j := l.i + 1
		for j < len(l.src) && (isLetter(l.src[j]) || isDigit(l.src[j])) {
			j++
		}
		word := l.src[l.i:j]
		l.i = j
		if keywords[word] {
			return token{kind: tKeyword, text: word, pos: pos}
		}
		return token{kind: tIdent, text: word, pos: pos}
	case isDigit(c):
		return l.number(pos)
	case c == '\'':
		return l.char(pos)
	case c == '"':
		return l.string(pos)
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.i:], op) {
			l.i += len(op)
			return token{kind: tOp, text: op, pos: pos}
		}
	}
	l.i++
	if c >= 0x80 {
		// Skip the rest of a UTF-8 sequence: one error per character.
		for l.i < len(l.src) && l.src[l.i]&0xC0 == 0x80 {
			l.i++
		}
		l.errf(pos, "unexpected character (non-ASCII) outside a string or comment")
	} else {
		l.errf(pos, "unexpected character %q", c)
	}
	return l.next()
}

func (l *lexer) number(pos ast.Pos) token {
	j := l.i
	for j < len(l.src) && (isLetter(l.src[j]) || isDigit(l.src[j])) {
		j++
	}
	raw := l.src[l.i:j]
	l.i = j
	v, err := parseInt(raw)
	if err != "" {
		l.errf(pos, "%s", err)
	}
	return token{kind: tInt, text: raw, pos: pos, val: v}
}

// parseInt reads decimal, 0x hex, 0o octal and 0b binary, with _ between
// digits; err is "" on success.
func parseInt(raw string) (uint64, string) {
	base := uint64(10)
	digits := raw
	if len(raw) >= 2 && raw[0] == '0' {
		switch raw[1] {
		case 'x', 'X':
			base, digits = 16, raw[2:]
		case 'o', 'O':
			base, digits = 8, raw[2:]
		case 'b', 'B':
			base, digits = 2, raw[2:]
		}
	}
	if len(raw) > 1 && raw[0] == '0' && base == 10 {
		return 0, fmt.Sprintf("number %s: a leading 0 needs 0x, 0o or 0b", raw)
	}
	var v uint64
	prevDigit := false
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c == '_' {
			if !prevDigit || i == len(digits)-1 {
				return 0, fmt.Sprintf("number %s: _ must separate digits", raw)
			}
			prevDigit = false
			continue
		}
		d := uint64(99)
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		}
		if d >= base {
			return 0, fmt.Sprintf("number %s: bad digit %q", raw, c)
		}
		if v > (^uint64(0)-d)/base {
			return 0, fmt.Sprintf("number %s does not fit in 64 bits", raw)
		}
		v = v*base + d
		prevDigit = true
	}
	if len(digits) == 0 {
		return 0, fmt.Sprintf("number %s has no digits", raw)
	}
	return v, ""
}

// escape decodes one escape after a backslash at s[0]; n is how many bytes
// it used, err "" on success.
func escape(s string) (b byte, n int, err string) {
	if len(s) < 2 || s[1] == '\n' {
		return 0, 1, "unterminated escape"
	}
	switch s[1] {
	case 'n':
		return '\n', 2, ""
	case 't':
		return '\t', 2, ""
	case 'r':
		return '\r', 2, ""
	case '0':
		return 0, 2, ""
	case '\\':
		return '\\', 2, ""
	case '\'':
		return '\'', 2, ""
	case '"':
		return '"', 2, ""
	case 'x':
		if len(s) < 4 {
			return 0, len(s), "\\x needs two hex digits"
		}
		v, e := parseInt("0x" + s[2:4])
		if e != "" || strings.ContainsAny(s[2:4], "_") {
			return 0, 4, "\\x needs two hex digits"
		}
		return byte(v), 4, ""
	}
	return 0, 2, fmt.Sprintf("unknown escape \\%c", s[1])
}

func (l *lexer) char(pos ast.Pos) token {
	start := l.i
	l.i++ // the quote
	var val byte
	n := 0
	for {
		if l.i >= len(l.src) || l.src[l.i] == '\n' {
			l.errf(pos, "unterminated character literal")
			return token{kind: tChar, text: l.src[start:l.i], pos: pos}
		}
		c := l.src[l.i]
		if c == '\'' {
			l.i++
			break
		}
		if c == '\\' {
			b, used, err := escape(l.src[l.i:])
			if err != "" {
				l.errf(l.pos(), "%s", err)
			}
			val = b
			l.i += used
		} else {
			val = c
			l.i++
		}
		n++
	}
	if n != 1 {
		l.errf(pos, "character literal must hold one byte, holds %d", n)
	}
	return token{kind: tChar, text: l.src[start:l.i], pos: pos, val: uint64(val)}
}

func (l *lexer) string(pos ast.Pos) token {
	start := l.i
	l.i++
	var sb strings.Builder
	for {
		if l.i >= len(l.src) || l.src[l.i] == '\n' {
			l.errf(pos, "unterminated string")
			return token{kind: tString, text: l.src[start:l.i], pos: pos, str: sb.String()}
		}
		c := l.src[l.i]
		if c == '"' {
			l.i++
			break
		}
		if c == '\\' {
			b, used, err := escape(l.src[l.i:])
			if err != "" {
				l.errf(l.pos(), "%s", err)
			}
			sb.WriteByte(b)
			l.i += used
			continue
		}
		sb.WriteByte(c)
		l.i++
	}
	return token{kind: tString, text: l.src[start:l.i], pos: pos, str: sb.String()}
}
