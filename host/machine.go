package host

import (
	"log/slog"
	"math/rand/v2"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
)

// Machine is a sans-IO state machine driven by ticks and messages; it
// sends through the Transport and persists through the Disk of its Env.
type Machine interface {
	Tick()
	Receive(from netmodel.NodeID, payload []byte)
}

// Failer is a Machine that can stop by itself: once Err is non-nil it
// ignores input and the Host closes and reopens it (or fail-stops, if the
// error is fatal).
type Failer interface {
	Err() error
}

// Batcher is a Machine that wants to know when a burst of received
// messages ends: the Host calls EndBatch after delivering every message
// that was waiting (up to Config.BatchMax), so the machine can persist and
// send once per burst instead of once per message.
type Batcher interface {
	EndBatch()
}

// Worker is a Machine with work of its own between inputs (a node's
// answers to itself and its clients' output). The Host calls Work when no
// input waits; it returns whether more work remains.
type Worker interface {
	Work() (more bool)
}

// Expresser is a Machine that takes some messages on the transport's
// reader goroutines, without waiting for the Host's (tcpnet's
// SetExpress): Express is called concurrently with the Host's goroutine
// and with other readers, must not block, and reports whether it took the
// message (false: the Host delivers it as usual).
type Expresser interface {
	Express(from netmodel.NodeID, payload []byte) bool
}

// Exporter is a Machine that exports figures as metrics. Export runs on
// the Host's goroutine, once per scrape.
type Exporter interface {
	Export(emit func(Metric))
}

// MetricKind is how Prometheus treats a figure.
type MetricKind uint8

// The kinds of Metric.
const (
	Counter MetricKind = iota + 1
	Gauge
)

// Metric is one exported figure. Name is prefixed "flock_"; a name must
// keep one Help, Kind and set of label names.
type Metric struct {
	Name   string
	Help   string
	Kind   MetricKind
	Labels []Label
	Value  float64
}

// Label is a metric label.
type Label struct{ Name, Value string }

// Env is what an Open function gets: the machine's identity and the
// interfaces to the world it must reach everything through.
type Env struct {
	ID          netmodel.NodeID
	Incarnation uint64
	// Open counts the opens of this Host: 1 for the first, +1 per reopen.
	Open      uint64
	Transport netmodel.Transport
	Disk      diskmodel.FS
	// Rand is a fresh stream for this open, seeded from the OS.
	Rand   *rand.Rand
	Logger *slog.Logger
	// Wake asks the Host's goroutine to run its machine's Work soon; safe
	// from any goroutine, it never blocks (wakes coalesce).
	Wake func()
}

// OpenFunc opens (recovers or bootstraps) the machine.
type OpenFunc func(Env) (Machine, error)
