// Package sim is the deterministic world Flock runs in under test: a virtual
// clock, one event queue, simulated machines with disks, the network between
// them, and a nemesis that injects faults, all driven from a single seed.
//
// # The world
//
// A World (NewWorld) owns virtual time (Time, nanoseconds since the run
// began) and an event queue ordered by (time, sequence) on a google/btree.
// Nothing happens except by processing events: Step processes one,
// RunUntil/RunFor/RunWhile many. Every processed event — its time, sequence,
// kind, machine and name — is folded into a running 64-bit FNV-style hash
// (TraceHash); Record folds in extra facts. Running the same seed with the
// same programs gives the same hash and event count; that is the determinism
// check. The hash never depends on whether tracing is on. With Config.Trace
// set, every event and fact is printed as one line:
//
//	step 1234 t=1.250ms n2 deliver from n1 (48 bytes)
//
// A run is bounded: Config.MaxEvents events (panic with *EventLimitError)
// and Config.MaxQueued queued events.
//
// # Machines
//
// AddMachine registers a machine and a boot function that builds its
// program and returns the program's netmodel.Receiver. The program talks to
// the world only through its *Machine: Now (its own drifting clock), After
// (timers that die with a crash and wait out a pause), Rand (its own stream
// per incarnation), Send (netmodel.Transport), Disk (diskmodel.FS, a
// simdisk that survives crashes with crash semantics) and Buggify. Crash
// discards the program; Restart calls boot again over the same disk; Pause
// freezes the machine, holding back its timers and messages until it
// resumes.
//
// Disk time is real time, and a sync is durable only when it is done.
// Each machine's disk is timed by the world's clock (simdisk.Disk.SetClock):
// the device serves operations one after another, each starting when the
// previous one is done, and a Sync or SyncDir takes effect only at its
// completion. A crash before then finds the synced writes unsynced (kept,
// lost or torn per sector); an operation the device had not started at the
// crash never happened (the program was still blocked in the fsync). A
// message leaves only when the disk work issued before its Send is done,
// so a program that persists, then sends, loses the message with the
// crash; one that sends first has told a peer about a write its disk may
// lose.
//
// # Network
//
// Messages travel as netmodel frames (checksummed). Each directed link has
// a base latency (FaultConfig.LatencyBase scaled by a per-link factor),
// jitter (which reorders), an occasional long tail, a bounded in-flight
// queue, and may drop, duplicate or garble (flip one bit; the receiving side
// detects it and drops the frame). Partitions (symmetric, one-way, one
// machine isolated) and clogs (latency multiplied) come and go. A message
// to a crashed machine, or one in flight when its destination crashed, is
// lost; one to a paused machine waits. A machine's message to itself
// crosses no network (no loss, duplication, garbling or latency) but, like
// every message, leaves only after the disk work issued before it. NetStats
// counts every outcome, and NetStatsByKind per message kind when
// Config.MessageKind names kinds.
//
// # Phases and the nemesis
//
// A run has two phases. In the safety phase the nemesis injects faults from
// its own stream as FaultConfig says: crashes with restarts, pauses,
// partitions, clogs and bit rot, never making more than MaxDown machines
// unavailable (crashed, paused or isolated) at once and rotting at most
// MaxRotMachines distinct disks. Heal starts the liveness phase: the nemesis
// stops, everything is repaired and restarted, message and disk faults stop
// and only latencies and clock drift remain, so every operation that can
// finish must finish.
//
// The nemesis can also aim crashes at disk work (FaultConfig.CrashIOEvery):
// each such crash lands on the next machine seen with a sync in flight,
// preferably one over a write spanning sectors, at a uniform moment before
// the sync completes, which is where torn tails come from.
//
// FaultCounts reports what was injected, by kind: crash, crash_io,
// restart, pause, partition, partition_oneway, isolate, clog, bitrot
// (events) and bitrot_flips (bits), buggify, net_drop, net_dup, net_garble
// (messages). Outcomes reports what the faults did: writes torn and lost,
// directory operations undone, syncs cut, reads failed, messages dropped,
// duplicated, reordered, ... FaultKinds pairs each kind a configuration can
// switch on (FaultConfig.KindsOn) with the counter that shows it acted.
//
// # Drawn limits
//
// DrawLimits draws the bounds of the system under test for a seed (segment
// sizes, tables, queues, intervals): the production default in a quarter
// of the seeds, log-uniform over the whole range, small values included,
// in the rest, so the paths that run only when a bound is reached run in
// the sweep.
//
// # From a seed to a run
//
// Swarm(seed, machines) draws the FaultConfig of a seed (swarm testing:
// each fault kind is on in some seeds and off in others, at a drawn
// strength); FaultConfig.RegisterFlags lets a command line pin any knob on
// top of it. NewWorld then derives every random stream from the seed by a
// fixed label: the network ("sim.net"), the nemesis ("sim.nemesis"), each
// disk ("sim.disk", id), each machine's program ("sim.machine", id and
// incarnation), buggify and clock drift. A stream is consumed only by its
// owner, so more draws in one place never shift another's. Scenarios get
// their own streams the same way with Stream (labels not starting "sim.").
package sim
