package main

import (
	"fmt"
	"io"
	"os"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
)

// load reads and assembles (or decodes) a program file; on failure it
// prints why and returns the exit status.
func load(path string, opt asm.Options, stderr io.Writer) (*isa.Program, int) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return nil, exitNoInput
	}
	if isa.IsBytecode(src) {
		p, err := isa.Decode(src)
		if err != nil {
			fmt.Fprintf(stderr, "flock: %s: %v\n", path, err)
			return nil, exitAsm
		}
		return p, 0
	}
	p, err := asm.Assemble(path, src, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitAsm
	}
	return p, 0
}
