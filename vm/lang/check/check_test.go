package check_test

import (
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
	"github.com/flockvm/flock/vm/lang/diag"
	"github.com/flockvm/flock/vm/lang/parse"
)

// checkSrc parses and checks one file (imports from the standard library).
func checkSrc(t *testing.T, src string) (*check.Program, diag.List) {
	t.Helper()
	var errs diag.List
	f := parse.File("c.fl", []byte(src), &errs)
	if len(errs) > 0 {
		t.Fatalf("parse: %v", errs)
	}
	p := check.Check(f, &lang.Importer{Errs: &errs}, &errs)
	return p, errs
}

// TestExprTypes checks the type (and constant value) of the expression
// assigned to x in a small program.
func TestExprTypes(t *testing.T) {
	const decls = "struct P {\n    a int\n    b byte\n}\n\nfn two() (int, bool) {\n    return 1, true\n}\n\n"
	tests := []struct{ expr, typ, value string }{
		{"1 + 2", "int", "3"},
		{"1 << 70 >> 68", "int", "4"},
		{"'a' + 1", "int", "98"},
		{"-1 as uint", "uint", "18446744073709551615"},
		{"300 as byte", "byte", "44"},
		{"len(\"abc\")", "int", "3"},
		{"\"ab\" + \"c\"", "string", "abc"},
		{"\"abc\"[1]", "byte", "98"},
		{"1 < 2 && !false", "bool", "true"},
		{"len([3]P{})", "int", "3"},
		{"P{}.b", "byte", ""},
		{"new P", "*P", ""},
		{"global new [4]int", "[]int", ""},
		{"&P{}.a == nil", "", ""},
		{"spawn two2()", "thread", ""},
		{"two", "fn() (int, bool)", ""},
		{"\"s\" as []byte", "[]byte", ""},
		{"(&[2]int{})", "", ""},
	}
	for _, tc := range tests {
		src := decls + "fn two2() {}\n\nfn main() {\n    x := " + tc.expr + "\n    println(x == x)\n}\n"
		p, errs := checkSrc(t, src)
		if tc.typ == "" {
			if len(errs) == 0 {
				t.Errorf("%s: checked, want an error", tc.expr)
			}
			continue
		}
		if len(errs) > 0 && !strings.Contains(errs.Error(), "cannot be compared") && !strings.Contains(errs.Error(), "needs integers") {
			t.Errorf("%s: %v", tc.expr, errs)
			continue
		}
		var got check.TypeAndValue
		for _, m := range p.Modules {
			if !m.Main {
				continue
			}
			for _, d := range m.File.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "main" {
					got = p.Info.Types[fd.Body.Stmts[0].(*ast.Define).Values[0]]
				}
			}
		}
		if got.Type.String() != tc.typ {
			t.Errorf("type of %s = %s, want %s", tc.expr, got.Type, tc.typ)
		}
		value := ""
		switch got.Value.Kind {
		case check.ValInt:
			value = got.Value.Int.String()
		case check.ValString:
			value = got.Value.Str
		case check.ValBool:
			value = map[bool]string{true: "true", false: "false"}[got.Value.Bool]
		}
		if value != tc.value {
			t.Errorf("value of %s = %q, want %q", tc.expr, value, tc.value)
		}
	}
}

// TestLayout: fields are aligned to their size, structs to their largest
// field; sizes round up to the alignment.
func TestLayout(t *testing.T) {
	src := "struct A {\n    b byte\n    i int\n    c bool\n}\n\nstruct B {\n    x, y byte\n    s string\n    arr [3]byte\n    a A\n}\n\nstruct C {\n    b [5]byte\n}\n\nfn main() {}\n"
	p, errs := checkSrc(t, src)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var m *check.Module
	for _, mod := range p.Modules {
		if mod.Main {
			m = mod
		}
	}
	typ := func(name string) *check.Struct {
		return m.Scope.LookupLocal(name).(*check.TypeName).Type.(*check.Struct)
	}
	tests := []struct {
		st      string
		size    int64
		align   int64
		offsets []int64
	}{
		{"A", 24, 8, []int64{0, 8, 16}},
		{"B", 56, 8, []int64{0, 1, 8, 24, 32}},
		{"C", 5, 1, []int64{0}},
	}
	for _, tc := range tests {
		st := typ(tc.st)
		if got := check.SizeOf(st); got != tc.size {
			t.Errorf("SizeOf(%s) = %d, want %d", tc.st, got, tc.size)
		}
		if got := check.AlignOf(st); got != tc.align {
			t.Errorf("AlignOf(%s) = %d, want %d", tc.st, got, tc.align)
		}
		for i, f := range st.Fields {
			if f.Offset != tc.offsets[i] {
				t.Errorf("%s.%s at %d, want %d", tc.st, f.Name, f.Offset, tc.offsets[i])
			}
		}
	}
}

// TestClasses: how generated code holds each kind of value.
func TestClasses(t *testing.T) {
	tests := []struct {
		t     check.Type
		class check.Class
		words int
	}{
		{check.TypInt, check.ClassWord, 1},
		{check.TypBool, check.ClassWord, 1},
		{check.TypString, check.ClassPair, 2},
		{&check.Slice{Elem: check.TypByte}, check.ClassPair, 2},
		{&check.Pointer{Elem: check.TypInt}, check.ClassWord, 1},
		{&check.Array{Len: 2, Elem: check.TypInt}, check.ClassMemory, 1},
		{&check.Func{}, check.ClassWord, 1},
	}
	for _, tc := range tests {
		if got := check.ClassOf(tc.t); got != tc.class {
			t.Errorf("ClassOf(%s) = %d, want %d", tc.t, got, tc.class)
		}
		if got := check.Words(tc.t); got != tc.words {
			t.Errorf("Words(%s) = %d, want %d", tc.t, got, tc.words)
		}
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		f    string
		want string
		err  string
	}{
		{"a %d b", "a |d0| b", ""},
		{"%5d%-3s%05x%%", "d5|s3-|x5z|%", ""},
		{"%", "", "the format ends inside a verb"},
		{"%q", "", "unknown verb %q"},
		{"%2000d", "", "width larger than 1000"},
	}
	for _, tc := range tests {
		pieces, err := check.ParseFormat(tc.f)
		if err != "" || tc.err != "" {
			if !strings.Contains(err, tc.err) || tc.err == "" {
				t.Errorf("ParseFormat(%q) error %q, want %q", tc.f, err, tc.err)
			}
			continue
		}
		var parts []string
		for _, p := range pieces {
			if p.Verb == 0 {
				parts = append(parts, p.Lit)
				continue
			}
			s := string(p.Verb)
			if p.Width > 0 {
				s += string(rune('0' + p.Width))
			} else {
				s += "0"
			}
			if p.Left {
				s += "-"
			}
			if p.Zero {
				s += "z"
			}
			parts = append(parts, s)
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("ParseFormat(%q) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
