package coherence

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// Policy says where atomics (CAS, fetch-add) run.
type Policy uint8

const (
	// AtomicsAdaptive runs atomics at the writable copy (the page migrates
	// to the machine that asks) until the home sees the page keep moving
	// between machines; then the home keeps it and every machine delegates
	// its operations on it, until it cools down. The default.
	AtomicsAdaptive Policy = iota
	// AtomicsMigrate always moves the page to the machine that asks.
	AtomicsMigrate
	// AtomicsDelegate always ships CAS and fetch-add to the page's home.
	AtomicsDelegate
)

func (p Policy) String() string {
	switch p {
	case AtomicsAdaptive:
		return "adaptive"
	case AtomicsMigrate:
		return "migrate"
	case AtomicsDelegate:
		return "delegate"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy reads a Policy's String.
func ParsePolicy(s string) (Policy, error) {
	for p := AtomicsAdaptive; p <= AtomicsDelegate; p++ {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("coherence: unknown atomics policy %q (adaptive, migrate, delegate)", s)
}

// Defaults for the zero fields of Config.
const (
	PageBytesDefault          = 4096
	CacheBytesMaxDefault      = 256 << 20
	HomeBytesMaxDefault       = 1 << 40
	InFlightMaxDefault        = 1024
	OpsParkedMaxDefault       = 1 << 20
	WaitersMaxDefault         = 1 << 20
	RetransmitTicksDefault    = 4
	RetransmitTicksMaxDefault = 64
	PayloadBytesMaxDefault    = 256 << 10
	BatchesInFlightMaxDefault = 4
	SessionMaxDefault         = 4096
	HotTransfersDefault       = 4
	HotWindowTicksDefault     = 50
	DelegateHintTicksDefault  = 50
	BulkBytesMaxDefault       = 64 << 20

	pageBytesMin = 512
	pageBytesMax = 64 << 10
)

// Config configures an Agent. Zero limits take their defaults.
type Config struct {
	// Self is this machine; Incarnation its current incarnation (non-zero,
	// new at every start, DESIGN §8).
	Self        netmodel.NodeID
	Incarnation uint64
	// Transport carries every message; the Agent sends inside its calls.
	Transport netmodel.Transport
	// Completer receives the answers to operations that parked, at the end
	// of the call (Receive, Tick, a Global method, ...) that produced them,
	// never inside the call that parked the operation. It may call back
	// into the Agent.
	Completer sys.Completer
	// Rand jitters retransmission times (nil: no jitter).
	Rand *rand.Rand

	// PageBytes is the page size: a power of two in [512, 65536], the same
	// on every machine of the VM.
	PageBytes int
	// CacheBytesMax bounds the copies of other machines' pages held here
	// (and the data of transfers not yet acknowledged).
	CacheBytesMax uint64
	// HomeBytesMax bounds the pages mapped in the regions homed here, over
	// every process; an ALLOC beyond traps out of memory.
	HomeBytesMax uint64
	// InFlightMax bounds fetches and delegated operations outstanding;
	// later ones wait.
	InFlightMax int
	// OpsParkedMax bounds thread operations parked here at once; one more
	// traps out of memory.
	OpsParkedMax int
	// WaitersMax bounds the WAITs queued at this home; one more traps out
	// of memory.
	WaitersMax int
	// RetransmitTicks is the first retransmission delay; it doubles per
	// attempt up to RetransmitTicksMax.
	RetransmitTicks    int
	RetransmitTicksMax int
	// PayloadBytesMax bounds one message payload; batches are split.
	PayloadBytesMax int
	// BatchesInFlightMax bounds the batches of fetches and delegated
	// operations sent to one peer and not answered yet; later requests wait
	// and leave together (aggregation), at the latest at the next tick.
	BatchesInFlightMax int
	// SessionMax bounds the deduplication state kept per peer.
	SessionMax int
	// BulkBytesMax bounds one ReadBytes or WriteBytes.
	BulkBytesMax uint64

	// Atomics chooses where CAS and fetch-add run.
	Atomics Policy
	// HotTransfers: a page taken from one machine for another this many
	// times within HotWindowTicks becomes delegated (AtomicsAdaptive).
	HotTransfers   int
	HotWindowTicks int
	// DelegateHintTicks: how long a machine told that a page is delegated
	// ships its operations on it before asking again.
	DelegateHintTicks int

	// OnApply, if set, observes every thread request that changed memory
	// (store, CAS that swapped or not, fetch-add, bulk write, ALLOC, FREE)
	// where it took effect, once: the simulator checks at-most-once with it.
	OnApply func(Apply)
	// OnExecute, if set, observes every part of a thread request that ran
	// on a page (loads too), where and when it ran: the simulator takes the
	// moments as a candidate linearization (checker.History.Claim). A held
	// word read through the page table runs inside the call, unobserved.
	OnExecute func(Execute)
	// Record, if set, receives rare protocol events (a page lost, a peer
	// restarted) for the trace.
	Record func(format string, args ...any)
	// Buggify, if set, is asked at code sites that may misbehave on purpose
	// (FoundationDB's BUGGIFY; the simulator's Machine.Buggify) in ways that
	// stay correct but rarely happen otherwise: "coherence.evict" (a tick
	// evicts the oldest unpinned cached copy) and "coherence.hold" (a call's
	// requests wait for the next tick).
	Buggify func(site string) bool

	Bugs Bugs // planted defects, all false in production
}

// Execute is one part of a thread request running on a page: the bytes
// [Addr, End) of global memory.
type Execute struct {
	Machine   netmodel.NodeID // where it ran
	Req       sys.ReqID
	Addr, End uint64
}

// Apply is one thread request taking effect.
type Apply struct {
	Machine netmodel.NodeID // where it took effect
	Req     sys.ReqID
	PID     uint64
	Addr    uint64
	Kind    string
}

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("coherence: bad config")

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func setU64(p *uint64, def uint64) {
	if *p == 0 {
		*p = def
	}
}

func (c Config) withDefaults() (Config, error) {
	setInt(&c.PageBytes, PageBytesDefault)
	setU64(&c.CacheBytesMax, CacheBytesMaxDefault)
	setU64(&c.HomeBytesMax, HomeBytesMaxDefault)
	setInt(&c.InFlightMax, InFlightMaxDefault)
	setInt(&c.OpsParkedMax, OpsParkedMaxDefault)
	setInt(&c.WaitersMax, WaitersMaxDefault)
	setInt(&c.RetransmitTicks, RetransmitTicksDefault)
	setInt(&c.RetransmitTicksMax, RetransmitTicksMaxDefault)
	setInt(&c.PayloadBytesMax, PayloadBytesMaxDefault)
	setInt(&c.BatchesInFlightMax, BatchesInFlightMaxDefault)
	setInt(&c.SessionMax, SessionMaxDefault)
	setU64(&c.BulkBytesMax, BulkBytesMaxDefault)
	setInt(&c.HotTransfers, HotTransfersDefault)
	setInt(&c.HotWindowTicks, HotWindowTicksDefault)
	setInt(&c.DelegateHintTicks, DelegateHintTicksDefault)
	switch {
	case c.Self == 0:
		return c, fmt.Errorf("%w: Self is 0", ErrConfig)
	case c.Incarnation == 0:
		return c, fmt.Errorf("%w: Incarnation is 0", ErrConfig)
	case c.Transport == nil || c.Completer == nil:
		return c, fmt.Errorf("%w: Transport and Completer are required", ErrConfig)
	case c.PageBytes < pageBytesMin || c.PageBytes > pageBytesMax || c.PageBytes&(c.PageBytes-1) != 0:
		return c, fmt.Errorf("%w: PageBytes %d is not a power of two in [%d, %d]", ErrConfig, c.PageBytes, pageBytesMin, pageBytesMax)
	case c.CacheBytesMax < 4*uint64(c.PageBytes):
		return c, fmt.Errorf("%w: CacheBytesMax %d holds fewer than 4 pages", ErrConfig, c.CacheBytesMax)
	case c.PayloadBytesMax < 2*c.PageBytes:
		return c, fmt.Errorf("%w: PayloadBytesMax %d holds fewer than 2 pages", ErrConfig, c.PayloadBytesMax)
	case c.InFlightMax < 0 || c.BatchesInFlightMax < 0 || c.OpsParkedMax < 0 || c.WaitersMax < 0 || c.SessionMax < 0 || c.HotTransfers < 0 || c.HotWindowTicks < 0 || c.DelegateHintTicks < 0:
		return c, fmt.Errorf("%w: negative limit", ErrConfig)
	case c.RetransmitTicks < 1 || c.RetransmitTicksMax < c.RetransmitTicks:
		return c, fmt.Errorf("%w: RetransmitTicks %d, RetransmitTicksMax %d", ErrConfig, c.RetransmitTicks, c.RetransmitTicksMax)
	case c.Atomics > AtomicsDelegate:
		return c, fmt.Errorf("%w: %v", ErrConfig, c.Atomics)
	}
	return c, nil
}
