package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
)

// seeds are the golden programs and error programs of the compiler, and
// pieces that stress the lexer.
func seeds(f *testing.F) {
	for _, dir := range []string{"../testdata/run", "../testdata/errors", "../std", "../../../examples"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.fl"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	for _, s := range []string{
		"", "fn", "fn main() {", "\"", "'", "'\\", "\"\\x", "0x", "0b102", "1_", "/", "//", "a := b ++ c",
		"struct S { a, b int; c [3]*S }", "fn f() (int, bool) { return 1, true }", "for i in 0..n {}",
		"if a { } else if b { } else { }", "x[1:]", "p.q.r(s)[t]", "new [n]T", "global new T", "spawn f(1, 2)",
		"{{{{{{{{{{", "((((((((((((", "[[[[[[[[[[", strings.Repeat("-", 1000) + "1", "\xff\xfe", "é",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse: no input makes the parser panic, every error names a place in
// the file, and a file without errors has positions in it.
func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		var errs diag.List
		file := File("f.fl", src, &errs)
		lines := int32(strings.Count(string(src), "\n") + 1)
		for _, e := range errs {
			if e.File != "f.fl" || e.Line < 1 || int32(e.Line) > lines || e.Col < 1 {
				t.Fatalf("error outside the file (%d lines): %v", lines, e)
			}
		}
		if len(errs) > diag.ErrorsMax {
			t.Fatalf("%d errors, more than %d", len(errs), diag.ErrorsMax)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if p := n.Pos(); p.Line < 1 || p.Line > lines {
				t.Fatalf("%T at %v, outside the file's %d lines", n, p, lines)
			}
			return true
		})
	})
}
