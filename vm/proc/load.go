package proc

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/lang"
)

// Program file extensions: the Flock language, Flock assembly, bytecode.
const (
	ExtLanguage = ".fl"
	ExtAssembly = ".flasm"
	ExtBytecode = ".flb"
)

// LoadOptions tune how source programs are compiled.
type LoadOptions struct {
	// NoOptimize compiles without superinstructions.
	NoOptimize bool
}

// ProgramError is a program file that does not compile, assemble or
// decode: the program exists but cannot run (PSTART answers -ENOEXEC).
type ProgramError struct{ Err error }

func (e *ProgramError) Error() string { return e.Err.Error() }
func (e *ProgramError) Unwrap() error { return e.Err }

// IsProgramError reports whether err is (or wraps) a ProgramError.
func IsProgramError(err error) bool {
	var pe *ProgramError
	return errors.As(err, &pe)
}

// LoadFile is a Loader over a byte source, which also supplies the files a
// .fl program imports.
func LoadFile(read func(path string) ([]byte, error)) Loader {
	return func(path string) (*isa.Program, error) {
		src, err := read(path)
		if err != nil {
			return nil, err
		}
		return Compile(path, src, read, LoadOptions{})
	}
}

// ParseProgram is Compile for a program that imports no files of its own
// (the standard library is built in).
func ParseProgram(file string, src []byte) (*isa.Program, error) {
	return Compile(file, src, nil, LoadOptions{})
}

// Compile turns a program file into a program, by its extension: .fl is
// compiled (the files it imports read through read), .flasm assembled,
// .flb decoded. Bytecode is recognised by its magic whatever the name.
// Errors are *ProgramError.
func Compile(file string, src []byte, read func(path string) ([]byte, error), opt LoadOptions) (*isa.Program, error) {
	if isa.IsBytecode(src) {
		p, err := isa.Decode(src)
		if err != nil {
			return nil, &ProgramError{fmt.Errorf("%s: %w", file, err)}
		}
		return p, nil
	}
	var p *isa.Program
	var err error
	switch ext := path.Ext(file); ext {
	case ExtLanguage:
		p, err = lang.Compile(file, src, read, lang.Options{NoOptimize: opt.NoOptimize})
	case ExtAssembly:
		p, err = asm.Assemble(file, src, asm.Options{NoOptimize: opt.NoOptimize})
	case ExtBytecode:
		err = fmt.Errorf("%s: %w", file, isa.ErrNotBytecode)
	default:
		err = fmt.Errorf("%s: a program file is .fl (the Flock language), .flasm (assembly) or .flb (bytecode), not %q", file, strings.TrimPrefix(ext, "."))
	}
	if err != nil {
		return nil, &ProgramError{err}
	}
	return p, nil
}
