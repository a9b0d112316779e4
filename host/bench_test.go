package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/node"
)

// BenchmarkRemoteHandoff: two threads on two machines of a VM on loopback
// (TCP, TLS, separate data dirs, one process) take turns on one global
// word; each turn moves the word's page between the machines, a remote
// load and store. Both threads spin while they wait, so each machine's
// one core is busy the whole time: on this 2-core host the two spinning
// drivers and the transports' goroutines share two cores. Reported per turn,
// with the messages and bytes that crossed per turn.
//
//	go test ./host -run '^$' -bench RemoteHandoff -benchtime 5x
func BenchmarkRemoteHandoff(b *testing.B) {
	const turns = 2000
	v, c := newRemoteBenchVM(b)
	prog := testdataProgram(b, "pingpong")
	var elapsed time.Duration
	var msgs, sent float64
	for range b.N {
		var out bytes.Buffer
		d, m, by := v.runRemote(c, prog, nil, &out)
		if out.String() != "2000\n" {
			b.Fatalf("pingpong printed %q, want 2000", out.String())
		}
		elapsed, msgs, sent = elapsed+d, msgs+m, sent+by
	}
	n := float64(turns * b.N)
	b.ReportMetric(float64(elapsed.Microseconds())/n, "µs/turn")
	b.ReportMetric(msgs/n, "msgs/turn")
	b.ReportMetric(sent/n, "bytes/turn")
}

// BenchmarkRemoteLoad: a thread on machine 2 loads one word from each of N
// pages that machine 1 homes and wrote (machine 1's thread waits in JOIN,
// its core idle): every load is a miss answered by the home with the page,
// one round trip of a small request and a 4 KiB answer over TCP and TLS on
// loopback. Two runs that write the same pages and read different N of
// them, so that the program's start and the writes cancel out: reported
// per load, with messages and bytes per load;
// compare with BenchmarkTCPPingPong/4KiB (the same sizes, no TLS) and
// BenchmarkTLSPingPong/4KiB.
//
//	go test ./host -run '^$' -bench RemoteLoad -benchtime 5x
func BenchmarkRemoteLoad(b *testing.B) {
	const small, large = 200, 1200
	v, c := newRemoteBenchVM(b)
	progSmall, progLarge := remoteLoadProgram(b, large, small), remoteLoadProgram(b, large, large)
	var elapsed time.Duration
	var msgs, sent float64
	for range b.N {
		run := func(prog *isa.Program, n int) (time.Duration, float64, float64) {
			var out bytes.Buffer
			d, m, by := v.runRemote(c, prog, nil, &out)
			if want := fmt.Sprintf("%d\n", n*(n+1)/2); out.String() != want {
				b.Fatalf("remote load of %d pages printed %q, want %q", n, out.String(), want)
			}
			return d, m, by
		}
		d1, m1, by1 := run(progSmall, small)
		d2, m2, by2 := run(progLarge, large)
		elapsed, msgs, sent = elapsed+d2-d1, msgs+m2-m1, sent+by2-by1
	}
	n := float64((large - small) * b.N)
	b.ReportMetric(float64(elapsed.Nanoseconds())/n/1e3, "µs/load")
	b.ReportMetric(msgs/n, "msgs/load")
	b.ReportMetric(sent/n, "bytes/load")
}

// remoteLoadProgram: the main thread writes word 0 of each of written
// fresh global pages (value i+1), then spawns a reader that sums the
// first read of them; it prints the sum.
func remoteLoadProgram(t testing.TB, written, read int) *isa.Program {
	t.Helper()
	src := fmt.Sprintf(remoteLoadSource, written, read)
	p, err := asm.Assemble("remoteload.flasm", []byte(src), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const remoteLoadSource = `
.const W %d
.const N %d
.const PAGE 4096
.zero basep 8
main:
    ENTER 0, 1
    PUSH W*PAGE
    GALLOC
    PUSH basep
    STORE
    PUSH 0
    SET 0
fill:
    GET 0
    PUSH W
    LT
    JZ filled
    GET 0
    PUSH 1
    ADD
    GET 0
    PUSH PAGE
    MUL
    PUSH basep
    LOAD
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP fill
filled:
    PUSH 0
    SPAWN reader
    JOIN
    PRINT
    PUSH '\n'
    PUTC
    PUSH 0
    EXIT
reader:
    ENTER 1, 2
    PUSH 0
    SET 1
    PUSH 0
    SET 2
loop:
    GET 1
    PUSH N
    LT
    JZ done
    GET 1
    PUSH PAGE
    MUL
    PUSH basep
    LOAD
    ADD
    LOAD
    GET 2
    ADD
    SET 2
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP loop
done:
    GET 2
    TEXIT
`

// newRemoteBenchVM starts a VM of two one-core machines that keeps one
// thread per core at home (so a spawn from a busy machine 1 goes to
// machine 2) and never migrates threads (a thread missing on machine 1's
// pages would otherwise move there, and nothing would cross the network).
func newRemoteBenchVM(t testing.TB) (*testVM, *Client) {
	t.Helper()
	v := newTestVMWith(t, "benchvm", 2, 1, func(c *node.Config) { c.PlaceLocalPerCore, c.MigrateMissesMin = 1, -1 })
	c := v.client(0, v.admin)
	v.waitJoined(c, 2)
	if b, ok := t.(*testing.B); ok {
		b.ResetTimer()
	}
	return v, c
}

// runRemote runs prog until its spawned thread runs on machine 2 (machine
// 1 places it by the loads the leases report, which lag a run that just
// ended: a run whose thread stayed on machine 1 is run again once the
// leases have caught up), outside a benchmark's timer but for the run
// itself. It returns the run's wall time and the messages and bytes the
// machines sent each other meanwhile.
func (v *testVM) runRemote(c *Client, prog *isa.Program, args []string, out *bytes.Buffer) (time.Duration, float64, float64) {
	t := v.t
	t.Helper()
	b, _ := t.(*testing.B)
	timer := func(on bool) {
		switch {
		case b == nil:
		case on:
			b.StartTimer()
		default:
			b.StopTimer()
		}
	}
	for range 20 {
		timer(false)
		st := v.waitJoined(c, 2)
		remote0 := st.Machines[0].ThreadsPlacedRemote
		msgs0, bytes0 := v.peerTraffic()
		out.Reset()
		timer(true)
		start := time.Now()
		st2, err := c.Run(context.Background(), prog, args, out, nil)
		d := time.Since(start)
		timer(false)
		if err != nil || st2.Err() != nil {
			t.Fatalf("run = %+v, %v (output %q)", st2, err, out.String())
		}
		msgs1, bytes1 := v.peerTraffic()
		if st = v.waitJoined(c, 2); st.Machines[0].ThreadsPlacedRemote > remote0 {
			timer(true)
			return d, msgs1 - msgs0, bytes1 - bytes0
		}
		time.Sleep(300 * time.Millisecond) // a few lease renewals
	}
	t.Fatalf("the spawned thread never ran on machine 2")
	return 0, 0, 0
}

// BenchmarkTCPPingPong is a round trip on one loopback TCP connection (no
// TLS) of a 64-byte request and an answer of 64 bytes or 4 KiB plus a
// frame (a page's answer): the floor under any remote operation.
func BenchmarkTCPPingPong(b *testing.B) {
	for _, size := range pingPongSizes {
		b.Run(size.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			pingPong(b, ln, func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) }, size.answer)
		})
	}
}

// BenchmarkTLSPingPong is BenchmarkTCPPingPong over TLS 1.3 (the
// transport's security, without its framing and queues).
func BenchmarkTLSPingPong(b *testing.B) {
	cert := selfSignedCert(b)
	for _, size := range pingPongSizes {
		b.Run(size.name, func(b *testing.B) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			pingPong(b, ln, func() (net.Conn, error) {
				return tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			}, size.answer)
		})
	}
}

var pingPongSizes = []struct {
	name   string
	answer int
}{{"64B", 64}, {"4KiB", 4096 + 64}}

// pingPong measures round trips of a 64-byte request and an answer of
// answerBytes between a client of dial and a server on ln.
func pingPong(b *testing.B, ln net.Listener, dial func() (net.Conn, error), answerBytes int) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, answer := make([]byte, 64), make([]byte, answerBytes)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	}()
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	req, answer := make([]byte, 64), make([]byte, answerBytes)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, answer); err != nil {
			b.Fatal(err)
		}
	}
}

// selfSignedCert makes an ECDSA P-256 certificate for 127.0.0.1.
func selfSignedCert(b *testing.B) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
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

// peerTraffic sums, over the VM's machines, the messages and frame bytes
// each sent to other machines (clients left out), from their metrics.
func (v *testVM) peerTraffic() (msgs, bytes float64) {
	v.t.Helper()
	for _, m := range v.machines {
		v.scrape(m, func(name, labels string, val float64) {
			if strings.Contains(labels, `peer="client"`) {
				return
			}
			switch name {
			case "flock_net_messages_sent_total":
				msgs += val
			case "flock_net_bytes_sent_total":
				bytes += val
			}
		})
	}
	return msgs, bytes
}

// scrape calls each with every sample machine m's metrics serve now: its
// name, its labels (the text between the braces, "" for none) and value.
func (v *testVM) scrape(m *testMachine, each func(name, labels string, val float64)) {
	v.t.Helper()
	resp, err := http.Get("http://" + m.metrics + "/metrics")
	if err != nil {
		v.t.Fatal(err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		v.t.Fatal(err)
	}
	for _, line := range strings.Split(string(text), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(series, "{")
		each(name, strings.TrimSuffix(labels, "}"), f)
	}
}

// BenchmarkVMFileWrite: 4 KiB writes, each durable when it returns, to a
// file in a directory of redundancy R = 1, 2, 3, by a program on machine 1
// of a VM of three machines on loopback (TCP, TLS, every machine a metadata
// voter, all sharing this machine's disk). Two runs of different lengths,
// so that the program's start, the directory and the open cancel out:
// reported per write; compare with BenchmarkFsync (one 4 KiB write and
// fsync, and three in a row, on the same disk).
//
//	go test ./host -run '^$' -bench 'VMFileWrite|Fsync' -benchtime 5x
func BenchmarkVMFileWrite(b *testing.B) {
	const short, long = 10, 60
	v := newTestVM(b, "filebench", 3, 3)
	c := v.client(0, v.admin)
	v.waitJoined(c, 3)
	for _, r := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("R=%d", r), func(b *testing.B) {
			progShort, progLong := fileWriteProgram(b, r, short), fileWriteProgram(b, r, long)
			run := func(prog *isa.Program) (time.Duration, error) {
				var out bytes.Buffer
				start := time.Now()
				st, err := c.Run(context.Background(), prog, nil, &out, nil)
				if err == nil && (st.Err() != nil || st.Code != 0) {
					err = fmt.Errorf("status %+v, output %q", st, out.String())
				}
				return time.Since(start), err
			}
			// The first run makes the directory; the machines' room for
			// chunks is known from their leases, which may lag a VM just
			// started.
			for try := 0; ; try++ {
				_, err := run(progShort)
				if err == nil {
					break
				}
				if try == 50 {
					b.Fatalf("file writes: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				dLong, err := run(progLong)
				if err != nil {
					b.Fatalf("file writes: %v", err)
				}
				dShort, err := run(progShort)
				if err != nil {
					b.Fatalf("file writes: %v", err)
				}
				elapsed += dLong - dShort
			}
			b.ReportMetric(float64(elapsed.Microseconds())/float64((long-short)*b.N), "µs/write")
		})
	}
}

// fileWriteProgram: n writes of 4 KiB at offsets 0, 4 KiB, ... of wbR/f,
// in the directory wbR made with redundancy r; exits 0, or prints the first
// failure's result and exits 1.
func fileWriteProgram(b *testing.B, r, n int) *isa.Program {
	b.Helper()
	p, err := asm.Assemble("filewrite.flasm", []byte(fmt.Sprintf(fileWriteSource, n, r, r, r)), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

const fileWriteSource = `
.const N %d
.const SIZE 4096
.string dir "wb%d"
.string attrs "redundancy=%d\n"
.string file "wb%d/f"
.zero buf SIZE
main:
    ENTER 0, 2          ; 0 = fd, 1 = i
    PUSH dir
    PUSH 3
    MKDIR
    DROP                ; -EEXIST after the first run
    PUSH dir
    PUSH 3
    PUSH attrs
    PUSH 13
    SETATTR
    DUP
    JNZ failed
    DROP
    PUSH file
    PUSH 5
    PUSH 1
    OPEN
    SET 0
    GET 0
    PUSH 0
    LT
    JNZ openfail
    PUSH 0
    SET 1
loop:
    GET 1
    PUSH N
    LT
    JZ done
    GET 0
    GET 1
    PUSH SIZE
    MUL
    PUSH buf
    PUSH SIZE
    WRITE
    DUP
    PUSH SIZE
    EQ
    JZ failed
    DROP
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP loop
done:
    GET 0
    CLOSE
    DROP
    PUSH 0
    EXIT
openfail:
    GET 0
failed:                 ; ( r -- ): print the failure, exit 1
    PRINT
    PUSH '\n'
    PUTC
    PUSH 1
    EXIT
`

// BenchmarkFsync: a 4 KiB write and fsync of a file on this machine's
// disk, once and three times in a row (three files), the floor under a
// durable write.
func BenchmarkFsync(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("x%d", n), func(b *testing.B) {
			dir := b.TempDir()
			files := make([]*os.File, n)
			for i := range files {
				f, err := os.Create(fmt.Sprintf("%s/f%d", dir, i))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				files[i] = f
			}
			data := make([]byte, 4096)
			b.ResetTimer()
			for i := range b.N {
				for _, f := range files {
					if _, err := f.WriteAt(data, int64(i%64)*4096); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
