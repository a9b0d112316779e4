package eval_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/eval"
)

func run(t *testing.T, src string) (eval.Result, error) {
	t.Helper()
	p, err := lang.Check("e.fl", []byte(src), nil)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return eval.Run(p, []string{"arg0"}, eval.Limits{Steps: 1e5})
}

func TestRun(t *testing.T) {
	tests := []struct {
		src, out, trap string
		exit           uint64
	}{
		{"fn main() { println(1 + 2, \"x\") }", "3 x\n", "", 0},
		{"fn main() int { return 7 }", "", "", 7},
		{"fn main() { exit(4) }", "", "", 4},
		{"fn main() { var z = 0; println(1 / z) }", "", "division by zero", 0},
		{"fn main() { var p *int; println(*p) }", "", "unmapped address 0x0", 0},
		{"fn main() { s := new [2]int; var i = 2; s[i] = 1 }", "panic: index 2 out of range [0:2]\n", "index out of range", 0},
		{"fn main() { while true {} }", "", "instruction budget exhausted", 0},
		{"fn f(n int) int { return f(n + 1) }\nfn main() { f(0) }", "", "stack overflow", 0},
		{"fn main() { println(argc(), tid()) }", "1 1\n", "", 0},
		{"fn w() int { return tid() }\nfn main() { println(join(spawn w())) }", "2\n", "", 0},
	}
	for _, tc := range tests {
		res, err := run(t, tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if res.Output != tc.out || res.Trap != tc.trap || res.Exit != tc.exit {
			t.Errorf("Run(%q) = %q, trap %q, exit %d; want %q, trap %q, exit %d", tc.src, res.Output, res.Trap, res.Exit, tc.out, tc.trap, tc.exit)
		}
	}
}

func TestUnsupported(t *testing.T) {
	for _, src := range []string{
		"global var w int\nfn main() { wait(&w, 0) }",
		"fn main() { open(\"f\", 0) }",
		"fn main() { pstart(\"p.fl\", \"\") }",
	} {
		if _, err := run(t, src); !errors.Is(err, eval.ErrUnsupported) {
			t.Errorf("Run(%q): err %v, want ErrUnsupported", src, err)
		}
	}
}

func ExampleRun() {
	p, err := lang.Check("hello.fl", []byte("fn main() {\n    printf(\"%d-%s\\n\", 6 * 7, \"ok\")\n}\n"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := eval.Run(p, nil, eval.Limits{})
	fmt.Print(res.Output, err)
	// Output: 42-ok
	// <nil>
}
