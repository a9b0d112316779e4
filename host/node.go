package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/coherence"
	"github.com/flockvm/flock/vm/node"
)

// NodeConfig is what a hosted node is opened with at every open.
type NodeConfig struct {
	// Node is the node's configuration; ID, Transport, Disk, Rand and
	// Memory (the coherence agent, unless set) are filled in at each open.
	Node node.Config
	// Clients configures the node's client service.
	Clients node.ClientConfig
	// Book, if set, receives the address book the node reads from the
	// metadata store; the host gives it to its transport.
	Book *AddressBook
}

// addressSyncTicks: how often the hosted node's address book is handed to
// the transport.
const addressSyncTicks = 100

// peerTransport is what the node adapter needs of tcpnet beyond Send: who
// a client is, and where machines are.
type peerTransport interface {
	netmodel.Transport
	Principal(id netmodel.NodeID) (identity.Principal, bool)
	SetPeer(id netmodel.NodeID, addr string)
}

// Node opens a node (package vm/node) at every open of the host: the
// Env's id, transport, disk and random stream; a fresh incarnation from
// the node's own counter.
func Node(cfg NodeConfig) OpenFunc {
	return func(env Env) (Machine, error) {
		tr, ok := env.Transport.(peerTransport)
		if !ok {
			return nil, errors.New("host: a node needs a transport that knows its peers (tcpnet)")
		}
		nc := cfg.Node
		nc.ID, nc.Transport, nc.Disk, nc.Rand, nc.Wake = env.ID, env.Transport, env.Disk, env.Rand, env.Wake
		if nc.Memory == nil {
			nc.Memory = node.CoherenceMemory(coherence.Config{})
		}
		log := env.Logger
		if nc.Diag == nil {
			nc.Diag = logWriter{log: log}
		}
		if nc.Record == nil {
			nc.Record = func(format string, args ...any) {
				if log.Enabled(context.Background(), slog.LevelDebug) {
					log.Debug("node", "what", sprintf(format, args...))
				}
			}
		}
		// Every core runs on an OS thread of its own, one core too: the
		// host's goroutine keeps the node's inputs, its ticks and the
		// disk syncs, and a core running its own code never waits for
		// them (a one-core machine that ran its core on the host's
		// goroutine stalled behind every tick and fsync: remote loads saw
		// gaps of 17-52 ms).
		nc.ParallelCores = true
		// Bursts and drains share one fsync of the metadata replica, and a
		// leader's appends leave before its own (osdisk's Sync returns
		// once durable).
		nc.MetaGroupCommit = true
		nc.Meta.SendBeforeSync = true
		// Chunk files are written and synced on a goroutine of their own:
		// a core calling into the machine meanwhile finds its lock free.
		// Spare chunk files are made on a second one, so that no put
		// queues behind them.
		// The metadata replica's WAL fsyncs run on a third, so that the
		// driver goes on with its other inputs (a chunk's put) meanwhile.
		worker, spares, wal := newDiskWorker(), newDiskWorker(), newDiskWorker()
		nc.Offload, nc.OffloadBackground, nc.OffloadWAL = worker.offload, spares.offload, wal.offload
		n, err := node.Open(nc)
		if err != nil {
			worker.stop()
			spares.stop()
			wal.stop()
			return nil, err
		}
		n.StartCores()
		n.ConfigureClients(cfg.Clients)
		m := &NodeMachine{n: n, tr: tr, book: cfg.Book, log: log, inc: n.Incarnation(), worker: worker, spares: spares, wal: wal}
		log.Info("node open", "node_incarnation", n.Incarnation(), "voters", len(nc.Voters), "cores", nc.Provide.Cores)
		return m, nil
	}
}

// NodeFatal: errors a hosted node stops on for good (corrupt durable
// state; the machine left the VM). Others reopen it as a new incarnation.
func NodeFatal(err error) bool {
	return errors.Is(err, node.ErrCorrupt) || errors.Is(err, node.ErrLeft)
}

// NodeMachine is a hosted node: the Machine the Host drives.
type NodeMachine struct {
	n                   *node.Node
	tr                  peerTransport
	book                *AddressBook
	ticks               uint64
	inc                 uint64 // the node's incarnation as last logged
	log                 *slog.Logger
	clientsRefused      uint64
	worker, spares, wal *diskWorker
}

var (
	_ Machine   = (*NodeMachine)(nil)
	_ Worker    = (*NodeMachine)(nil)
	_ Batcher   = (*NodeMachine)(nil)
	_ Failer    = (*NodeMachine)(nil)
	_ Exporter  = (*NodeMachine)(nil)
	_ Expresser = (*NodeMachine)(nil)
)

// Node is the hosted node (use it only on the Host's goroutine, e.g. in
// Host.Do).
func (m *NodeMachine) Node() *node.Node { return m.n }

// Tick ticks the node, and now and then hands its address book to the
// transport.
func (m *NodeMachine) Tick() {
	m.n.Tick()
	if inc := m.n.Incarnation(); inc != m.inc {
		m.log.Warn("node rejoined as a new incarnation: the VM had declared it dead", "node_incarnation", inc, "was", m.inc)
		m.inc = inc
	}
	m.ticks++
	if m.ticks%addressSyncTicks == 1 {
		m.syncAddresses()
	}
}

func (m *NodeMachine) syncAddresses() {
	addrs := m.n.Addresses()
	if len(addrs) == 0 {
		return
	}
	for _, id := range m.book.merge(addrs) {
		if id != m.n.ID() {
			m.tr.SetPeer(id, addrs[id])
			m.log.Info("peer address", "peer", id.String(), "addr", addrs[id])
		}
	}
}

// Receive hands a machine's message to the node, and a client's with the
// user its connection authenticated as.
func (m *NodeMachine) Receive(from netmodel.NodeID, payload []byte) {
	if !identity.IsClientID(from) {
		m.n.ReceiveBurst(from, payload)
		return
	}
	p, ok := m.tr.Principal(from)
	if !ok || p.Kind != identity.KindUser {
		m.clientsRefused++ // the transport allows only users to speak as clients
		return
	}
	m.n.ReceiveClient(from, p.User, payload)
}

// Express takes a machine's memory-service message on a reader goroutine
// (node.ReceiveExpress).
func (m *NodeMachine) Express(from netmodel.NodeID, payload []byte) bool {
	if identity.IsClientID(from) {
		return false
	}
	return m.n.ReceiveExpress(from, payload)
}

// EndBatch handles the metadata replica's raft output of the burst (one
// WAL append and one fsync for all of it) and sends the clients' output.
func (m *NodeMachine) EndBatch() { m.n.EndBurst() }

// Work runs what the node queued for itself and sends the clients'
// output; the cores run on their own OS threads and leave that work to
// this goroutine (Env.Wake). It reports whether running it queued more (a
// request to the machine's own metadata replica and its answer take a
// round each).
func (m *NodeMachine) Work() bool {
	m.n.Drain()
	m.n.FlushClients()
	return m.n.HasQueued()
}

// ErrLeaseLapsed: the node has not seen its own lease move for twice the
// lease's expiry. The other machines have likely declared it dead, and
// then drop everything it sends (so it could never learn it from them):
// the host reopens it as a new incarnation, which rejoins.
var ErrLeaseLapsed = errors.New("host: the node's own lease lapsed unseen")

// Err is why the node stopped (fail-stop, or it left the VM), or
// ErrLeaseLapsed.
func (m *NodeMachine) Err() error {
	if err := m.n.Err(); err != nil {
		return err
	}
	if age, ok := m.n.OwnLeaseAgeTicks(); ok && age > 2*m.n.LeaseExpireTicks() {
		return fmt.Errorf("%w: not seen to move for %d ticks (the VM declares a machine dead after %d)", ErrLeaseLapsed, age, m.n.LeaseExpireTicks())
	}
	return nil
}

// Close releases the node's files, once the chunk writes under way have
// finished (their completions are dropped with the node).
func (m *NodeMachine) Close() error {
	m.n.Close()
	m.worker.stop()
	m.spares.stop()
	m.wal.stop()
	return nil
}

// diskJobsMax bounds the chunk writes queued for a machine's disk worker;
// a full queue makes the driver wait for it (backpressure, bounded by the
// chunk store's own limit on writes under way).
const diskJobsMax = 64

// diskWorker runs the node's offloaded disk jobs (node.Config.Offload) on
// one goroutine, in order.
type diskWorker struct {
	jobs    chan func()
	done    chan struct{}
	stopped sync.Once
}

func newDiskWorker() *diskWorker {
	w := &diskWorker{jobs: make(chan func(), diskJobsMax), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *diskWorker) run() {
	defer close(w.done)
	for job := range w.jobs {
		job()
	}
}

func (w *diskWorker) offload(job func()) { w.jobs <- job }

// stop runs the jobs queued and ends the goroutine.
func (w *diskWorker) stop() {
	w.stopped.Do(func() { close(w.jobs) })
	<-w.done
}

// AddressBook is the machines' addresses as a host knows them, shared
// with the issuer (which tells joiners) and kept in the data dir.
type AddressBook struct {
	mu    sync.Mutex
	peers map[netmodel.NodeID]string
	save  func(map[netmodel.NodeID]string) error
	log   *slog.Logger
}

// NewAddressBook starts a book from peers; save, if set, persists it at
// every change.
func NewAddressBook(peers map[netmodel.NodeID]string, save func(map[netmodel.NodeID]string) error, log *slog.Logger) *AddressBook {
	b := &AddressBook{peers: map[netmodel.NodeID]string{}, save: save, log: log}
	for id, a := range peers {
		b.peers[id] = a
	}
	return b
}

// Peers is a copy of the book.
func (b *AddressBook) Peers() map[netmodel.NodeID]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[netmodel.NodeID]string, len(b.peers))
	for id, a := range b.peers {
		out[id] = a
	}
	return out
}

// Set records one machine's address; it reports whether it changed.
func (b *AddressBook) Set(id netmodel.NodeID, addr string) bool {
	return len(b.merge(map[netmodel.NodeID]string{id: addr})) > 0
}

// merge records addrs and returns the machines whose address changed, in
// id order, saving the book if any did.
func (b *AddressBook) merge(addrs map[netmodel.NodeID]string) []netmodel.NodeID {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var changed []netmodel.NodeID
	for id, a := range addrs {
		if id != 0 && a != "" && b.peers[id] != a {
			b.peers[id] = a
			changed = append(changed, id)
		}
	}
	slices.Sort(changed)
	if len(changed) > 0 && b.save != nil {
		if err := b.save(b.peers); err != nil && b.log != nil {
			b.log.Warn("saving the address book", "err", err.Error())
		}
	}
	return changed
}
