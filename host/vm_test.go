package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/node"
)

// testVM is a VM of machines served in this process on loopback, each on
// its own data dir, as flock new and flock join would run them.
type testVM struct {
	t        testing.TB
	nodeCfg  func(*node.Config)
	name     string
	token    identity.Token
	machines []*testMachine
	admin    *identity.Credential
}

type testMachine struct {
	dir     string
	disk    *osdisk.FS
	lock    *identity.Lock
	addr    string
	metrics string // where its Prometheus metrics are served
	cancel  context.CancelFunc
	done    chan error
	issuer  atomic.Pointer[vmIssuer]
}

func newTestVM(t testing.TB, name string, machines, voters int) *testVM {
	return newTestVMWith(t, name, machines, voters, nil)
}

// newTestVMWith is newTestVM with the nodes' configuration adjusted.
func newTestVMWith(t testing.TB, name string, machines, voters int, nodeCfg func(*node.Config)) *testVM {
	t.Helper()
	v := &testVM{t: t, name: name, nodeCfg: nodeCfg}
	first := v.newMachine()
	created, err := CreateVM(first.disk, CreateConfig{VM: name, Voters: voters, TokenUses: 10, TokenTTL: time.Hour})
	if err != nil {
		t.Fatalf("CreateVM = %v", err)
	}
	v.token = created.Token
	if v.admin, err = (identity.Dir{FS: first.disk}).Admin(time.Now()); err != nil {
		t.Fatal(err)
	}
	v.serve(first)
	for range machines - 1 {
		m := v.newMachine()
		m.addr = freeAddr(t)
		if _, err := JoinVM(context.Background(), m.disk, JoinConfig{VM: name, Addr: first.addr, Token: v.token,
			Advertise: m.addr, Provide: node.Resources{Cores: 1}}); err != nil {
			t.Fatalf("JoinVM = %v", err)
		}
		v.serve(m)
	}
	t.Cleanup(v.stop)
	return v
}

func (v *testVM) newMachine() *testMachine {
	dir := v.t.TempDir()
	lock, err := identity.LockDir(dir)
	if err != nil {
		v.t.Fatal(err)
	}
	disk, err := osdisk.Open(dir)
	if err != nil {
		v.t.Fatal(err)
	}
	m := &testMachine{dir: dir, disk: disk, lock: lock, addr: freeAddr(v.t)}
	v.machines = append(v.machines, m)
	return m
}

// freeAddr is a loopback address with a port nothing listens on now (the
// kernel's pick; free again once closed).
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (v *testVM) serve(m *testMachine) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	m.cancel, m.done = cancel, make(chan error, 1)
	go func() {
		m.done <- Serve(ctx, m.disk, ServeConfig{Listen: m.addr, Metrics: "127.0.0.1:0", Provide: node.Resources{Cores: 1, RAMBytes: 256 << 20, DiskBytes: 1 << 30},
			Logger: testLogger(v.t), Node: v.nodeCfg, issuerMade: func(is *vmIssuer) { m.issuer.Store(is) },
			Ready: func(a, metrics net.Addr) { ready <- [2]string{a.String(), metrics.String()} }})
	}()
	select {
	case addrs := <-ready:
		m.metrics = addrs[1]
	case err := <-m.done:
		v.t.Fatalf("Serve(%s) = %v before listening", m.dir, err)
	case <-time.After(waitMax):
		v.t.Fatalf("Serve(%s) did not listen", m.dir)
	}
}

func (v *testVM) stopMachine(m *testMachine) error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		return err
	case <-time.After(waitMax):
		v.t.Errorf("machine %s did not stop", m.dir)
		return nil
	}
}

func (v *testVM) stop() {
	for _, m := range v.machines {
		if err := v.stopMachine(m); err != nil {
			v.t.Errorf("Serve(%s) = %v", m.dir, err)
		}
		m.disk.Close()
		m.lock.Unlock()
	}
}

func (v *testVM) client(on int, cred *identity.Credential) *Client {
	v.t.Helper()
	c, err := DialClient(context.Background(), ClientConfig{VM: v.name, Addr: v.machines[on].addr, Credential: cred,
		Logger: testLogger(v.t), RequestTimeout: waitMax})
	if err != nil {
		v.t.Fatalf("DialClient(machine %d) = %v", on, err)
	}
	v.t.Cleanup(func() { c.Close() })
	return c
}

// waitJoined waits until the machine at on sees n machines alive and a
// metadata leader.
func (v *testVM) waitJoined(c *Client, n int) Status {
	v.t.Helper()
	deadline := time.Now().Add(waitMax)
	for {
		st, err := c.Status(context.Background())
		alive := 0
		for _, m := range st.Machines {
			if m.State == "alive" && m.Reported && m.Joined {
				alive++
			}
		}
		if err == nil && alive == n && st.Leader != 0 {
			return st
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("machines did not join: %d of %d alive, leader %v, err %v: %+v", alive, n, st.Leader, err, st.Machines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testdataProgram assembles testdata/name.flasm.
func testdataProgram(t testing.TB, name string) *isa.Program {
	t.Helper()
	path := "testdata/" + name + ".flasm"
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := asm.Assemble(path, src, asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVMOnLoopback: a VM of three machines made and joined as flock new
// and flock join do, a program spread over them with its exact output and
// exit status, ps, status, kill, tokens, users.
func TestVMOnLoopback(t *testing.T) {
	v := newTestVM(t, "loopvm", 3, 3)
	c := v.client(0, v.admin)
	st := v.waitJoined(c, 3)
	if len(st.Voters) != 3 {
		t.Errorf("Status().Voters = %v, want 3", st.Voters)
	}
	var out bytes.Buffer
	status, err := c.Run(runContext(t), testdataProgram(t, "spread"), nil, &out, nil)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got, want := out.String(), "4324\n"; got != want || status.Err() != nil || status.Code != 3 {
		t.Errorf("Run = %q, status %+v (%v); want %q, exit 3", got, status, status.Err(), want)
	}
	st = v.waitJoined(c, 3)
	ran := 0
	for _, m := range st.Machines {
		if m.ThreadsStarted > 0 {
			ran++
		}
	}
	if ran < 2 {
		t.Errorf("threads ran on %d machines, want at least 2: %+v", ran, st.Machines)
	}

	// A user made by the admin runs as itself; another user may not kill
	// its process, the admin may.
	carol, err := c.AddUser(context.Background(), "carol")
	if err != nil {
		t.Fatalf("AddUser(carol) = %v", err)
	}
	cc := v.client(1, carol)
	pidc := make(chan uint64, 1)
	ended := make(chan error, 1)
	spin := testdataProgram(t, "spin")
	go func() {
		st, err := cc.Run(runContext(t), spin, nil, &bytes.Buffer{}, func(pid uint64) { pidc <- pid })
		if err == nil && (st.Trap == nil || !strings.Contains(st.Trap.Error(), "killed")) {
			err = fmt.Errorf("status %+v, want killed", st)
		}
		ended <- err
	}()
	var pid uint64
	select {
	case pid = <-pidc:
	case err := <-ended:
		t.Fatalf("carol's run ended before it started: %v", err)
	case <-time.After(waitMax):
		t.Fatal("carol's run did not start")
	}
	procs, _, err := c.PS(context.Background(), false)
	if err != nil || len(procs) != 1 || procs[0].PID != pid || procs[0].User != "carol" || procs[0].Home != netmodel.NodeID(2) {
		t.Errorf("PS = %+v, %v; want carol's process %d homed on n2", procs, err, pid)
	}
	bob, err := c.AddUser(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	var re *RequestError
	if err := v.client(2, bob).Kill(context.Background(), pid); !errors.As(err, &re) || re.Code != node.CodeDenied {
		t.Errorf("Kill by bob = %v, want denied", err)
	}
	if err := c.Kill(context.Background(), pid); err != nil {
		t.Errorf("Kill by admin = %v", err)
	}
	if err := <-ended; err != nil {
		t.Errorf("carol's run: %v", err)
	}
	if _, err := cc.CreateToken(context.Background(), 1, time.Hour); !errors.As(err, &re) || re.Code != node.CodeDenied {
		t.Errorf("CreateToken by carol = %v, want denied", err)
	}
	tok, err := c.CreateToken(context.Background(), 1, time.Hour)
	if _, perr := identity.ParseToken(tok); err != nil || perr != nil {
		t.Errorf("CreateToken = %q, %v (%v)", tok, err, perr)
	}
}

// TestVMRestartRejoins: a machine stopped and started again on its data
// dir rejoins as a new incarnation, and the VM runs programs across it.
func TestVMRestartRejoins(t *testing.T) {
	v := newTestVM(t, "restartvm", 3, 3)
	c := v.client(0, v.admin)
	st := v.waitJoined(c, 3)
	inc := st.Machines[2].Incarnation
	if err := v.stopMachine(v.machines[2]); err != nil {
		t.Fatal(err)
	}
	v.serve(v.machines[2])
	deadline := time.Now().Add(waitMax)
	for {
		st = v.waitJoined(c, 3)
		if st.Machines[2].Incarnation > inc {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine 3 did not rejoin as a new incarnation: %+v", st.Machines[2])
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out bytes.Buffer
	if status, err := c.Run(runContext(t), testdataProgram(t, "spread"), nil, &out, nil); err != nil || out.String() != "4324\n" || status.Code != 3 {
		t.Errorf("Run after the restart = %q, %+v, %v", out.String(), status, err)
	}
}

// testLogger logs to the test when FLOCK_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("FLOCK_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestVMLeave: a machine leaves (machine 3: by then a metadata voter, as
// the group grows from its one bootstrap voter to 3, so it is replaced
// first): Serve returns ErrLeft, the data dir is marked left and refuses
// to serve, and the VM lists it as left.
func TestVMLeave(t *testing.T) {
	v := newTestVM(t, "leavevm", 3, 1)
	c := v.client(0, v.admin)
	v.waitJoined(c, 3)
	m := v.machines[2]
	text, err := v.client(2, v.admin).Leave(context.Background())
	if err != nil || !strings.Contains(text, "left") {
		t.Fatalf("Leave of machine 3 = %q, %v", text, err)
	}
	select {
	case err := <-m.done:
		if !errors.Is(err, node.ErrLeft) {
			t.Errorf("Serve after leaving = %v, want ErrLeft", err)
		}
		m.cancel()
		m.cancel = nil
	case <-time.After(waitMax):
		t.Fatal("the machine that left goes on serving")
	}
	if state, _, err := Inspect(m.disk); state != DirLeft || err != nil {
		t.Errorf("Inspect(the dir of a machine that left) = %v, %v; want DirLeft", state, err)
	}
	deadline := time.Now().Add(waitMax)
	for {
		st, err := c.Status(context.Background())
		if err == nil && len(st.Machines) == 3 && st.Machines[2].State == "left" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after leaving: %+v, %v", st.Machines, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVMKV: a user's keys, and another user's namespace out of reach.
func TestVMKV(t *testing.T) {
	v := newTestVM(t, "kvvm", 2, 1)
	c := v.client(1, v.admin)
	v.waitJoined(c, 2)
	ctx := context.Background()
	if _, err := c.KV(ctx, node.KVPut, "cfg", "v1", "", false); err != nil {
		t.Fatalf("KV put = %v", err)
	}
	if r, err := c.KV(ctx, node.KVCAS, "cfg", "v2", "v1", false); err != nil || !r.Swapped {
		t.Errorf("KV cas v1→v2 = %+v, %v; want swapped", r, err)
	}
	if r, err := v.client(0, v.admin).KV(ctx, node.KVGet, "cfg", "", "", false); err != nil || !r.Found || r.Value != "v2" {
		t.Errorf("KV get through another machine = %+v, %v; want v2", r, err)
	}
	dave, err := v.client(0, v.admin).AddUser(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := v.client(0, dave).KV(ctx, node.KVGet, "cfg", "", "", false); err != nil || r.Found {
		t.Errorf("dave's KV get of cfg = %+v, %v; want not found (the admin's key is not his)", r, err)
	}
	if r, err := c.KV(ctx, node.KVList, "", "", "", false); err != nil || len(r.Keys) != 1 || r.Keys[0] != "cfg" || r.Values[0] != "v2" {
		t.Errorf("KV list = %+v, %v; want cfg=v2", r, err)
	}
}

// TestVMParallelCores: machines of two cores run them on OS threads of
// their own (as a machine of cpu:N does in production) while the host's
// goroutine keeps the node's inputs: a program spread over three such
// machines gives its exact output and status, twice. make test runs it
// under -race.
func TestVMParallelCores(t *testing.T) {
	v := newTestVMWith(t, "parvm", 3, 3, func(c *node.Config) { c.Provide.Cores = 2 })
	c := v.client(0, v.admin)
	st := v.waitJoined(c, 3)
	for _, m := range st.Machines {
		if m.Cores != 2 {
			t.Fatalf("machine %v runs %d cores, want 2: %+v", m.ID, m.Cores, st.Machines)
		}
	}
	for range 2 {
		var out bytes.Buffer
		if status, err := c.Run(runContext(t), testdataProgram(t, "spread"), nil, &out, nil); err != nil || out.String() != "4324\n" || status.Code != 3 {
			t.Fatalf("Run on parallel cores = %q, %+v, %v; want \"4324\\n\", exit 3", out.String(), status, err)
		}
	}
}

// runMax bounds a test's program run: a process that never ends fails the
// test with the context's error instead of hanging it.
const runMax = 2 * time.Minute

// runContext is a context for one program run of a test, cancelled at the
// test's end.
func runContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), runMax)
	t.Cleanup(cancel)
	return ctx
}

// TestVMRemoteLoadBorrowsTheCore: a thread on machine 2 that loads a word
// of each of many pages machine 1 homes waits for each page in turn; the
// sum it prints is exact, and the reader that brought a page ran the
// thread on to its next miss itself (vm/cores/borrow.go): machine 2's
// flock_node_core_rounds_borrowed_total rises with the loads. make test
// runs it under -race.
func TestVMRemoteLoadBorrowsTheCore(t *testing.T) {
	const pages = 300
	v, c := newRemoteBenchVM(t)
	borrowed := func() float64 {
		n := 0.0
		v.scrape(v.machines[1], func(name, _ string, val float64) {
			if name == "flock_node_core_rounds_borrowed_total" {
				n += val
			}
		})
		return n
	}
	before := borrowed()
	var out bytes.Buffer
	v.runRemote(c, remoteLoadProgram(t, pages, pages), nil, &out)
	if want := fmt.Sprintf("%d\n", pages*(pages+1)/2); out.String() != want {
		t.Fatalf("remote load of %d pages printed %q, want %q", pages, out.String(), want)
	}
	rounds := borrowed() - before
	t.Logf("%d remote loads, %.0f core rounds run by the reader", pages, rounds)
	if rounds < pages/10 {
		t.Errorf("machine 2 ran %.0f core rounds on the reader for %d remote loads, want at least %d", rounds, pages, pages/10)
	}
}
