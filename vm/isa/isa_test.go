package isa

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strings"
	"testing"
)

func sample() *Program {
	return &Program{
		File:   "s.fl",
		Code:   []Instr{{Op: PUSH, B: -5}, {Op: CondBranch(FormLL, CondLT), A: 0, B: PackSlots(1, 2)}, {Op: INCL, A: 3, B: -1}, {Op: RET}},
		Pos:    []Pos{{1, 1}, {2, 3}, {3, 3}, {4, 1}},
		Entry:  0,
		ROData: []byte("hi"),
		Data:   []byte{1, 2, 3},
		Symbols: []Symbol{
			{Name: "main", Kind: SymCode, Value: 0},
			{Name: "s", Kind: SymData, Value: RODataBase, Len: 2},
		},
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	p := sample()
	q, err := Decode(Encode(p))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Encode(q), Encode(p)) {
		t.Errorf("Decode(Encode(p)) differs from p: %+v", q)
	}
	if q.Code[1] != p.Code[1] || q.Pos[2] != p.Pos[2] || q.Symbols[1] != p.Symbols[1] {
		t.Errorf("decoded %+v, want %+v", q, p)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := Encode(sample())
	flipped := append([]byte(nil), good...)
	flipped[10] ^= 1
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not Flock bytecode"},
		{"source", []byte("main: NOP"), "not Flock bytecode"},
		{"truncated", good[:len(good)-9], "checksum"},
		{"bit flip", flipped, "checksum"},
	}
	for _, tc := range tests {
		if _, err := Decode(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s) = %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Program)
		want   string
	}{
		{"jump outside", func(p *Program) { p.Code[1].A = 9 }, "code address 9 outside the code"},
		{"bad opcode", func(p *Program) { p.Code[0].Op = NumOps }, "undefined opcode"},
		{"slot", func(p *Program) { p.Code[2].A = SlotMax }, "outside 0.."},
		{"entry", func(p *Program) { p.Entry = 4 }, "entry point 4 outside"},
		{"positions", func(p *Program) { p.Pos = p.Pos[:1] }, "source positions"},
	}
	for _, tc := range tests {
		p := sample()
		tc.mutate(p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestOpTable(t *testing.T) {
	for op := Op(0); op < NumOps; op++ {
		got, ok := Lookup(strings.ToLower(op.String()))
		if !ok || got != op {
			t.Errorf("Lookup(%q) = %v, %v; want %v", op.String(), got, ok, op)
		}
	}
	for f := BranchForm(0); f < NumForms; f++ {
		for c := Cond(0); c < NumConds; c++ {
			gf, gc, ok := BranchOf(CondBranch(f, c))
			if !ok || gf != f || gc != c {
				t.Errorf("BranchOf(CondBranch(%d, %d)) = %d, %d, %v", f, c, gf, gc, ok)
			}
			for _, ab := range [][2]uint64{{1, 2}, {2, 1}, {3, 3}, {^uint64(0), 1}} {
				if c.Holds(ab[0], ab[1]) == c.Negate().Holds(ab[0], ab[1]) {
					t.Errorf("%s and its negation agree on %v", condNames[c], ab)
				}
			}
		}
	}
}

func TestDisassemble(t *testing.T) {
	text := Disassemble(sample())
	for _, want := range []string{"main:", "PUSH -5", "JLTLL 1, 2, main", "INCL 3, -1", "s.fl:2:3", "68 69"} {
		if !strings.Contains(text, want) {
			t.Errorf("disassembly lacks %q:\n%s", want, text)
		}
	}
}

// FuzzDecode: garbage never panics, and what decodes is valid.
func FuzzDecode(f *testing.F) {
	enc := Encode(sample())
	f.Add(enc[:len(enc)-4])
	f.Add([]byte(Magic))
	f.Add([]byte("FLKB\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Also decode the input with a correct checksum, so the fuzzer
		// reaches the field decoders behind it.
		sealed := binary.LittleEndian.AppendUint32(append([]byte(nil), data...), crc32.Checksum(data, castagnoli))
		for _, in := range [][]byte{data, sealed} {
			p, err := Decode(in)
			if err != nil {
				continue
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("decoded an invalid program: %v", err)
			}
			Disassemble(p)
		}
	})
}

// TestDocumented: docs/isa.md documents every instruction.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/isa.md")
	if err != nil {
		t.Fatal(err)
	}
	for op := Op(0); op < firstCondBranch; op++ {
		if !strings.Contains(string(doc), "`"+op.String()) {
			t.Errorf("docs/isa.md does not document %s", op)
		}
	}
	for _, form := range []string{"`J<c> L`", "`J<c>I k, L`", "`J<c>DI k, L`", "`J<c>LL a, b, L`", "`J<c>LI a, k, L`"} {
		if !strings.Contains(string(doc), form) {
			t.Errorf("docs/isa.md does not document %s", form)
		}
	}
}
