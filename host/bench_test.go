package host

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strconv"
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
