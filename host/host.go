package host

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero fields of Config.
const (
	TickPeriodDefault = 10 * time.Millisecond
	BatchMaxDefault   = 256
	DoQueueMaxDefault = 1024
	WorkRoundsMax     = 64
	// WorkSliceMax bounds how long a busy machine works before it looks at
	// its inputs again: well under a tick.
	WorkSliceMax     = 2 * time.Millisecond
	ReopenBackoffMax = 5 * time.Second
	exportTimeout    = 5 * time.Second
	reopenBackoffMin = 10 * time.Millisecond
)

// ErrFailStop wraps the error a Host stopped for good on.
var ErrFailStop = errors.New("host: fail-stop")

// ErrStopped is returned by Do once the Host no longer runs.
var ErrStopped = errors.New("host: stopped")

// Config configures a Host.
type Config struct {
	// Service names what the machine is, for logs and metrics ("kv", "node").
	Service   string
	Transport *tcpnet.Transport
	Disk      diskmodel.FS
	Open      OpenFunc
	// Fatal says which errors (from Open or Failer.Err) end the Host for
	// good; nil treats none as fatal.
	Fatal func(error) bool
	// TickPeriod is the real time of one Tick.
	TickPeriod time.Duration
	// BatchMax bounds the messages delivered before a Batcher's EndBatch
	// and before the Host looks at its other inputs.
	BatchMax int
	// DoQueueMax bounds the functions waiting for the Host's goroutine;
	// Do blocks beyond it (until its context ends).
	DoQueueMax int
	Logger     *slog.Logger
	// Registry, if set, receives the Host's metrics (see Collector).
	Registry prometheus.Registerer
}

// Host drives one Machine on one goroutine.
type Host struct {
	cfg  Config
	log  *slog.Logger
	do   chan func(Machine)
	wake chan struct{} // cap 1: Env.Wake
	done chan struct{}

	m Machine
	// expressMu guards express, the machine the transport's readers give
	// messages to (an Expresser; nil while none is open): closing a
	// machine waits for the calls into it under way.
	expressMu   sync.RWMutex
	express     Expresser
	opens       uint64
	openFailed  int       // opens failed in a row
	nextOpen    time.Time // no reopen before
	failStopErr error

	ticks, delivered, stale, batches, reopens atomic.Uint64
	up                                        atomic.Bool
}

// New checks the configuration and returns a Host ready to Run.
func New(cfg Config) (*Host, error) {
	if cfg.Transport == nil || cfg.Disk == nil || cfg.Open == nil {
		return nil, errors.New("host: Config needs Transport, Disk and Open")
	}
	setDefault(&cfg.TickPeriod, TickPeriodDefault)
	setDefault(&cfg.BatchMax, BatchMaxDefault)
	setDefault(&cfg.DoQueueMax, DoQueueMaxDefault)
	if cfg.Fatal == nil {
		cfg.Fatal = func(error) bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{
		cfg: cfg,
		log: cfg.Logger.With("machine", cfg.Transport.Self().String(), "incarnation", cfg.Transport.Incarnation(),
			"service", cfg.Service),
		do:   make(chan func(Machine), cfg.DoQueueMax),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(&collector{h: h}); err != nil {
			return nil, fmt.Errorf("host: register metrics: %w", err)
		}
	}
	return h, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Run drives the machine until ctx ends (nil) or a fatal error stops it
// (an error wrapping ErrFailStop). It closes the machine before returning;
// the transport and disk stay the caller's to close.
func (h *Host) Run(ctx context.Context) error {
	defer close(h.done)
	defer h.closeMachine()
	ticker := time.NewTicker(h.cfg.TickPeriod)
	defer ticker.Stop()
	inbox := h.cfg.Transport.Inbox()
	h.supervise()
	busy := false
	for h.failStopErr == nil {
		// A machine with work of its own only looks at its inputs between
		// slices of it; an idle one waits for them.
		if !h.step(ctx, ticker.C, inbox, !busy) {
			h.log.Info("host stopping", "why", context.Cause(ctx).Error())
			return nil
		}
		h.supervise()
		busy = h.work(inbox)
	}
	return h.failStopErr
}

// step handles the inputs that wait: a due tick first, then a burst of
// messages or a function. If block, it waits for one; it reports false
// once ctx has ended.
func (h *Host) step(ctx context.Context, tick <-chan time.Time, inbox <-chan tcpnet.Message, block bool) bool {
	if block {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			h.tick()
		case msg := <-inbox:
			h.receive(msg, inbox)
		case fn := <-h.do:
			fn(h.m)
		case <-h.wake: // Run calls work next
		}
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	// A busy machine's ticks must not lose to its messages: ticks drive
	// its leases and timeouts.
	select {
	case <-tick:
		h.tick()
	default:
	}
	select {
	case msg := <-inbox:
		h.receive(msg, inbox)
	case fn := <-h.do:
		fn(h.m)
	default:
	}
	return true
}

func (h *Host) tick() {
	h.ticks.Add(1)
	if h.m != nil {
		h.m.Tick()
	}
}

// receive delivers msg and whatever else waits, up to BatchMax.
func (h *Host) receive(msg tcpnet.Message, inbox <-chan tcpnet.Message) {
	h.deliver(msg)
	for range h.cfg.BatchMax - 1 {
		select {
		case msg = <-inbox:
			h.deliver(msg)
			continue
		default:
		}
		break
	}
	h.batches.Add(1)
	if b, ok := h.m.(Batcher); ok {
		b.EndBatch()
	}
}

func (h *Host) deliver(msg tcpnet.Message) {
	if h.m == nil {
		h.stale.Add(1) // no machine to give it to: lost, as at a crash
		return
	}
	if h.cfg.Transport.Deliver(msg, h.m) {
		h.delivered.Add(1)
	} else {
		h.stale.Add(1)
	}
}

// work lets a Worker run while no input waits, for at most WorkSliceMax
// (a tick's channel cannot tell it is due, so time bounds the slice); it
// reports whether work remains.
func (h *Host) work(inbox <-chan tcpnet.Message) bool {
	w, ok := h.m.(Worker)
	if !ok {
		return false
	}
	start := time.Now()
	for range WorkRoundsMax {
		if len(inbox) > 0 || len(h.do) > 0 || time.Since(start) >= WorkSliceMax {
			return true
		}
		if !w.Work() {
			return false
		}
	}
	return true
}

// supervise reopens a failed or missing machine and fail-stops on a fatal
// error.
func (h *Host) supervise() {
	if h.m != nil {
		f, ok := h.m.(Failer)
		if !ok || f.Err() == nil {
			return
		}
		err := f.Err()
		h.closeMachine()
		if h.failed(err, "machine failed") {
			return
		}
	}
	if time.Now().Before(h.nextOpen) {
		return
	}
	h.opens++
	m, err := h.cfg.Open(Env{
		ID: h.cfg.Transport.Self(), Incarnation: h.cfg.Transport.Incarnation(), Open: h.opens,
		Transport: h.cfg.Transport, Disk: h.cfg.Disk, Rand: newRand(), Logger: h.log, Wake: h.wakeUp,
	})
	if err != nil {
		h.failed(err, "open failed")
		return
	}
	if h.opens > 1 {
		h.reopens.Add(1)
	}
	h.m, h.openFailed = m, 0
	if x, ok := m.(Expresser); ok {
		h.expressMu.Lock()
		h.express = x
		h.expressMu.Unlock()
		h.cfg.Transport.SetExpress(h.offerExpress)
	}
	h.up.Store(true)
	h.log.Info("machine open", "open", h.opens)
}

// failed handles an error of the machine: fatal ones stop the Host, others
// schedule a reopen after a backoff. It reports whether the Host stopped.
func (h *Host) failed(err error, what string) bool {
	if h.cfg.Fatal(err) {
		h.failStopErr = fmt.Errorf("%w: %s: %w", ErrFailStop, what, err)
		h.log.Error("fail-stop: the machine stays down", "err", err.Error())
		return true
	}
	h.openFailed++
	backoff := min(reopenBackoffMin<<min(h.openFailed, 10), ReopenBackoffMax)
	h.nextOpen = time.Now().Add(backoff)
	h.log.Warn(what+"; reopening", "err", err.Error(), "backoff", backoff.String())
	return false
}

func (h *Host) closeMachine() {
	if h.m == nil {
		return
	}
	h.expressMu.Lock()
	h.express = nil
	h.expressMu.Unlock()
	if c, ok := h.m.(io.Closer); ok {
		if err := c.Close(); err != nil {
			h.log.Warn("close failed", "err", err.Error())
		}
	}
	h.m = nil
	h.up.Store(false)
}

// offerExpress is the transport's express receiver: the open machine's
// Express, if it has one.
func (h *Host) offerExpress(from netmodel.NodeID, payload []byte) bool {
	h.expressMu.RLock()
	defer h.expressMu.RUnlock()
	if h.express == nil || !h.express.Express(from, payload) {
		return false
	}
	h.delivered.Add(1)
	return true
}

// newRand is a stream seeded from the OS: production has no seed to replay.
func newRand() *rand.Rand {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic(fmt.Sprintf("host: crypto/rand: %v", err))
	}
	return rand.New(rand.NewChaCha8(seed))
}

// wakeUp is Env.Wake.
func (h *Host) wakeUp() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Do runs fn on the Host's goroutine with the current machine (nil while
// it is down) and waits for it to return. It fails with ErrStopped once
// the Host stopped, or with ctx's error.
func (h *Host) Do(ctx context.Context, fn func(Machine)) error {
	ran := make(chan struct{})
	wrapped := func(m Machine) {
		defer close(ran)
		fn(m)
	}
	select {
	case h.do <- wrapped:
	case <-h.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-h.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post queues fn for the Host's goroutine without waiting; it reports
// false if the queue is full or the Host stopped.
func (h *Host) Post(fn func(Machine)) bool {
	select {
	case <-h.done:
		return false
	default:
	}
	select {
	case h.do <- fn:
		return true
	default:
		return false
	}
}

// Done is closed when Run has returned.
func (h *Host) Done() <-chan struct{} { return h.done }
