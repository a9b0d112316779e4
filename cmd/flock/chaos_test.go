package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/node"
)

// TestClusterChaos is the longer randomized round of `make cluster-test`
// (FLOCK_CLUSTER_TEST=1): four flock processes (three voters) behind
// in-test TCP proxies, rounds of SIGKILL and restart of a random machine
// and of cutting a machine's proxy (nobody reaches it; it still reaches
// the others), while clients run key-value operations on the metadata
// store and Flock programs. Checks: the key-value history is linearizable
// (porcupine); every program prints its exact output and exit status, or
// ends with the machine-loss error naming a machine that was killed or
// cut in that round; after each round the VM converges (every machine
// alive, a leader) and a fresh program gives its exact answer.
//
// FLOCK_CLUSTER_ROUNDS (default 6) and FLOCK_CLUSTER_SEED (default: the
// time) shape it; a failure prints the seed.
func TestClusterChaos(t *testing.T) {
	if os.Getenv("FLOCK_CLUSTER_TEST") == "" {
		t.Skip("set FLOCK_CLUSTER_TEST=1 (make cluster-test)")
	}
	rounds := envInt(t, "FLOCK_CLUSTER_ROUNDS", 6)
	seed := uint64(envInt(t, "FLOCK_CLUSTER_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("chaos: seed %d, %d rounds (FLOCK_CLUSTER_SEED=%d to replay the faults' draw)", seed, rounds, seed)
	ch := newChaos(t, seed, 4, 3)
	defer ch.stopWorkers()
	ch.startWorkers()
	for r := range rounds {
		ch.round(r)
	}
	ch.stopWorkers()
	ch.checkKV()
	if len(ch.violations) > 0 {
		t.Errorf("chaos (seed %d): %d violations:\n%s\n%s", seed, len(ch.violations), strings.Join(ch.violations, "\n"), ch.c.logs())
	}
	t.Logf("chaos: %d kv operations (%d unknown), %d programs (%d exact, %d lost with a machine, %d unavailable)",
		ch.kvOps, ch.kvUnknown, ch.programs, ch.exact, ch.lost, ch.unavailable)
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// chaos is one randomized run.
type chaos struct {
	t       *testing.T
	rng     *rand.Rand
	c       *procCluster
	proxies []*proxy
	cred    *identity.Credential
	start   time.Time

	mu                                 sync.Mutex
	hist                               checker.KVHistory
	faulted                            map[int]bool // machines (index) killed or cut since the round began
	faults                             []fault      // every fault, in order
	violations                         []string
	kvOps, kvUnknown                   int
	programs, exact, lost, unavailable int

	stop    chan struct{}
	workers sync.WaitGroup
	stopped bool
}

func newChaos(t *testing.T, seed uint64, machines, voters int) *chaos {
	ch := &chaos{t: t, rng: rand.New(rand.NewPCG(seed, 7)), start: time.Now(), faulted: map[int]bool{}, stop: make(chan struct{})}
	c := &procCluster{t: t, home: t.TempDir(), name: "chaosvm"}
	ch.c = c
	var advertised []string
	for i := range machines {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		c.addrs = append(c.addrs, freeAddr(t, ip))
		c.dirs = append(c.dirs, filepath.Join(c.home, fmt.Sprintf("m%d", i+1)))
		p := newProxy(t, freeAddr(t, ip), c.addrs[i])
		ch.proxies = append(ch.proxies, p)
		advertised = append(advertised, p.addr)
	}
	c.cred = filepath.Join(c.dirs[0], "identity", "admin.pem")
	c.procs = make([]*flockProc, machines)
	ch.startMachine(0, advertised, voters)
	for i := 1; i < machines; i++ {
		ch.startMachine(i, advertised, voters)
	}
	// Clients reach the machines through their proxies too.
	c.addrs = advertised
	ch.converge("start")
	data, err := os.ReadFile(c.cred)
	if err != nil {
		t.Fatal(err)
	}
	if ch.cred, err = identity.DecodeCredential(data, time.Now()); err != nil {
		t.Fatal(err)
	}
	return ch
}

// startMachine starts (or restarts) machine i, listening on its own
// address and advertising its proxy's.
func (ch *chaos) startMachine(i int, advertised []string, voters int) {
	c := ch.c
	// Two cores, each on an OS thread of its own, so that threads share a
	// machine's memory in parallel.
	common := []string{"--data", c.dirs[i], "--listen", c.listenAddr(i), "--advertise", advertised[i],
		"--provide", "cpu:2,ram:256MiB,disk:1GiB"}
	name := fmt.Sprintf("m%d", i+1)
	if i == 0 {
		p := startFlock(ch.t, c.home, name, append([]string{"new", c.name, "--voters", strconv.Itoa(voters)}, common...)...)
		c.procs[0] = p
		if c.joinLine == "" {
			c.joinLine = p.waitLine("flock join ")
		} else {
			p.waitLine("")
		}
		return
	}
	args := append(strings.Fields(c.joinLine)[1:], common...)
	p := startFlock(ch.t, c.home, name, args...)
	c.procs[i] = p
	p.waitLine("")
}

// listenAddr is where machine i listens (before the clients' addresses
// are switched to the proxies, c.addrs holds these).
func (c *procCluster) listenAddr(i int) string {
	if c.listen == nil {
		c.listen = append([]string(nil), c.addrs...)
	}
	return c.listen[i]
}

func (ch *chaos) now() int64 { return int64(time.Since(ch.start)) }

// converge waits until every machine is alive and joined with a leader,
// then runs a fresh program, which must give its exact answer.
func (ch *chaos) converge(what string) {
	ch.t.Helper()
	n := len(ch.c.dirs)
	ch.c.waitStatus(func(st host.Status) bool { return aliveCount(st) == n && st.Leader != 0 }, what+": every machine alive with a leader")
	if ch.cred == nil {
		return
	}
	for attempt := 0; ; attempt++ {
		out, st, err := ch.runProgram(0)
		if err == nil && out == "4324\n" && st.Code == 3 && st.Err() == nil {
			return
		}
		if attempt == 5 {
			ch.violate("%s: after healing, the program gave %q, %+v, %v", what, out, st, err)
			return
		}
		time.Sleep(time.Second)
	}
}

func (ch *chaos) violate(format string, args ...any) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.violations = append(ch.violations, fmt.Sprintf(format, args...))
}

// round draws faults for about eight seconds, then heals and converges.
func (ch *chaos) round(r int) {
	ch.mu.Lock()
	clear(ch.faulted)
	ch.mu.Unlock()
	n := len(ch.c.dirs)
	victim := ch.rng.IntN(n)
	cut := ch.rng.IntN(n)
	action := ch.rng.IntN(3) // 0 kill, 1 cut, 2 both
	ch.t.Logf("round %d: %s", r, [...]string{"kill m" + strconv.Itoa(victim+1), "cut m" + strconv.Itoa(cut+1),
		"kill m" + strconv.Itoa(victim+1) + " and cut m" + strconv.Itoa(cut+1)}[action])
	time.Sleep(time.Duration(500+ch.rng.IntN(1500)) * time.Millisecond)
	if action != 0 {
		ch.mark(cut, "cut")
		ch.proxies[cut].setCut(true)
	}
	if action != 1 {
		ch.mark(victim, "killed")
		ch.c.procs[victim].kill(syscall.SIGKILL)
		time.Sleep(time.Duration(500+ch.rng.IntN(2500)) * time.Millisecond)
		advertised := make([]string, n)
		for i, p := range ch.proxies {
			advertised[i] = p.addr
		}
		ch.startMachine(victim, advertised, 3)
	}
	time.Sleep(time.Duration(1000+ch.rng.IntN(3000)) * time.Millisecond)
	ch.proxies[cut].setCut(false)
	ch.converge(fmt.Sprintf("round %d", r))
}

// fault is a machine killed or cut, and when.
type fault struct {
	machine uint64 // its id
	at      time.Time
	what    string
}

func (ch *chaos) mark(i int, what string) {
	ch.mu.Lock()
	ch.faulted[i] = true
	ch.faults = append(ch.faults, fault{machine: uint64(i + 1), at: time.Now(), what: what})
	ch.mu.Unlock()
}

// faultGrace: a fault this long before a program started may still end
// it: the machine may be in its span (its lease had not lapsed), and a
// machine cut off is fenced (reopened as a new incarnation) only after
// twice the lease's expiry.
const faultGrace = 12 * time.Second

// faultedDuring lists the machines faulted from faultGrace before start
// until end.
func (ch *chaos) faultedDuring(start, end time.Time) map[uint64]bool {
	out := map[uint64]bool{}
	for _, f := range ch.faults {
		if f.at.After(start.Add(-faultGrace)) && f.at.Before(end) {
			out[f.machine] = true
		}
	}
	return out
}

func (ch *chaos) startWorkers() {
	for w := range 3 {
		ch.workers.Add(1)
		go ch.kvWorker(w)
	}
	ch.workers.Add(1)
	go ch.programWorker()
}

func (ch *chaos) stopWorkers() {
	if ch.stopped {
		return
	}
	ch.stopped = true
	close(ch.stop)
	ch.workers.Wait()
}

func (ch *chaos) stopping() bool {
	select {
	case <-ch.stop:
		return true
	default:
		return false
	}
}

// dial connects to a random machine, retrying while the VM is faulted.
func (ch *chaos) dial(rng *rand.Rand) *host.Client {
	for !ch.stopping() {
		i := rng.IntN(len(ch.c.addrs))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := host.DialClient(ctx, host.ClientConfig{VM: ch.c.name, Addr: ch.c.addrs[i], Credential: ch.cred,
			RequestTimeout: 3 * time.Second, SilenceMax: 6 * time.Second})
		cancel()
		if err == nil {
			return c
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// kvWorker runs get, put and cas on a few keys, recording each in the
// history: a definite answer returns, anything else is unknown.
func (ch *chaos) kvWorker(w int) {
	defer ch.workers.Done()
	rng := rand.New(rand.NewPCG(uint64(w), uint64(ch.start.UnixNano())))
	c := ch.dial(rng)
	for seq := 0; c != nil && !ch.stopping(); seq++ {
		key := fmt.Sprintf("k%d", rng.IntN(3))
		value := fmt.Sprintf("w%d-%d", w, seq)
		in := checker.KVInput{Key: key}
		var op node.KVOp
		switch rng.IntN(3) {
		case 0:
			in.Kind, op = checker.KVGet, node.KVGet
		case 1:
			in.Kind, in.Value, op = checker.KVPut, value, node.KVPut
		default:
			in.Kind, in.Value, op = checker.KVCAS, value, node.KVCAS
			ch.mu.Lock()
			in.Expect, in.ExpectAbsent = ch.lastValue(key)
			ch.mu.Unlock()
		}
		ch.mu.Lock()
		id := ch.hist.Call(w, in, ch.now())
		ch.mu.Unlock()
		res, err := c.KV(context.Background(), op, key, in.Value, in.Expect, in.ExpectAbsent)
		ch.mu.Lock()
		ch.kvOps++
		var re *host.RequestError
		switch {
		case err == nil:
			ch.hist.Return(id, checker.KVOutput{Found: res.Found, Value: res.Value, Swapped: res.Swapped}, ch.now())
		case errors.As(err, &re) && re.Code != node.CodeUnknown:
			// The node says the store never applied it.
			ch.hist.Return(id, checker.KVOutput{Err: err.Error()}, ch.now())
		default:
			ch.kvUnknown++
			ch.hist.Unknown(id)
		}
		ch.mu.Unlock()
		if err != nil {
			c.Close()
			c = ch.dial(rng)
		}
	}
	if c != nil {
		c.Close()
	}
}

// lastValue is the value a cas expects: the latest one any worker read or
// wrote for key, as the history has it (absent if none).
func (ch *chaos) lastValue(key string) (string, bool) {
	ops := ch.hist.Ops()
	for i := len(ops) - 1; i >= 0; i-- {
		o := ops[i]
		if o.Input.Key != key || o.Output.Err != "" {
			continue
		}
		switch {
		case o.Input.Kind == checker.KVGet && o.Output.Found:
			return o.Output.Value, false
		case o.Input.Kind != checker.KVGet:
			return o.Input.Value, false
		}
	}
	return "", true
}

// programWorker runs the spread program again and again and judges each
// end.
func (ch *chaos) programWorker() {
	defer ch.workers.Done()
	for !ch.stopping() {
		start := time.Now()
		out, st, err := ch.runProgram(-1)
		ch.mu.Lock()
		ch.programs++
		faulted := ch.faultedDuring(start, time.Now())
		anyFault := len(faulted) > 0
		switch {
		case err == nil && st.Lost != nil:
			ch.lost++
			if !faulted[st.Lost.Machine] {
				ch.violations = append(ch.violations, fmt.Sprintf("program run %v-%v lost with machine %d, which no fault touched then (faulted %v; faults %s): %v",
					start.Format("15:04:05.000"), time.Now().Format("15:04:05.000"), st.Lost.Machine, faulted, ch.faultText(), st.Lost))
			}
		case err == nil && out == "4324\n" && st.Code == 3 && st.Err() == nil:
			ch.exact++
		case err == nil:
			ch.violations = append(ch.violations, fmt.Sprintf("program printed %q and ended %+v (%v)", out, st, st.Err()))
		case anyFault:
			ch.unavailable++ // its home was killed or cut, or no quorum for a while
		default:
			ch.violations = append(ch.violations, fmt.Sprintf("program failed with no fault in the round: %v", err))
		}
		ch.mu.Unlock()
	}
}

// runProgram runs the spread program on machine on (-1: a random one).
func (ch *chaos) runProgram(on int) (string, kernel.Status, error) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var c *host.Client
	if on < 0 {
		if c = ch.dial(rng); c == nil {
			return "", kernel.Status{}, errors.New("stopped")
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		c, err = host.DialClient(ctx, host.ClientConfig{VM: ch.c.name, Addr: ch.c.addrs[on], Credential: ch.cred})
		cancel()
		if err != nil {
			return "", kernel.Status{}, err
		}
	}
	defer c.Close()
	src, err := os.ReadFile(testProgram(ch.t, "spread"))
	if err != nil {
		ch.t.Fatal(err)
	}
	prog, err := asm.Assemble("spread.flasm", src, asm.Options{})
	if err != nil {
		ch.t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	st, err := c.Run(ctx, prog, nil, &out, nil)
	return out.String(), st, err
}

func (ch *chaos) faultText() string {
	var parts []string
	for _, f := range ch.faults {
		parts = append(parts, fmt.Sprintf("m%d %s at %s", f.machine, f.what, f.at.Format("15:04:05.000")))
	}
	return strings.Join(parts, ", ")
}

func (ch *chaos) checkKV() {
	res := checker.CheckKV(&ch.hist, checker.Options{Timeout: time.Minute, VizDir: ch.t.TempDir()})
	if err := res.Err(); err != nil {
		ch.violate("kv history (%d ops): %v (visualisation %s)", res.Ops, err, res.VizPath)
	}
}

// proxy forwards TCP connections to a machine; cut, it drops them and
// refuses new ones (the machine is unreachable; its own dials go on).
type proxy struct {
	t      *testing.T
	addr   string
	target string
	ln     net.Listener
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, addr, target string) *proxy {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}
