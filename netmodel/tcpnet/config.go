package tcpnet

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// Defaults for the zero limits of Config.
const (
	QueueMsgsMaxDefault      = 4096
	QueueBytesMaxDefault     = 64 << 20
	InboxMaxDefault          = 8192
	ConnsMaxDefault          = 1024
	HandshakesMaxDefault     = 64
	HandshakeTimeoutDefault  = 10 * time.Second
	WriteTimeoutDefault      = 10 * time.Second
	DialTimeoutDefault       = 5 * time.Second
	BackoffMinDefault        = 50 * time.Millisecond
	BackoffMaxDefault        = 2 * time.Second
	writeBatchMsgsMax        = 256
	writeBatchBytesMax       = 1 << 20
	readBufferBytes          = 64 << 10
	writeBufferBytes         = 64 << 10
	joinTimeoutDefault       = 30 * time.Second
	exporterLabel            = "EXPORTER-flock-join"
	exporterBytes            = 32
	peerProto                = "flock/1"
	joinProto                = "flock-join/1"
	idProto                  = "flock-id/1"
	connLivedForBackoffReset = BackoffMaxDefault
)

// Config configures a Transport. Zero limits take their defaults.
type Config struct {
	// Self is the id this endpoint speaks as; the credential must allow it.
	Self netmodel.NodeID
	// Incarnation is this start's incarnation (identity.Dir.NextIncarnation
	// for a machine; any fresh number, e.g. random, for a client).
	Incarnation uint64
	// Credential is this endpoint's certificate and the VM's CA.
	Credential *identity.Credential
	// Listen is the TCP address to serve on ("127.0.0.1:0" picks a port);
	// empty for a client, which only dials.
	Listen string
	// Peers maps machines to their addresses; SetPeer changes it later.
	Peers map[netmodel.NodeID]string
	// Join, if set, answers join requests (machines without a certificate
	// proving a token); without it such connections are refused.
	Join func(req identity.JoinRequest, binding []byte) identity.JoinResponse
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// Now is the clock certificates are checked against; nil is time.Now.
	Now func() time.Time

	QueueMsgsMax     int           // messages waiting per peer; the oldest is dropped beyond
	QueueBytesMax    int64         // payload bytes waiting per peer
	InboxMax         int           // received messages waiting for the driver
	ConnsMax         int           // inbound connections at once; more are refused
	HandshakesMax    int           // inbound handshakes in progress at once
	HandshakeTimeout time.Duration // TLS handshake plus hello
	WriteTimeout     time.Duration // one flush of a connection's writes
	DialTimeout      time.Duration
	BackoffMin       time.Duration // first wait after a failed dial
	BackoffMax       time.Duration // longest wait between dials
}

func (c Config) withDefaults() (Config, error) {
	setDefault(&c.QueueMsgsMax, QueueMsgsMaxDefault)
	setDefault(&c.QueueBytesMax, QueueBytesMaxDefault)
	setDefault(&c.InboxMax, InboxMaxDefault)
	setDefault(&c.ConnsMax, ConnsMaxDefault)
	setDefault(&c.HandshakesMax, HandshakesMaxDefault)
	setDefault(&c.HandshakeTimeout, HandshakeTimeoutDefault)
	setDefault(&c.WriteTimeout, WriteTimeoutDefault)
	setDefault(&c.DialTimeout, DialTimeoutDefault)
	setDefault(&c.BackoffMin, BackoffMinDefault)
	setDefault(&c.BackoffMax, BackoffMaxDefault)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var errs []error
	if c.Credential == nil {
		errs = append(errs, errors.New("no Credential"))
	} else if err := c.Credential.Principal.MaySpeakAs(c.Self); err != nil {
		errs = append(errs, err)
	}
	if c.Self == 0 || c.Incarnation == 0 {
		errs = append(errs, fmt.Errorf("Self %v and Incarnation %d must be non-zero", c.Self, c.Incarnation))
	}
	for id, addr := range c.Peers {
		if id == 0 || id == c.Self || addr == "" {
			errs = append(errs, fmt.Errorf("peer %v at %q: want another machine with an address", id, addr))
		}
	}
	if c.BackoffMin > c.BackoffMax {
		errs = append(errs, fmt.Errorf("BackoffMin %v exceeds BackoffMax %v", c.BackoffMin, c.BackoffMax))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("tcpnet: invalid Config: %w", errors.Join(errs...))
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
