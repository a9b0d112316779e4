package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// waitMax bounds every wait for the cluster to do something.
const waitMax = 20 * time.Second

// replica is one hosted raftkv server with its data dir.
type replica struct {
	id     netmodel.NodeID
	dir    string
	addr   string
	cred   *identity.Credential
	lock   *identity.Lock
	disk   *osdisk.FS
	tr     *tcpnet.Transport
	h      *Host
	reg    *prometheus.Registry
	cancel context.CancelFunc
	runErr chan error
}

type kvCluster struct {
	t        *testing.T
	ca       *identity.CA
	replicas []*replica
	client   *Host
	clientTr *tcpnet.Transport
	cancel   context.CancelFunc
}

func newKVCluster(t *testing.T, n int) *kvCluster {
	t.Helper()
	ca, err := identity.NewCA("testvm", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &kvCluster{t: t, ca: ca}
	for i := range n {
		id := netmodel.NodeID(i + 1)
		cred, err := ca.MachineCredential(uint64(id), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c.replicas = append(c.replicas, &replica{id: id, dir: t.TempDir(), addr: "127.0.0.1:0", cred: cred})
	}
	// Every replica bootstraps with every id; addresses are known once
	// all listen.
	for _, r := range c.replicas {
		c.start(r)
	}
	for _, a := range c.replicas {
		for _, b := range c.replicas {
			if a != b {
				a.tr.SetPeer(b.id, b.addr)
			}
		}
	}
	c.startClient()
	t.Cleanup(c.stopAll)
	return c
}

func (c *kvCluster) peers() (ids []netmodel.NodeID, addrs map[netmodel.NodeID]string) {
	addrs = map[netmodel.NodeID]string{}
	for _, r := range c.replicas {
		ids = append(ids, r.id)
		if r.addr != "127.0.0.1:0" {
			addrs[r.id] = r.addr
		}
	}
	return ids, addrs
}

// start boots replica r on its data dir as a new incarnation, as `flock`
// would: lock the dir, draw the incarnation, open the transport and host.
func (c *kvCluster) start(r *replica) {
	t := c.t
	lock, err := identity.LockDir(r.dir)
	if err != nil {
		t.Fatalf("LockDir(%v) = %v", r.id, err)
	}
	disk, err := osdisk.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := identity.Dir{FS: disk}.NextIncarnation()
	if err != nil {
		t.Fatal(err)
	}
	ids, addrs := c.peers()
	delete(addrs, r.id)
	tr, err := tcpnet.New(tcpnet.Config{Self: r.id, Incarnation: inc, Credential: r.cred, Listen: r.addr, Peers: addrs,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("tcpnet.New(%v) = %v", r.id, err)
	}
	r.addr = tr.Addr().String()
	reg := prometheus.NewRegistry()
	h, err := New(Config{Service: "kv", Transport: tr, Disk: disk, Registry: reg, Fatal: RaftKVFatal,
		Open: RaftKV(raftkv.Config{Peers: ids, Dir: "kv", SnapshotEntries: 50})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.lock, r.disk, r.tr, r.h, r.reg, r.cancel, r.runErr = lock, disk, tr, h, reg, cancel, make(chan error, 1)
	go func() { r.runErr <- h.Run(ctx) }()
}

// kill stops replica r and releases everything it held.
func (c *kvCluster) kill(r *replica) {
	if r.h == nil {
		return
	}
	r.cancel()
	if err := <-r.runErr; err != nil {
		c.t.Errorf("Run(%v) = %v", r.id, err)
	}
	r.tr.Close()
	r.disk.Close()
	r.lock.Unlock()
	r.h = nil
}

func (c *kvCluster) startClient() {
	t := c.t
	cred, err := c.ca.IssueCredential("admin", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	self, _ := identity.NewClientID(nil)
	ids, addrs := c.peers()
	tr, err := tcpnet.New(tcpnet.Config{Self: self, Incarnation: 1, Credential: cred, Peers: addrs,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	h, err := New(Config{Service: "kv-client", Transport: tr, Disk: disk,
		Open: RaftKVClient(raftkv.ClientConfig{Servers: ids})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	c.client, c.clientTr = h, tr
	c.cancel = func() { cancel(); <-done; tr.Close() }
}

func (c *kvCluster) stopAll() {
	c.cancel()
	for _, r := range c.replicas {
		c.kill(r)
	}
}

// op runs one client operation and waits for its result.
func (c *kvCluster) op(start func(cl *raftkv.Client, done func(raftkv.Result)) error) raftkv.Result {
	c.t.Helper()
	ch := make(chan raftkv.Result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	err := c.client.Do(ctx, func(m Machine) {
		if err := start(m.(*KVClient).Client, func(r raftkv.Result) { ch <- r }); err != nil {
			ch <- raftkv.Result{Err: err}
		}
	})
	if err != nil {
		c.t.Fatalf("Do = %v", err)
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		c.t.Fatalf("no result within %v", waitMax)
	}
	return raftkv.Result{}
}

// put writes key until a server acknowledges it (a write with an unknown
// outcome is retried: putting the same value twice is harmless here).
func (c *kvCluster) put(key, value string) {
	c.t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		r := c.op(func(cl *raftkv.Client, done func(raftkv.Result)) error { return cl.Put(key, value, done) })
		if r.Err == nil {
			return
		}
		if !errors.Is(r.Err, raftkv.ErrUnavailable) && !errors.Is(r.Err, raftkv.ErrUnknownOutcome) {
			c.t.Fatalf("Put(%q) = %v", key, r.Err)
		}
	}
	for _, r := range c.replicas {
		if r.h != nil {
			st, _ := c.status(r)
			c.t.Logf("%v: %+v peers %+v", r.id, st, r.tr.Peers())
		}
	}
	c.t.Fatalf("Put(%q) never acknowledged", key)
}

func (c *kvCluster) get(key string) raftkv.Result {
	c.t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		r := c.op(func(cl *raftkv.Client, done func(raftkv.Result)) error { return cl.Get(key, done) })
		if !errors.Is(r.Err, raftkv.ErrUnavailable) {
			return r
		}
	}
	c.t.Fatalf("Get(%q) never served", key)
	return raftkv.Result{}
}

// status is replica r's raft status, read on its Host's goroutine.
func (c *kvCluster) status(r *replica) (raftkv.Status, bool) {
	var st raftkv.Status
	ok := false
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	_ = r.h.Do(ctx, func(m Machine) {
		if m != nil {
			st, ok = m.(*KVServer).Status(), true
		}
	})
	return st, ok
}

func (c *kvCluster) leader() *replica {
	c.t.Helper()
	deadline := time.Now().Add(waitMax)
	for time.Now().Before(deadline) {
		for _, r := range c.replicas {
			if r.h == nil {
				continue
			}
			if st, ok := c.status(r); ok && st.State == raftkv.StateLeader {
				return r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", waitMax)
	return nil
}

// TestRaftKVOverTCP runs a 3-replica group over TCP+TLS on loopback,
// kills the leader, writes on, restarts it on its data dir as a new
// incarnation and checks every acknowledged write.
func TestRaftKVOverTCP(t *testing.T) {
	c := newKVCluster(t, 3)
	want := map[string]string{}
	for i := range 30 {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		c.put(k, v)
		want[k] = v
	}
	old := c.leader()
	c.kill(old)
	for i := 30; i < 60; i++ {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		c.put(k, v)
		want[k] = v
	}
	if l := c.leader(); l == old {
		t.Fatalf("the killed replica %v still leads", old.id)
	}
	c.start(old)
	// The restarted replica catches up (a snapshot every 50 entries, so
	// possibly through one) and serves reads from its own state.
	deadline := time.Now().Add(waitMax)
	for {
		st, ok := c.status(old)
		if ok && st.Applied >= 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %v applied %d entries, want >= 60", old.id, st.Applied)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for k, v := range want {
		if r := c.get(k); r.Err != nil || !r.Found || r.Value != v {
			t.Errorf("Get(%q) = %q found=%v err=%v, want %q", k, r.Value, r.Found, r.Err, v)
		}
	}
	if inc := old.tr.Incarnation(); inc != 2 {
		t.Errorf("restarted %v has incarnation %d, want 2", old.id, inc)
	}
	checkMetrics(t, c.leader())
}

// checkMetrics gathers a replica's registry and checks the per-peer
// traffic and the raft figures are there.
func checkMetrics(t *testing.T, r *replica) {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	found := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		found[mf.GetName()] = mf
	}
	for _, name := range []string{"flock_net_messages_sent_total", "flock_net_bytes_received_total", "flock_raft_state", "flock_host_ticks_total", "flock_kv_requests_total"} {
		if found[name] == nil {
			t.Errorf("metrics lack %s", name)
		}
	}
	sent := found["flock_net_messages_sent_total"]
	peers := 0
	for _, m := range sent.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "peer" && strings.HasPrefix(l.GetValue(), "n") && m.GetCounter().GetValue() > 0 {
				peers++
			}
		}
	}
	if peers != 2 {
		t.Errorf("flock_net_messages_sent_total has traffic to %d machine peers, want 2", peers)
	}
	if st := found["flock_raft_state"].GetMetric()[0].GetGauge().GetValue(); st != float64(raftkv.StateLeader) {
		t.Errorf("leader's flock_raft_state = %v, want %d", st, raftkv.StateLeader)
	}
}

// TestSecondProcessOnDataDirRefused: the lock file refuses a second holder.
func TestSecondProcessOnDataDirRefused(t *testing.T) {
	c := newKVCluster(t, 1)
	if _, err := identity.LockDir(c.replicas[0].dir); !errors.Is(err, identity.ErrLocked) {
		t.Errorf("LockDir on a running replica's dir = %v, want ErrLocked", err)
	}
}
