package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/flockvm/flock/vm/raftkv"
)

// flockSnapshotEntries matches etcd's default snapshot count (10000 since
// 3.6), so both compact their logs equally rarely.
const flockSnapshotEntries = 10000

// startFlock makes a VM's identity in three data dirs under dir and starts
// a raftkv replica process on each.
func startFlock(ctx context.Context, dir string) (*cluster, error) {
	ca, err := identity.NewCA("bench", nil, time.Now())
	if err != nil {
		return nil, err
	}
	addrs, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	var peerArgs []string
	for i, a := range addrs {
		peerArgs = append(peerArgs, fmt.Sprintf("%d=%s", i+1, a))
	}
	c := &cluster{}
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprintf("m%d", i+1))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := writeMachine(ca, d, uint64(i+1)); err != nil {
			return nil, err
		}
		p, err := spawn("flock", "-dir", d, "-id", strconv.Itoa(i+1), "-peers", strings.Join(peerArgs, ","))
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	admin, err := ca.IssueCredential("admin", nil, time.Now())
	if err != nil {
		c.stop()
		return nil, err
	}
	peers := map[netmodel.NodeID]string{}
	for i, a := range addrs {
		peers[netmodel.NodeID(i+1)] = a
	}
	c.client = func(ctx context.Context, i int) (putter, error) { return newFlockClient(admin, peers) }
	if err := waitReady(ctx, c); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func writeMachine(ca *identity.CA, dir string, id uint64) error {
	fsys, err := osdisk.Open(dir)
	if err != nil {
		return err
	}
	defer fsys.Close()
	cred, err := ca.MachineCredential(id, nil, time.Now())
	if err != nil {
		return err
	}
	return identity.Dir{FS: fsys}.SaveMachine(cred)
}

// waitReady puts until one succeeds: a leader is elected and serving.
func waitReady(ctx context.Context, c *cluster) error {
	p, err := c.client(ctx, 0)
	if err != nil {
		return err
	}
	defer p.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		opCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.Put(opCtx, "ready", []byte("yes"))
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cluster not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flockClient is one raftkv client on its own transport and host.
type flockClient struct {
	h      *host.Host
	tr     *tcpnet.Transport
	cancel context.CancelFunc
	done   chan struct{}
}

func newFlockClient(cred *identity.Credential, peers map[netmodel.NodeID]string) (*flockClient, error) {
	self, err := identity.NewClientID(nil)
	if err != nil {
		return nil, err
	}
	tr, err := tcpnet.New(tcpnet.Config{Self: self, Incarnation: 1, Credential: cred, Peers: peers})
	if err != nil {
		return nil, err
	}
	ids := make([]netmodel.NodeID, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	tmp, err := os.MkdirTemp("", "flock-bench-client-")
	if err != nil {
		tr.Close()
		return nil, err
	}
	disk, err := osdisk.Open(tmp)
	if err != nil {
		tr.Close()
		return nil, err
	}
	h, err := host.New(host.Config{Service: "kv-client", Transport: tr, Disk: disk,
		Open: host.RaftKVClient(raftkv.ClientConfig{Servers: sortIDs(ids)})})
	if err != nil {
		tr.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &flockClient{h: h, tr: tr, cancel: cancel, done: make(chan struct{})}
	go func() {
		_ = h.Run(ctx)
		tr.Close()
		disk.Close()
		os.RemoveAll(tmp)
		close(c.done)
	}()
	return c, nil
}

func sortIDs(ids []netmodel.NodeID) []netmodel.NodeID {
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

func (c *flockClient) Put(ctx context.Context, key string, value []byte) error {
	ch := make(chan error, 1)
	err := c.h.Do(ctx, func(m host.Machine) {
		if m == nil {
			ch <- errors.New("client not open")
			return
		}
		if err := m.(*host.KVClient).Put(key, string(value), func(r raftkv.Result) { ch <- r.Err }); err != nil {
			ch <- err
		}
	})
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *flockClient) Close() {
	c.cancel()
	<-c.done
}

// serveFlock is a replica process: it runs until SIGTERM.
func serveFlock(args []string) int {
	fs := flag.NewFlagSet("serve flock", flag.ContinueOnError)
	dir := fs.String("dir", "", "data dir")
	id := fs.Uint64("id", 0, "machine id")
	peersArg := fs.String("peers", "", "id=addr,...")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runFlockServer(*dir, netmodel.NodeID(*id), *peersArg); err != nil {
		fmt.Fprintf(os.Stderr, "flock server %d: %v\n", *id, err)
		return 1
	}
	return 0
}

func runFlockServer(dir string, self netmodel.NodeID, peersArg string) error {
	lock, err := identity.LockDir(dir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	disk, err := osdisk.Open(dir)
	if err != nil {
		return err
	}
	defer disk.Close()
	idDir := identity.Dir{FS: disk}
	cred, err := idDir.Machine(time.Now())
	if err != nil {
		return err
	}
	inc, err := idDir.NextIncarnation()
	if err != nil {
		return err
	}
	peers := map[netmodel.NodeID]string{}
	var ids []netmodel.NodeID
	var listen string
	for _, kv := range strings.Split(peersArg, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return fmt.Errorf("bad -peers entry %q", kv)
		}
		ids = append(ids, netmodel.NodeID(n))
		if netmodel.NodeID(n) == self {
			listen = v
		} else {
			peers[netmodel.NodeID(n)] = v
		}
	}
	tr, err := tcpnet.New(tcpnet.Config{Self: self, Incarnation: inc, Credential: cred, Listen: listen, Peers: peers})
	if err != nil {
		return err
	}
	defer tr.Close()
	h, err := host.New(host.Config{Service: "kv", Transport: tr, Disk: disk, Fatal: host.RaftKVFatal,
		Open: host.RaftKV(raftkv.Config{Peers: ids, Dir: "kv", SnapshotEntries: flockSnapshotEntries})})
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(fmt.Sprintf("flock-%d", self))
	if err != nil {
		return err
	}
	defer stopProfile()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-sig
		reportFlockStats(h, self)
		cancel()
	}()
	return h.Run(ctx)
}

// reportFlockStats prints the replica's counters (with -stats): how many
// proposals one WAL sync and one Ready covered.
func reportFlockStats(h *host.Host, self netmodel.NodeID) {
	if os.Getenv(statsEnv) == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = h.Do(ctx, func(m host.Machine) {
		kv, ok := m.(*host.KVServer)
		if !ok {
			return
		}
		st := kv.Stats()
		fmt.Fprintf(os.Stderr, "flock server %v: requests %d proposals %d entries applied %d readys %d WAL appends %d syncs %d (%.2f proposals per sync) replies %d\n",
			self, st.Requests, st.Proposals, st.EntriesApplied, st.Readys, st.WAL.RecordsAppended, st.WAL.Syncs,
			float64(st.Proposals)/float64(max(st.WAL.Syncs, 1)), st.RepliesSent)
	})
}

// serve runs a server child: "serve flock ..." or "serve etcd ...".
func serve(args []string) int {
	switch args[0] {
	case "flock":
		return serveFlock(args[1:])
	case "etcd":
		return serveEtcd(args[1:])
	}
	fmt.Fprintf(os.Stderr, "bench: serve %q?\n", args[0])
	return 2
}
