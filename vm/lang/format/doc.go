// Package format prints Flock source in its one canonical layout (what
// `flock fmt` writes): four-space indentation, one statement per line,
// spaces around binary operators, comments and single blank lines kept
// where they were. Formatting a formatted file changes nothing.
package format
