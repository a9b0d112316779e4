package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// limitDefaultProb is the share of seeds in which a drawn limit keeps its
// production default: the rest draw it log-uniformly over its whole range,
// so small values (the ones that make rotation, eviction and refusal
// happen) come up in a good share of seeds.
const limitDefaultProb = 0.25

// Limits draws the bounds of a system under test for one seed ("drawn
// limits"): every segment size, table, queue and interval the system has.
// A bound left at its production default is a path never tested: with a
// 4 MiB WAL segment a short run never rotates, with a 1024-session table
// nothing is ever evicted. A scenario draws each bound of its system once,
// in a fixed order, from its own stream:
//
//	lim := sim.DrawLimits(seed, "kv.limits")
//	segment := lim.Int64("wal-segment-bytes", 512, 4<<20, wal.SegmentSizeBytesDefault)
//	sessions := lim.Int("sessions", 1, 16, raftkv.SessionsMaxDefault)
//	... rep.Config += " | " + lim.String()
//
// Pins (Options.LimitPins in the scenarios package, flock-sim -limit
// name=value) replace a draw by a fixed value without shifting the others.
type Limits struct {
	r     *rand.Rand
	pins  map[string]int64
	used  map[string]bool
	draws []LimitDraw
}

// LimitDraw is one drawn bound.
type LimitDraw struct {
	Name    string
	Value   int64
	Default bool // the production default was kept
	Pinned  bool // set by a pin, not drawn
}

// DrawLimits returns the limit drawer of a seed, on the stream (seed,
// label); label must not start with "sim.". pins, possibly nil, fix some
// limits by name.
func DrawLimits(seed uint64, label string, pins map[string]int64) *Limits {
	if strings.HasPrefix(label, "sim.") {
		panic(fmt.Sprintf("sim: DrawLimits label %q is reserved for the world's own streams", label))
	}
	return &Limits{r: newStream(seed, label, 0), pins: pins, used: map[string]bool{}}
}

// Int64 draws one bound named name: def (the production default) in a
// quarter of the seeds, else log-uniform in [lo, hi]. A pin on name wins
// (the draw is still made, so later draws keep their values). It panics if
// the range is empty or name was drawn already: both are scenario bugs.
func (l *Limits) Int64(name string, lo, hi, def int64) int64 {
	if lo < 1 || hi < lo {
		panic(fmt.Sprintf("sim: limit %s: range [%d, %d] is empty or not positive", name, lo, hi))
	}
	if l.used[name] {
		panic(fmt.Sprintf("sim: limit %s drawn twice", name))
	}
	l.used[name] = true
	keep := l.r.Float64() < limitDefaultProb
	v := int64(math.Round(float64(lo) * math.Exp(l.r.Float64()*math.Log(float64(hi)/float64(lo)))))
	v = min(max(v, lo), hi)
	d := LimitDraw{Name: name, Value: v}
	if keep {
		d.Value, d.Default = def, true
	}
	if p, ok := l.pins[name]; ok {
		d.Value, d.Default, d.Pinned = p, p == def, true
	}
	l.draws = append(l.draws, d)
	return d.Value
}

// Int is Int64 for int-sized bounds.
func (l *Limits) Int(name string, lo, hi, def int) int {
	return int(l.Int64(name, int64(lo), int64(hi), int64(def)))
}

// Draws lists the bounds drawn so far, in draw order.
func (l *Limits) Draws() []LimitDraw { return append([]LimitDraw(nil), l.draws...) }

// UnknownPins lists, sorted, the pinned names no draw asked for: a typo on
// the command line.
func (l *Limits) UnknownPins() []string {
	var out []string
	for name := range l.pins {
		if !l.used[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// String lists the bounds that differ from their defaults, "name=value"
// (pinned ones marked with !), or "defaults" if none does.
func (l *Limits) String() string {
	var parts []string
	for _, d := range l.draws {
		if d.Default && !d.Pinned {
			continue
		}
		s := d.Name + "=" + strconv.FormatInt(d.Value, 10)
		if d.Pinned {
			s += "!"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "limits: defaults"
	}
	return "limits: " + strings.Join(parts, " ")
}
