// Package eval is the Flock language's reference evaluator: a plain
// tree-walking interpreter of a checked program, written for clarity and
// not speed, against which tests check the compiler. It shares only the
// checker's types and layouts with the compiler: every variable lives in
// byte-addressed memory, expressions are evaluated straight from the
// syntax tree, and builtins (printing, atomics, bounds checks and their
// panic messages) are implemented in Go.
//
// Threads are run to completion when spawned, in a copy of the spawner's
// local memory, so programs whose threads wait for each other are not
// supported (Run reports ErrUnsupported), nor are files and processes.
package eval
