// Package lang is the Flock language's compiler driver: it parses a
// program's main file and the modules it imports (files relative to the
// importer, or the standard library), checks them, and generates an
// isa.Program. Errors are a diag.List: every lexical, syntax and type error
// as file:line:col with its source line and a caret.
//
// The parts live in subpackages: ast (the syntax tree), parse (lexer and
// parser), format (the canonical layout), check (names and types), gen
// (code generation), eval (the reference evaluator tests compare against),
// std (the standard library, in Flock).
package lang
