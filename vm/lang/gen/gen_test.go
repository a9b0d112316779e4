package gen_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/gen"
)

func compile(t *testing.T, src string, opt lang.Options) *isa.Program {
	t.Helper()
	p, err := lang.Compile("g.fl", []byte(src), nil, opt)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// code is the instructions of one function, as text without targets.
func code(p *isa.Program, fn string) []string {
	var starts []int
	start := -1
	for _, s := range p.Symbols {
		if s.Kind == isa.SymCode {
			starts = append(starts, int(s.Value))
			if s.Name == fn {
				start = int(s.Value)
			}
		}
	}
	if start < 0 {
		return nil
	}
	sort.Ints(starts)
	end := len(p.Code)
	for _, s := range starts {
		if s > start {
			end = s
			break
		}
	}
	var out []string
	for _, in := range p.Code[start:end] {
		text := isa.FormatInstr(in, nil)
		if in.Op.HasTarget() {
			// Drop the target: keep the instruction and its other operands.
			text = text[:strings.LastIndex(text, " ")]
			text = strings.TrimSuffix(text, ",")
		}
		out = append(out, text)
	}
	return out
}

// TestCodeShape pins the code of the patterns the VM's speed depends on:
// it is what the peephole pass fuses into superinstructions.
func TestCodeShape(t *testing.T) {
	tests := []struct {
		name, src, fn string
		want          []string
	}{
		{"fib guard before the frame", `
fn fib(n int) int {
    if n < 2 {
        return n
    }
    return fib(n - 1) + fib(n - 2)
}

fn main() {
    println(fib(3))
}
`, "fib", []string{"JGEDI 2", "RET", "DUP", "ADDI -1", "CALL", "SWAP", "ADDI -2", "CALL", "ADD", "RET"}},
		{"one parameter kept on the stack", `
fn poly(x int) int {
    if x == 0 {
        return 1
    }
    return x * x + id(x) - x
}

fn id(x int) int {
    return x
}

fn main() {
    println(poly(3))
}
`, "poly", []string{"JNEDI 0", "PUSH 1", "SWAP", "DROP", "RET", "DUP", "OVER", "MUL", "OVER", "CALL", "ADD", "SWAP", "SUB", "RET"}},
		{"sum loop", `
fn sum(n int) int {
    var s = 0
    var i = 0
    while i < n {
        s += i
        i += 1
    }
    return s
}

fn main() {
    println(sum(3))
}
`, "sum", []string{"ENTER 1, 2", "PUSH 0", "SET 1", "PUSH 0", "SET 2", "JGELL 2, 0", "ADDLL 1, 2", "INCL 2, 1", "JLTLL 2, 0", "GET 1", "RETN 1"}},
		{"range over a slice walks a pointer", `
fn total(s []int) int {
    var t = 0
    for _, v in s {
        t += v
    }
    return t
}

fn main() {
    println(total(new [3]int))
}
`, "total", []string{"ENTER 2, 4", "PUSH 0", "SET 2", "GET 0", "DUP", "SET 3", "GET 1", "PUSH 8", "MUL", "ADD", "SET 4", "JGEULL 3, 4",
			"GET 3", "LOAD", "SET 5", "ADDLL 2, 5", "INCL 3, 8", "JLTULL 3, 4", "GET 2", "RETN 1"}},
		{"a parameter that is assigned lives in a slot", `
fn dec(n int) int {
    n -= 1
    return n
}

fn main() {
    println(dec(3))
}
`, "dec", []string{"ENTER 1, 0", "INCL 0, -1", "GET 0", "RETN 1"}},
		{"a function without slots has no frame", `
fn seven() int {
    return 7
}

fn main() {
    println(seven())
}
`, "seven", []string{"PUSH 7", "RET"}},
		{"a bounds check is one fused branch", `
fn get(s []int, i int) int {
    return s[i]
}

fn main() {
    println(get(new [3]int, 1))
}
`, "get", []string{"ENTER 3, 0", "JGEULL 2, 1", "GET2 0, 2", "PUSH 8", "MUL", "ADD", "LOAD", "RETN 1",
			"GET2 2, 1", "CALL", "PUSH 0", "LOAD"}},
	}
	for _, tc := range tests {
		p := compile(t, tc.src, lang.Options{})
		got := code(p, tc.fn)
		if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
			t.Errorf("%s: code of %s =\n%s\nwant\n%s", tc.name, tc.fn, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// TestNoOptimize: without the peephole pass there is no superinstruction.
func TestNoOptimize(t *testing.T) {
	p := compile(t, "fn main() {\n    var s = 0\n    for i in 0..10 {\n        s += i\n    }\n    println(s)\n}\n", lang.Options{NoOptimize: true})
	for pc, in := range p.Code {
		if in.Op.Fused() {
			t.Errorf("pc %d: %s with NoOptimize", pc, in.Op)
		}
	}
}

// TestWhere: instructions from other files are named by their file.
func TestWhere(t *testing.T) {
	p := compile(t, "import \"strconv\"\n\nfn main() {\n    var b [1]byte\n    println(strconv.format_int(b[:0], -5))\n}\n", lang.Options{})
	var inMain, inStd bool
	for pc := range p.Code {
		w := gen.Where(p, pc)
		switch {
		case strings.HasPrefix(w, "g.fl:"):
			inMain = true
		case strings.HasPrefix(w, "std/strconv.fl:"):
			inStd = true
		case strings.HasPrefix(w, "std/runtime.fl:"):
		default:
			t.Errorf("pc %d: Where = %q, want g.fl, std/strconv.fl or std/runtime.fl", pc, w)
		}
		if p.Pos[pc].Line != 0 && !strings.HasPrefix(w, "g.fl:") {
			t.Errorf("pc %d has a line in Program.Pos but is from %s", pc, w)
		}
	}
	if !inMain || !inStd {
		t.Errorf("positions in the main file %v, in std/strconv.fl %v; want both", inMain, inStd)
	}
}
