package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
)

// Buggify odds (FoundationDB's): a site is active in a run with probability
// buggifySiteActive, decided once per (seed, site); an active site fires on
// each call with probability buggifyFire.
const (
	buggifySiteActive = 0.25
	buggifyFire       = 0.05
)

// deferredMax bounds what a paused machine holds back. Messages are already
// bounded per link and timers by the program; this catches a runaway.
const deferredMax = 1 << 20

// Machine is one simulated computer: a program (rebuilt by boot at every
// start), a disk that survives crashes with crash semantics, a drifting
// clock, its own random streams, and its end of the network. The program
// sees only this type (through the interfaces it implements); the scenario
// controls it through the World.
type Machine struct {
	w    *World
	id   NodeID
	boot func(m *Machine) netmodel.Receiver
	recv netmodel.Receiver

	up         bool
	inc        uint64 // incarnation: 1 at the first boot, +1 per restart
	crashTimes []Time // crashTimes[i]: when incarnation i+1 ended
	paused     bool
	pauseGen   uint64
	resumeAt   Time
	deferred   []*event
	isolated   int // partitions currently isolating this machine
	rotted     bool
	exempt     bool // spared by the nemesis's crashes, pauses, isolation and bit rot
	rng        *rand.Rand
	buggifyRng *rand.Rand
	driftPPM   int64
	disk       *simdisk.Disk
}

// AddMachine adds a machine and boots it now. boot builds the program and
// returns its network Receiver; it is called again, on fresh state, after
// every restart. Ids must be unique and non-zero.
func (w *World) AddMachine(id NodeID, boot func(m *Machine) netmodel.Receiver) *Machine {
	if id == 0 {
		panic("sim: AddMachine with NodeID 0")
	}
	if _, dup := w.machines[id]; dup {
		panic(fmt.Sprintf("sim: AddMachine(%v): id already in use", id))
	}
	if boot == nil {
		panic(fmt.Sprintf("sim: AddMachine(%v) with nil boot", id))
	}
	m := &Machine{
		w:          w,
		id:         id,
		boot:       boot,
		buggifyRng: newStream(w.cfg.Seed, "sim.buggify", uint64(id)),
	}
	if ppm := int64(w.faults.ClockDriftPPMMax); ppm > 0 {
		r := newStream(w.cfg.Seed, "sim.clock", uint64(id))
		m.driftPPM = r.Int64N(2*ppm+1) - ppm
	}
	m.disk = w.newDisk(id)
	w.machines[id] = m
	i := sort.Search(len(w.sorted), func(i int) bool { return w.sorted[i].id > id })
	w.sorted = append(w.sorted, nil)
	copy(w.sorted[i+1:], w.sorted[i:])
	w.sorted[i] = m
	w.Record(id, "add machine drift=%dppm", m.driftPPM)
	m.start()
	return m
}

// Machine returns the machine with the given id, or nil.
func (w *World) Machine(id NodeID) *Machine { return w.machines[id] }

// Machines returns every machine, sorted by id (a fresh slice).
func (w *World) Machines() []*Machine {
	return append([]*Machine(nil), w.sorted...)
}

// Crash kills a machine: its program is discarded, its timers die, messages
// on their way to it are lost, anything it sent that had not left yet (its
// disk was still busy) is lost, and its disk loses or tears what was not
// synced. Crashing a crashed machine does nothing. It reports whether the
// machine was up.
func (w *World) Crash(id NodeID) bool {
	m := w.mustMachine("Crash", id)
	if !m.up {
		return false
	}
	w.fault("crash", id, 0)
	m.up = false
	m.recv = nil
	m.crashTimes = append(m.crashTimes, w.now)
	m.paused = false
	m.pauseGen++
	m.dropDeferred()
	if m.diskBusy() > w.now {
		w.crashesInIO++
	}
	m.disk.Crash() // syncs the device had not finished are undone
	m.disk.TakeLatency()
	return true
}

// Restart boots a crashed machine with fresh memory over its disk. It reports
// whether the machine was down.
func (w *World) Restart(id NodeID) bool {
	m := w.mustMachine("Restart", id)
	if m.up {
		return false
	}
	w.fault("restart", id, 0)
	m.start()
	return true
}

// Pause freezes a running machine for d (like SIGSTOP): its timers and
// incoming messages wait and are processed, in order, when it resumes. Its
// clock keeps running. Pausing a paused machine extends the pause if the new
// end is later. A crashed machine cannot be paused; Pause reports whether
// the machine is paused afterwards.
func (w *World) Pause(id NodeID, d time.Duration) bool {
	m := w.mustMachine("Pause", id)
	if !m.up {
		return false
	}
	end := w.now.Add(max(d, 0))
	if m.paused && end <= m.resumeAt {
		return true
	}
	w.fault("pause", id, int64(d))
	m.paused = true
	m.resumeAt = end
	m.pauseGen++
	gen := m.pauseGen
	w.At(end, "resume", func() {
		if m.paused && m.pauseGen == gen {
			w.Resume(id)
		}
	})
	return true
}

// Resume ends a pause now: held-back timers and messages are queued at the
// current time in the order they were due. It reports whether the machine
// was paused.
func (w *World) Resume(id NodeID) bool {
	m := w.mustMachine("Resume", id)
	if !m.paused {
		return false
	}
	w.Record(id, "resume")
	m.paused = false
	m.pauseGen++
	held := m.deferred
	m.deferred = nil
	for _, ev := range held {
		if ev.state == stateCancelled {
			w.q.release(ev)
			continue
		}
		ev.state = stateRunning
		w.q.push(ev, w.now)
	}
	return true
}

func (w *World) mustMachine(op string, id NodeID) *Machine {
	m := w.machines[id]
	if m == nil {
		panic(fmt.Sprintf("sim: %s(%v): no such machine", op, id))
	}
	return m
}

// start boots a new incarnation.
func (m *Machine) start() {
	m.inc++
	m.up = true
	m.rng = newStream(m.w.cfg.Seed, "sim.machine", splitmix64(uint64(m.id))+m.inc)
	m.run(func() {
		m.recv = m.boot(m)
		if m.recv == nil {
			panic(fmt.Sprintf("sim: boot of %v returned a nil Receiver", m.id))
		}
	})
}

// run calls into the program, then looks at the disk work it issued.
func (m *Machine) run(fn func()) {
	fn()
	m.settleDisk()
}

// settleDisk is called after the program touched the disk: the disk (timed
// by the world's clock) has queued the work on its device, and the nemesis
// may aim a crash at a sync still in flight.
func (m *Machine) settleDisk() {
	m.disk.TakeLatency() // the timed disk keeps its own horizon (BusyUntil)
	if m.w.nem.ioArmed {
		m.w.nem.aimIO(m)
	}
}

// diskBusy is when the machine's disk finishes the work issued so far;
// messages sent now leave then.
func (m *Machine) diskBusy() Time { return Time(m.disk.BusyUntil()) }

func (m *Machine) deferEvent(ev *event) {
	if len(m.deferred) >= deferredMax {
		panic(fmt.Sprintf("sim: paused %v holds %d events (runaway timers?)", m.id, len(m.deferred)))
	}
	ev.state = stateDeferred
	m.deferred = append(m.deferred, ev)
}

// dropDeferred discards what a pause held back (at a crash).
func (m *Machine) dropDeferred() {
	for _, ev := range m.deferred {
		if ev.kind == evDeliver && ev.state == stateDeferred {
			m.w.net.lose(ev, outDestDown)
			continue
		}
		m.w.q.release(ev)
	}
	m.deferred = nil
}

// ID returns the machine's id.
func (m *Machine) ID() NodeID { return m.id }

// Up reports whether the machine is running (not crashed; a paused machine
// is up).
func (m *Machine) Up() bool { return m.up }

// Paused reports whether the machine is paused.
func (m *Machine) Paused() bool { return m.paused }

// Incarnation counts boots: 1 after the first, +1 per restart.
func (m *Machine) Incarnation() uint64 { return m.inc }

// DriftPPM returns the machine clock's rate error in parts per million.
func (m *Machine) DriftPPM() int64 { return m.driftPPM }

// World returns the world the machine lives in.
func (m *Machine) World() *World { return m.w }

// Now returns the machine's local clock: virtual time run at the machine's
// drifting rate. It never goes backwards, across restarts too.
func (m *Machine) Now() Time {
	t := int64(m.w.now)
	return Time(t + t/1e6*m.driftPPM + t%1e6*m.driftPPM/1e6)
}

// Rand returns the program's random stream. Each incarnation gets its own
// stream, derived from the seed, the machine and the incarnation.
func (m *Machine) Rand() *rand.Rand { return m.rng }

// After runs fn after d of local (drifting) time. The timer dies if the
// machine crashes first; while the machine is paused it waits for the
// resume. Called on a crashed machine, it schedules nothing.
func (m *Machine) After(d time.Duration, name string, fn func()) Timer {
	if fn == nil {
		panic(fmt.Sprintf("sim: %v After(%v, %q) with nil func", m.id, d, name))
	}
	if !m.up {
		return Timer{}
	}
	w := m.w
	ev := w.q.alloc()
	ev.kind, ev.node, ev.name, ev.fn = evTimer, m.id, name, fn
	ev.m, ev.inc = m, m.inc
	w.q.push(ev, w.now.Add(m.realDuration(d)))
	return Timer{w: w, ev: ev, gen: ev.gen}
}

// realDuration converts a local duration to virtual time: a fast clock
// (positive drift) makes timers fire early.
func (m *Machine) realDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if m.driftPPM == 0 {
		return d
	}
	v := int64(d)
	scale := 1e6 + m.driftPPM
	return time.Duration(v/scale*1e6 + v%scale*1e6/scale)
}

// Send hands a message to the network (netmodel.Transport). It leaves once
// the machine's disk has finished the work issued before the Send.
func (m *Machine) Send(to NodeID, payload []byte) {
	if !m.up {
		return
	}
	m.w.net.send(m, to, payload)
}

// Disk returns the machine's disk. It survives crashes with crash semantics.
func (m *Machine) Disk() diskmodel.FS { return m.disk }

// Record folds a fact into the trace hash on behalf of this machine.
func (m *Machine) Record(format string, args ...any) { m.w.Record(m.id, format, args...) }

// Buggify reports whether the code site should misbehave on purpose now
// (FoundationDB's BUGGIFY). Always false unless the run's faults enable
// buggify, and false in the liveness phase. A site is active for the whole
// run with probability 1/4 (decided by seed and site name); an active site
// fires on 5% of calls. Every firing is counted as fault "buggify".
func (m *Machine) Buggify(site string) bool {
	w := m.w
	if !w.faults.Buggify || w.healed {
		return false
	}
	h := splitmix64(hashString(splitmix64(w.cfg.Seed^0xb0661f7), site))
	if float64(h>>11)/(1<<53) >= buggifySiteActive {
		return false
	}
	if m.buggifyRng.Float64() >= buggifyFire {
		return false
	}
	w.counts["buggify"]++
	w.Record(m.id, "fault buggify %s", site)
	return true
}

var _ netmodel.Transport = (*Machine)(nil)

// SpareFromNemesis exempts the machine from the nemesis's crashes, pauses,
// isolation and bit rot; network partitions and clogs still reach it. A
// scenario spares the machines that play clients, so every fault the nemesis
// may inject lands on the system under test.
func (m *Machine) SpareFromNemesis() { m.exempt = true }

// Rotted reports whether the nemesis ever flipped bits on this machine's
// disk. A machine whose disk never rotted may lose only what it did not
// sync: any other loss or corruption it finds is a bug in the program.
func (m *Machine) Rotted() bool { return m.rotted }
