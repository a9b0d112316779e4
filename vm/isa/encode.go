package isa

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Magic starts every encoded program; the byte after it is the version.
const (
	Magic          = "FLKB"
	EncodedVersion = 1
)

// Encode serialises a program into the portable bytecode format: magic,
// version, then varint fields, and a CRC-32C of everything before it.
func Encode(p *Program) []byte {
	b := append([]byte(Magic), EncodedVersion)
	file := p.File
	if len(file) > NameLenMax {
		file = file[len(file)-NameLenMax:] // the end of a path says the most
	}
	b = appendString(b, file)
	b = binary.AppendUvarint(b, uint64(p.Entry))
	b = binary.AppendUvarint(b, uint64(len(p.Code)))
	for pc, in := range p.Code {
		b = append(b, byte(in.Op))
		b = binary.AppendVarint(b, int64(in.A))
		b = binary.AppendVarint(b, in.B)
		b = binary.AppendUvarint(b, uint64(p.Pos[pc].Line))
		b = binary.AppendUvarint(b, uint64(p.Pos[pc].Col))
	}
	b = appendBytes(b, p.ROData)
	b = appendBytes(b, p.Data)
	b = binary.AppendUvarint(b, uint64(len(p.Symbols)))
	for _, s := range p.Symbols {
		b = appendString(b, s.Name)
		b = append(b, byte(s.Kind))
		b = binary.AppendVarint(b, s.Value)
		b = binary.AppendVarint(b, s.Len)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendBytes(b, data []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

func appendString(b []byte, s string) []byte { return appendBytes(b, []byte(s)) }

// ErrNotBytecode: the input does not start with the bytecode magic.
var ErrNotBytecode = errors.New("not Flock bytecode")

// IsBytecode reports whether data starts like an encoded program.
func IsBytecode(data []byte) bool {
	return len(data) >= len(Magic) && string(data[:len(Magic)]) == Magic
}

// Decode parses and validates an encoded program. Garbage gives an error,
// never a panic.
func Decode(data []byte) (*Program, error) {
	if !IsBytecode(data) {
		return nil, ErrNotBytecode
	}
	if len(data) < len(Magic)+1+4 {
		return nil, fmt.Errorf("bytecode truncated: %d bytes", len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("bytecode checksum mismatch: stored %08x, computed %08x", sum, got)
	}
	if v := body[len(Magic)]; v != EncodedVersion {
		return nil, fmt.Errorf("bytecode version %d, want %d", v, EncodedVersion)
	}
	d := decoder{b: body[len(Magic)+1:]}
	p := d.program()
	if d.err != nil {
		return nil, fmt.Errorf("bytecode: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("bytecode: %d trailing bytes", len(d.b))
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("bytecode: %w", err)
	}
	return p, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

func (d *decoder) uvarint(max uint64, what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	if v > max {
		d.fail("%s %d exceeds %d", what, v, max)
		return 0
	}
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(max uint64, what string) []byte {
	n := d.uvarint(max, what+" length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s length %d exceeds the %d bytes left", what, n, len(d.b))
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte1(what string) byte {
	if len(d.b) == 0 {
		d.fail("missing %s", what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) program() *Program {
	p := &Program{}
	p.File = string(d.bytes(NameLenMax, "file name"))
	p.Entry = int(d.uvarint(CodeLenMax, "entry"))
	n := d.uvarint(CodeLenMax, "code length")
	// Each instruction takes at least 5 bytes: never allocate more than the
	// input can describe.
	if n > uint64(len(d.b)/5) {
		d.fail("code length %d exceeds what %d bytes can hold", n, len(d.b))
		return p
	}
	p.Code = make([]Instr, n)
	p.Pos = make([]Pos, n)
	for i := range p.Code {
		op := d.byte1("opcode")
		a := d.varint("operand A")
		b := d.varint("operand B")
		line := d.uvarint(1<<31-1, "line")
		col := d.uvarint(1<<31-1, "column")
		if a < -1<<31 || a > 1<<31-1 {
			d.fail("pc %d: operand A %d out of range", i, a)
		}
		if d.err != nil {
			return p
		}
		p.Code[i] = Instr{Op: Op(op), A: int32(a), B: b}
		p.Pos[i] = Pos{Line: int32(line), Col: int32(col)}
	}
	p.ROData = d.bytes(DataLenMax, "read-only data")
	p.Data = d.bytes(DataLenMax, "data")
	ns := d.uvarint(SymbolMax, "symbol count")
	if ns > uint64(len(d.b)/4) {
		d.fail("symbol count %d exceeds what %d bytes can hold", ns, len(d.b))
		return p
	}
	for i := uint64(0); i < ns && d.err == nil; i++ {
		s := Symbol{Name: string(d.bytes(NameLenMax, "symbol name"))}
		s.Kind = SymKind(d.byte1("symbol kind"))
		s.Value = d.varint("symbol value")
		s.Len = d.varint("symbol length")
		if s.Kind > SymConst {
			d.fail("symbol %q: bad kind %d", s.Name, s.Kind)
		}
		p.Symbols = append(p.Symbols, s)
	}
	return p
}
