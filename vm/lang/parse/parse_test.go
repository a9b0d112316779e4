package parse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
)

// tokens lexes src into a compact text: kinds and texts, ; for inserted
// semicolons.
func tokens(src string) string {
	var parts []string
	lx := &lexer{src: src, line: 1, errf: func(ast.Pos, string, ...any) {}}
	for {
		t := lx.next()
		if t.kind == tEOF {
			break
		}
		if t.auto {
			parts = append(parts, "⏎")
			continue
		}
		parts = append(parts, t.text)
	}
	return strings.Join(parts, " ")
}

func TestSemicolons(t *testing.T) {
	tests := []struct{ src, want string }{
		{"x := 1\ny++\n", "x := 1 ⏎ y ++ ⏎"},
		{"f(a,\n  b)\n", "f ( a , b ) ⏎"},
		{"return\n}", "return ⏎ } ⏎"},
		{"a +\nb", "a + b ⏎"},
		{"if x {\n} else {\n}\n", "if x { } else { } ⏎"},
		{"s := \"a\" // comment\nt", "s := \"a\" ⏎ t ⏎"},
		{"break\ncontinue\ntrue\nnil\n", "break ⏎ continue ⏎ true ⏎ nil ⏎"},
		{"x[1:2]\n", "x [ 1 : 2 ] ⏎"},
		{"for i in 0..n {", "for i in 0 .. n {"},
		{"a <<= 2\nb >>= 1", "a <<= 2 ⏎ b >>= 1 ⏎"},
	}
	for _, tc := range tests {
		if got := tokens(tc.src); got != tc.want {
			t.Errorf("tokens(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestLiterals(t *testing.T) {
	tests := []struct {
		src  string
		kind tokKind
		val  uint64
		str  string
	}{
		{"0", tInt, 0, ""},
		{"1_000", tInt, 1000, ""},
		{"0xFF", tInt, 255, ""},
		{"0o17", tInt, 15, ""},
		{"0b101", tInt, 5, ""},
		{"18446744073709551615", tInt, 1<<64 - 1, ""},
		{"'a'", tChar, 'a', ""},
		{"'\\n'", tChar, '\n', ""},
		{"'\\x7f'", tChar, 0x7f, ""},
		{"\"a\\tb\\\\\\\"\"", tString, 0, "a\tb\\\""},
		{"\"\\0\\r\"", tString, 0, "\x00\r"},
	}
	for _, tc := range tests {
		lx := &lexer{src: tc.src, line: 1, errf: func(p ast.Pos, f string, a ...any) { t.Errorf("%q: %s", tc.src, fmt.Sprintf(f, a...)) }}
		tok := lx.next()
		if tok.kind != tc.kind || tok.val != tc.val || tok.str != tc.str {
			t.Errorf("lex(%q) = kind %d val %d str %q, want kind %d val %d str %q", tc.src, tok.kind, tok.val, tok.str, tc.kind, tc.val, tc.str)
		}
	}
}

// tree renders an expression with explicit parentheses.
func tree(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.IntLit:
		return e.Raw
	case *ast.Binary:
		return "(" + tree(e.X) + " " + e.Op + " " + tree(e.Y) + ")"
	case *ast.Unary:
		return "(" + e.Op + tree(e.X) + ")"
	case *ast.As:
		return "(" + tree(e.X) + " as T)"
	case *ast.Call:
		args := []string{}
		for _, a := range e.Args {
			args = append(args, tree(a))
		}
		return tree(e.Fun) + "(" + strings.Join(args, ", ") + ")"
	case *ast.Selector:
		return tree(e.X) + "." + e.Sel.Name
	case *ast.Index:
		return tree(e.X) + "[" + tree(e.Index) + "]"
	case *ast.Paren:
		return "[" + tree(e.X) + "]"
	}
	return fmt.Sprintf("%T", e)
}

func TestPrecedence(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a + b * c", "(a + (b * c))"},
		{"a * b + c", "((a * b) + c)"},
		{"a | b & c", "(a | (b & c))"},
		{"a << 2 + 1", "((a << 2) + 1)"},
		{"a == b && c < d || e", "(((a == b) && (c < d)) || e)"},
		{"-a * b", "((-a) * b)"},
		{"-x as T + 1", "(((-x) as T) + 1)"},
		{"*p.f", "(*p.f)"},
		{"!f(x)[i]", "(!f(x)[i])"},
		{"a - b - c", "((a - b) - c)"},
		{"(a + b) * c", "([(a + b)] * c)"},
		{"a.b(c).d", "a.b(c).d"},
	}
	for _, tc := range tests {
		var errs diag.List
		f := File("p.fl", []byte("fn main() { x := "+tc.src+" }"), &errs)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.src, errs)
		}
		d := f.Decls[0].(*ast.FuncDecl).Body.Stmts[0].(*ast.Define)
		if got := tree(d.Values[0]); got != tc.want {
			t.Errorf("parse(%q) = %s, want %s", tc.src, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"fn main() {", "p.fl:1:12: expected \"}\", found end of file"},
		{"fn main() { x := }", "p.fl:1:18: expected an expression, found \"}\""},
		{"fn main() { if x { } else y }", "p.fl:1:27: expected if or { after else, found name y"},
		{"var x", "p.fl:1:5: var x needs a type or a value"},
		{"fn f(a, b) {}", "p.fl:1:6: parameter a needs a type"},
		{"fn main() { a, b }", "p.fl:1:18: expected := or =, found \"}\""},
		{"x := 1", "p.fl:1:1: expected a declaration (fn, struct, const, var or global var), found name x"},
		{"fn main() { fn g() {} }", "p.fl:1:13: fn declarations belong at the top level"},
		{"fn main() {}\nimport \"x\"", "p.fl:2:1: imports must come before every other declaration"},
		{"fn main() { global var x int }", "p.fl:1:13: global var is only allowed at the top level; inside a function allocate with global new"},
		{"fn main() { spawn x }", "p.fl:1:19: spawn needs a function call: spawn f(args)"},
		{"fn main() { x := ^y }", "p.fl:1:18: bitwise not is ~x"},
		{"fn main() { x := [3]int }", "p.fl:1:25: expected { after the array type of a literal, found \"}\""},
		{"fn main() { x := " + strings.Repeat("(", 400), "nested deeper than 300 levels"},
		{"func main() {}", "p.fl:1:1: Flock declares functions with fn: fn name(a int) int { ... }"},
		{"type P struct {}", "p.fl:1:1: Flock declares structs with struct Name { fields }"},
		{"fn f() -> int { return 1 }", "p.fl:1:8: results follow the parameters without an arrow: fn f(a int) int"},
	}
	for _, tc := range tests {
		var errs diag.List
		File("p.fl", []byte(tc.src), &errs)
		if len(errs) == 0 {
			t.Errorf("parse(%q): no error, want %q", tc.src, tc.want)
			continue
		}
		if !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("parse(%q) = %q, want %q", tc.src, errs[0].Error(), tc.want)
		}
	}
}

// TestSeveralErrors: recovery at statement boundaries reports each broken
// statement.
func TestSeveralErrors(t *testing.T) {
	src := "fn main() {\n    x := )\n    y := 1\n    z := ]\n}\nfn f( {\n}\n"
	var errs diag.List
	File("p.fl", []byte(src), &errs)
	lines := map[int]bool{}
	for _, e := range errs {
		lines[e.Line] = true
	}
	for _, l := range []int{2, 4, 6} {
		if !lines[l] {
			t.Errorf("no error on line %d; errors:\n%v", l, errs)
		}
	}
}
