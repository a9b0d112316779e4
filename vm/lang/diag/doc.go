// Package diag holds the Flock compiler's diagnostics: an error at a
// file:line:col, rendered with the source line and a caret under the column,
// and the list of every error one run found.
package diag
