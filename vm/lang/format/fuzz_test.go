package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
	"github.com/flockvm/flock/vm/lang/parse"
)

// FuzzFormat: whatever parses without errors formats to a program that
// parses, keeps every comment, and formats to itself.
func FuzzFormat(f *testing.F) {
	for _, dir := range []string{"../testdata/run", "../std", "../../../examples"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.fl"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte("fn main() { // c\n  x := T{\n a: 1, // one\n b: 2,\n }\n}\n"))
	f.Add([]byte("struct S {\n    // lead\n    a int // trail\n\n    bb, c string\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		var errs diag.List
		file := parse.File("f.fl", src, &errs)
		if len(errs) > 0 {
			return
		}
		out := File(file)
		var errs2 diag.List
		again := parse.File("f.fl", out, &errs2)
		if len(errs2) > 0 {
			t.Fatalf("the formatted program does not parse: %v\n%s", errs2, out)
		}
		if len(again.Comments) != len(file.Comments) {
			t.Fatalf("formatting kept %d of %d comments:\n%s", len(again.Comments), len(file.Comments), out)
		}
		if out2 := File(again); !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not idempotent:\n%s\nthen\n%s", out, out2)
		}
		// The same declarations in the same order.
		if len(again.Decls) != len(file.Decls) || len(again.Imports) != len(file.Imports) {
			t.Fatalf("formatting changed the declarations:\n%s", out)
		}
		var n1, n2 int
		ast.Inspect(file, func(ast.Node) bool { n1++; return true })
		ast.Inspect(again, func(ast.Node) bool { n2++; return true })
		if n1 != n2 {
			t.Fatalf("formatting changed the tree (%d nodes, then %d):\n%s", n1, n2, out)
		}
	})
}
