// Package examples holds Flock's example programs and their expected
// output (golden/), embedded so that tools and tests (the simulator's vm
// scenario, the CLI's golden tests) can run them wherever they are built.
package examples

import "embed"

// FS holds every example program and golden/*.out.
//
//go:embed *.fl* golden
var FS embed.FS
