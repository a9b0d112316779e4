// Package ast is the syntax tree of the Flock language: files, declarations,
// statements, expressions and types as the parser builds them, with the
// source position of every node and the comments of the file (kept for the
// formatter).
package ast
