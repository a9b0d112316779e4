package proc

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/sys"
	"pgregory.net/rapid"
)

// progGen draws random structured programs: expressions over locals and
// memory, stores, prints, ifs, counted loops and calls. Locals: 0 the base
// of a 512-byte local buffer, 1 the base of a 512-byte global buffer, 2..5
// variables, 6..8 loop counters. Memory accesses stay inside the buffers.
type progGen struct {
	sb     strings.Builder
	labels int
}

func (g *progGen) emit(format string, args ...any) {
	fmt.Fprintf(&g.sb, format+"\n", args...)
}

func (g *progGen) label() string {
	g.labels++
	return fmt.Sprintf("L%d", g.labels)
}

var interesting = []int64{0, 1, -1, 2, 3, 7, 8, 63, 64, 255, 256, 1 << 32, math.MaxInt64, math.MinInt64}

var binops = []string{"ADD", "SUB", "MUL", "DIV", "DIVU", "MOD", "MODU", "AND", "OR", "XOR", "SHL", "SHR", "SAR",
	"EQ", "NE", "LT", "LE", "GT", "GE", "LTU", "LEU", "GTU", "GEU"}

// expr emits code that pushes exactly one value. vars are the local slots
// it may read; mem says whether the buffers (slots 0 and 1) exist.
func (g *progGen) expr(t *rapid.T, depth int, vars []int, mem bool) {
	kinds := 2
	if depth > 0 {
		kinds = 9
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "expr") {
	case 0:
		if rapid.Bool().Draw(t, "interesting") {
			g.emit("PUSH %d", rapid.SampledFrom(interesting).Draw(t, "k"))
		} else {
			g.emit("PUSH %d", rapid.Int64Range(-100, 100).Draw(t, "k"))
		}
	case 1:
		g.emit("GET %d", rapid.SampledFrom(vars).Draw(t, "var"))
	case 2, 3:
		g.expr(t, depth-1, vars, mem)
		g.expr(t, depth-1, vars, mem)
		g.emit("%s", rapid.SampledFrom(binops).Draw(t, "op"))
	case 4:
		g.expr(t, depth-1, vars, mem)
		g.emit("%s", rapid.SampledFrom([]string{"NEG", "NOT", "EQZ"}).Draw(t, "unop"))
	case 5:
		g.expr(t, depth-1, vars, mem)
		switch rapid.IntRange(0, 3).Draw(t, "shuffle") {
		case 0:
			g.emit("DUP\n%s", rapid.SampledFrom(binops).Draw(t, "op"))
		case 1:
			g.expr(t, depth-1, vars, mem)
			g.emit("SWAP\n%s", rapid.SampledFrom(binops).Draw(t, "op"))
		case 2:
			g.expr(t, depth-1, vars, mem)
			g.emit("OVER\nPICK 1\n%s\n%s\nDROP", rapid.SampledFrom(binops).Draw(t, "op"), rapid.SampledFrom(binops).Draw(t, "op"))
		default:
			g.expr(t, depth-1, vars, mem)
			g.expr(t, depth-1, vars, mem)
			g.emit("ROT\n%s\n%s", rapid.SampledFrom(binops).Draw(t, "op"), rapid.SampledFrom(binops).Draw(t, "op"))
		}
	case 6:
		g.expr(t, depth-1, vars, mem)
		g.emit("TEE %d", rapid.SampledFrom(vars).Draw(t, "var"))
	default:
		if !mem {
			g.expr(t, depth-1, vars, mem)
			g.emit("PUSH %d\nADD", rapid.Int64Range(-5, 5).Draw(t, "k"))
			return
		}
		switch rapid.IntRange(0, 4).Draw(t, "memop") {
		case 0:
			g.addr(t, depth, vars, true)
			g.emit("LOAD")
		case 1:
			g.addr(t, depth, vars, false)
			g.emit("LOADB")
		case 2:
			g.addr(t, depth, vars, true)
			g.expr(t, depth-1, vars, mem)
			g.expr(t, depth-1, vars, mem)
			g.emit("CAS")
		case 3:
			g.addr(t, depth, vars, true)
			g.expr(t, depth-1, vars, mem)
			g.emit("FAA")
		default:
			g.expr(t, depth-1, vars, mem)
			g.emit("CALL f")
		}
	}
}

// addr pushes an address inside the local or global buffer: word-aligned
// for word accesses.
func (g *progGen) addr(t *rapid.T, depth int, vars []int, word bool) {
	g.emit("GET %d", rapid.IntRange(0, 1).Draw(t, "buffer"))
	g.expr(t, depth-1, vars, true)
	if word {
		g.emit("PUSH 63\nAND\nPUSH 8\nMUL\nADD")
	} else {
		g.emit("PUSH 511\nAND\nADD")
	}
}

var progVars = []int{2, 3, 4, 5}

func (g *progGen) block(t *rapid.T, depth int) {
	n := rapid.IntRange(1, 4).Draw(t, "statements")
	for range n {
		g.stmt(t, depth)
	}
}

func (g *progGen) stmt(t *rapid.T, depth int) {
	kinds := 4
	if depth > 0 {
		kinds = 9
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "stmt") {
	case 0:
		g.expr(t, 2, progVars, true)
		g.emit("SET %d", rapid.SampledFrom(progVars).Draw(t, "var"))
	case 1:
		g.expr(t, 2, progVars, true)
		g.emit("PRINT\nPUSH ' '\nPUTC")
	case 2:
		g.expr(t, 1, progVars, true)
		g.addr(t, 1, progVars, true)
		g.emit("STORE")
	case 3:
		g.expr(t, 1, progVars, true)
		g.addr(t, 1, progVars, false)
		g.emit("STOREB")
	case 4:
		els, end := g.label(), g.label()
		g.expr(t, 2, progVars, true)
		g.emit("JZ %s", els)
		g.block(t, depth-1)
		g.emit("JMP %s\n%s:", end, els)
		g.block(t, depth-1)
		g.emit("%s: NOP", end)
	case 5:
		c := 8 - depth
		top, end := g.label(), g.label()
		g.emit("PUSH %d\nSET %d", rapid.IntRange(0, 4).Draw(t, "trips"), c)
		g.emit("%s:\nGET %d\nPUSH 0\nGT\nJZ %s", top, c, end)
		g.block(t, depth-1)
		g.emit("GET %d\nPUSH 1\nSUB\nSET %d\nJMP %s\n%s: NOP", c, c, top, end)
	case 7:
		// the counter stays on the stack: the test keeps it (DUP ... JZ)
		c := 8 - depth
		top, end := g.label(), g.label()
		g.emit("PUSH 0\nSET %d\nGET %d", c, c)
		g.emit("%s:\nDUP\nPUSH %d\nLT\nJZ %s\nDROP", top, rapid.IntRange(0, 3).Draw(t, "limit"), end)
		g.block(t, depth-1)
		g.emit("GET %d\nPUSH 1\nADD\nTEE %d\nJMP %s\n%s: DROP", c, c, top, end)
	case 8:
		// both operands computed on the stack
		c := 8 - depth
		top, end := g.label(), g.label()
		g.emit("PUSH 0\nSET %d", c)
		g.emit("%s:\nPUSH %d\nGET %d\nPUSH 1\nMUL\nGT\nJZ %s", top, rapid.IntRange(0, 3).Draw(t, "limit"), c, end)
		g.block(t, depth-1)
		g.emit("GET %d\nPUSH 1\nADD\nSET %d\nJMP %s\n%s: NOP", c, c, top, end)
	default:
		// a while loop on two locals: v < limit
		c := 8 - depth
		top, end := g.label(), g.label()
		g.emit("PUSH 0\nSET %d", c)
		g.emit("%s:\nGET %d\nPUSH %d\nLT\nJZ %s", top, c, rapid.IntRange(0, 3).Draw(t, "limit"), end)
		g.block(t, depth-1)
		g.emit("GET %d\nPUSH 1\nADD\nSET %d\nJMP %s\n%s: NOP", c, c, top, end)
	}
}

// program draws a whole program.
func drawProgram(t *rapid.T) string {
	g := &progGen{}
	g.emit("main:\nENTER 0, 9\nPUSH 512\nALLOC\nSET 0\nPUSH 512\nGALLOC\nSET 1")
	g.block(t, 2)
	for _, v := range progVars {
		g.emit("GET %d\nPRINT\nPUSH ' '\nPUTC", v)
	}
	g.emit("GET 2\nEXIT")
	g.emit("f:\nENTER 1, 1")
	g.expr(t, 2, []int{0, 1}, false)
	g.emit("SET 1\nGET 1\nGET 0\nXOR\nRETN 1")
	return g.sb.String()
}

// TestAgainstReference: on random programs the interpreter (with
// superinstructions) and the naive reference (without) agree on output,
// exit status and trap.
func TestAgainstReference(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		src := drawProgram(rt)
		plain, err := asm.Assemble("r.flasm", []byte(src), asm.Options{NoOptimize: true})
		if err != nil {
			rt.Fatalf("generated program does not assemble: %v\n%s", err, src)
		}
		want := refRun(plain, 1_000_000)
		got := runProgram(t, "r.flasm", []byte(src), runOpts{})
		gotTrap := sys.TrapNone
		if got.status.Trap != nil {
			gotTrap = got.status.Trap.Kind
		}
		if got.out != want.out || gotTrap != want.trap || (gotTrap == sys.TrapNone && got.status.Code != want.code) {
			rt.Fatalf("interpreter: out %q exit %d trap %v\nreference:   out %q exit %d trap %v\nprogram:\n%s",
				got.out, got.status.Code, gotTrap, want.out, want.code, want.trap, src)
		}
	})
}
