// Package asm is the assembler for .flasm source (Flock assembly): it parses the text syntax of
// docs/isa.md, lays out data, resolves labels and constants, fuses common
// instruction sequences into superinstructions (the peephole pass), and
// produces an isa.Program in which every pc maps back to its source line.
// Errors read file:line:col: message.
package asm
