package main

import (
	"flag"
	"strings"

	"github.com/flockvm/flock/sim"
)

// faultPins are the -fault-* flags: each one set on the command line pins
// its knob over the seed's swarm draw.
type faultPins struct {
	fs    *flag.FlagSet
	names map[string]bool
	copy  func(dst *sim.FaultConfig)
	store *sim.FaultConfig
}

func registerFaultPins(fs *flag.FlagSet) faultPins {
	p := faultPins{fs: fs, names: map[string]bool{}, store: new(sim.FaultConfig)}
	before := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { before[f.Name] = true })
	p.copy = p.store.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			p.names[f.Name] = true
		}
	})
	return p
}

// apply pins the set knobs in a drawn configuration.
func (p faultPins) apply(dst *sim.FaultConfig) {
	if p.copy != nil {
		p.copy(dst)
	}
}

// args returns the set fault flags as they would be typed again, in name
// order, for repro commands and worker processes.
func (p faultPins) args() []string {
	var out []string
	if p.fs == nil {
		return nil
	}
	p.fs.Visit(func(f *flag.Flag) {
		if p.names[f.Name] {
			out = append(out, "-"+f.Name+"="+quoteIfNeeded(f.Value.String()))
		}
	})
	return out
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t'\"\\$") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
