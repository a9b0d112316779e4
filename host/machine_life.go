package host

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/flockvm/flock/vm/node"
	"github.com/prometheus/client_golang/prometheus"
)

// The life of a machine process (flock new, flock join): make a VM or join
// one, then serve on the data dir until stopped.

// DirState is what a data dir holds.
type DirState uint8

// The states of a data dir.
const (
	DirEmpty   DirState = iota + 1 // nothing of a machine: new or join may use it
	DirMachine                     // a machine's identity and cluster: it restarts
	DirPartial                     // part of a machine (a crash during new or join)
	DirLeft                        // a machine that left the VM
)

// Inspect says what the data dir holds, and for a machine, its VM's name.
func Inspect(disk diskmodel.FS) (DirState, string, error) {
	exists := func(name string) (bool, error) {
		_, err := disk.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	left, err := exists(LeftFile)
	if err != nil {
		return 0, "", fmt.Errorf("host: %w", err)
	}
	if left {
		return DirLeft, "", nil
	}
	machine, err := exists(identity.MachineFile)
	if err != nil {
		return 0, "", fmt.Errorf("host: %w", err)
	}
	if machine {
		c, err := LoadCluster(disk)
		if err != nil {
			return DirPartial, "", err
		}
		return DirMachine, c.VM, nil
	}
	for _, name := range []string{identity.CAFile, ClusterFile, identity.MachinesFile, identity.AdminFile} {
		if ok, err := exists(name); err != nil || ok {
			return DirPartial, "", err
		}
	}
	return DirEmpty, "", nil
}

// CreateConfig says how to make a VM.
type CreateConfig struct {
	VM        string
	Voters    int // 1 to 5: the first machines, ids 1..Voters
	TokenUses int
	TokenTTL  time.Duration
}

// Created is what CreateVM made.
type Created struct {
	VM      identity.VM
	Machine netmodel.NodeID
	Token   identity.Token
}

// CreateVM makes a VM in an empty data dir: its CA, the first machine
// (id 1), the admin user's credential, the cluster file and a join token.
// The machine's credential is written last: a crash before leaves a dir
// Inspect calls partial.
func CreateVM(disk diskmodel.FS, cfg CreateConfig) (Created, error) {
	if cfg.Voters < 1 || cfg.Voters > clusterVotersMax {
		return Created{}, fmt.Errorf("host: %d voters: a VM has 1 to %d", cfg.Voters, clusterVotersMax)
	}
	now := time.Now()
	ca, err := identity.NewCA(cfg.VM, nil, now)
	if err != nil {
		return Created{}, err
	}
	d := identity.Dir{FS: disk}
	c := Cluster{VM: cfg.VM}
	for i := 1; i <= cfg.Voters; i++ {
		c.Voters = append(c.Voters, netmodel.NodeID(i))
	}
	if err := SaveCluster(disk, c); err != nil {
		return Created{}, err
	}
	if err := d.SaveCA(ca); err != nil {
		return Created{}, err
	}
	id, err := d.NextMachineID()
	if err != nil {
		return Created{}, err
	}
	admin, err := ca.IssueCredential(node.AdminUser, nil, now)
	if err != nil {
		return Created{}, err
	}
	if err := d.SaveAdmin(admin); err != nil {
		return Created{}, err
	}
	is := &identity.Issuer{CA: ca, Dir: d}
	tok, err := is.CreateToken(cfg.TokenUses, cfg.TokenTTL)
	if err != nil {
		return Created{}, err
	}
	cred, err := ca.MachineCredential(id, nil, now)
	if err != nil {
		return Created{}, err
	}
	if err := d.SaveMachine(cred); err != nil {
		return Created{}, err
	}
	return Created{VM: ca.VM, Machine: netmodel.NodeID(id), Token: tok}, nil
}

// joinInfo is what a joiner tells the issuer of itself.
func joinInfo(advertise string, provide node.Resources) []byte {
	return fmt.Appendf(nil, "advertise %s\nprovide %s\n", advertise, provide)
}

// advertisedIn reads the address a joiner's info names ("" if none, or if
// it names no port yet: the joiner tells its address later, through the
// address book).
func advertisedIn(info []byte) string {
	for _, line := range strings.Split(string(info), "\n") {
		a, ok := strings.CutPrefix(line, "advertise ")
		if !ok || len(a) > addressBytesMax {
			continue
		}
		if host, port, err := net.SplitHostPort(a); err == nil && host != "" && port != "0" && port != "" {
			return a
		}
	}
	return ""
}

// JoinConfig says how to join a VM.
type JoinConfig struct {
	VM, Addr  string // NAME@ADDR: any machine of the VM (machine 1 until it handed the issuer over)
	Token     identity.Token
	Advertise string // where this machine will listen, told to the issuer
	Provide   node.Resources
}

// ErrRefused wraps a join the VM refused (token, VM name): nothing of it is
// kept in the data dir.
var ErrRefused = errors.New("host: join refused")

// JoinVM asks the machine at cfg.Addr to admit this one and writes the
// credential and cluster it answers into the (empty) data dir. A refusal
// leaves the dir as it was; a join whose answer may have been lost keeps
// its key, so that asking again gets the same machine id.
func JoinVM(ctx context.Context, disk diskmodel.FS, cfg JoinConfig) (netmodel.NodeID, error) {
	d := identity.Dir{FS: disk}
	key, err := d.JoinKey()
	if err != nil {
		return 0, err
	}
	cred, resp, err := joinRetrying(ctx, cfg, key)
	if err != nil {
		if errors.Is(err, identity.ErrToken) || errors.Is(err, tcpnet.ErrWrongVM) {
			_ = d.RemoveJoinKey()
			removeEmptyIdentityDir(disk)
			return 0, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return 0, err
	}
	c, err := DecodeCluster(resp.Cluster)
	if err == nil && (c.VM != cfg.VM || len(c.Voters) == 0) {
		err = fmt.Errorf("%w: names VM %q with voters %v", ErrCluster, c.VM, c.Voters)
	}
	if err != nil {
		return 0, fmt.Errorf("host: the issuer's answer: %w", err)
	}
	if err := SaveCluster(disk, c); err != nil {
		return 0, err
	}
	if err := d.SaveMachine(cred); err != nil {
		return 0, err
	}
	return cred.Principal.Machine, d.RemoveJoinKey()
}

// joinAttemptsMax bounds the join attempts answered "unavailable" (the
// machine asked has not read the VM's CA yet, or is handing it over).
const joinAttemptsMax = 20

// joinRetrying asks to join, again after a pause while the machine asked
// answers that it cannot admit now, until ctx ends.
func joinRetrying(ctx context.Context, cfg JoinConfig, key ed25519.PrivateKey) (*identity.Credential, identity.JoinResponse, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cred, resp, err := tcpnet.JoinVM(ctx, cfg.Addr, cfg.VM, cfg.Token, key, joinInfo(cfg.Advertise, cfg.Provide))
		if err == nil || !errors.Is(err, identity.ErrJoinUnavailable) || attempt == joinAttemptsMax {
			return cred, resp, err
		}
		select {
		case <-ctx.Done():
			return nil, resp, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func removeEmptyIdentityDir(disk diskmodel.FS) {
	if infos, err := disk.ReadDir(identity.IdentityDir); err == nil && len(infos) == 0 {
		_ = disk.Remove(identity.IdentityDir)
	}
}

// ServeConfig configures a machine serving on its data dir.
type ServeConfig struct {
	Listen    string
	Advertise string // where peers and clients reach it; default Listen
	Provide   node.Resources
	Metrics   string // serve Prometheus metrics here ("" none)
	Logger    *slog.Logger
	// Ready, if set, is told once the machine listens (its address, and
	// the metrics address if any).
	Ready func(addr, metrics net.Addr)
	// TickPeriod and the node's and its client service's settings, for
	// tests; zero fields take the defaults.
	TickPeriod time.Duration
	Node       func(*node.Config)
	Clients    node.ClientConfig

	issuerMade func(*vmIssuer) // tests: told the machine's issuer
}

// Serve runs the machine of the data dir until ctx ends (nil), it fails
// for good, or it leaves the VM (an error wrapping node.ErrLeft; the data
// dir is then marked left). The caller holds the data dir's lock.
func Serve(ctx context.Context, disk diskmodel.FS, cfg ServeConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := identity.Dir{FS: disk}
	cred, err := d.Machine(time.Now())
	if err != nil {
		return err
	}
	cluster, err := LoadCluster(disk)
	if err != nil {
		return err
	}
	self := cred.Principal.Machine
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.Listen
	}
	inc, err := d.NextIncarnation()
	if err != nil {
		return err
	}
	book := NewAddressBook(cluster.Peers, func(p map[netmodel.NodeID]string) error { return SavePeers(disk, p) }, log)
	var live atomic.Pointer[tcpnet.Transport] // joins are served from the moment it listens
	var hosted atomic.Pointer[Host]
	issuer, err := newVMIssuer(self, d, hostMeta(&hosted),
		func() []byte { return Cluster{VM: cluster.VM, Voters: cluster.Voters, Peers: book.Peers()}.Encode() },
		func(id uint64, info []byte) {
			if a := advertisedIn(info); a != "" {
				if tr := live.Load(); book.Set(netmodel.NodeID(id), a) && tr != nil && netmodel.NodeID(id) != self {
					tr.SetPeer(netmodel.NodeID(id), a)
				}
			}
		}, log)
	if err != nil {
		return err
	}
	tc := tcpnet.Config{Self: self, Incarnation: inc, Credential: cred, Listen: cfg.Listen, Logger: log,
		Peers: map[netmodel.NodeID]string{}}
	for id, a := range book.Peers() {
		if id != self {
			tc.Peers[id] = a
		}
	}
	tc.Join = issuer.Join
	if cfg.issuerMade != nil {
		cfg.issuerMade(issuer)
	}
	tr, err := tcpnet.New(tc)
	if err != nil {
		return err
	}
	defer tr.Close()
	live.Store(tr)
	if _, port, _ := net.SplitHostPort(cfg.Advertise); port == "0" {
		// Listening on port 0 picked a port: tell the others that one.
		host, _, _ := net.SplitHostPort(cfg.Advertise)
		_, real, _ := net.SplitHostPort(tr.Addr().String())
		cfg.Advertise = net.JoinHostPort(host, real)
	}
	book.Set(self, cfg.Advertise)
	nc := node.Config{Provide: cfg.Provide, Voters: cluster.Voters}
	if cfg.Node != nil {
		cfg.Node(&nc)
	}
	clients := cfg.Clients
	clients.Admin, clients.Address = issuer, cfg.Advertise
	reg := prometheus.NewRegistry()
	if err := issuer.register(reg); err != nil {
		return fmt.Errorf("host: metrics: %w", err)
	}
	h, err := New(Config{Service: "node", Transport: tr, Disk: disk, Fatal: NodeFatal, Registry: reg, Logger: log,
		TickPeriod: cfg.TickPeriod, Open: Node(NodeConfig{Node: nc, Clients: clients, Book: book})})
	if err != nil {
		return err
	}
	var metricsAddr net.Addr
	if cfg.Metrics != "" {
		if metricsAddr, err = ServeMetrics(ctx, cfg.Metrics, reg); err != nil {
			return fmt.Errorf("host: metrics: %w", err)
		}
	}
	hosted.Store(h)
	local, _, _ := issuer.state()
	log.Info("machine serving", "vm", cluster.VM, "listen", tr.Addr().String(), "advertise", cfg.Advertise,
		"voters", fmt.Sprint(cluster.Voters), "provide", cfg.Provide.String(), "issuing_from_data_dir", local != nil)
	if cfg.Ready != nil {
		cfg.Ready(tr.Addr(), metricsAddr)
	}
	ictx, stopIssuer := context.WithCancel(ctx)
	issuerDone := make(chan struct{})
	go func() {
		defer close(issuerDone)
		issuer.run(ictx)
	}()
	err = h.Run(ctx)
	stopIssuer()
	<-issuerDone
	if errors.Is(err, node.ErrLeft) {
		// The leave's answer was just sent: let it reach the client
		// before the transport closes and drops its queues.
		if !tr.Drain(leftDrainMax) {
			log.Warn("machine left with messages not yet written", "waited", leftDrainMax.String())
		}
		if werr := diskmodel.WriteFileAtomic(disk, LeftFile, []byte("left the VM\n")); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// leftDrainMax bounds how long a machine that left waits for its last
// messages to be written.
const leftDrainMax = 2 * time.Second

// ResolveProvide fills what --provide left out (cpu: every core; ram and
// disk: half of what the machine has) and turns percents into bytes of the
// machine's RAM and of the disk holding dir.
func ResolveProvide(r node.Resources, dir string) (node.Resources, error) {
	if r.Cores == 0 {
		r.Cores = runtime.NumCPU()
	}
	if r.RAMBytes == 0 && r.RAMPercent == 0 {
		r.RAMPercent = 50
	}
	if r.DiskBytes == 0 && r.DiskPercent == 0 {
		r.DiskPercent = 50
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return r, fmt.Errorf("host: the machine's RAM: %w", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return r, fmt.Errorf("host: the disk of %s: %w", dir, err)
	}
	fromPercent := r.RAMPercent > 0 || r.DiskPercent > 0
	ramPct, diskPct := r.RAMPercent > 0, r.DiskPercent > 0
	r = r.Resolve(uint64(si.Totalram)*uint64(si.Unit), st.Blocks*uint64(st.Bsize))
	if fromPercent {
		// A share of the machine is rounded down to whole MiB, so it reads
		// as a size (ram:6027MiB), not a byte count.
		if ramPct {
			r.RAMBytes &^= 1<<20 - 1
		}
		if diskPct {
			r.DiskBytes &^= 1<<20 - 1
		}
	}
	return r, nil
}

// DefaultAdvertise is the address to tell others when listen names no
// host (":7070", "0.0.0.0:7070"): this machine's address on the route to
// toward (a machine it will talk to), or its first non-loopback address.
func DefaultAdvertise(listen, toward string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("host: --listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return listen, nil
	}
	if toward != "" {
		if c, err := net.Dial("udp", toward); err == nil {
			defer c.Close()
			return net.JoinHostPort(c.LocalAddr().(*net.UDPAddr).IP.String(), port), nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("host: this machine's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return net.JoinHostPort(n.IP.String(), port), nil
		}
	}
	return "", fmt.Errorf("host: --listen %q names no host and this machine has no address to advertise: give --advertise", listen)
}
