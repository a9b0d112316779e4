package scenarios

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/raftkv"
)

// fsNode is one machine of the fs scenario: a metadata replica if it is a
// voter, metadata client sessions and a dfs Service. The node's one
// transport carries three services, told apart by the payload's first
// byte (what the VM's node does with its service header):
//
//	'S' slot payload   to the raft server; slot 0 from a raft peer, else
//	                   from the sender's metadata session of that slot
//	'C' slot payload   to the metadata session of that slot
//	'F' payload        to the dfs Service
//
// A session's address as the raft server sees it is machine | slot<<32.
type fsNode struct {
	run     *fsRun
	id      sim.NodeID
	voter   bool
	quota   uint64
	m       *sim.Machine
	srv     *raftkv.Server
	svc     *dfs.Service
	clients []*raftkv.Client
	boots   uint64
	// failStop: the metadata replica found its persisted state corrupt and
	// stays down; the machine's Service keeps running.
	failStop string
	procs    []*fsProc // client machines only
}

const (
	fsMuxServer  = 'S'
	fsMuxClient  = 'C'
	fsMuxService = 'F'
)

func sessionAddr(m sim.NodeID, slot int) netmodel.NodeID { return m | netmodel.NodeID(slot)<<32 }

// fsTransport prefixes what a component sends with the mux header.
type fsTransport struct {
	m      *sim.Machine
	header func(to netmodel.NodeID) (netmodel.NodeID, muxHeader)
}

// muxHeader is the one or two bytes in front of a component's message
// (a value, so that naming it allocates nothing).
type muxHeader struct {
	b [2]byte
	n int
}

func muxHeader1(kind byte) muxHeader       { return muxHeader{b: [2]byte{kind}, n: 1} }
func muxHeader2(kind, slot byte) muxHeader { return muxHeader{b: [2]byte{kind, slot}, n: 2} }

func (t fsTransport) Send(to netmodel.NodeID, payload []byte) {
	dst, head := t.header(to)
	buf := make([]byte, head.n+len(payload))
	copy(buf, head.b[:head.n])
	copy(buf[head.n:], payload)
	t.m.Send(dst, buf)
}

func (n *fsNode) boot(m *sim.Machine) netmodel.Receiver {
	n.m, n.srv, n.svc, n.clients = m, nil, nil, nil
	if n.voter && n.failStop == "" {
		n.openServer()
	}
	for slot := 1; slot <= fsMetaSlots; slot++ {
		n.clients = append(n.clients, n.newClient(slot))
	}
	n.openService()
	m.After(fsTick, "fs.node.tick", n.tick)
	return netmodel.ReceiverFunc(n.receive)
}

func (n *fsNode) newClient(slot int) *raftkv.Client {
	var readFrom netmodel.NodeID
	if n.voter {
		readFrom = n.id
	}
	c, err := raftkv.NewClient(raftkv.ClientConfig{
		Self: sessionAddr(n.id, slot), Servers: n.run.voters, ReadFrom: readFrom, Rand: n.m.Rand(),
		Transport: fsTransport{m: n.m, header: func(to netmodel.NodeID) (netmodel.NodeID, muxHeader) {
			return to, muxHeader2(fsMuxServer, byte(slot))
		}},
		RequestTimeoutTicks: kvRequestTimeout, AttemptsMax: kvClientAttempts,
	})
	if err != nil {
		panic(fmt.Sprintf("scenarios: fs session: %v", err))
	}
	return c
}

func (n *fsNode) openServer() {
	srv, err := raftkv.Open(raftkv.Config{
		ID: n.id, Peers: n.run.voters, Disk: n.m.Disk(), Dir: "kv", Rand: n.m.Rand(), Buggify: n.m.Buggify,
		OnApply: n.onApply(n.boots),
		Transport: fsTransport{m: n.m, header: func(to netmodel.NodeID) (netmodel.NodeID, muxHeader) {
			if slot := to >> 32; slot != 0 {
				return to & 0xffffffff, muxHeader2(fsMuxClient, byte(slot))
			}
			return to, muxHeader2(fsMuxServer, 0)
		}},
	})
	n.boots++
	switch {
	case err == nil:
		n.srv = srv
	case errors.Is(err, raftkv.ErrCorrupt):
		n.failStop = err.Error()
		n.m.Record("metadata replica fail-stop: %v", err)
	default:
		n.m.Record("metadata replica open failed: %v", err) // try again at the next tick
	}
}

func (n *fsNode) openService() {
	meta := make([]dfs.MetaClient, len(n.clients))
	for i, c := range n.clients {
		meta[i] = c
	}
	svc, err := dfs.New(dfs.Config{
		Machine: n.id, Incarnation: uint32(n.m.Incarnation()), Machines: n.run.allMachines,
		Disk: n.m.Disk(), Dir: "fs", QuotaBytes: n.quota, Meta: meta, Rand: n.m.Rand(), Buggify: n.m.Buggify,
		Transport: fsTransport{m: n.m, header: func(to netmodel.NodeID) (netmodel.NodeID, muxHeader) {
			return to, muxHeader1(fsMuxService)
		}},
		ChunkSizeBytes: n.run.shape.chunkSizeBytes, Bugs: n.run.bugs,
		RepairEveryTicks: 100, OrphanTicks: 400, GraceTicks: 100,
	})
	if err != nil {
		n.m.Record("dfs service open failed: %v", err) // a disk error: try again at the next tick
		return
	}
	n.svc = svc
	for _, id := range n.run.allMachines {
		if n.run.dead[id] {
			svc.MachineDown(id)
		}
	}
	for _, p := range n.procs {
		p.boot()
	}
}

func (n *fsNode) tick() {
	if n.srv != nil && n.srv.Err() != nil {
		err := n.srv.Err()
		_ = n.srv.Close()
		n.srv = nil
		if errors.Is(err, raftkv.ErrCorrupt) {
			n.failStop = err.Error()
			n.m.Record("metadata replica fail-stop: %v", err)
		}
	}
	if n.voter && n.srv == nil && n.failStop == "" {
		n.openServer()
	}
	if n.svc == nil {
		n.openService()
	}
	if n.srv != nil {
		n.srv.Tick()
	}
	if n.svc != nil {
		n.svc.Tick() // ticks the metadata sessions too
	}
	n.m.After(fsTick, "fs.node.tick", n.tick)
}

func (n *fsNode) receive(from netmodel.NodeID, payload []byte) {
	if len(payload) < 1 {
		return
	}
	switch payload[0] {
	case fsMuxServer:
		if len(payload) >= 2 && n.srv != nil {
			n.srv.Receive(sessionAddr(from, int(payload[1])), payload[2:])
		}
	case fsMuxClient:
		if len(payload) >= 2 && int(payload[1]) >= 1 && int(payload[1]) <= len(n.clients) {
			n.clients[payload[1]-1].Receive(from, payload[2:])
		}
	case fsMuxService:
		if n.svc != nil {
			n.svc.Receive(from, payload[1:])
		}
	}
}

// onApply records every applied entry for the log invariants (at most once).
func (n *fsNode) onApply(boot uint64) func(raftkv.ApplyEvent) {
	return func(ev raftkv.ApplyEvent) {
		if ev.Kind == raftkv.ApplySnapshot {
			return
		}
		a := checker.Applied{Index: ev.Index, Term: ev.Term, Digest: ev.Digest, Boot: boot}
		if ev.Kind == raftkv.ApplyExecuted && ev.Op != raftkv.OpRegister {
			a.Request = checker.RequestID{Session: ev.Session, Seq: ev.Seq}
		}
		n.run.applied[uint64(n.id)] = append(n.run.applied[uint64(n.id)], a)
	}
}
