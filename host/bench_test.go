package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockvm/flock/vm/node"
)

// BenchmarkRemoteHandoff: two threads on two machines of a VM on loopback
// (TCP, TLS, separate data dirs, one process) take turns on one global
// word; each turn moves the word's page between the machines, a remote
// load and store. Reported per turn, beside BenchmarkTCPPingPong's round
// trip of a small message on loopback.
//
//	go test ./host -run '^$' -bench RemoteHandoff -benchtime 5x
//	go test ./host -run '^$' -bench TCPPingPong -benchtime 20000x
func BenchmarkRemoteHandoff(b *testing.B) {
	if v := os.Getenv("FLOCK_CORE_TICKS"); v != "" {
		benchCoreTicks, _ = strconv.Atoi(v)
	}
	// One thread per core at home: the spawned player goes to machine 2.
	v := newTestVMWith(b, "benchvm", 2, 1, func(c *node.Config) { c.PlaceLocalPerCore = 1 })
	c := v.client(0, v.admin)
	v.waitJoined(c, 2)
	prog := testdataProgram(b, "pingpong")
	const turns = 2000
	b.ResetTimer()
	for range b.N {
		var out bytes.Buffer
		start := time.Now()
		st, err := c.Run(context.Background(), prog, nil, &out, nil)
		if err != nil || out.String() != "2000\n" || st.Err() != nil {
			b.Fatalf("pingpong = %q, %+v, %v", out.String(), st, err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/turns, "µs/turn")
	}
	b.StopTimer()
	if st := v.waitJoined(c, 2); st.Machines[1].ThreadsStarted == 0 {
		b.Fatalf("the player did not run on machine 2: %+v", st.Machines)
	}
}

// BenchmarkTCPPingPong is a round trip of 64 bytes on one loopback TCP
// connection (no TLS): the floor under any remote operation.
func BenchmarkTCPPingPong(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	buf := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVMKVPut: metadata puts of 256-byte values through the client
// service of a VM of three machines on loopback (TCP, TLS, separate data
// dirs, one process; every machine a voter), from FLOCK_BENCH_CLIENTS
// clients (default 64) spread over the machines, each putting as soon as
// its last put was answered. Reports puts/s.
//
//	go test ./host -run '^$' -bench VMKVPut -benchtime 20000x
func BenchmarkVMKVPut(b *testing.B) {
	clients := 64
	if v := os.Getenv("FLOCK_BENCH_CLIENTS"); v != "" {
		clients, _ = strconv.Atoi(v)
	}
	v := newTestVM(b, "kvbench", 3, 3)
	v.waitJoined(v.client(0, v.admin), 3)
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = v.client(i%3, v.admin)
	}
	value := string(bytes.Repeat([]byte("v"), 256))
	ctx := context.Background()
	for _, c := range cs { // every client's session and route are warm
		if _, err := c.KV(ctx, node.KVPut, "warm", value, "", false); err != nil {
			b.Fatalf("warm-up put = %v", err)
		}
	}
	var next atomic.Int64
	errs := make(chan error, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
				if _, err := c.KV(ctx, node.KVPut, fmt.Sprintf("key%d-%d", i, k%1000), value, "", false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatalf("put = %v", err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "puts/s")
}
