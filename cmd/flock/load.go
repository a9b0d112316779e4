package main

import (
	"fmt"
	"io"
	"os"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
)

// load reads a program file and compiles, assembles or decodes it by its
// extension (.fl, .flasm, .flb); on failure it prints why and returns the
// exit status. A .fl program's imports are read relative to it.
func load(path string, opt proc.LoadOptions, stderr io.Writer) (*isa.Program, int) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return nil, exitNoInput
	}
	p, err := proc.Compile(path, src, os.ReadFile, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitAsm
	}
	return p, 0
}
