package raftkv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
)

// benchNet delivers in FIFO order to servers and clients.
type benchNet struct {
	queue     []message
	receivers map[netmodel.NodeID]netmodel.Receiver
}

type benchTransport struct {
	net  *benchNet
	from netmodel.NodeID
}

func (t benchTransport) Send(to netmodel.NodeID, payload []byte) {
	t.net.queue = append(t.net.queue, message{from: t.from, to: to, payload: payload})
}

func (n *benchNet) deliverAll() {
	for i := 0; i < len(n.queue); i++ {
		m := n.queue[i]
		n.receivers[m.to].Receive(m.from, m.payload)
	}
	n.queue = n.queue[:0]
}

// BenchmarkPut measures puts through a 3-server cluster on fault-free
// simulated disks, with several clients keeping one put each in flight:
// ops/s is puts per second of wall time, allocs are per put (the whole
// cluster's work: three WAL appends and fsyncs, raft, snapshots every
// 1000 entries).
func BenchmarkPut(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchmarkPut(b, clients) })
	}
}

func benchmarkPut(b *testing.B, clients int) {
	net := &benchNet{receivers: make(map[netmodel.NodeID]netmodel.Receiver)}
	ids := []netmodel.NodeID{1, 2, 3}
	var servers []*Server
	for _, id := range ids {
		s, err := Open(Config{
			ID: id, Peers: ids, Dir: "kv",
			Disk:      simdisk.New(rand.New(rand.NewPCG(1, uint64(id))), simdisk.Faults{}),
			Transport: benchTransport{net, id}, Rand: rand.New(rand.NewPCG(2, uint64(id))),
		})
		if err != nil {
			b.Fatal(err)
		}
		servers = append(servers, s)
		net.receivers[id] = s
	}
	tick := func() {
		for _, s := range servers {
			s.Tick()
		}
		net.deliverAll()
	}
	for i := 0; i < 50; i++ {
		tick()
	}
	var cls []*Client
	for c := 0; c < clients; c++ {
		id := netmodel.NodeID(clientBase + c)
		cl, err := NewClient(ClientConfig{Self: id, Servers: ids, Transport: benchTransport{net, id},
			Rand: rand.New(rand.NewPCG(3, uint64(id)))})
		if err != nil {
			b.Fatal(err)
		}
		cls = append(cls, cl)
		net.receivers[id] = cl
	}
	started, done, failed := 0, 0, 0
	onDone := func(r Result) {
		done++
		if r.Err != nil {
			failed++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for rounds := 0; done < b.N; rounds++ {
		for _, cl := range cls {
			if !cl.Busy() && started < b.N {
				if err := cl.Put(fmt.Sprintf("key%d", started%1000), "value", onDone); err != nil {
					b.Fatal(err)
				}
				started++
			}
		}
		net.deliverAll()
		if rounds%8 == 0 {
			tick()
			for _, cl := range cls {
				cl.Tick()
			}
		}
		if rounds > 100*b.N+1000 {
			b.Fatalf("only %d of %d puts done after %d rounds", done, b.N, rounds)
		}
	}
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d puts failed", failed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
