package tcpnet

import (
	"testing"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/nettest"
)

// tcpNet is n machines on loopback ports for the shared contract suite.
type tcpNet struct {
	t       *testing.T
	v       *vm
	deliver func(nettest.Delivery)
	addrs   map[netmodel.NodeID]string
	creds   map[netmodel.NodeID]*identity.Credential
	incs    map[netmodel.NodeID]uint64
	nodes   map[netmodel.NodeID]*tcpNode
}

type tcpNode struct {
	tr   *Transport
	stop chan struct{}
	done chan struct{}
}

func (n *tcpNet) boot(id netmodel.NodeID) {
	n.incs[id]++
	inc := n.incs[id]
	listen := n.addrs[id]
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	peers := map[netmodel.NodeID]string{}
	for p, a := range n.addrs {
		if p != id {
			peers[p] = a
		}
	}
	tr, err := New(Config{Self: id, Incarnation: inc, Credential: n.creds[id], Listen: listen, Peers: peers,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		n.t.Fatalf("New(%v) = %v", id, err)
	}
	n.addrs[id] = tr.Addr().String()
	node := &tcpNode{tr: tr, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(node.done)
		for {
			select {
			case m := <-tr.Inbox():
				tr.Deliver(m, netmodel.ReceiverFunc(func(from netmodel.NodeID, payload []byte) {
					n.deliver(nettest.Delivery{To: id, ToIncarnation: inc, From: from, Payload: payload})
				}))
			case <-node.stop:
				return
			}
		}
	}()
	n.nodes[id] = node
}

func (n *tcpNet) Send(from, to netmodel.NodeID, payload []byte) {
	n.nodes[from].tr.Send(to, payload)
}

func (n *tcpNet) Crash(id netmodel.NodeID) {
	node := n.nodes[id]
	close(node.stop)
	<-node.done
	node.tr.Close()
	delete(n.nodes, id)
}

func (n *tcpNet) Restart(id netmodel.NodeID)            { n.boot(id) }
func (n *tcpNet) Incarnation(id netmodel.NodeID) uint64 { return n.incs[id] }

func (n *tcpNet) Wait(cond func() bool) bool {
	deadline := time.Now().Add(300 * time.Millisecond)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func (n *tcpNet) closeAll() {
	for id := range n.nodes {
		n.Crash(id)
	}
}

func TestContract(t *testing.T) {
	nettest.TestTransport(t, func(t *testing.T, count int, deliver func(nettest.Delivery)) nettest.Net {
		n := &tcpNet{t: t, v: newVM(t, "vm"), deliver: deliver, addrs: map[netmodel.NodeID]string{},
			creds: map[netmodel.NodeID]*identity.Credential{}, incs: map[netmodel.NodeID]uint64{},
			nodes: map[netmodel.NodeID]*tcpNode{}}
		// Bind every listener first so each machine knows every address.
		for i := 1; i <= count; i++ {
			id := netmodel.NodeID(i)
			n.creds[id] = n.v.machine(id)
			n.boot(id)
		}
		for id, node := range n.nodes {
			for p, a := range n.addrs {
				if p != id {
					node.tr.SetPeer(p, a)
				}
			}
		}
		t.Cleanup(n.closeAll)
		return n
	})
}
