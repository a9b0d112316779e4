package host

import (
	"errors"

	"github.com/flockvm/flock/netmodel"

	"github.com/flockvm/flock/vm/raftkv"
)

// RaftKV opens a raftkv.Server from cfg at every open, with the ID,
// Transport, Disk and Rand of the Env: what the simulator's kv scenario
// does at every boot.
func RaftKV(cfg raftkv.Config) OpenFunc {
	return func(env Env) (Machine, error) {
		c := cfg
		c.ID, c.Transport, c.Disk, c.Rand = env.ID, env.Transport, env.Disk, env.Rand
		c.SendBeforeSync = true // osdisk's Sync returns once durable
		srv, err := raftkv.Open(c)
		if err != nil {
			return nil, err
		}
		return &KVServer{Server: srv}, nil
	}
}

// RaftKVFatal is the Fatal of a hosted raftkv.Server: corrupt persisted
// state must not be served (as etcd, the machine fail-stops).
func RaftKVFatal(err error) bool { return errors.Is(err, raftkv.ErrCorrupt) }

// KVServer is a hosted raftkv.Server: Tick, Err and Close are the
// server's; Export adds its status and counters. A burst of messages is
// stepped one by one and flushed once at its end (Batcher), so one WAL
// append and one fsync cover every proposal and acknowledgement in it:
// group commit.
type KVServer struct {
	*raftkv.Server
}

var _ Batcher = (*KVServer)(nil)

// Receive steps the message; its output waits for EndBatch.
func (k *KVServer) Receive(from netmodel.NodeID, payload []byte) { k.Step(from, payload) }

// EndBatch handles raft's output of the burst: one Ready for all of it.
func (k *KVServer) EndBatch() { k.Flush() }

// Export emits the server's raft status and counters.
func (k *KVServer) Export(emit func(Metric)) {
	st, ss := k.Status(), k.Stats()
	for _, m := range []struct {
		name, help string
		kind       MetricKind
		v          float64
	}{
		{"raft_state", "raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader", Gauge, float64(st.State)},
		{"raft_term", "current raft term", Gauge, float64(st.Term)},
		{"raft_leader", "the leader's NodeID (0 if unknown)", Gauge, float64(st.Leader)},
		{"raft_commit_index", "highest index known committed", Gauge, float64(st.Commit)},
		{"raft_applied_index", "highest index applied", Gauge, float64(st.Applied)},
		{"raft_snapshot_index", "index of the latest snapshot", Gauge, float64(st.SnapshotIndex)},
		{"kv_requests_total", "client requests received", Counter, float64(ss.Requests)},
		{"kv_proposals_total", "requests proposed to raft", Counter, float64(ss.Proposals)},
		{"kv_reads_served_total", "reads served by ReadIndex", Counter, float64(ss.ReadsServed)},
		{"kv_not_leader_total", "requests refused: not the leader", Counter, float64(ss.NotLeaderReplies)},
		{"kv_overloaded_total", "requests refused: too many pending", Counter, float64(ss.Overloaded)},
		{"kv_garbage_total", "undecodable or refused messages", Counter, float64(ss.Garbage)},
		{"raft_campaigns_total", "elections this server started", Counter, float64(ss.Campaigns)},
		{"raft_readys_total", "raft Readys handled (each at most one WAL append and fsync)", Counter, float64(ss.Readys)},
		{"raft_wal_syncs_total", "fsyncs of the WAL", Counter, float64(ss.WAL.Syncs)},
	} {
		emit(Metric{Name: m.name, Help: m.help, Kind: m.kind, Value: m.v})
	}
}

// KVClient is a hosted raftkv.Client. Start operations through Host.Do;
// their done functions run on the Host's goroutine.
type KVClient struct {
	*raftkv.Client
}

// RaftKVClient opens a raftkv.Client from cfg with the Env's id as Self,
// its Transport and its Rand.
func RaftKVClient(cfg raftkv.ClientConfig) OpenFunc {
	return func(env Env) (Machine, error) {
		c := cfg
		c.Self, c.Transport, c.Rand = env.ID, env.Transport, env.Rand
		cl, err := raftkv.NewClient(c)
		if err != nil {
			return nil, err
		}
		return &KVClient{Client: cl}, nil
	}
}
