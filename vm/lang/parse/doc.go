// Package parse turns Flock source text into a syntax tree (package ast):
// a lexer with Go's automatic semicolons and a recursive-descent parser that
// recovers at statement boundaries, so one run reports several errors, each
// at file:line:col.
package parse
