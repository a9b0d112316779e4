package lang_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/diag"
)

// FuzzCompile: no input makes the checker or the code generator panic;
// every error names a place; what compiles is a valid program.
func FuzzCompile(f *testing.F) {
	for _, dir := range []string{"testdata/run", "testdata/errors", "../../examples"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.fl"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte("fn main() { var x [1 << 40]int; println(len(x)) }"))
	f.Add([]byte("struct A { b B }\nstruct B { a [2]A }\nfn main() {}"))
	f.Add([]byte("import \"./missing\"\nfn main() {}"))
	f.Add([]byte("const a = b\nconst b = a\nfn main() {}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		// Imports resolve in the standard library only: the fuzzer has no
		// files.
		p, err := lang.Compile("f.fl", src, nil, lang.Options{})
		if err != nil {
			if l, ok := err.(diag.List); ok {
				for _, e := range l {
					if e.Line < 1 || e.Col < 1 {
						t.Fatalf("error without a place: %v", e)
					}
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("an invalid program: %v", err)
		}
	})
}
