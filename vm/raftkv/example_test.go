package raftkv_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"github.com/flockvm/flock/vm/raftkv"
)

// network is the smallest driver-side network: messages wait in a queue
// until the loop delivers them.
type network struct {
	queue     []envelope
	receivers map[netmodel.NodeID]netmodel.Receiver
}

type envelope struct {
	from, to netmodel.NodeID
	payload  []byte
}

// endpoint is the Transport of one node.
type endpoint struct {
	net  *network
	self netmodel.NodeID
}

func (e endpoint) Send(to netmodel.NodeID, payload []byte) {
	e.net.queue = append(e.net.queue, envelope{e.self, to, payload})
}

func (n *network) deliverAll() {
	for len(n.queue) > 0 {
		m := n.queue[0]
		n.queue = n.queue[1:]
		n.receivers[m.to].Receive(m.from, m.payload)
	}
}

// Example runs a three-server cluster and one client in a driver loop:
// tick everyone, deliver every message, repeat.
func Example() {
	net := &network{receivers: map[netmodel.NodeID]netmodel.Receiver{}}
	ids := []netmodel.NodeID{1, 2, 3}
	var servers []*raftkv.Server
	for _, id := range ids {
		s, err := raftkv.Open(raftkv.Config{
			ID: id, Peers: ids,
			Disk: simdisk.New(rand.New(rand.NewPCG(1, uint64(id))), simdisk.Faults{}), Dir: "kv",
			Transport: endpoint{net, id},
			Rand:      rand.New(rand.NewPCG(42, uint64(id))),
		})
		if err != nil {
			fmt.Println("open:", err)
			return
		}
		servers = append(servers, s)
		net.receivers[id] = s
	}
	client, err := raftkv.NewClient(raftkv.ClientConfig{
		Self: 100, Servers: ids, Transport: endpoint{net, 100}, Rand: rand.New(rand.NewPCG(7, 0)),
	})
	if err != nil {
		fmt.Println("client:", err)
		return
	}
	net.receivers[100] = client

	finished := false
	put := func() error {
		return client.Put("greeting", "hello", func(r raftkv.Result) {
			fmt.Println("put:", r.Err)
			client.Get("greeting", func(r raftkv.Result) {
				fmt.Println("get:", r.Value, r.Err)
				finished = true
			})
		})
	}
	if err := put(); err != nil {
		fmt.Println(err)
	}
	for tick := 0; tick < 1000 && !finished; tick++ {
		for _, s := range servers {
			s.Tick()
		}
		client.Tick()
		net.deliverAll()
	}
	for _, s := range servers {
		st := s.Status()
		fmt.Println(st.ID, "applied", st.Applied, "same leader:", st.Leader == servers[0].Status().Leader)
	}
	// Output:
	// put: <nil>
	// get: hello <nil>
	// n1 applied 4 same leader: true
	// n2 applied 4 same leader: true
	// n3 applied 4 same leader: true
}

// ExampleParseBug switches on a planted bug by its flag name.
func ExampleParseBug() {
	bugs, err := raftkv.ParseBug("ack-before-commit")
	fmt.Println(bugs.AckBeforeCommit, err)
	fmt.Println(raftkv.BugNames())
	// Output:
	// true <nil>
	// [ack-before-commit apply-retry-twice evict-live-session read-index-off-by-one remove-live-segment send-before-persist skip-torn-tail-truncate skip-wal-sync stale-follower-read]
}
