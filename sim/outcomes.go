package sim

// Outcomes counts what the injected faults did, as opposed to FaultCounts,
// which counts the injections. A fault switched on that never produced an
// outcome tested nothing: the scenario tests check, over a sweep, that every
// kind switched on produced its outcome at least once.
//
// Keys (every key is present, zeros included):
//
//	writes_torn        unsynced writes a crash kept only in part
//	sectors_torn       sectors of torn writes a crash dropped
//	writes_lost        unsynced writes and truncates a crash dropped whole
//	dirops_undone      unsynced creates, renames and removes a crash undid
//	syncs_cut          syncs issued but not complete when their machine crashed
//	crashes_in_io      crashes that found the disk still busy with issued work
//	reads_failed       reads that failed with an injected I/O error
//	writes_failed      writes, truncates and syncs that failed with an injected I/O error
//	writes_no_space    writes and truncates refused by a full disk
//	bits_rotted        bits of durable data flipped
//	msgs_dropped       messages lost on purpose
//	msgs_duplicated    extra copies delivered or in flight
//	msgs_reordered     messages delivered after a later one on the same link
//	msgs_garbled       frames that arrived corrupted and were rejected
//	msgs_partitioned   messages cut by a partition
//	msgs_sender_down   messages lost because their sender crashed before they left
//	msgs_dest_down     messages lost because their destination was down or restarted
//	msgs_overflow      messages refused by a full link queue
func (w *World) Outcomes() map[string]int64 {
	out := map[string]int64{"crashes_in_io": w.crashesInIO}
	for _, m := range w.sorted {
		st := m.disk.Stats()
		out["writes_torn"] += st.TornWrites
		out["sectors_torn"] += st.TornSectors
		out["writes_lost"] += st.LostWrites
		out["dirops_undone"] += st.LostDirOps
		out["syncs_cut"] += st.SyncsCut
		out["reads_failed"] += st.ReadErrors
		out["writes_failed"] += st.WriteErrors
		out["writes_no_space"] += st.NoSpaceErrors
		out["bits_rotted"] += st.RottedBits
	}
	ns := w.net.stats
	out["msgs_dropped"] = ns.Dropped.Msgs
	out["msgs_duplicated"] = ns.Duplicated.Msgs
	out["msgs_reordered"] = ns.Reordered.Msgs
	out["msgs_garbled"] = ns.Garbled.Msgs
	out["msgs_partitioned"] = ns.Partitioned.Msgs
	out["msgs_sender_down"] = ns.SenderDown.Msgs
	out["msgs_dest_down"] = ns.DestDown.Msgs
	out["msgs_overflow"] = ns.Overflow.Msgs
	return out
}

// FaultKind is one kind of fault a configuration can switch on, and the
// counter that shows it did something: an Outcomes key, or a FaultCounts
// key for injections that are their own outcome (a crash, a pause).
type FaultKind struct {
	Name    string
	Outcome string
	on      func(f FaultConfig) bool
}

// crashes reports whether machines crash at all: the disk's crash faults
// act only then.
func (f FaultConfig) crashes() bool { return f.CrashEvery > 0 || f.CrashIOEvery > 0 }

// FaultKinds lists every fault kind, in a fixed order.
var FaultKinds = []FaultKind{
	{"net-drop", "msgs_dropped", func(f FaultConfig) bool { return f.DropProb > 0 }},
	{"net-dup", "msgs_duplicated", func(f FaultConfig) bool { return f.DupProb > 0 }},
	{"net-reorder", "msgs_reordered", func(f FaultConfig) bool { return f.LatencyJitter > 0 || f.TailProb > 0 }},
	{"net-garble", "msgs_garbled", func(f FaultConfig) bool { return f.GarbleProb > 0 }},
	{"partition", "msgs_partitioned", func(f FaultConfig) bool { return f.PartitionEvery > 0 }},
	{"clog", "clog", func(f FaultConfig) bool { return f.ClogEvery > 0 }},
	{"crash", "crash", func(f FaultConfig) bool { return f.CrashEvery > 0 }},
	{"crash-io", "syncs_cut", func(f FaultConfig) bool { return f.CrashIOEvery > 0 }},
	{"pause", "pause", func(f FaultConfig) bool { return f.PauseEvery > 0 }},
	{"disk-lose-unsynced", "writes_lost", func(f FaultConfig) bool { return f.DiskLoseUnsyncedProb > 0 && f.crashes() }},
	{"disk-undo-dirops", "dirops_undone", func(f FaultConfig) bool { return f.DiskLoseUnsyncedProb > 0 && f.crashes() }},
	{"disk-torn", "writes_torn", func(f FaultConfig) bool { return f.DiskTornWrites && f.crashes() }},
	{"disk-read-error", "reads_failed", func(f FaultConfig) bool { return f.DiskReadErrorProb > 0 }},
	{"disk-write-error", "writes_failed", func(f FaultConfig) bool { return f.DiskWriteErrorProb > 0 }},
	{"disk-full", "writes_no_space", func(f FaultConfig) bool { return f.DiskCapacityBytes > 0 }},
	{"bitrot", "bits_rotted", func(f FaultConfig) bool { return f.BitRotEvery > 0 }},
	{"buggify", "buggify", func(f FaultConfig) bool { return f.Buggify }},
}

// KindsOn names the fault kinds f switches on, in FaultKinds order.
func (f FaultConfig) KindsOn() []string {
	var out []string
	for _, k := range FaultKinds {
		if k.on(f) {
			out = append(out, k.Name)
		}
	}
	return out
}
