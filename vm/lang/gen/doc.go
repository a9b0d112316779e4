// Package gen generates Flock bytecode (an isa.Program) from a checked
// program: one pass over the syntax tree emitting stack code shaped for the
// VM's superinstructions (a loop test is GET GET compare branch, an
// increment GET PUSH ADD SET), then the assembler's peephole pass fuses
// them. Every instruction carries the source position it came from.
//
// Values: integers, bools and pointers are one word on the stack; strings
// and slices two (pointer, length); structs and arrays live in memory and
// are handled by address. Locals are frame slots, except those that must
// be in memory (structs, arrays, variables whose address is taken), which
// live in a per-call memory frame on a stack of frames in thread-local
// memory. Top-level variables are thread-local data; global vars live in
// global memory, reached through a data word holding their address.
package gen
