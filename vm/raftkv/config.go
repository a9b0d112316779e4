package raftkv

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
)

// Defaults for the zero fields of Config and ClientConfig.
const (
	ElectionTicksDefault       = 10
	HeartbeatTicksDefault      = 2
	SnapshotEntriesDefault     = 1000
	PendingMaxDefault          = 1024
	ReadPendingMaxDefault      = 4096
	SessionsMaxDefault         = 1024
	KeySizeMaxDefault          = 1 << 10
	ValueSizeMaxDefault        = 64 << 10
	ScanLimitMaxDefault        = 1000
	ScanBytesMaxDefault        = 256 << 10
	StateSizeMaxDefault        = 8 << 20
	MsgSizeMaxDefault          = 1 << 20
	InflightMsgsMaxDefault     = 64
	RequestTimeoutTicksDefault = 30
	AttemptsMaxDefault         = 10

	// StateSizeMaxLimit keeps a snapshot (state, sessions and framing) inside
	// one netmodel frame, so a lagging follower can always be caught up.
	StateSizeMaxLimit = 12 << 20
	// SessionsMaxLimit bounds the session table's share of a snapshot.
	SessionsMaxLimit = 1 << 16
	// ScanBytesMaxLimit keeps every reply well inside a netmodel frame.
	ScanBytesMaxLimit = 8 << 20
)

// Config configures a Server. Zero limits take their defaults.
type Config struct {
	ID netmodel.NodeID
	// Peers are the voters of a new group, ID included: they bootstrap an
	// empty disk. Empty: the server is a new member of an existing group
	// (added as a learner by Client.ChangeMembers), whose empty disk waits
	// for the leader's snapshot. Once the disk holds state, Peers is
	// ignored: the configuration is the one the log made.
	Peers []netmodel.NodeID

	Disk diskmodel.FS
	Dir  string // the WAL lives in Dir/wal, snapshots in Dir/snap

	// Transport carries raft messages and client replies. The Server sends
	// only what the raft Ready order allows: after persisting.
	Transport netmodel.Transport
	// Rand, seeded by the driver, draws election timeouts and the nonce
	// that tells this incarnation's read index requests from an earlier
	// one's (whose answers may still be in flight): every Open needs a
	// stream it never had before (the simulator gives each boot its own).
	Rand *rand.Rand

	// ElectionTicks: a follower that hears no leader for a random number of
	// ticks in [ElectionTicks, 2*ElectionTicks) campaigns; a leader that has
	// not heard from a quorum within ElectionTicks steps down.
	ElectionTicks int
	// HeartbeatTicks: a leader sends heartbeats this often. The default, 2,
	// still gives a follower five heartbeats within the shortest election
	// timeout; heartbeating every tick doubled the store's messages (two in
	// three of a busy store's raft messages were heartbeats and their
	// answers) for no shorter failover. Reads do not wait for it: a read
	// index sends its own heartbeat round.
	HeartbeatTicks int
	// SnapshotEntries: take a snapshot and compact the WAL every time this
	// many entries were applied since the last snapshot.
	SnapshotEntries uint64
	// SnapshotCatchUpEntries: entries kept in memory behind a snapshot so a
	// slightly lagging follower gets entries rather than a whole snapshot.
	// Default SnapshotEntries/4.
	SnapshotCatchUpEntries uint64

	Bugs Bugs // planted defects, all false in production

	// SyncUnlocked, if set, runs each WAL fsync the server makes while it
	// handles raft's output (not those of Open): a driver that serializes
	// its calls into the server with a lock releases the lock around
	// fsync, so that a disk sync does not stall its other goroutines.
	// While fsync runs, they may call Step, Receive, Tick, Flush, Status,
	// Stats, Err and Close: inputs are taken, and raft's output for them is
	// handled by the call that was syncing, once the sync is done (a Close
	// then waits for it too). Nil runs fsync directly.
	SyncUnlocked func(fsync func() error) error
	// SyncAsync, if set, runs those fsyncs on another goroutine instead
	// (it takes precedence over SyncUnlocked): it starts fsync and returns
	// at once, and done must then be called exactly once with fsync's
	// result, on the driver's goroutine under its lock, from a later
	// input. Until then the server takes inputs as during SyncUnlocked's
	// fsync (Step, Receive, Tick, Flush, Status, Stats, Err, Close), and
	// done handles raft's output for them. A Close meanwhile closes the
	// WAL at once (the fsync under way then fails or is moot; a closed
	// server ignores done). So a driver goes on with its other inputs
	// through the WAL's fsync. Nil: the fsync runs in the call.
	SyncAsync func(fsync func() error, done func(error))

	// SendBeforeSync lets a leader's appends and heartbeats leave before
	// its own WAL sync, so that the followers' fsyncs run while the
	// leader's does (etcd's leader does so; raft thesis §10.2.1). It is
	// safe only where Disk's Sync returns once the data is durable: raft
	// counts the leader's own entries toward a quorum at Advance, right
	// after the sync. The production driver sets it. The simulator's disk
	// returns from Sync at once and makes it durable later (a crash may
	// still cut it), so there a follower's ack could commit an entry whose
	// only durable copy is the follower's (the kv and fs sweeps: committed
	// entries applied, then replaced by a leader that never had them).
	SendBeforeSync bool

	// OnApply, if set, observes every committed entry as it is applied,
	// synchronously, in log order.
	OnApply func(ApplyEvent)
	// RaftLog, if set, receives raft's own log lines (no timestamps). Nil
	// discards them.
	RaftLog io.Writer
	// Buggify, if set, is asked at code sites that may misbehave on purpose
	// (FoundationDB's BUGGIFY; the simulator's Machine.Buggify) in ways that
	// stay correct but rarely happen otherwise: "raftkv.snapshot-early"
	// (snapshot and compact now), "raftkv.refuse-request" (refuse a
	// client request as overloaded) and "raftkv.apply-late" (apply one
	// entry behind commit for a while, so reads wait for apply).
	Buggify func(site string) bool

	// Limits. Every queue and table is bounded.
	PendingMax          int   // client requests proposed and awaiting their entry
	PendingTimeoutTicks int   // a pending request is forgotten after this; default 4*ElectionTicks
	SessionsMax         int   // sessions in the replicated table; the least recently used is evicted
	KeySizeMax          int   // bytes of a key
	ValueSizeMax        int   // bytes of a value (and of a CAS's expected value)
	ScanLimitMax        int   // pairs one Scan returns at most
	ScanBytesMax        int   // bytes of keys and values one Scan returns at most
	StateSizeMax        int64 // bytes of all keys and values, plus 16 per pair; writes beyond get ErrStateFull
	MsgSizeMax          uint64
	InflightMsgsMax     int
	WALSegmentSizeBytes int64 // default wal.SegmentSizeBytesDefault
	// ReadPendingMax bounds the reads (Get, Scan without a log entry) a
	// server holds while it confirms a read index and applies up to it,
	// and the followers' read index requests a new leader holds.
	ReadPendingMax int
	// ReadTimeoutTicks: a read not served within this many ticks is refused
	// so that its client retries elsewhere at once; default 2*ElectionTicks.
	// Keep it below the clients' RequestTimeoutTicks.
	ReadTimeoutTicks int
}

func (c Config) withDefaults() (Config, error) {
	setInt(&c.ElectionTicks, ElectionTicksDefault)
	setInt(&c.HeartbeatTicks, HeartbeatTicksDefault)
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = SnapshotEntriesDefault
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = c.SnapshotEntries / 4
	}
	setInt(&c.PendingMax, PendingMaxDefault)
	setInt(&c.PendingTimeoutTicks, 4*c.ElectionTicks)
	setInt(&c.ReadPendingMax, ReadPendingMaxDefault)
	setInt(&c.ReadTimeoutTicks, 2*c.ElectionTicks)
	setInt(&c.SessionsMax, SessionsMaxDefault)
	setInt(&c.KeySizeMax, KeySizeMaxDefault)
	setInt(&c.ValueSizeMax, ValueSizeMaxDefault)
	setInt(&c.ScanLimitMax, ScanLimitMaxDefault)
	setInt(&c.ScanBytesMax, ScanBytesMaxDefault)
	if c.StateSizeMax == 0 {
		c.StateSizeMax = StateSizeMaxDefault
	}
	if c.MsgSizeMax == 0 {
		c.MsgSizeMax = MsgSizeMaxDefault
	}
	setInt(&c.InflightMsgsMax, InflightMsgsMaxDefault)
	return c, c.validate()
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ID != 0, "ID is zero")
	check(len(c.Peers) == 0 || slices.Contains(c.Peers, c.ID), "Peers %v do not include ID %v", c.Peers, c.ID)
	check(len(c.Peers) <= MembersMax, "%d Peers exceed %d", len(c.Peers), MembersMax)
	check(!hasDuplicates(c.Peers), "Peers %v has a duplicate", c.Peers)
	check(!slices.Contains(c.Peers, 0), "Peers %v include the zero NodeID", c.Peers)
	check(c.Disk != nil, "Disk is nil")
	check(diskmodel.ValidName(c.Dir), "Dir %q is not a valid diskmodel name", c.Dir)
	check(c.Transport != nil, "Transport is nil")
	check(c.Rand != nil, "Rand is nil")
	check(c.ElectionTicks > c.HeartbeatTicks && c.HeartbeatTicks > 0,
		"want ElectionTicks %d > HeartbeatTicks %d > 0", c.ElectionTicks, c.HeartbeatTicks)
	check(c.SnapshotCatchUpEntries < c.SnapshotEntries || c.SnapshotEntries == 1,
		"SnapshotCatchUpEntries %d must be below SnapshotEntries %d", c.SnapshotCatchUpEntries, c.SnapshotEntries)
	check(c.PendingMax > 0 && c.PendingTimeoutTicks > 0 && c.SessionsMax > 0 && c.SessionsMax <= SessionsMaxLimit,
		"PendingMax %d, PendingTimeoutTicks %d, SessionsMax %d (max %d) must be positive",
		c.PendingMax, c.PendingTimeoutTicks, c.SessionsMax, SessionsMaxLimit)
	check(c.ReadPendingMax > 0 && c.ReadTimeoutTicks > 0,
		"ReadPendingMax %d and ReadTimeoutTicks %d must be positive", c.ReadPendingMax, c.ReadTimeoutTicks)
	check(c.KeySizeMax > 0 && c.ValueSizeMax >= 0 && c.ScanLimitMax > 0 && c.ScanBytesMax > 0,
		"key, value and scan limits must be positive")
	check(c.ScanBytesMax <= ScanBytesMaxLimit && c.KeySizeMax+c.ValueSizeMax <= ScanBytesMaxLimit,
		"ScanBytesMax %d and a pair (%d+%d bytes) must fit a reply of %d", c.ScanBytesMax, c.KeySizeMax, c.ValueSizeMax, ScanBytesMaxLimit)
	check(c.StateSizeMax > 0 && c.StateSizeMax <= StateSizeMaxLimit,
		"StateSizeMax %d outside (0, %d]", c.StateSizeMax, StateSizeMaxLimit)
	check(int64(c.KeySizeMax)+2*int64(c.ValueSizeMax) < int64(c.MsgSizeMax),
		"MsgSizeMax %d cannot carry a maximal entry", c.MsgSizeMax)
	check(c.InflightMsgsMax > 0, "InflightMsgsMax %d must be positive", c.InflightMsgsMax)
	if len(errs) > 0 {
		return fmt.Errorf("raftkv: invalid Config: %w", errors.Join(errs...))
	}
	return nil
}

func hasDuplicates(ids []netmodel.NodeID) bool {
	s := slices.Clone(ids)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(ids)
}

// limits are the Config values the state machine and codecs need; every
// replica must use the same ones, or their state machines could diverge.
type limits struct {
	keySizeMax   int
	valueSizeMax int
	scanLimitMax int
	scanBytesMax int
	stateSizeMax int64
	sessionsMax  int
}

func (c Config) limits() limits {
	return limits{
		keySizeMax:   c.KeySizeMax,
		valueSizeMax: c.ValueSizeMax,
		scanLimitMax: c.ScanLimitMax,
		scanBytesMax: c.ScanBytesMax,
		stateSizeMax: c.StateSizeMax,
		sessionsMax:  c.SessionsMax,
	}
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Self    netmodel.NodeID   // the client's own address, where replies go
	Servers []netmodel.NodeID // the replicas
	// ReadFrom, if set (one of Servers), is where each Get and Scan is sent
	// first: typically the replica on the client's own machine. A read it
	// refuses or does not answer in time goes on to the leader (or the
	// next server), and a ReadFrom that left a read unanswered is skipped
	// for the next two request timeouts. Writes always go to the leader.
	ReadFrom netmodel.NodeID
	// Transport carries requests to servers.
	Transport netmodel.Transport
	// Rand picks the first server to try and registration nonces.
	Rand *rand.Rand
	// RequestTimeoutTicks: an attempt not answered within this many ticks
	// is retried on the next server.
	RequestTimeoutTicks int
	// AttemptsMax bounds the sends of one operation (session registration
	// included); then the operation completes with ErrUnknownOutcome or
	// ErrUnavailable.
	AttemptsMax int
	// KeySizeMax and ValueSizeMax reject oversized operations before they
	// are sent; they should match the servers'. Zero takes the defaults.
	KeySizeMax, ValueSizeMax int
}

func (c ClientConfig) withDefaults() (ClientConfig, error) {
	setInt(&c.RequestTimeoutTicks, RequestTimeoutTicksDefault)
	setInt(&c.AttemptsMax, AttemptsMaxDefault)
	setInt(&c.KeySizeMax, KeySizeMaxDefault)
	setInt(&c.ValueSizeMax, ValueSizeMaxDefault)
	var errs []error
	if c.Self == 0 {
		errs = append(errs, errors.New("field Self is zero"))
	}
	if len(c.Servers) == 0 || slices.Contains(c.Servers, 0) || hasDuplicates(c.Servers) {
		errs = append(errs, fmt.Errorf("field Servers %v must be distinct non-zero ids", c.Servers))
	}
	if c.ReadFrom != 0 && !slices.Contains(c.Servers, c.ReadFrom) {
		errs = append(errs, fmt.Errorf("field ReadFrom %v is not one of Servers %v", c.ReadFrom, c.Servers))
	}
	if c.Transport == nil || c.Rand == nil {
		errs = append(errs, errors.New("fields Transport and Rand must be set"))
	}
	if c.RequestTimeoutTicks < 2 || c.AttemptsMax < 1 {
		errs = append(errs, fmt.Errorf("field RequestTimeoutTicks %d must be >= 2 and AttemptsMax %d >= 1",
			c.RequestTimeoutTicks, c.AttemptsMax))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("raftkv: invalid ClientConfig: %w", errors.Join(errs...))
	}
	return c, nil
}
