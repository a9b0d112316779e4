package format

import (
	"strings"
	"testing"
)

func TestLayout(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"spacing", "fn main(){x:=1+2*3;y:=-x}", "fn main() {\n    x := 1 + 2 * 3\n    y := -x\n}\n"},
		{"comments kept", "// file\nfn main() { // opening\n  // lead\n  x := 1 // trail\n}\n// end\n",
			"// file\nfn main() {\n    // opening\n    // lead\n    x := 1 // trail\n}\n// end\n"},
		{"one blank line kept", "fn main() {\n  a()\n\n\n\n  b()\n}\n", "fn main() {\n    a()\n\n    b()\n}\n"},
		{"no blank line at block edges", "fn main() {\n\n  a()\n\n}\n", "fn main() {\n    a()\n}\n"},
		{"blank line between functions", "fn a() {}\nfn b() {}\n", "fn a() {}\n\nfn b() {}\n"},
		{"consts stay together", "const a = 1\nconst b = 2\n", "const a = 1\nconst b = 2\n"},
		{"fields line up", "struct S {\n a int\n longer string\n\n x, y int\n}\n", "struct S {\n    a      int\n    longer string\n\n    x, y int\n}\n"},
		{"params grouped as written", "fn f(a, b int, c string) {}", "fn f(a, b int, c string) {}\n"},
		{"results", "fn f() (int, bool) { return 1, true }", "fn f() (int, bool) {\n    return 1, true\n}\n"},
		{"else chain", "fn main() { if a { b() } else if c { d() } else { e() } }",
			"fn main() {\n    if a {\n        b()\n    } else if c {\n        d()\n    } else {\n        e()\n    }\n}\n"},
		{"loops", "fn main() { for i in 0..n {} ; for _, v in s {}; for {} ; for x < 3 {} ; for i := 0; i < 3; i++ {}; while true {} }",
			"fn main() {\n    for i in 0..n {}\n    for _, v in s {}\n    for {}\n    for x < 3 {}\n    for i := 0; i < 3; i++ {}\n    while true {}\n}\n"},
		{"literal on one line", "fn main() { p := P{x: 1,  y: 2} }", "fn main() {\n    p := P{x: 1, y: 2}\n}\n"},
		{"literal on lines", "fn main() {\n p := P{\n x: 1, // one\n y: 2}\n}\n", "fn main() {\n    p := P{\n        x: 1, // one\n        y: 2,\n    }\n}\n"},
		{"types", "var f fn(int, []byte) (*T, [3]m.S)\nglobal var g int\n", "var f fn(int, []byte) (*T, [3]m.S)\nglobal var g int\n"},
		{"imports", "import \"sync\"\nimport s \"./strs\"\nfn main() {}", "import \"sync\"\nimport s \"./strs\"\n\nfn main() {}\n"},
		{"new and spawn", "fn main() { t := spawn f(global new [n]int, new T) }", "fn main() {\n    t := spawn f(global new [n]int, new T)\n}\n"},
		{"pub", "pub struct S {\npub a int\n}\npub fn f() {}\npub const c = 1\n", "pub struct S {\n    pub a int\n}\n\npub fn f() {}\n\npub const c = 1\n"},
		{"methods", "fn (s *S) m(x int) int { return x as int }", "fn (s *S) m(x int) int {\n    return x as int\n}\n"},
	}
	for _, tc := range tests {
		out, err := Source("t.fl", []byte(tc.in))
		if err != nil {
			t.Errorf("%s: Source: %v", tc.name, err)
			continue
		}
		if string(out) != tc.want {
			t.Errorf("%s: Source(%q) =\n%s\nwant\n%s", tc.name, tc.in, out, tc.want)
			continue
		}
		again, _ := Source("t.fl", out)
		if string(again) != string(out) {
			t.Errorf("%s: not idempotent:\n%s\nthen\n%s", tc.name, out, again)
		}
	}
}

func TestSourceRefusesBrokenPrograms(t *testing.T) {
	_, err := Source("b.fl", []byte("fn main() {\n    x := \n}\n"))
	if err == nil || !strings.Contains(err.Error(), "b.fl:3:1") {
		t.Errorf("Source of a broken program: err %v, want the syntax error at b.fl:3:1", err)
	}
}
