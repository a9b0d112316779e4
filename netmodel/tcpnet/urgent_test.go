package tcpnet

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/flockvm/flock/netmodel"
)

// TestSendUrgentKeepsOrderThroughSpills: two goroutines send to a peer
// whose reader is held (its express receiver blocks, so its socket fills
// up), each mixing SendUrgent and Send; urgent writes that the full socket
// did not take whole are finished by the writer. Once the reader goes on,
// every message arrives, each goroutine's in the order it sent them.
func TestSendUrgentKeepsOrderThroughSpills(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 2)
	sendUntil(t, eps[0], eps[1], []byte("hello"))
	gate := make(chan struct{})
	held := make(chan struct{}, 1)
	eps[1].tr.SetExpress(func(netmodel.NodeID, []byte) bool {
		select {
		case held <- struct{}{}:
			<-gate // the first message holds the reader until the sends are done
		default:
		}
		return false
	})
	const senders, perSender, size, firstMax = 2, 100, 60 << 10, 400
	msg := func(s, i int) []byte {
		p := make([]byte, size)
		binary.LittleEndian.PutUint32(p, uint32(s))
		binary.LittleEndian.PutUint32(p[4:], uint32(i))
		return p
	}
	// Sender 0 alone, urgent only, until the socket is full and an urgent
	// write spills (a few MiB on loopback); then both, mixed.
	first := 0
	for ; first < firstMax && eps[0].tr.Peers()[0].Spills == 0; first++ {
		eps[0].tr.SendUrgent(2, msg(0, first))
	}
	sent := []int{first, 0}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := sent[s]; i < sent[s]+perSender; i++ {
				if i%3 == 2 {
					eps[0].tr.Send(2, msg(s, i))
				} else {
					eps[0].tr.SendUrgent(2, msg(s, i))
				}
			}
		}()
	}
	wg.Wait() // no send blocked, though the peer reads nothing
	close(gate)
	total := first + senders*perSender
	eventually(t, "every message", func() bool { return len(eps[1].messages()) >= 1+total })
	next := make([]uint32, senders)
	for _, m := range eps[1].messages() {
		if len(m.Payload) != size {
			continue // the hello
		}
		s, i := binary.LittleEndian.Uint32(m.Payload), binary.LittleEndian.Uint32(m.Payload[4:])
		if i != next[s] {
			t.Fatalf("sender %d: message %d arrived where %d was due", s, i, next[s])
		}
		next[s]++
	}
	st := eps[0].tr.Peers()[0]
	if st.Urgent == 0 || st.Spills == 0 || st.Dropped != 0 {
		t.Errorf("peer stats: %d urgent, %d spilled, %d dropped; want some urgent writes, some of them spilled, none dropped", st.Urgent, st.Spills, st.Dropped)
	}
}

// TestExpressTakesWhatItAccepts: the express receiver gets every message
// on the reader's goroutine; what it takes never reaches the inbox, what
// it declines does.
func TestExpressTakesWhatItAccepts(t *testing.T) {
	v := newVM(t, "vm")
	eps := cluster(t, v, 2)
	sendUntil(t, eps[0], eps[1], []byte("hello"))
	var mu sync.Mutex
	var taken [][]byte
	eps[1].tr.SetExpress(func(from netmodel.NodeID, p []byte) bool {
		if from != 1 || !bytes.HasPrefix(p, []byte("x")) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		taken = append(taken, p)
		return true
	})
	const n = 100
	for i := range n {
		eps[0].tr.SendUrgent(2, []byte{'x', byte(i)})
		eps[0].tr.Send(2, []byte{'y', byte(i)})
	}
	eventually(t, "the declined messages in the inbox", func() bool { return eps[1].has(1, []byte{'y', n - 1}) })
	eventually(t, "the taken ones taken", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(taken) == n
	})
	for _, m := range eps[1].messages() {
		if bytes.HasPrefix(m.Payload, []byte("x")) {
			t.Errorf("inbox got %q, which the express receiver took", m.Payload)
		}
	}
	if st := eps[1].tr.Peers()[0]; st.Expressed != n {
		t.Errorf("Expressed = %d, want %d", st.Expressed, n)
	}
}

// TestSpillConnKeepsBytesInOrder: urgent writes into a socket whose peer
// reads nothing return at once, keeping what did not fit; the next
// blocking write sends the kept bytes first, so the reader sees every byte
// in the order written.
func TestSpillConnKeepsBytesInOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	_ = raw.(*net.TCPConn).SetWriteBuffer(8 << 10)
	_ = server.(*net.TCPConn).SetReadBuffer(8 << 10)

	s := newSpillConn(raw)
	if s.raw == nil {
		t.Fatal("newSpillConn(a TCP connection) has no raw connection")
	}
	var want bytes.Buffer
	chunk := make([]byte, 16<<10)
	s.tryOnly.Store(true)
	for i := 0; i < 1024 && !s.spilled(); i++ { // the socket fills within a few MiB
		for j := range chunk {
			chunk[j] = byte(i + j)
		}
		n, err := s.Write(chunk)
		if err != nil || n != len(chunk) {
			t.Fatalf("urgent Write = %d, %v; want %d, nil", n, err, len(chunk))
		}
		want.Write(chunk)
	}
	s.tryOnly.Store(false)
	if !s.spilled() {
		t.Fatalf("16 MiB of urgent writes to a peer that reads nothing left nothing kept")
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	tail := []byte("the blocking write's own bytes")
	want.Write(tail)
	_ = raw.SetWriteDeadline(time.Now().Add(waitMax))
	if _, err := s.Write(tail); err != nil {
		t.Fatalf("blocking Write = %v", err)
	}
	if s.spilled() {
		t.Errorf("after a blocking write, bytes are still kept")
	}
	raw.Close()
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Errorf("reader got %d bytes, want the %d written in order", len(b), want.Len())
	}
}
