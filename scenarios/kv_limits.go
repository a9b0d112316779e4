package scenarios

import (
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/wal"
)

// kvLimits are raftkv's bounds as drawn for a seed (sim.Limits): each one
// small in a good share of seeds, so WAL rotation and removal, session
// eviction, snapshots sent to lagging followers and refusals of full queues
// all run in the sweep. Every replica of a run gets the same values (the
// state machine's limits must agree).
type kvLimits struct {
	walSegmentBytes int64
	sessionsMax     int
	snapshotEntries uint64
	snapshotCatchUp uint64
	pendingMax      int
	readPendingMax  int
	inflightMsgsMax int
	keySizeMax      int
	valueSizeMax    int
	msgSizeMax      uint64
	stateSizeMax    int64
	drawn           *sim.Limits
}

// kvValueBytesMax bounds the values (and expected values) the workload
// writes ("c4-1234"); the drawn value limit never goes below it, so that
// limits shape the system, not the workload's validity.
const (
	kvKeyBytesMax   = 4
	kvValueBytesMax = 16
)

// drawKVLimits draws the limits of a run with the given number of clients.
// The session table holds at least one session per client: fewer, and
// clients evict each other's sessions between registering and writing
// without end; churned sessions still make evictions (of live sessions
// too) common.
func drawKVLimits(seed uint64, pins map[string]int64, clients int) kvLimits {
	lim := sim.DrawLimits(seed, "kv.limits", pins)
	l := kvLimits{drawn: lim}
	// Small enough that a run rotates and removes segments whenever the
	// default is not kept.
	l.walSegmentBytes = lim.Int64("wal-segment-bytes", wal.SegmentSizeBytesMin, 64<<10, wal.SegmentSizeBytesDefault)
	l.sessionsMax = lim.Int("sessions", clients, 16, raftkv.SessionsMaxDefault)
	l.snapshotEntries = uint64(lim.Int64("snapshot-entries", 2, 1000, raftkv.SnapshotEntriesDefault))
	catchUpMax := max(1, int64(l.snapshotEntries)-1)
	l.snapshotCatchUp = uint64(lim.Int64("snapshot-catch-up", 1, catchUpMax, min(catchUpMax, max(1, int64(l.snapshotEntries)/4))))
	l.pendingMax = lim.Int("pending", 1, 64, raftkv.PendingMaxDefault)
	l.readPendingMax = lim.Int("read-pending", 1, 64, raftkv.ReadPendingMaxDefault)
	l.inflightMsgsMax = lim.Int("inflight-msgs", 1, 64, raftkv.InflightMsgsMaxDefault)
	l.keySizeMax = lim.Int("key-bytes", kvKeyBytesMax, raftkv.KeySizeMaxDefault, raftkv.KeySizeMaxDefault)
	l.valueSizeMax = lim.Int("value-bytes", kvValueBytesMax, raftkv.ValueSizeMaxDefault, raftkv.ValueSizeMaxDefault)
	entryMax := int64(l.keySizeMax) + 2*int64(l.valueSizeMax)
	l.msgSizeMax = uint64(lim.Int64("msg-bytes", entryMax+64, raftkv.MsgSizeMaxDefault, raftkv.MsgSizeMaxDefault))
	l.stateSizeMax = lim.Int64("state-bytes", 64, raftkv.StateSizeMaxDefault, raftkv.StateSizeMaxDefault)
	return l
}

// apply sets the drawn limits on a server's configuration.
func (l kvLimits) apply(cfg *raftkv.Config) {
	cfg.WALSegmentSizeBytes = l.walSegmentBytes
	cfg.SessionsMax = l.sessionsMax
	cfg.SnapshotEntries = l.snapshotEntries
	cfg.SnapshotCatchUpEntries = l.snapshotCatchUp
	cfg.PendingMax = l.pendingMax
	cfg.ReadPendingMax = l.readPendingMax
	cfg.InflightMsgsMax = l.inflightMsgsMax
	cfg.KeySizeMax = l.keySizeMax
	cfg.ValueSizeMax = l.valueSizeMax
	cfg.MsgSizeMax = l.msgSizeMax
	cfg.StateSizeMax = l.stateSizeMax
}
