package main

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/scenarios"
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

// limitPins are the -limit name=value flags: each fixes one of the limits
// the scenario draws for its system.
type limitPins map[string]int64

func (l *limitPins) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	return strings.Join(l.args(), " ")
}

// Set parses one name=value.
func (l *limitPins) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	v, err := strconv.ParseInt(value, 10, 64)
	if !ok || name == "" || err != nil || v < 1 {
		return fmt.Errorf("want name=value with a positive integer value, got %q", s)
	}
	if *l == nil {
		*l = limitPins{}
	}
	(*l)[name] = v
	return nil
}

// validate checks the names against the scenario's limits.
func (l limitPins) validate(scenario string) error {
	sc, _ := scenarios.Lookup(scenario)
	for _, name := range slices.Sorted(maps.Keys(l)) {
		if !slices.Contains(sc.LimitNames, name) {
			return fmt.Errorf("-limit %s: scenario %s draws no such limit (known: %s)", name, scenario, strings.Join(sc.LimitNames, ", "))
		}
	}
	return nil
}

// args returns the pins as flags, in name order, for repro commands.
func (l limitPins) args() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(l)) {
		out = append(out, "-limit", name+"="+strconv.FormatInt(l[name], 10))
	}
	return out
}
