package sim

import (
	"math/rand/v2"
	"time"
)

// nemesis injects machine and network faults during the safety phase, from
// its own random stream. Each kind with a non-zero ...Every is a Poisson
// process: an event chain whose gaps are exponential with that mean.
type nemesis struct {
	w      *World
	rng    *rand.Rand
	chains []Timer // the next injection of each kind
	undo   []Timer // pending restarts, heals and resumes it scheduled
	rotted []NodeID
	// ioArmed: a crash aimed at disk activity waits for its target, the
	// next machine seen with a sync in flight (see aimIO).
	ioArmed    bool
	ioPatience int // syncs over single-sector writes still to pass over
}

func newNemesis(w *World) *nemesis {
	return &nemesis{w: w, rng: newStream(w.cfg.Seed, "sim.nemesis", 0)}
}

// arm schedules the first injection of every enabled kind. Kinds are armed
// in a fixed order so the stream's draws do not depend on anything else.
func (n *nemesis) arm() {
	f := &n.w.faults
	n.chain("nemesis crash", f.CrashEvery, n.crash)
	n.chain("nemesis pause", f.PauseEvery, n.pause)
	n.chain("nemesis partition", f.PartitionEvery, n.partition)
	n.chain("nemesis clog", f.ClogEvery, n.clog)
	n.chain("nemesis bitrot", f.BitRotEvery, n.bitrot)
	n.chain("nemesis crash-io", f.CrashIOEvery, n.armIO)
}

// ioPatienceMax: an armed crash in I/O passes over this many syncs of
// single-sector writes hoping for a multi-sector one (which a crash can
// tear), then takes whatever sync comes.
const ioPatienceMax = 64

// armIO arms a crash aimed at disk activity.
func (n *nemesis) armIO() {
	n.ioArmed, n.ioPatience = true, ioPatienceMax
}

// aimIO is called after machine m's program touched its disk. If m may be
// taken down and a sync it issued is still in flight, the armed crash is
// scheduled at a uniform moment before that sync completes: its writes are
// then unsynced at the crash, to be kept, lost or torn.
func (n *nemesis) aimIO(m *Machine) {
	w := n.w
	if w.healed || !m.up || m.paused || m.isolated > 0 || m.exempt || w.unavailable() >= w.faults.MaxDown {
		return
	}
	done, multiSector, ok := m.disk.SyncInFlight()
	if !ok || Time(done) <= w.now {
		return
	}
	if !multiSector && n.ioPatience > 0 {
		n.ioPatience--
		return
	}
	n.ioArmed = false
	at := Time(uniformDuration(n.rng, int64(w.now), int64(done)-1))
	id, inc := m.id, m.inc
	n.later(at.Sub(w.now), "nemesis crash-io", func() {
		if !m.up || m.inc != inc || m.paused || w.unavailable() >= w.faults.MaxDown {
			return
		}
		w.fault("crash_io", id, 0)
		w.Crash(id)
		n.later(n.span(w.faults.RestartDelayMax), "nemesis restart", func() { w.Restart(id) })
	})
}

func (n *nemesis) chain(name string, every time.Duration, inject func()) {
	if every <= 0 {
		return
	}
	i := len(n.chains)
	n.chains = append(n.chains, Timer{})
	var fire func()
	fire = func() {
		inject()
		if n.w.healed {
			return // a program healed the world from inside the injection
		}
		n.chains[i] = n.w.After(n.gap(every), name, fire)
	}
	n.chains[i] = n.w.After(n.gap(every), name, fire)
}

// gap draws an exponential interval with the given mean, at least 1ns.
func (n *nemesis) gap(mean time.Duration) time.Duration {
	return max(1, time.Duration(n.rng.ExpFloat64()*float64(mean)))
}

// span draws a fault's length, uniform in [1ns, most].
func (n *nemesis) span(most time.Duration) time.Duration {
	return time.Duration(uniformDuration(n.rng, 1, int64(most)))
}

// stop cancels every pending injection and every pending undo.
func (n *nemesis) stop() {
	for _, t := range n.chains {
		t.Stop()
	}
	for _, t := range n.undo {
		t.Stop()
	}
	n.chains, n.undo = nil, nil
}

// later schedules an undo action (restart, heal) the nemesis owns.
func (n *nemesis) later(d time.Duration, name string, fn func()) {
	live := n.undo[:0]
	for _, t := range n.undo {
		if t.Pending() {
			live = append(live, t)
		}
	}
	n.undo = append(live, n.w.After(d, name, fn))
}

// unavailable counts machines crashed, paused or isolated.
func (w *World) unavailable() int {
	c := 0
	for _, m := range w.sorted {
		if !m.up || m.paused || m.isolated > 0 {
			c++
		}
	}
	return c
}

// available returns the machines the nemesis may take down: up, running,
// connected and not spared.
func (w *World) available() []*Machine {
	var out []*Machine
	for _, m := range w.sorted {
		if m.up && !m.paused && m.isolated == 0 && !m.exempt {
			out = append(out, m)
		}
	}
	return out
}

// takeDown picks a machine the nemesis may make unavailable, or nil.
func (n *nemesis) takeDown() *Machine {
	w := n.w
	if w.unavailable() >= w.faults.MaxDown {
		return nil
	}
	avail := w.available()
	if len(avail) == 0 {
		return nil
	}
	return avail[n.rng.IntN(len(avail))]
}

func (n *nemesis) crash() {
	m := n.takeDown()
	if m == nil {
		return
	}
	n.w.Crash(m.id)
	id := m.id
	n.later(n.span(n.w.faults.RestartDelayMax), "nemesis restart", func() { n.w.Restart(id) })
}

func (n *nemesis) pause() {
	m := n.takeDown()
	if m == nil {
		return
	}
	n.w.Pause(m.id, n.span(n.w.faults.PauseMax))
}

func (n *nemesis) partition() {
	w := n.w
	f := &w.faults
	if len(w.net.parts) > 0 || len(w.sorted) < 2 {
		return
	}
	var kinds []string
	if f.PartitionSymmetric {
		kinds = append(kinds, "partition")
	}
	if f.PartitionOneWay {
		kinds = append(kinds, "partition_oneway")
	}
	if f.PartitionIsolate {
		kinds = append(kinds, "isolate")
	}
	if len(kinds) == 0 {
		return
	}
	var p *Partition
	switch kinds[n.rng.IntN(len(kinds))] {
	case "partition":
		a, b := n.split(1 + n.rng.IntN(len(w.sorted)/2))
		p = w.Partition(a, b)
	case "partition_oneway":
		a, b := n.split(1 + n.rng.IntN(len(w.sorted)-1))
		p = w.PartitionOneWay(a, b)
	case "isolate":
		m := n.takeDown()
		if m == nil {
			return
		}
		p = w.Isolate(m.id)
	}
	n.later(n.span(f.PartitionMax), "nemesis heal partition", p.Heal)
}

// split shuffles the machines into a group of k and the rest.
func (n *nemesis) split(k int) (a, b []NodeID) {
	ids := make([]NodeID, len(n.w.sorted))
	for i, m := range n.w.sorted {
		ids[i] = m.id
	}
	n.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:k], ids[k:]
}

func (n *nemesis) clog() {
	w := n.w
	if len(w.sorted) < 2 {
		return
	}
	i := n.rng.IntN(len(w.sorted))
	j := n.rng.IntN(len(w.sorted) - 1)
	if j >= i {
		j++
	}
	from, to := w.sorted[i].id, w.sorted[j].id
	d := n.span(w.faults.ClogMax)
	factor := max(1, w.faults.ClogFactor)
	w.Clog(from, to, factor, d)
	if n.rng.IntN(2) == 0 {
		w.Clog(to, from, factor, d)
	}
}

func (n *nemesis) bitrot() {
	w := n.w
	if len(w.sorted) == 0 {
		return
	}
	var m *Machine
	if len(n.rotted) < w.faults.MaxRotMachines {
		var targets []*Machine
		for _, t := range w.sorted {
			if !t.exempt {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			return
		}
		m = targets[n.rng.IntN(len(targets))]
	} else if len(n.rotted) > 0 {
		m = w.machines[n.rotted[n.rng.IntN(len(n.rotted))]]
	}
	if m == nil {
		return
	}
	flips := m.disk.Rot(1 + n.rng.IntN(max(1, w.faults.BitRotFlipsMax)))
	if flips == 0 {
		return
	}
	if !m.rotted {
		m.rotted = true
		n.rotted = append(n.rotted, m.id)
	}
	w.fault("bitrot", m.id, int64(flips))
	w.counts["bitrot_flips"] += int64(flips)
}

// Heal ends the safety phase and starts the liveness phase: the nemesis
// stops, partitions and clogs heal, crashed machines restart and paused
// ones resume (in id order), drop, duplication and garbling stop, disks stop
// failing (their latency stays), and Buggify returns false from now on.
// Latency and clock drift stay. Healing twice does nothing.
func (w *World) Heal() {
	if w.healed {
		return
	}
	w.healed = true
	w.Record(0, "heal: liveness phase")
	w.nem.stop()
	for len(w.net.parts) > 0 {
		w.net.parts[0].Heal()
	}
	for _, lk := range w.net.sortedLinks() {
		lk.clogEnd = 0
	}
	w.faults = w.faults.Healed()
	for _, m := range w.sorted {
		w.healDisk(m)
		switch {
		case !m.up:
			w.Restart(m.id)
		case m.paused:
			w.Resume(m.id)
		}
	}
}

// Healed reports whether Heal was called (the liveness phase).
func (w *World) Healed() bool { return w.healed }
