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

// benchCluster is a 3-server cluster on fault-free simulated disks with
// an elected leader, and the means to drive it.
type benchCluster struct {
	net     *benchNet
	ids     []netmodel.NodeID
	servers []*Server
}

func newBenchCluster(b *testing.B) *benchCluster {
	bc := &benchCluster{net: &benchNet{receivers: make(map[netmodel.NodeID]netmodel.Receiver)}, ids: []netmodel.NodeID{1, 2, 3}}
	for _, id := range bc.ids {
		s, err := Open(Config{
			ID: id, Peers: bc.ids, Dir: "kv",
			Disk:      simdisk.New(rand.New(rand.NewPCG(1, uint64(id))), simdisk.Faults{}),
			Transport: benchTransport{bc.net, id}, Rand: rand.New(rand.NewPCG(2, uint64(id))),
		})
		if err != nil {
			b.Fatal(err)
		}
		bc.servers = append(bc.servers, s)
		bc.net.receivers[id] = s
	}
	for i := 0; i < 50; i++ {
		bc.tick()
	}
	return bc
}

func (bc *benchCluster) tick() {
	for _, s := range bc.servers {
		s.Tick()
	}
	bc.net.deliverAll()
}

func (bc *benchCluster) leader() netmodel.NodeID {
	for _, s := range bc.servers {
		if st := s.Status(); st.State == StateLeader {
			return st.ID
		}
	}
	return 0
}

func (bc *benchCluster) clients(b *testing.B, n int, readFrom netmodel.NodeID) []*Client {
	var cls []*Client
	for c := 0; c < n; c++ {
		id := netmodel.NodeID(clientBase + c)
		cl, err := NewClient(ClientConfig{Self: id, Servers: bc.ids, ReadFrom: readFrom,
			Transport: benchTransport{bc.net, id}, Rand: rand.New(rand.NewPCG(3, uint64(id)))})
		if err != nil {
			b.Fatal(err)
		}
		cls = append(cls, cl)
		bc.net.receivers[id] = cl
	}
	return cls
}

// run keeps one operation in flight on every client until b.N are done,
// ticking every 8 delivery rounds, and reports ops/s.
func (bc *benchCluster) run(b *testing.B, cls []*Client, start func(cl *Client, i int, done func(Result)) error) {
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
				if err := start(cl, started, onDone); err != nil {
					b.Fatal(err)
				}
				started++
			}
		}
		bc.net.deliverAll()
		if rounds%8 == 0 {
			bc.tick()
			for _, cl := range cls {
				cl.Tick()
			}
		}
		if rounds > 100*b.N+1000 {
			b.Fatalf("only %d of %d operations done after %d rounds", done, b.N, rounds)
		}
	}
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d operations failed", failed, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkPut measures puts through a 3-server cluster on fault-free
// simulated disks, with several clients keeping one put each in flight:
// ops/s is puts per second of wall time, allocs are per put (the whole
// cluster's work: three WAL appends and fsyncs, raft, snapshots every
// 1000 entries).
func BenchmarkPut(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			bc := newBenchCluster(b)
			bc.run(b, bc.clients(b, clients, 0), func(cl *Client, i int, done func(Result)) error {
				return cl.Put(fmt.Sprintf("key%d", i%1000), "value", done)
			})
		})
	}
}

// BenchmarkGet measures gets of 1000 stored keys through a 3-server
// cluster, the way reads are served: by ReadIndex on the leader, by
// ReadIndex on a follower (ReadFrom), and, for comparison, through the log
// as every read was before (one entry each, appended, synced and applied
// by all three servers). ops/s is gets per second of wall time.
func BenchmarkGet(b *testing.B) {
	for _, path := range []string{"readindex-leader", "readindex-follower", "log"} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("path=%s/clients=%d", path, clients), func(b *testing.B) {
				benchmarkGet(b, path, clients)
			})
		}
	}
}

func benchmarkGet(b *testing.B, path string, clients int) {
	bc := newBenchCluster(b)
	writer := bc.clients(b, 1, 0)[0]
	for i := 0; i < 1000; i++ {
		if err := writer.Put(fmt.Sprintf("key%d", i), "value", func(Result) {}); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 100 && writer.Busy(); j++ {
			bc.net.deliverAll()
			bc.tick()
			writer.Tick()
		}
	}
	readFrom := bc.leader()
	if path == "readindex-follower" {
		readFrom = bc.ids[0]
		if readFrom == bc.leader() {
			readFrom = bc.ids[1]
		}
	}
	cls := bc.clients(b, clients, readFrom)
	for _, cl := range cls {
		cl.leader = bc.leader()
	}
	bc.run(b, cls, func(cl *Client, i int, done func(Result)) error {
		cl.fence = path == "log" // the read goes through the log, in the session
		return cl.Get(fmt.Sprintf("key%d", i%1000), done)
	})
}
