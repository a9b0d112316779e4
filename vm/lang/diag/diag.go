package diag

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one lexical, syntax or type error.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	// Source is the text of the line the error is on ("" if unknown); the
	// rendering shows it with a caret under Col.
	Source string
}

// Error is the one-line form, file:line:col: message.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Render is the one-line form followed by the source line and a caret.
func (e *Error) Render() string {
	s := e.Error()
	if e.Source == "" {
		return s
	}
	line := strings.TrimRight(e.Source, "\r")
	// The caret line copies the tabs of the source so that it lines up
	// whatever the terminal's tab width.
	var caret strings.Builder
	for i := 0; i < e.Col-1 && i < len(line); i++ {
		if line[i] == '\t' {
			caret.WriteByte('\t')
		} else {
			caret.WriteByte(' ')
		}
	}
	caret.WriteByte('^')
	return s + "\n    " + line + "\n    " + caret.String()
}

// ErrorsMax bounds how many errors one compilation reports.
const ErrorsMax = 20

// List is every error found, in file and source order.
type List []*Error

// Error renders every error with its source line and caret.
func (l List) Error() string {
	var sb strings.Builder
	for i, e := range l {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(e.Render())
	}
	return sb.String()
}

// Sort orders the list by file, line and column (stable for ties) and drops
// exact duplicates.
func (l List) Sort() List {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Sink collects errors for one source file, up to a shared budget.
type Sink struct {
	File  string
	Lines []string // the file's lines, for rendering
	list  *List
}

// NewSink collects errors of the file whose text is src into list.
func NewSink(file string, src []byte, list *List) *Sink {
	return &Sink{File: file, Lines: strings.Split(string(src), "\n"), list: list}
}

// Errorf records an error at line:col unless the budget is spent.
func (s *Sink) Errorf(line, col int, format string, args ...any) {
	if len(*s.list) >= ErrorsMax {
		return
	}
	src := ""
	if line >= 1 && line <= len(s.Lines) {
		src = s.Lines[line-1]
	}
	*s.list = append(*s.list, &Error{File: s.File, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Source: src})
}

// Full reports whether the error budget is spent.
func (s *Sink) Full() bool { return len(*s.list) >= ErrorsMax }

// Count is how many errors were recorded so far (in every file).
func (s *Sink) Count() int { return len(*s.list) }
