// Package isa defines the Flock instruction set: the opcodes and their
// operands, the in-memory Program an interpreter runs (instructions with
// pre-decoded operands, read-only and writable data, a source position for
// every pc), its portable binary encoding, and the disassembler.
//
// docs/isa.md is the user's reference for the same instructions; the table in
// ops.go is the single source of truth both are checked against.
package isa
