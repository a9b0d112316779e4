package isa

import (
	"fmt"
	"math"
)

// Memory layout of a thread's local memory at start. Address 0 up to
// RODataBase is never mapped, so a null pointer traps.
const (
	PageSizeBytes = 4096
	RODataBase    = 0x1000
	// GlobalBit marks a process-global address: MSB = 1.
	GlobalBit = uint64(1) << 63
)

// Instr is one instruction with its operands pre-decoded; see Operands for
// which field holds what.
type Instr struct {
	Op Op
	A  int32
	B  int64
}

// Pos is a source position: 1-based line and column. Line 0: unknown.
type Pos struct {
	Line int32
	Col  int32
}

// SymKind says what a symbol names.
type SymKind uint8

const (
	SymCode  SymKind = iota // a pc
	SymData                 // a local address
	SymConst                // a constant
)

// Symbol is a name from the source, kept for the disassembler.
type Symbol struct {
	Name  string
	Kind  SymKind
	Value int64
	Len   int64 // data symbols: length in bytes
}

// Program is an assembled program: what a process runs.
type Program struct {
	File    string  // source file name, for messages
	Code    []Instr // the instructions; pc indexes this
	Pos     []Pos   // Pos[pc] is where Code[pc] came from
	Entry   int     // pc of the main thread's first instruction
	ROData  []byte  // read-only data at RODataBase
	Data    []byte  // writable data at DataBase()
	Symbols []Symbol
}

// DataBase is the local address of the writable data: the first page after
// the read-only data.
func (p *Program) DataBase() uint64 {
	return RODataBase + roundUp(uint64(len(p.ROData)), PageSizeBytes)
}

// HeapBase is the first local address after the program's data.
func (p *Program) HeapBase() uint64 {
	return p.DataBase() + roundUp(uint64(len(p.Data)), PageSizeBytes)
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }

// Limits on a program's size: a decoder or loader rejects anything larger.
const (
	CodeLenMax   = 1 << 24
	DataLenMax   = 1 << 28
	SlotMax      = 1 << 20 // largest local slot / count operand
	SymbolMax    = 1 << 20
	NameLenMax   = 4096
	SourceLenMax = 1 << 30
)

// Where names a pc as file:line:col.
func (p *Program) Where(pc int) string {
	if pc < 0 || pc >= len(p.Pos) || p.Pos[pc].Line == 0 {
		return fmt.Sprintf("%s:?", p.File)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Pos[pc].Line, p.Pos[pc].Col)
}

// Validate checks that the program is well formed: every opcode defined,
// every code address inside the code, every operand in range, a position
// for every pc. An interpreter may rely on all of that.
func (p *Program) Validate() error {
	if len(p.Code) == 0 {
		return fmt.Errorf("program has no code")
	}
	if len(p.Code) > CodeLenMax {
		return fmt.Errorf("program has %d instructions, more than %d", len(p.Code), CodeLenMax)
	}
	if len(p.Pos) != len(p.Code) {
		return fmt.Errorf("program has %d source positions for %d instructions", len(p.Pos), len(p.Code))
	}
	if p.Entry < 0 || p.Entry >= len(p.Code) {
		return fmt.Errorf("entry point %d outside the code (0..%d)", p.Entry, len(p.Code)-1)
	}
	if len(p.ROData) > DataLenMax || len(p.Data) > DataLenMax {
		return fmt.Errorf("program data too large: %d + %d bytes", len(p.ROData), len(p.Data))
	}
	for pc, in := range p.Code {
		if err := p.validInstr(in); err != nil {
			return fmt.Errorf("pc %d (%s): %w", pc, p.Where(pc), err)
		}
	}
	return nil
}

func (p *Program) validInstr(in Instr) error {
	if !in.Op.Valid() {
		return fmt.Errorf("undefined opcode %d", in.Op)
	}
	inRange := func(v int64, what string) error {
		if v < 0 || v >= SlotMax {
			return fmt.Errorf("%s: %s %d outside 0..%d", in.Op, what, v, SlotMax-1)
		}
		return nil
	}
	if in.Op.HasTarget() && (in.A < 0 || int(in.A) >= len(p.Code)) {
		return fmt.Errorf("%s: code address %d outside the code", in.Op, in.A)
	}
	switch in.Op.Info().Operands {
	case OperSlot, OperCount:
		return inRange(int64(in.A), "operand")
	case OperEnter:
		if err := inRange(int64(in.A), "argument count"); err != nil {
			return err
		}
		return inRange(in.B, "local count")
	case OperSlotImm:
		return inRange(int64(in.A), "slot")
	case OperSlotSlot:
		if err := inRange(int64(in.A), "slot"); err != nil {
			return err
		}
		return inRange(in.B, "slot")
	case OperSlotSlotL:
		if err := inRange(in.B&math.MaxUint32, "slot"); err != nil {
			return err
		}
		return inRange(in.B>>32, "slot")
	case OperSlotImmL:
		return inRange(in.B&math.MaxUint32, "slot")
	}
	return nil
}

// PackSlots packs two slots into a B operand (OperSlotSlotL).
func PackSlots(a, b int32) int64 { return int64(uint32(a)) | int64(b)<<32 }

// PackSlotImm packs a slot and a 32-bit immediate into a B operand
// (OperSlotImmL).
func PackSlotImm(slot int32, imm int32) int64 { return int64(uint32(slot)) | int64(imm)<<32 }

// Lo is the low 32 bits of a packed operand (the first slot).
func Lo(b int64) int32 { return int32(uint32(b)) }

// Hi is the high 32 bits of a packed operand, sign-extended.
func Hi(b int64) int32 { return int32(b >> 32) }
