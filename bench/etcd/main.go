package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	clients    []int
	duration   time.Duration
	warmup     time.Duration
	valueBytes int
	keySpace   int
	etcdTLS    bool
	only       string
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	var opt options
	clients := flag.String("clients", "1,64", "client counts to measure, comma-separated")
	flag.DurationVar(&opt.duration, "duration", 5*time.Second, "measured time per client count")
	flag.DurationVar(&opt.warmup, "warmup", time.Second, "unmeasured time before each measurement")
	flag.IntVar(&opt.valueBytes, "value", 256, "bytes per value")
	flag.IntVar(&opt.keySpace, "keys", 10000, "distinct keys written")
	flag.BoolVar(&opt.etcdTLS, "etcd-tls", true, "run etcd with mutual TLS, as Flock always is")
	flag.StringVar(&opt.only, "only", "", "run only flock or only etcd")
	cpuProfile := flag.String("cpuprofile", "", "directory for CPU profiles of every server process and of the clients")
	stats := flag.Bool("stats", false, "each Flock replica prints its counters (proposals, Readys, WAL syncs) at exit")
	flag.Parse()
	if *cpuProfile != "" {
		os.Setenv(cpuProfileEnv, *cpuProfile)
	}
	if *stats {
		os.Setenv(statsEnv, "1")
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			fmt.Fprintf(os.Stderr, "bench: bad -clients entry %q\n", s)
			os.Exit(2)
		}
		opt.clients = append(opt.clients, n)
	}
	stopProfile, err := startCPUProfile("clients")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	err = run(opt)
	stopProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// result is one measurement.
type result struct {
	system  string
	clients int
	ops     int
	errors  int
	elapsed time.Duration
	lat     []time.Duration // sorted
}

func (r result) throughput() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

func run(opt options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.MkdirTemp("", "flock-bench-etcd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	var results []result
	systems := []struct {
		name  string
		start func(ctx context.Context, dir string) (*cluster, error)
	}{
		{"flock raftkv", startFlock},
		{etcdName(opt.etcdTLS), func(ctx context.Context, dir string) (*cluster, error) { return startEtcd(ctx, dir, opt.etcdTLS) }},
	}
	for _, sys := range systems {
		if opt.only != "" && !strings.HasPrefix(sys.name, opt.only) {
			continue
		}
		for _, n := range opt.clients {
			dir := filepath.Join(root, fmt.Sprintf("%s-%d", strings.Fields(sys.name)[0], n))
			c, err := sys.start(ctx, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", sys.name, err)
			}
			r, err := c.measure(ctx, sys.name, n, opt)
			c.stop()
			if err != nil {
				return fmt.Errorf("%s, %d clients: %w", sys.name, n, err)
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "%-24s %3d clients: %8.0f puts/s p50 %v\n", r.system, r.clients, r.throughput(), r.pct(0.5))
		}
	}
	printTable(results, opt)
	return nil
}

func etcdName(tls bool) string {
	if tls {
		return "etcd 3.7.3 (mTLS)"
	}
	return "etcd 3.7.3 (plaintext)"
}

func printTable(rs []result, opt options) {
	fmt.Printf("3 replicas on loopback, %d-byte values over %d keys, %v measured after %v warm-up, every commit fsynced\n\n",
		opt.valueBytes, opt.keySpace, opt.duration, opt.warmup)
	fmt.Printf("| system | clients | puts/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Printf("| %s | %d | %.0f | %s | %s | %d |\n", r.system, r.clients, r.throughput(),
			fmtDur(r.pct(0.5)), fmtDur(r.pct(0.99)), r.errors)
	}
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// cluster is three server processes and a way to drive load at them.
type cluster struct {
	procs  []*exec.Cmd
	client func(ctx context.Context, i int) (putter, error)
	close  func()
}

// putter is one client: Put blocks until the write is acknowledged.
type putter interface {
	Put(ctx context.Context, key string, value []byte) error
	Close()
}

func (c *cluster) stop() {
	if c.close != nil {
		c.close()
	}
	for _, p := range c.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

// measure runs n clients putting as fast as they are acknowledged.
func (c *cluster) measure(ctx context.Context, system string, n int, opt options) (result, error) {
	clients := make([]putter, n)
	for i := range n {
		p, err := c.client(ctx, i)
		if err != nil {
			return result{}, err
		}
		clients[i] = p
		defer p.Close()
	}
	value := make([]byte, opt.valueBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	type sample struct {
		lat []time.Duration
		ops int
		err int
		fst error
	}
	start := time.Now()
	measureFrom := start.Add(opt.warmup)
	end := measureFrom.Add(opt.duration)
	samples := make(chan sample, n)
	for i, p := range clients {
		go func() {
			var s sample
			for k := 0; ; k++ {
				now := time.Now()
				if now.After(end) || ctx.Err() != nil {
					break
				}
				key := fmt.Sprintf("key%06d", (i*7919+k*104729)%opt.keySpace)
				opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := p.Put(opCtx, key, value)
				cancel()
				done := time.Now()
				if !now.Before(measureFrom) && !done.After(end) {
					if err != nil {
						s.err++
						if s.fst == nil {
							s.fst = err
						}
					} else {
						s.ops++
						s.lat = append(s.lat, done.Sub(now))
					}
				}
			}
			samples <- s
		}()
	}
	r := result{system: system, clients: n, elapsed: opt.duration}
	var first error
	for range n {
		s := <-samples
		r.ops += s.ops
		r.errors += s.err
		r.lat = append(r.lat, s.lat...)
		if first == nil {
			first = s.fst
		}
	}
	sort.Slice(r.lat, func(a, b int) bool { return r.lat[a] < r.lat[b] })
	if r.ops == 0 {
		return r, fmt.Errorf("no put succeeded (first error: %v)", first)
	}
	if first != nil {
		fmt.Fprintf(os.Stderr, "%s, %d clients: %d errors, the first: %v\n", system, n, r.errors, first)
	}
	return r, nil
}

// freePorts picks n loopback ports that are free now.
func freePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := listenLoopback()
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		defer ln.Close()
	}
	return addrs, nil
}

// spawn starts this program as a server child.
func spawn(args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}
