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
