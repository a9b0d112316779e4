// Package std is the Flock standard library, written in Flock and embedded
// in the compiler: sync (mutex, condition, wait group), chan (a bounded
// channel between threads), hashmap (hash maps in global memory), strings
// and bytes helpers, strconv (parsing and formatting numbers), os
// (arguments, files), proc (child processes), sort, and runtime (the helpers
// generated code calls).
package std

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.fl
var files embed.FS

// Source is the text of standard module name (e.g. "sync"), and whether
// there is one.
func Source(name string) ([]byte, bool) {
	if strings.ContainsAny(name, "/\\.") {
		return nil, false
	}
	b, err := files.ReadFile(name + ".fl")
	return b, err == nil
}

// Modules lists the standard modules' names, sorted.
func Modules() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic("std: the embedded library cannot be listed: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".fl"))
	}
	sort.Strings(names)
	return names
}
