package asm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/isa"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"main:\n  FROB 1\n", "t.flasm:2:3: unknown instruction \"FROB\""},
		{"main:\n  PUSH\n", "t.flasm:2:3: PUSH takes 1 operand, got 0"},
		{"main:\n  PUSH 1, 2\n", "t.flasm:2:3: PUSH takes 1 operand, got 2"},
		{"main:\n  JMP nowhere\n", "t.flasm:2:7: undefined name nowhere"},
		{"main:\n  JMP 5\n", "t.flasm:2:7: JMP: operand 1 must be a code label"},
		{"main:\n  GET -1\n", "t.flasm:2:7: GET: slot -1 outside 0..1048575"},
		{"main:\n  GET main\n", "t.flasm:2:7: GET: slot must be a number, not a code label"},
		{"a:\na:\n  NOP\n", "t.flasm:2:1: a redefined (first defined at t.flasm:1:1)"},
		{"main:\n  PUSH 99999999999999999999\n", "t.flasm:2:8: number 99999999999999999999 does not fit in 64 bits"},
		{"main:\n  PUSH 'ab'\n", "t.flasm:2:8: character literal must hold one byte"},
		{".string s \"abc\nmain: NOP\n", "t.flasm:1:11: unterminated string"},
		{".string s \"\\q\"\nmain: NOP\n", "t.flasm:1:11: unknown escape \\q"},
		{".frob x\nmain: NOP\n", "t.flasm:1:1: unknown directive .frob"},
		{".entry start\nmain: NOP\n", "t.flasm:1:8: .entry start: no such label"},
		{"", "t.flasm:1:1: program has no instructions"},
		{"main:\n  PUSH len(main)\n", "t.flasm:2:12: len(main): main is not data"},
		{".const A B\n.const B A\nmain: PUSH A\n", "constant A is defined in terms of itself"},
		{"main:\n  PUSH 1 / 0\n", "t.flasm:2:10: division by zero in a constant expression"},
		{"main:\n  PUSH $\n", "t.flasm:2:8: unexpected character '$'"},
		{"main:\n  JMP end\nend:\n", "t.flasm:2:3: JMP: label at the end of the program names no instruction"},
		{"main:\n  JLTLI 0, 5000000000, main\n", "t.flasm:2:12: JLTLI: immediate 5000000000 does not fit in 32 bits"},
		{".bytes b 256\nmain: NOP\n", "t.flasm:1:10: byte value 256 outside -128..255"},
		{"len:\n  NOP\n", "t.flasm:1:1: len is reserved"},
	}
	for _, tc := range tests {
		_, err := Assemble("t.flasm", []byte(tc.src), Options{})
		if err == nil {
			t.Errorf("Assemble(%q) succeeded, want error %q", tc.src, tc.want)
			continue
		}
		if _, ok := err.(ErrorList); !ok {
			t.Errorf("Assemble(%q) error is %T, want ErrorList", tc.src, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Assemble(%q) = %q, want %q", tc.src, err, tc.want)
		}
	}
}

func TestErrorsAreCollectedInOrder(t *testing.T) {
	_, err := Assemble("t.flasm", []byte("main:\n  FROB\n  PUSH 'xy'\n  BLAH\n"), Options{})
	list, ok := err.(ErrorList)
	if !ok || len(list) != 3 {
		t.Fatalf("errors = %v, want 3", err)
	}
	for i, want := range []int{2, 3, 4} {
		if list[i].Line != want {
			t.Errorf("error %d on line %d, want %d", i, list[i].Line, want)
		}
	}
}

func TestSyntax(t *testing.T) {
	src := `
; comment
.const N 10*4+2   ; constants may use expressions
.string s "a\tb\x41\0"
.bytes b 1, 2, 'c', "de"
.words w 7, N, s
.zero z 3
.entry start
other: NOP
start: PUSH N
       push len(s)    ; mnemonics in any case
       PUSH b
       PUSH len(z)
       PUSH -N
       PUSH 0x10
       PUSH 0b101
       PUSH 1_000
       PUSH w
`
	p, err := Assemble("t.flasm", []byte(src), Options{NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Entry != 1 {
		t.Errorf("entry = %d, want 1", p.Entry)
	}
	wantB := []int64{42, 5, isa.RODataBase + 8, 3, -42, 16, 5, 1000, int64(p.DataBase())}
	for i, want := range wantB {
		if got := p.Code[i+1].B; got != want {
			t.Errorf("instruction %d: PUSH %d, want %d", i+1, got, want)
		}
	}
	if got := string(p.ROData[:5]); got != "a\tbA\x00" {
		t.Errorf("string data = %q", got)
	}
	if got := p.ROData[8:13]; string(got) != "\x01\x02cde" {
		t.Errorf("bytes data = %q", got)
	}
	if len(p.Data) != 27 || p.Data[8] != 42 || p.Data[16] != 0 || p.Data[17] != 0x10 {
		t.Errorf("writable data = % x", p.Data)
	}
	if p.Pos[1] != (isa.Pos{Line: 10, Col: 8}) {
		t.Errorf("pos of pc 1 = %+v, want 10:8", p.Pos[1])
	}
}

// TestFusion checks what the peephole pass emits for the sequences users
// write, and that it never fuses across a label.
func TestFusion(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"main: ENTER 0,2\nl: GET 0\nGET 1\nLT\nJZ l\n", "ENTER 0, 2|JGELL 0, 1, l"},
		{"main: ENTER 0,2\nl: GET 0\nPUSH 5\nGE\nJNZ l\n", "ENTER 0, 2|JGELI 0, 5, l"},
		{"main: DUP\nPUSH 2\nLT\nJNZ main\n", "JLTDI 2, main"},
		{"main: PUSH 2\nLTU\nJZ main\n", "JGEUI 2, main"},
		{"main: EQ\nJNZ main\n", "JEQ main"},
		{"main: ENTER 0,2\nGET 0\nGET 1\nADD\nSET 0\n", "ENTER 0, 2|ADDLL 0, 1"},
		{"main: ENTER 0,2\nGET 1\nPUSH 3\nSUB\nSET 1\n", "ENTER 0, 2|INCL 1, -3"},
		{"main: PUSH 4\nADD\n", "ADDI 4"},
		{"main: ENTER 0,1\nSET 0\nGET 0\n", "ENTER 0, 1|TEE 0"},
		{"main: ENTER 0,2\nGET 0\nGET 1\n", "ENTER 0, 2|GET2 0, 1"},
		{"main: EQZ\nJZ main\n", "JNZ main"},
		// a label inside the sequence stops fusion
		{"main: PUSH 4\nx: ADD\nJMP x\n", "PUSH 4|ADD|JMP x"},
		// the bottom of a while loop jumps straight back into the body
		{"main: ENTER 0,2\nl: GET 0\nGET 1\nLT\nJZ d\nINCL 0, 1\nJMP l\nd: RET\n", "ENTER 0, 2|JGELL 0, 1, d|INCL 0, 1|JLTLL 0, 1, L2|RET"},
	}
	for _, tc := range tests {
		p, err := Assemble("t.flasm", []byte(tc.src), Options{})
		if err != nil {
			t.Fatalf("Assemble(%q): %v", tc.src, err)
		}
		labels := map[int]string{}
		for _, s := range p.Symbols {
			if s.Kind == isa.SymCode {
				labels[int(s.Value)] = s.Name
			}
		}
		for _, in := range p.Code {
			if in.Op.HasTarget() {
				if _, ok := labels[int(in.A)]; !ok {
					labels[int(in.A)] = "L" + itoa(int(in.A))
				}
			}
		}
		var got []string
		for _, in := range p.Code {
			got = append(got, isa.FormatInstr(in, labels))
		}
		if g := strings.Join(got, "|"); g != tc.want {
			t.Errorf("Assemble(%q) = %s, want %s", tc.src, g, tc.want)
		}
	}
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+n))) }

// FuzzAssemble: the assembler never panics, and what it accepts is valid
// and survives encoding.
func FuzzAssemble(f *testing.F) {
	f.Add("main:\n  PUSH 1\n  PRINT\n")
	f.Add(".string s \"hi\\n\"\nmain: PUSH s\nPUSH len(s)\nPRINTS\n")
	f.Add(".const N 3*4\n.zero z N\nmain: ENTER 0, 2\nl: GET 0\nGET 1\nLT\nJZ l\nJMP l\n")
	f.Add("a: b: c: NOP\n.entry c\n.words w a, 1\n")
	f.Add("main: PUSH len(\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Assemble("f.flasm", []byte(src), Options{})
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("assembled an invalid program: %v", err)
		}
		if _, err := isa.Decode(isa.Encode(p)); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestDeepExpressionIsAnError(t *testing.T) {
	src := "main:\n  PUSH " + strings.Repeat("-", 100000) + "1\n  PUSH " + strings.Repeat("(", 1000) + "1\n"
	_, err := Assemble("t.flasm", []byte(src), Options{})
	if err == nil || !strings.Contains(err.Error(), "t.flasm:2:") || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("Assemble(deep expression) = %v, want a nesting error", err)
	}
}

func TestLongConstantChainIsAnError(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, ".const c%d c%d+1\n", i, i+1)
	}
	sb.WriteString(".const c5000 0\nmain: PUSH c0\n")
	_, err := Assemble("t.flasm", []byte(sb.String()), Options{})
	if err == nil || !strings.Contains(err.Error(), "more than 1000") {
		t.Errorf("Assemble(5000 chained constants) = %.200v, want a depth error", err)
	}
}

// An undefined name is reported together with other errors, but a name whose
// own definition failed is not reported again where it is used.
func TestUndefinedNamesReportedWithOtherErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"main:\n  FOO\n  JMP nowhere\n  PUSH 1 2\n",
			"t.flasm:2:3: unknown instruction \"FOO\"\nt.flasm:3:7: undefined name nowhere\nt.flasm:4:3: PUSH takes 1 operand, got 2"},
		{".const K\nmain:\n  PUSH K\n  FOO\n", "t.flasm:1:1: .const K needs one value\nt.flasm:4:3: unknown instruction \"FOO\""},
		{".const K missing+1\nmain:\n  FOO\n  PUSH len(nodata)\n",
			"t.flasm:1:10: undefined name missing\nt.flasm:3:3: unknown instruction \"FOO\"\nt.flasm:4:12: undefined name nodata"},
	}
	for _, tc := range tests {
		_, err := Assemble("t.flasm", []byte(tc.src), Options{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Assemble(%q) = %q, want %q", tc.src, err, tc.want)
		}
	}
}
