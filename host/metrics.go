package host

import (
	"context"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector turns the Host's, the transport's and the machine's figures
// into Prometheus metrics at scrape time. It is unchecked (Describe sends
// nothing) because what a machine exports is known only then.
type collector struct {
	h *Host
}

func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	constLabels := prometheus.Labels{"machine": h.cfg.Transport.Self().String(), "service": h.cfg.Service}
	emit := func(m Metric) {
		names := make([]string, len(m.Labels))
		values := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			names[i], values[i] = l.Name, l.Value
		}
		vt := prometheus.GaugeValue
		if m.Kind == Counter {
			vt = prometheus.CounterValue
		}
		desc := prometheus.NewDesc("flock_"+m.Name, m.Help, names, constLabels)
		metric, err := prometheus.NewConstMetric(desc, vt, m.Value, values...)
		if err != nil {
			metric = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- metric
	}
	h.exportHost(emit)
	exportTransport(h.cfg.Transport, emit)
	h.exportMachine(emit)
}

func (h *Host) exportHost(emit func(Metric)) {
	up := 0.0
	if h.up.Load() {
		up = 1
	}
	emit(Metric{Name: "host_machine_up", Help: "1 while the hosted machine is open", Kind: Gauge, Value: up})
	emit(Metric{Name: "host_incarnation", Help: "this start's incarnation", Kind: Gauge, Value: float64(h.cfg.Transport.Incarnation())})
	emit(Metric{Name: "host_ticks_total", Help: "ticks given to the machine", Kind: Counter, Value: float64(h.ticks.Load())})
	emit(Metric{Name: "host_messages_delivered_total", Help: "messages handed to the machine", Kind: Counter, Value: float64(h.delivered.Load())})
	emit(Metric{Name: "host_messages_stale_total", Help: "messages dropped: of a replaced incarnation, or while the machine was down", Kind: Counter, Value: float64(h.stale.Load())})
	emit(Metric{Name: "host_batches_total", Help: "bursts of received messages", Kind: Counter, Value: float64(h.batches.Load())})
	emit(Metric{Name: "host_reopens_total", Help: "times the machine was reopened after a failure", Kind: Counter, Value: float64(h.reopens.Load())})
}

// exportMachine asks the machine for its figures on the Host's goroutine;
// a Host too busy to answer within exportTimeout exports none this time.
func (h *Host) exportMachine(emit func(Metric)) {
	var got []Metric
	ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
	defer cancel()
	err := h.Do(ctx, func(m Machine) {
		if e, ok := m.(Exporter); ok {
			e.Export(func(x Metric) { got = append(got, x) })
		}
	})
	if err != nil {
		return
	}
	for _, m := range got {
		emit(m)
	}
}

// exportTransport emits per-peer traffic. Machines are labelled by id;
// clients, which come and go under random ids, are summed under "client".
func exportTransport(tr *tcpnet.Transport, emit func(Metric)) {
	type agg struct {
		tcpnet.PeerStats
		connected int
	}
	byPeer := map[string]*agg{}
	add := func(label string, s tcpnet.PeerStats) {
		a := byPeer[label]
		if a == nil {
			a = &agg{}
			byPeer[label] = a
		}
		a.MsgsSent += s.MsgsSent
		a.BytesSent += s.BytesSent
		a.MsgsReceived += s.MsgsReceived
		a.BytesReceived += s.BytesReceived
		a.Dropped += s.Dropped
		a.Stale += s.Stale
		a.Dials += s.Dials
		a.DialFailures += s.DialFailures
		a.Conns += s.Conns
		a.Urgent += s.Urgent
		a.Spills += s.Spills
		a.Expressed += s.Expressed
		a.Queued += s.Queued
		if s.Connected {
			a.connected++
		}
	}
	for _, s := range tr.Peers() {
		label := s.ID.String()
		if s.Kind == identity.KindUser || identity.IsClientID(s.ID) {
			label = "client"
		}
		add(label, s)
	}
	st := tr.Stats()
	add("client", st.Departed)
	labels := make([]string, 0, len(byPeer))
	for l := range byPeer {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		a := byPeer[l]
		peer := []Label{{"peer", l}}
		for _, m := range []struct {
			name, help string
			kind       MetricKind
			v          uint64
		}{
			{"net_messages_sent_total", "messages written to the peer", Counter, a.MsgsSent},
			{"net_bytes_sent_total", "frame bytes written to the peer", Counter, a.BytesSent},
			{"net_messages_received_total", "messages read from the peer", Counter, a.MsgsReceived},
			{"net_bytes_received_total", "frame bytes read from the peer", Counter, a.BytesReceived},
			{"net_dropped_total", "messages dropped from the peer's full send queue", Counter, a.Dropped},
			{"net_stale_total", "messages meant for or read from a replaced incarnation", Counter, a.Stale},
			{"net_dials_total", "connection attempts to the peer", Counter, a.Dials},
			{"net_dial_failures_total", "failed connection attempts", Counter, a.DialFailures},
			{"net_connections_total", "connections established with the peer", Counter, a.Conns},
			{"net_urgent_writes_total", "messages written at once by their sender (the memory service's), not by the peer's writer", Counter, a.Urgent},
			{"net_urgent_spills_total", "urgent writes the socket did not take whole, finished by the peer's writer", Counter, a.Spills},
			{"net_expressed_total", "messages received that the machine took on the reader's goroutine (the memory service's)", Counter, a.Expressed},
			{"net_queued_messages", "messages waiting to be sent", Gauge, uint64(a.Queued)},
			{"net_connected", "peers (clients: connections) with a connection to send on", Gauge, uint64(a.connected)},
		} {
			emit(Metric{Name: m.name, Help: m.help, Kind: m.kind, Labels: peer, Value: float64(m.v)})
		}
	}
	emitCounters(emit, nil, []counterSpec[uint64]{
		{"net_handshake_failures_total", "inbound connections refused by TLS: no certificate of this VM", st.HandshakeFailures},
		{"net_refused_total", "authenticated connections refused: wrong id, stale incarnation, too many", st.Refused},
		{"net_garbage_total", "connections closed for a bad frame", st.Garbage},
		{"net_joins_total", "join exchanges served", st.Joins},
		{"net_joins_admitted_total", "joins that admitted a machine", st.JoinsOK},
		{"net_unroutable_total", "messages to a peer with no address and no connection", st.Unroutable},
	})
}

// ServeMetrics serves the registry's metrics at /metrics on addr until ctx
// ends. It returns the address it listens on once it does.
func ServeMetrics(ctx context.Context, addr string, g prometheus.Gatherer) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	// Serve returns only once Shutdown closed the listener.
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}

// counterSpec is one counter of a table that emitCounters exports.
type counterSpec[T int64 | uint64] struct {
	name, help string
	v          T
}

// emitCounters emits every counter of specs with labels.
func emitCounters[T int64 | uint64](emit func(Metric), labels []Label, specs []counterSpec[T]) {
	for _, c := range specs {
		emit(Metric{Name: c.name, Help: c.help, Kind: Counter, Labels: labels, Value: float64(c.v)})
	}
}
