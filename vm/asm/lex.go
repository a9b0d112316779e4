package asm

import (
	"fmt"
	"strconv"
	"strings"
)

type tokKind uint8

const (
	tokIdent tokKind = iota
	tokDirective
	tokInt
	tokString
	tokPunct
)

type token struct {
	kind tokKind
	text string // identifier, directive name (without '.'), punctuation, decoded string
	val  uint64 // tokInt
	col  int
}

// lexLine splits one source line into tokens; a ';' starts a comment.
func lexLine(line string) ([]token, *colError) {
	var toks []token
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ';':
			return toks, nil
		case isIdentStart(c):
			j := i + 1
			for j < len(line) && isIdentChar(line[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: line[i:j], col: i + 1})
			i = j
		case c == '.' && i+1 < len(line) && isIdentStart(line[i+1]):
			j := i + 2
			for j < len(line) && isIdentChar(line[j]) {
				j++
			}
			toks = append(toks, token{kind: tokDirective, text: line[i+1 : j], col: i + 1})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(line) && (isIdentChar(line[j])) {
				j++
			}
			v, err := parseInt(line[i:j])
			if err != nil {
				return nil, &colError{i + 1, err.Error()}
			}
			toks = append(toks, token{kind: tokInt, val: v, text: line[i:j], col: i + 1})
			i = j
		case c == '\'':
			v, n, err := lexChar(line[i:])
			if err != nil {
				return nil, &colError{i + 1, err.Error()}
			}
			toks = append(toks, token{kind: tokInt, val: v, text: line[i : i+n], col: i + 1})
			i += n
		case c == '"':
			s, n, err := lexString(line[i:])
			if err != nil {
				return nil, &colError{i + 1, err.Error()}
			}
			toks = append(toks, token{kind: tokString, text: s, col: i + 1})
			i += n
		case strings.IndexByte(":,()+-*/%", c) >= 0:
			toks = append(toks, token{kind: tokPunct, text: string(c), col: i + 1})
			i++
		default:
			return nil, &colError{i + 1, fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return toks, nil
}

type colError struct {
	col int
	msg string
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// parseInt reads a decimal, 0x hex, 0o octal or 0b binary literal; '_' may
// separate digits. Values up to 2^64-1 are accepted (as their bit pattern).
func parseInt(s string) (uint64, error) {
	clean := strings.ReplaceAll(s, "_", "")
	v, err := strconv.ParseUint(clean, 0, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("number %s does not fit in 64 bits", s)
		}
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

func lexChar(s string) (uint64, int, error) {
	if len(s) < 3 {
		return 0, 0, fmt.Errorf("unterminated character literal")
	}
	if s[1] == '\\' {
		b, n, err := unescape(s[1:])
		if err != nil {
			return 0, 0, err
		}
		if 1+n >= len(s) || s[1+n] != '\'' {
			return 0, 0, fmt.Errorf("unterminated character literal")
		}
		return uint64(b), n + 2, nil
	}
	if s[2] != '\'' {
		return 0, 0, fmt.Errorf("character literal must hold one byte")
	}
	return uint64(s[1]), 3, nil
}

// unescape decodes one backslash escape at the start of s.
func unescape(s string) (byte, int, error) {
	if len(s) < 2 {
		return 0, 0, fmt.Errorf("unterminated escape")
	}
	switch s[1] {
	case 'n':
		return '\n', 2, nil
	case 't':
		return '\t', 2, nil
	case 'r':
		return '\r', 2, nil
	case '0':
		return 0, 2, nil
	case '\\', '\'', '"':
		return s[1], 2, nil
	case 'x':
		if len(s) < 4 {
			return 0, 0, fmt.Errorf("\\x needs two hex digits")
		}
		v, err := strconv.ParseUint(s[2:4], 16, 8)
		if err != nil {
			return 0, 0, fmt.Errorf("\\x needs two hex digits")
		}
		return byte(v), 4, nil
	}
	return 0, 0, fmt.Errorf("unknown escape \\%c", s[1])
}

func lexString(s string) (string, int, error) {
	var sb strings.Builder
	i := 1
	for i < len(s) {
		switch s[i] {
		case '"':
			return sb.String(), i + 1, nil
		case '\\':
			b, n, err := unescape(s[i:])
			if err != nil {
				return "", 0, err
			}
			sb.WriteByte(b)
			i += n
		default:
			sb.WriteByte(s[i])
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
