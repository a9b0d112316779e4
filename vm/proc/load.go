package proc

import (
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
)

// LoadFile is a Loader over a byte source: bytecode is decoded, anything
// else assembled as .fl source.
func LoadFile(read func(path string) ([]byte, error)) Loader {
	return func(path string) (*isa.Program, error) {
		src, err := read(path)
		if err != nil {
			return nil, err
		}
		return ParseProgram(path, src)
	}
}

// ParseProgram decodes bytecode or assembles source.
func ParseProgram(path string, src []byte) (*isa.Program, error) {
	if isa.IsBytecode(src) {
		return isa.Decode(src)
	}
	return asm.Assemble(path, src, asm.Options{})
}
