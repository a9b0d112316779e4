package lang_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/eval"
)

// progGen draws a random well-typed Flock program: top-level variables, a
// struct, functions that call only earlier ones (so every run ends), loops
// with constant bounds, and statements and expressions over int, uint,
// byte and bool. Every decision is its own draw, so rapid can shrink.
type progGen struct {
	t      *rapid.T
	sb     strings.Builder
	indent int
	funcs  []genFunc
	scopes [][]genVar
	fresh  int
	size   int // statement budget left
	depth  int // loop nesting
}

type genVar struct {
	name    string
	typ     string // int uint byte bool, or arr (an [4]int), or pt (a Pt)
	mutable bool
}

type genFunc struct {
	name   string
	params []string // types
	result string
}

var scalarTypes = []string{"int", "uint", "byte", "bool"}

func (g *progGen) intn(n int, label string) int {
	return rapid.IntRange(0, n-1).Draw(g.t, label)
}

func (g *progGen) line(format string, args ...any) {
	g.sb.WriteString(strings.Repeat("    ", g.indent))
	fmt.Fprintf(&g.sb, format, args...)
	g.sb.WriteByte('\n')
}

func (g *progGen) name() string {
	g.fresh++
	return fmt.Sprintf("v%d", g.fresh)
}

func (g *progGen) vars(typ string, mutable bool) []genVar {
	var out []genVar
	for _, s := range g.scopes {
		for _, v := range s {
			if v.typ == typ && (!mutable || v.mutable) {
				out = append(out, v)
			}
		}
	}
	return out
}

func (g *progGen) declare(v genVar) { g.scopes[len(g.scopes)-1] = append(g.scopes[len(g.scopes)-1], v) }

// literal is a constant of a scalar type (typed, so that ~ and - stay in
// its range).
func (g *progGen) literal(typ string) string {
	switch typ {
	case "bool":
		return []string{"true", "false"}[g.intn(2, "bool")]
	case "byte":
		return fmt.Sprintf("(%d as byte)", g.intn(256, "byte"))
	case "uint":
		return "(" + []string{"0", "1", "7", "255", "18446744073709551615", "4294967296"}[g.intn(6, "uint")] + " as uint)"
	}
	return []string{"0", "1", "-1", "3", "-7", "100", "9223372036854775807", "-9223372036854775807"}[g.intn(8, "int")]
}

// expr is an expression of a scalar type.
func (g *progGen) expr(typ string, depth int) string {
	s, _ := g.expr1(typ, depth)
	return s
}

// nonConst is a variable of the type that is never assigned: operations
// on two constants would be folded by the checker, which rejects those
// that overflow.
func nonConst(typ string) string { return "k" + typ }

// expr1 is an expression and whether it is a constant.
func (g *progGen) expr1(typ string, depth int) (string, bool) {
	if depth <= 0 {
		return g.leaf(typ)
	}
	bin := func(op, lt, rt string) (string, bool) {
		l, lc := g.expr1(lt, depth-1)
		r, rc := g.expr1(rt, depth-1)
		if lc && rc {
			l = nonConst(lt)
		}
		if rc && (op == "/" || op == "%") {
			r = nonConst(rt)
		}
		return fmt.Sprintf("(%s %s %s)", l, op, r), false
	}
	switch g.intn(10, "expr kind") {
	case 0, 1:
		return g.leaf(typ)
	case 8:
		return g.richExpr(typ, depth)
	case 9:
		if typ == "int" && g.intn(3, "spawn") == 0 {
			// A thread joined at once runs while its spawner waits, so
			// output comes in one order on the VM and in the evaluator.
			if call, ok := g.call("int", depth); !ok && strings.HasPrefix(call, "f") {
				return "join(spawn " + call + ")", false
			}
		}
		return g.leaf(typ)
	case 2:
		if typ == "bool" {
			return bin([]string{"&&", "||"}[g.intn(2, "logic")], "bool", "bool")
		}
		return bin([]string{"+", "-", "*", "/", "%", "&", "|", "^"}[g.intn(8, "arith")], typ, typ)
	case 3:
		if typ == "bool" {
			ot := scalarTypes[g.intn(3, "cmp type")]
			return bin([]string{"==", "!=", "<", "<=", ">", ">="}[g.intn(6, "cmp")], ot, ot)
		}
		return bin([]string{"<<", ">>"}[g.intn(2, "shift")], typ, "uint")
	case 4:
		x, c := g.expr1(typ, depth-1)
		switch typ {
		case "bool":
			return "!" + x, c
		case "uint", "byte":
			return "~" + x, c
		}
		return "(- " + x + ")", c
	case 5:
		if typ == "bool" {
			return g.leaf(typ)
		}
		from := scalarTypes[g.intn(4, "conv from")]
		x, c := g.expr1(from, depth-1)
		return fmt.Sprintf("(%s as %s)", x, typ), c
	case 6:
		return g.call(typ, depth)
	default:
		if typ == "int" {
			if arrs := g.vars("arr", false); len(arrs) > 0 {
				a := arrs[g.intn(len(arrs), "arr")]
				return fmt.Sprintf("%s[%s]", a.name, g.index(depth-1)), false
			}
			if pts := g.vars("pt", false); len(pts) > 0 {
				p := pts[g.intn(len(pts), "pt")]
				return fmt.Sprintf("%s.%s", p.name, []string{"x", "y"}[g.intn(2, "field")]), false
			}
		}
		return g.leaf(typ)
	}
}

// richExpr draws an expression over the prelude: structs passed and
// returned by value, methods, strings and slices.
func (g *progGen) richExpr(typ string, depth int) (string, bool) {
	switch typ {
	case "int":
		switch g.intn(4, "rich int") {
		case 0:
			return fmt.Sprintf("mkpt(%s, %s).sum()", g.expr("int", depth-1), g.expr("int", depth-1)), false
		case 1:
			return fmt.Sprintf("len(text[%s:%s])", g.bound(depth-1), g.bound(depth-1)), false
		case 2:
			if ss := g.vars("slice", false); len(ss) > 0 {
				sl := ss[g.intn(len(ss), "slice")]
				return fmt.Sprintf("%s[%s]", sl.name, g.index(depth-1)), false
			}
		default:
			if pts := g.vars("pt", false); len(pts) > 0 {
				p := pts[g.intn(len(pts), "pt")]
				return fmt.Sprintf("%s.sum()", p.name), false
			}
		}
	case "byte":
		if g.intn(8, "wild text index") == 0 {
			return fmt.Sprintf("text[(kint + %s)]", g.expr("int", depth-1)), false
		}
		return fmt.Sprintf("text[(%s as uint + kuint) %% 13]", g.expr("int", depth-1)), false
	case "bool":
		op := []string{"==", "!=", "<", ">="}[g.intn(4, "str cmp")]
		return fmt.Sprintf("(text[%s:%s] %s text[%s:])", g.bound(depth-1), g.bound(depth-1), op, g.bound(depth-1)), false
	}
	return g.leaf(typ)
}

// bound is a slice bound into text (13 bytes): mostly in range.
func (g *progGen) bound(depth int) string {
	if g.intn(10, "wild bound") == 0 {
		return fmt.Sprintf("(kint + %s)", g.expr("int", depth))
	}
	// Never constant: constant bounds out of order are a compile error.
	return fmt.Sprintf("((%s as uint + kuint) %% 14)", g.expr("int", depth))
}

// index is an array index: mostly in range, sometimes anything (a panic
// both sides must agree on).
func (g *progGen) index(depth int) string {
	if g.intn(8, "wild index") == 0 {
		// Not a constant: the checker rejects constant indexes out of range.
		return fmt.Sprintf("(kint + %s)", g.expr("int", depth))
	}
	return fmt.Sprintf("(%s as uint %% 4)", g.expr("int", depth))
}

func (g *progGen) leaf(typ string) (string, bool) {
	if vs := g.vars(typ, false); len(vs) > 0 && g.intn(3, "leaf var") > 0 {
		return vs[g.intn(len(vs), "var")].name, false
	}
	return g.literal(typ), true
}

func (g *progGen) call(typ string, depth int) (string, bool) {
	var cands []genFunc
	for _, f := range g.funcs {
		if f.result == typ {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return g.leaf(typ)
	}
	f := cands[g.intn(len(cands), "callee")]
	args := make([]string, len(f.params))
	for i, p := range f.params {
		args[i] = g.expr(p, depth-1)
	}
	return fmt.Sprintf("%s(%s)", f.name, strings.Join(args, ", ")), false
}

func (g *progGen) stmts(n int) {
	for range n {
		if g.size <= 0 {
			return
		}
		g.size--
		g.stmt()
	}
}

func (g *progGen) stmt() {
	switch g.intn(11, "stmt") {
	case 0, 1:
		typ := scalarTypes[g.intn(4, "decl type")]
		v := genVar{name: g.name(), typ: typ, mutable: true}
		g.line("var %s %s = %s", v.name, typ, g.expr(typ, 2))
		g.declare(v)
	case 2:
		typ := scalarTypes[g.intn(4, "assign type")]
		if vs := g.vars(typ, true); len(vs) > 0 {
			v := vs[g.intn(len(vs), "assign var")]
			if typ != "bool" && g.intn(2, "op assign") == 0 {
				op := []string{"+=", "-=", "*=", "|=", "^=", "<<="}[g.intn(6, "op")]
				rt := typ
				if op == "<<=" {
					rt = "uint"
				}
				g.line("%s %s %s", v.name, op, g.expr(rt, 2))
			} else {
				g.line("%s = %s", v.name, g.expr(typ, 2))
			}
		}
	case 3:
		typ := scalarTypes[g.intn(4, "print type")]
		switch g.intn(3, "print kind") {
		case 0:
			g.line("println(%s, %s)", g.expr(typ, 2), g.expr("int", 1))
		case 1:
			g.line("printf(\"%%d|%%5d|%%x\\n\", %s, %s, %s)", g.expr("int", 2), g.expr("byte", 1), g.expr("uint", 1))
		default:
			g.line("print(%s, \" \")", g.expr(typ, 2))
		}
	case 4:
		if g.depth < 2 {
			g.line("if %s {", g.expr("bool", 2))
			g.block(3)
			if g.intn(2, "else") == 0 {
				g.line("} else {")
				g.block(2)
			}
			g.line("}")
		}
	case 5:
		if g.depth < 2 {
			i := g.name()
			g.line("for %s in 0..%d {", i, g.intn(5, "bound"))
			g.depth++
			g.scopes = append(g.scopes, []genVar{{name: i, typ: "int"}})
			g.indent++
			g.stmts(3)
			if g.intn(4, "break") == 0 {
				g.line("if %s == %d {", i, g.intn(3, "at"))
				g.line("    %s", []string{"break", "continue"}[g.intn(2, "which")])
				g.line("}")
			}
			g.indent--
			g.scopes = g.scopes[:len(g.scopes)-1]
			g.depth--
			g.line("}")
		}
	case 6:
		if arrs := g.vars("arr", false); len(arrs) > 0 {
			a := arrs[g.intn(len(arrs), "arr")]
			g.line("%s[%s] = %s", a.name, g.index(1), g.expr("int", 2))
		} else {
			v := genVar{name: g.name(), typ: "arr"}
			g.line("var %s [4]int", v.name)
			g.declare(v)
		}
	case 7:
		if pts := g.vars("pt", false); len(pts) > 0 {
			p := pts[g.intn(len(pts), "pt")]
			g.line("%s.%s = %s", p.name, []string{"x", "y"}[g.intn(2, "field")], g.expr("int", 2))
		} else {
			v := genVar{name: g.name(), typ: "pt"}
			g.line("%s := Pt{%s, %s}", v.name, g.expr("int", 1), g.expr("int", 1))
			g.declare(v)
		}
	case 8:
		if arrs := g.vars("arr", false); len(arrs) > 0 && g.depth < 2 {
			a := arrs[g.intn(len(arrs), "arr")]
			k, x := g.name(), g.name()
			g.line("for %s, %s in %s {", k, x, a.name)
			g.indent++
			g.line("g1 += %s * %s", k, x)
			g.indent--
			g.line("}")
		}
	case 9:
		g.richStmt()
	default:
		g.line("g%d = %s", g.intn(2, "global"), g.expr("int", 2))
	}
}

// richStmt draws a statement over the prelude and the composite types.
func (g *progGen) richStmt() {
	switch g.intn(5, "rich stmt") {
	case 0:
		if pts := g.vars("pt", false); len(pts) > 0 {
			p := pts[g.intn(len(pts), "pt")]
			g.line("%s.bump(%s)", p.name, g.expr("int", 2))
			if g.intn(2, "copy pt") == 0 {
				q := genVar{name: g.name(), typ: "pt"}
				g.line("%s := %s", q.name, p.name)
				g.line("%s.x = %s", q.name, g.expr("int", 1))
				g.declare(q)
			}
		}
	case 1:
		if vs := g.vars("int", true); len(vs) >= 2 {
			a, b := vs[g.intn(len(vs), "swap a")], vs[g.intn(len(vs), "swap b")]
			if g.intn(2, "swap kind") == 0 {
				g.line("%s, %s = %s, %s", a.name, b.name, b.name, a.name)
			} else {
				g.line("%s, %s = swap2(%s, %s)", a.name, b.name, g.expr("int", 1), g.expr("int", 1))
			}
		}
	case 2:
		if arrs := g.vars("arr", false); len(arrs) > 0 {
			a := arrs[g.intn(len(arrs), "slice of")]
			v := genVar{name: g.name(), typ: "slice"}
			lo := g.intn(3, "slice lo")
			g.line("%s := %s[%d:%d]", v.name, a.name, lo, lo+g.intn(5-lo, "slice len"))
			g.declare(v)
		}
	case 3:
		if ss := g.vars("slice", false); len(ss) > 0 {
			sl := ss[g.intn(len(ss), "slice")]
			if g.intn(2, "slice write") == 0 {
				g.line("%s[%s] = %s", sl.name, g.index(1), g.expr("int", 2))
			} else if g.depth < 2 {
				x := g.name()
				g.line("for _, %s in %s {", x, sl.name)
				g.line("    g0 ^= %s", x)
				g.line("}")
			}
		}
	default:
		if g.depth < 2 {
			w := g.name()
			g.line("var %s = 0", w)
			g.line("while %s < %d {", w, g.intn(4, "while bound"))
			g.depth++
			g.scopes = append(g.scopes, []genVar{{name: w, typ: "int"}})
			g.indent++
			g.stmts(2)
			g.line("%s++", w)
			g.indent--
			g.scopes = g.scopes[:len(g.scopes)-1]
			g.depth--
			g.line("}")
		}
	}
}

func (g *progGen) block(n int) {
	g.indent++
	g.scopes = append(g.scopes, nil)
	g.stmts(n)
	g.scopes = g.scopes[:len(g.scopes)-1]
	g.indent--
}

func (g *progGen) function(i int) {
	f := genFunc{name: fmt.Sprintf("f%d", i), result: scalarTypes[g.intn(4, "result")]}
	n := g.intn(4, "params")
	var params []string
	g.scopes = [][]genVar{g.scopes[0], nil}
	for k := range n {
		pt := scalarTypes[g.intn(4, "param type")]
		f.params = append(f.params, pt)
		name := fmt.Sprintf("p%d", k)
		params = append(params, name+" "+pt)
		g.declare(genVar{name: name, typ: pt, mutable: true})
	}
	g.line("fn %s(%s) %s {", f.name, strings.Join(params, ", "), f.result)
	g.indent++
	if n > 0 && g.intn(3, "guard") == 0 {
		// An early return on the parameters, as in fib.
		g.line("if %s {", g.expr("bool", 1))
		g.line("    return %s", g.expr(f.result, 1))
		g.line("}")
	}
	g.size = 6
	g.stmts(1 + g.intn(5, "body"))
	g.line("return %s", g.expr(f.result, 2))
	g.indent--
	g.line("}")
	g.line("")
	g.funcs = append(g.funcs, f)
}

// prelude is what every generated program declares.
const prelude = `struct Pt {
    x, y int
}

const text = "flock machine"

fn (p *Pt) bump(d int) {
    p.x += d
    p.y -= d
}

fn (p Pt) sum() int {
    return p.x + p.y
}

fn mkpt(a int, b int) Pt {
    return Pt{a, b}
}

fn swap2(a int, b int) (int, int) {
    return b, a
}

`

func (g *progGen) program() string {
	g.sb.WriteString(prelude)
	g.line("var g0 int = %s", g.literal("int"))
	g.line("var g1 int")
	for _, t := range scalarTypes {
		g.line("var %s %s = %s", nonConst(t), t, g.literal(t))
	}
	g.line("")
	g.scopes = [][]genVar{{{name: "g0", typ: "int", mutable: true}, {name: "g1", typ: "int", mutable: true}}}
	for _, t := range scalarTypes {
		g.scopes[0] = append(g.scopes[0], genVar{name: nonConst(t), typ: t})
	}
	for i := range g.intn(4, "funcs") {
		g.function(i)
	}
	g.scopes = [][]genVar{g.scopes[0], nil}
	g.line("fn main() {")
	g.indent++
	g.size = 12
	g.stmts(3 + g.intn(10, "main"))
	g.line("println(g0, g1)")
	g.indent--
	g.line("}")
	return g.sb.String()
}

// TestCrossCheck compiles random programs and runs them on the VM and in
// the reference evaluator: output and exit (or trap) must agree.
func TestCrossCheck(t *testing.T) {
	st, closeStorage := scratchStorage(t)
	defer closeStorage()
	rapid.Check(t, func(rt *rapid.T) {
		g := &progGen{t: rt}
		src := g.program()
		rt.Log(src)
		prog, err := lang.Check("r.fl", []byte(src), nil)
		if err != nil {
			rt.Fatalf("a generated program does not compile: %v\n%s", err, src)
		}
		res, err := eval.Run(prog, nil, eval.Limits{})
		if errors.Is(err, eval.ErrUnsupported) {
			rt.Fatalf("the evaluator cannot run a generated program: %v", err)
		}
		p, err := lang.Compile("r.fl", []byte(src), nil, lang.Options{})
		if err != nil {
			rt.Fatalf("compile: %v", err)
		}
		vm, err := runOn(p, nil, st, nil)
		if err != nil {
			rt.Fatal(err)
		}
		want := outcome{out: res.Output, status: fmt.Sprintf("exit %d", res.Exit)}
		if res.Trap != "" {
			want.status = "trap"
			vm.status = strings.SplitN(vm.status, ":", 2)[0]
		}
		if vm.String() != want.String() {
			rt.Fatalf("the VM printed\n%s\nthe evaluator\n%s", vm, want)
		}
	})
}
