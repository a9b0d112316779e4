package host

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/flockvm/flock/vm/node"
)

// Export emits the node's figures: its counters, threads and processes,
// its client service, and its metadata replica's raft view (voters).
func (m *NodeMachine) Export(emit func(Metric)) {
	n := m.n
	st, cs := n.Stats(), n.ClientStats()
	gauge := func(name, help string, v float64) { emit(Metric{Name: name, Help: help, Kind: Gauge, Value: v}) }
	counter := func(name, help string, v int64) {
		emit(Metric{Name: name, Help: help, Kind: Counter, Value: float64(v)})
	}
	joined := 0.0
	if n.Joined() {
		joined = 1
	}
	gauge("node_joined", "1 once the node's membership record is committed", joined)
	gauge("node_incarnation", "the node's incarnation (a rejoin draws a new one)", float64(n.Incarnation()))
	gauge("node_threads", "threads on this machine's cores", float64(n.Threads()))
	gauge("node_machines_alive", "machines this node's membership view holds alive", float64(len(n.View())))
	running := 0
	for _, p := range n.Processes() {
		if !p.Done {
			running++
		}
	}
	gauge("node_processes", "running processes homed here", float64(running))
	diskFull := 0.0
	if n.DiskFull() {
		diskFull = 1
	}
	gauge("node_disk_full", "1 while the disk is full: the metadata reserve is in use and no new chunk files are taken here", diskFull)
	emitCounters(emit, nil, []counterSpec[int64]{
		{"node_messages_in_total", "messages received from peers", st.MessagesIn},
		{"node_messages_out_total", "messages sent to peers", st.MessagesOut},
		{"node_garbage_total", "payloads that did not decode", st.Garbage},
		{"node_stale_dropped_total", "messages from dead or superseded incarnations", st.StaleDropped},
		{"node_duplicates_total", "requests answered again or dropped as applied", st.Duplicates},
		{"node_retransmits_total", "requests sent again", st.Retransmits},
		{"node_core_ticks_total", "interpreter ticks the cores ran (this incarnation)", n.CoreTicks()},
		{"node_core_rounds_borrowed_total", "core rounds run by the transport reader that brought a parked thread's page (this incarnation)", n.CoreRoundsBorrowed()},
		{"node_threads_started_total", "threads started on this machine", st.ThreadsStarted},
		{"node_threads_placed_remote_total", "threads this machine placed on another", st.ThreadsPlacedRemote},
		{"node_processes_started_total", "processes started with this machine as home", st.ProcessesStarted},
		{"node_processes_lost_total", "processes ended by a machine's loss", st.ProcessesLost},
		{"node_machines_declared_dead_total", "machines this node saw declared dead", st.MachinesDeclaredDead},
		{"node_rejoins_total", "times this node found itself declared dead and rejoined", st.Rejoins},
		{"node_meta_errors_total", "metadata operations that failed", st.MetaErrors},
		{"node_outbox_full_total", "requests failed for a full outbox", st.OutboxFull},
		{"node_meta_reserve_released_total", "times a full disk took the metadata reserve", st.MetaReserveReleases},
		{"client_requests_total", "client requests applied", cs.Requests},
		{"client_duplicates_total", "client requests answered again", cs.Duplicates},
		{"client_garbage_total", "client messages that did not decode", cs.Garbage},
		{"client_sessions_expired_total", "clients forgotten after falling silent", cs.SessionsExpired},
		{"client_output_bytes_total", "output bytes of clients' processes", cs.OutputBytes},
		{"client_output_resent_bytes_total", "output bytes sent again", cs.OutputResentBytes},
		{"client_output_overruns_total", "writes refused: a client too far behind", cs.OutputOverruns},
		{"client_busy_total", "requests refused: too much clients' work in progress", cs.Busy},
		{"client_queries_total", "ps/status/kill queries sent to peers", cs.Queries},
		{"client_queries_unanswered_total", "peers that did not answer a query in time", cs.QueriesUnanswered},
	})
	for svc := node.Service(1); svc < node.NumServices; svc++ {
		l := []Label{{Name: "node_service", Value: svc.String()}}
		emitCounters(emit, l, []counterSpec[int64]{
			{"node_service_messages_sent_total", "messages sent to other machines, by the node's service", st.ServiceMessagesOut[svc]},
			{"node_service_bytes_sent_total", "bytes of those messages, headers included", st.ServiceBytesOut[svc]},
			{"node_service_messages_received_total", "messages received from other machines, by the node's service", st.ServiceMessagesIn[svc]},
			{"node_service_bytes_received_total", "bytes of those messages, headers included", st.ServiceBytesIn[svc]},
		})
	}
	if ms, ok := n.MemoryStats(); ok {
		emitCounters(emit, nil, []counterSpec[uint64]{
			{"mem_hits_total", "global memory operations served here without a message, on the agent's slow path (the threads' fast-path hits on pages held are not counted)", ms.Hits},
			{"mem_read_misses_total", "fetches of a read copy of a page", ms.ReadMisses},
			{"mem_write_misses_total", "fetches of a writable copy (upgrades among them)", ms.WriteMisses},
			{"mem_upgrades_total", "write fetches for a page held shared", ms.Upgrades},
			{"mem_grants_total", "pages this machine sent as their home", ms.Grants},
			{"mem_invalidations_sent_total", "invalidations this machine sent as a home", ms.InvalidationsSent},
			{"mem_evictions_total", "cached pages evicted", ms.Evictions},
			{"mem_delegated_sent_total", "operations shipped to a page's home", ms.DelegatedSent},
			{"mem_delegated_served_total", "operations executed here for other machines", ms.DelegatedServed},
			{"mem_retransmits_total", "memory requests sent again", ms.Retransmits},
			{"mem_pages_lost_total", "pages lost with a machine", ms.PagesLost},
			{"mem_bytes_sent_total", "bytes of memory messages sent", ms.BytesSent},
		})
		gauge("mem_requests_in_flight", "memory requests outstanding now", float64(ms.InFlight))
	}
	if fs, ok := n.StorageStats(); ok {
		emitCounters(emit, nil, []counterSpec[uint64]{
			{"storage_ops_total", "filesystem operations of processes and clients started here", fs.Ops},
			{"storage_writes_total", "writes committed", fs.Writes},
			{"storage_write_bytes_total", "bytes of the writes committed", fs.WriteBytes},
			{"storage_reads_total", "reads answered with data", fs.Reads},
			{"storage_read_bytes_total", "bytes of those reads", fs.ReadBytes},
			{"storage_denied_total", "operations refused for permissions", fs.Denied},
			{"storage_unknown_total", "commits whose outcome stayed unknown", fs.Unknown},
			{"storage_repair_copies_total", "chunk copies made here to restore redundancy", fs.RepairCopies},
			{"storage_repair_bytes_total", "bytes those copies moved", fs.RepairBytes},
			{"storage_repair_lost_chunks_total", "chunks repair found with no good copy left (per pass)", fs.RepairLostChunks},
			{"storage_bad_copies_total", "local chunk copies found bad and dropped", fs.BadCopies},
			{"storage_collected_total", "orphaned chunk files deleted", fs.Collected},
			{"storage_chunk_writes_total", "chunk files written and synced here", fs.ChunkWrites},
			{"storage_slots_reused_total", "of those, written over a free slot in place (no file made, no directory synced)", fs.SlotsReused},
			{"storage_slots_freed_total", "removed generations' files kept as free slots", fs.SlotsFreed},
			{"storage_spares_made_total", "free slots made ahead of the writes", fs.SparesMade},
			{"storage_slots_evicted_total", "free slots removed to make room", fs.SlotsEvicted},
		})
		gauge("storage_used_bytes", "disk the chunk files take on this machine", float64(n.StorageUsedBytes()))
	}
	gauge("client_sessions", "clients known now", float64(cs.Sessions))
	gauge("client_runs", "processes attached to clients now", float64(cs.Runs))
	if rs, ok := n.MetaStatus(); ok {
		gauge("raft_state", "raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader", float64(rs.State))
		gauge("raft_term", "current raft term", float64(rs.Term))
		gauge("raft_leader", "the leader's NodeID (0 if unknown)", float64(rs.Leader))
		gauge("raft_commit_index", "highest index known committed", float64(rs.Commit))
		gauge("raft_applied_index", "highest index applied", float64(rs.Applied))
	}
	if ks, ok := n.MetaStats(); ok {
		counter("raft_proposals_total", "client requests this replica proposed as leader", int64(ks.Proposals))
		counter("raft_readys_total", "raft Readys handled (each at most one WAL append and fsync)", int64(ks.Readys))
		counter("raft_wal_syncs_total", "fsyncs of the replica's WAL", int64(ks.WAL.Syncs))
	}
}

// logWriter turns the node's diagnostics (a child's trap, a PSTART that
// failed) into log lines.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.log.Warn("diagnostic", "text", line)
	}
	return len(p), nil
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
