package host

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/node"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// VM is the VM's name and Addr a machine's address (NAME@ADDR).
	VM, Addr string
	// Credential is the user's (identity/admin.pem, or one of flock user
	// add).
	Credential *identity.Credential
	Logger     *slog.Logger
	// RequestTimeout bounds how long a request is retried (while the
	// machine is unreachable or unavailable); default 30 s.
	RequestTimeout time.Duration
	// RetryEvery is how often a request is resent and a run acknowledged;
	// default 1 s.
	RetryEvery time.Duration
	// SilenceMax: a run whose home sends nothing this long is given up as
	// lost with it; default 30 s (the node sends alive every second). A
	// home whose address refuses connections (its process is gone) is
	// given up after ProbeAfter of silence.
	SilenceMax time.Duration
	ProbeAfter time.Duration
}

// orphansMax bounds the stream messages kept for pids no Run follows yet.
const orphansMax = 256

// Defaults of ClientConfig.
const (
	ClientRequestTimeoutDefault = 30 * time.Second
	ClientRetryEveryDefault     = time.Second
	ClientSilenceMaxDefault     = 30 * time.Second
	ClientProbeAfterDefault     = 3 * time.Second
)

// Client talks to one machine of a VM with the client protocol
// (docs/client.md). Its methods are safe for concurrent use.
type Client struct {
	cfg     ClientConfig
	tr      *tcpnet.Transport
	machine netmodel.NodeID
	inc     uint64
	nodeInc atomic.Uint64 // the node's incarnation, from the last message heard

	mu      sync.Mutex
	seq     uint64
	replies map[uint64]chan received
	runs    map[uint64]chan received
	// orphans are stream messages of a pid no Run follows yet: a run's
	// first output may come right behind the reply that names its pid.
	orphans []received
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// received is a message from the machine with the incarnation its header
// named.
type received struct {
	m   *node.ClientMsg
	inc uint64
}

// RequestError is a request the machine answered with a failure.
type RequestError struct {
	Code node.ReplyCode
	Text string
}

func (e *RequestError) Error() string { return e.Text }

// ErrSilent: the machine a run is homed on sent nothing for SilenceMax.
var ErrSilent = errors.New("host: the process's home stopped answering")

// ErrUnknown: a request went unanswered long enough that the machine may
// have forgotten it (or restarted): it may or may not have taken effect.
var ErrUnknown = errors.New("host: no answer: the request may or may not have taken effect")

// attemptMax bounds how long one request is resent under one sequence
// number: below the machine's ClientIdleTicks (10 s), so a resend never
// reaches a machine that forgot the first send and would apply it again.
const attemptMax = 5 * time.Second

// leaveAttemptMax bounds one attempt of a leave instead: a metadata voter
// answers its leave only once it has been replaced, or after
// voterLeavePollsMax membership polls (about 10 s) with "try again". The
// client resends every RetryEvery meanwhile, so the machine's session
// never idles and it cannot forget the request.
const leaveAttemptMax = 30 * time.Second

// DialClient connects to the machine at cfg.Addr: it learns the machine's
// id (tcpnet.Identify), checks the VM is cfg.VM, and opens a client
// transport to it.
func DialClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	setDefault(&cfg.RequestTimeout, ClientRequestTimeoutDefault)
	setDefault(&cfg.RetryEvery, ClientRetryEveryDefault)
	setDefault(&cfg.SilenceMax, ClientSilenceMaxDefault)
	setDefault(&cfg.ProbeAfter, ClientProbeAfterDefault)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cred := cfg.Credential
	if cred == nil || cred.Principal.Kind != identity.KindUser {
		return nil, errors.New("host: a client needs a user's credential")
	}
	if cfg.VM != "" && cred.VM.Name != cfg.VM {
		return nil, fmt.Errorf("host: the credential is for VM %q, not %q", cred.VM.Name, cfg.VM)
	}
	p, err := tcpnet.Identify(ctx, cfg.Addr, cred)
	if err != nil {
		return nil, err
	}
	id, err := identity.NewClientID(nil)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("host: client incarnation: %w", err)
	}
	inc := binary.LittleEndian.Uint64(b[:])>>1 | 1
	tr, err := tcpnet.New(tcpnet.Config{Self: id, Incarnation: inc, Credential: cred, Logger: cfg.Logger,
		Peers: map[netmodel.NodeID]string{p.Machine: cfg.Addr}, BackoffMin: 20 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, tr: tr, machine: p.Machine, inc: inc, replies: map[uint64]chan received{},
		runs: map[uint64]chan received{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.readLoop()
	// Learn the node's incarnation before any request that matters, so
	// that a request is never applied by two lives of the node.
	if _, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientHello}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Machine is the id of the machine the client talks to.
func (c *Client) Machine() netmodel.NodeID { return c.machine }

// Close ends the client.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	return c.tr.Close()
}

// Flush waits (at most d) until everything sent has been written to the
// machine's connection.
func (c *Client) Flush(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		queued := 0
		for _, p := range c.tr.Peers() {
			queued += p.Queued
		}
		if queued == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case msg := <-c.tr.Inbox():
			c.tr.Deliver(msg, netmodel.ReceiverFunc(c.receive))
		}
	}
}

// receive routes a message: replies to their request, streams to their
// run. A full channel drops the message: the machine resends.
func (c *Client) receive(from netmodel.NodeID, payload []byte) {
	if from != c.machine {
		return
	}
	h, body, err := node.DecodeHeader(payload)
	if err != nil || h.Service != node.ServiceClient {
		return
	}
	m, err := node.DecodeClientMsg(body)
	if err != nil {
		return
	}
	c.nodeInc.Store(h.Incarnation)
	c.mu.Lock()
	var ch chan received
	if m.Kind == node.ClientReply {
		ch = c.replies[m.Seq]
	} else if ch = c.runs[m.PID]; ch == nil {
		if len(c.orphans) == orphansMax {
			c.orphans = c.orphans[1:]
		}
		c.orphans = append(c.orphans, received{m: m, inc: h.Incarnation})
	}
	c.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- received{m: m, inc: h.Incarnation}:
	default:
	}
}

func (c *Client) send(m *node.ClientMsg) {
	c.tr.Send(c.machine, node.AppendClientPayload(nil, c.inc, m))
}

// idempotent reports whether a request of kind k may be applied twice
// without harm, and so be sent again when its outcome is unknown.
func idempotent(m *node.ClientMsg) bool {
	switch m.Kind {
	case node.ClientPS, node.ClientStatus, node.ClientKill, node.ClientUserAdd, node.ClientHello:
		return true
	case node.ClientFile:
		// A put replaces the file whole and a setattr sets values: done
		// twice, they leave what done once does. Not so mkdir and remove.
		return m.FileOp != node.FileMkdir && m.FileOp != node.FileRemove
	}
	return false
}

// request sends m until it is answered, and returns the answer (with the
// machine's incarnation). An unavailable answer is retried as a new
// request until RequestTimeout, and so is an unknown outcome of an
// idempotent request; a failure is a *RequestError, an unknown outcome
// ErrUnknown.
func (c *Client) request(ctx context.Context, m *node.ClientMsg) (received, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var last *RequestError
	for {
		r, err := c.attempt(ctx, m)
		if err == nil && r.m.Code == node.CodeUnknown {
			err = fmt.Errorf("%w: %s", ErrUnknown, r.m.Text)
		}
		switch {
		case errors.Is(err, ErrUnknown) && idempotent(m) && ctx.Err() == nil:
			continue
		case err != nil && last != nil:
			// An attempt that got no answer may have been applied.
			return received{}, fmt.Errorf("%w: machine %v at %s: %v (before: %v)", ErrUnknown, c.machine, c.cfg.Addr, err, last)
		case errors.Is(err, ErrUnknown):
			return received{}, fmt.Errorf("machine %v at %s: %w", c.machine, c.cfg.Addr, err)
		case err != nil:
			return received{}, fmt.Errorf("%w: no answer from machine %v at %s: %v", ErrUnknown, c.machine, c.cfg.Addr, err)
		case r.m.Code == node.CodeUnavailable:
			last = &RequestError{Code: r.m.Code, Text: r.m.Text}
			select {
			case <-ctx.Done():
				return received{}, last
			case <-time.After(c.cfg.RetryEvery):
			}
			continue
		case r.m.Code != node.CodeOK:
			return r, &RequestError{Code: r.m.Code, Text: r.m.Text}
		}
		return r, nil
	}
}

// attempt sends m under a new sequence number, resending it every
// RetryEvery, until its reply comes. It gives up with ErrUnknown after
// attemptMax, or once the machine restarted (its transport incarnation
// changed: the new process never saw the first send, and would apply a
// resend as new).
func (c *Client) attempt(ctx context.Context, m *node.ClientMsg) (received, error) {
	ch := make(chan received, 4)
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.replies[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.replies, seq)
		c.mu.Unlock()
	}()
	req := *m
	req.Seq, req.NodeInc = seq, c.nodeInc.Load()
	t := time.NewTicker(c.cfg.RetryEvery)
	defer t.Stop()
	bound := attemptMax
	if m.Kind == node.ClientLeave {
		bound = leaveAttemptMax
	}
	giveUp := time.Now().Add(bound)
	inc := c.machineIncarnation()
	for {
		if now := c.machineIncarnation(); inc == 0 {
			inc = now
		} else if now != 0 && now != inc {
			return received{}, fmt.Errorf("%w (the machine restarted)", ErrUnknown)
		}
		if time.Now().After(giveUp) {
			return received{}, fmt.Errorf("%w (for %v)", ErrUnknown, bound)
		}
		c.send(&req)
		select {
		case r := <-ch:
			return r, nil
		case <-t.C:
		case <-ctx.Done():
			return received{}, ctx.Err()
		case <-c.stop:
			return received{}, errors.New("client closed")
		}
	}
}

// machineIncarnation is the incarnation of the machine's process as its
// transport last said (0 before any connection).
func (c *Client) machineIncarnation() uint64 {
	for _, p := range c.tr.Peers() {
		if p.ID == c.machine {
			return p.Incarnation
		}
	}
	return 0
}

// Run runs prog with args as a process homed on the machine, writes its
// output to out as it comes and returns how it ended. started, if set, is
// told the pid once the process runs (a caller kills it with Kill).
func (c *Client) Run(ctx context.Context, prog *isa.Program, args []string, out io.Writer, started func(pid uint64)) (kernel.Status, error) {
	ch := make(chan received, 1024)
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientRun, Data: isa.Encode(prog), Args: args})
	if err != nil {
		return kernel.Status{}, err
	}
	pid, homeInc := r.m.PID, r.inc
	c.mu.Lock()
	c.runs[pid] = ch
	kept := c.orphans[:0]
	for _, o := range c.orphans {
		if o.m.PID == pid {
			ch <- o // room: the channel is new and larger than orphansMax
		} else {
			kept = append(kept, o)
		}
	}
	c.orphans = kept
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.runs, pid)
		c.mu.Unlock()
	}()
	if started != nil {
		started(pid)
	}
	s := &runStream{c: c, pid: pid, homeInc: homeInc, out: out, ch: ch}
	return s.follow(ctx)
}

// runStream follows one run's output and end.
type runStream struct {
	c        *Client
	pid      uint64
	homeInc  uint64
	out      io.Writer
	ch       chan received
	received uint64
	heard    time.Time
}

func (s *runStream) follow(ctx context.Context) (kernel.Status, error) {
	t := time.NewTicker(s.c.cfg.RetryEvery)
	defer t.Stop()
	s.heard = time.Now()
	for {
		select {
		case r := <-s.ch:
			st, done, err := s.take(r)
			for !done && err == nil && len(s.ch) > 0 {
				st, done, err = s.take(<-s.ch)
			}
			if err != nil || done {
				return st, err
			}
			s.ack(false)
		case <-t.C:
			silent := time.Since(s.heard)
			if silent > s.c.cfg.SilenceMax {
				return kernel.Status{}, fmt.Errorf("process %d: %w: no word from machine %v at %s for %v", s.pid, ErrSilent, s.c.machine, s.c.cfg.Addr, s.c.cfg.SilenceMax)
			}
			if silent > s.c.cfg.ProbeAfter && s.c.refused() {
				return kernel.Status{Lost: &kernel.LostError{PID: s.pid, Machine: uint64(s.c.machine), Incarnation: s.homeInc,
					What: "the process's home (nothing listens at " + s.c.cfg.Addr + " any more)"}}, nil
			}
			s.ack(false)
		case <-ctx.Done():
			return kernel.Status{}, ctx.Err()
		}
	}
}

// take handles one message of the run; done once it has ended with every
// byte of its output written.
func (s *runStream) take(r received) (kernel.Status, bool, error) {
	s.heard = time.Now()
	m := r.m
	switch m.Kind {
	case node.ClientOutput:
		if m.Offset > s.received {
			return kernel.Status{}, false, nil // a gap: the machine resends from what was acknowledged
		}
		if skip := s.received - m.Offset; skip < uint64(len(m.Data)) {
			if _, err := s.out.Write(m.Data[skip:]); err != nil {
				return kernel.Status{}, false, fmt.Errorf("process %d: writing its output: %w", s.pid, err)
			}
			s.received += uint64(len(m.Data)) - skip
		}
	case node.ClientEnded:
		if m.Offset != s.received {
			return kernel.Status{}, false, nil // output is missing: it comes again, then the end
		}
		s.ack(true)
		return m.Status, true, nil
	case node.ClientUnknown:
		if r.inc != s.homeInc {
			return kernel.Status{Lost: &kernel.LostError{PID: s.pid, Machine: uint64(s.c.machine), Incarnation: s.homeInc,
				What: "the process's home (it restarted)"}}, true, nil
		}
		return kernel.Status{}, true, fmt.Errorf("process %d: machine %v forgot this client (it was silent too long) and killed the process", s.pid, s.c.machine)
	}
	return kernel.Status{}, false, nil
}

// refused reports whether the machine's address refuses connections: its
// process is gone (a restarted one answers, and then says the run is
// unknown). A timeout (a partition) is not a refusal.
func (c *Client) refused() bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.Dial("tcp", c.cfg.Addr)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (s *runStream) ack(ended bool) {
	s.c.send(&node.ClientMsg{Kind: node.ClientAck, PID: s.pid, Offset: s.received, Flag: ended})
}

// Kill ends process pid (the user's own; admin: any).
func (c *Client) Kill(ctx context.Context, pid uint64) error {
	_, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientKill, PID: pid})
	return err
}

// PS lists the VM's processes (all: ended ones still remembered too); the
// text names machines that did not answer.
func (c *Client) PS(ctx context.Context, all bool) ([]node.ProcessEntry, string, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientPS, Flag: all})
	if err != nil {
		return nil, "", err
	}
	return r.m.Procs, r.m.Text, nil
}

// Status is the VM as the machine sees it.
type Status struct {
	Machines []node.MachineStatus
	Voters   []netmodel.NodeID
	Leader   netmodel.NodeID // 0: unknown
	Silent   string          // machines that did not answer, if any
	Via      netmodel.NodeID // the machine asked
}

// Status asks the machine for the VM's machines.
func (c *Client) Status(ctx context.Context) (Status, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientStatus})
	if err != nil {
		return Status{}, err
	}
	st := Status{Machines: r.m.Nodes, Leader: netmodel.NodeID(r.m.Leader), Silent: r.m.Text, Via: c.machine}
	for _, v := range r.m.Voters {
		st.Voters = append(st.Voters, netmodel.NodeID(v))
	}
	return st, nil
}

// CreateToken asks for a join token for uses machines, valid for ttl
// (admin; any machine, once machine 1 handed the issuer over).
func (c *Client) CreateToken(ctx context.Context, uses int, ttl time.Duration) (string, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientToken, Uses: uint64(uses), TTL: uint64(ttl / time.Second)})
	if err != nil {
		return "", err
	}
	return r.m.Text, nil
}

// AddUser makes a credential for user name: the key is drawn here, only
// its public half travels.
func (c *Client) AddUser(ctx context.Context, name string) (*identity.Credential, error) {
	key, err := identity.NewKey(nil)
	if err != nil {
		return nil, err
	}
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientUserAdd, Text: name, Data: []byte(key.Public().(ed25519.PublicKey))})
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(r.m.Data)
	if err != nil {
		return nil, fmt.Errorf("host: the issued certificate: %w", err)
	}
	return identity.NewCredential(c.cfg.Credential.CACert, cert, key, time.Now())
}

// KVResult is the answer to a key-value operation.
type KVResult struct {
	Found   bool   // get, delete: the key existed; list: more keys than listed
	Value   string // get: the value
	Swapped bool   // cas: the value was set
	Keys    []string
	Values  []string // list: the values of Keys
}

// KV runs one operation on the user's key-value namespace (a key, or for
// list a prefix). For cas, absent expects the key absent, else to hold
// expect. An error wrapping ErrUnknown, or a *RequestError of code
// node.CodeUnknown, says the operation may or may not have happened.
func (c *Client) KV(ctx context.Context, op node.KVOp, key, value, expect string, absent bool) (KVResult, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientKV, Op: op, Key: key, Value: value, Expect: expect, Flag: absent})
	if err != nil {
		return KVResult{}, err
	}
	return KVResult{Found: r.m.Flag, Value: r.m.Value, Swapped: r.m.Swapped, Keys: r.m.Keys, Values: r.m.Args}, nil
}

// File runs a file operation on the VM's filesystem as the client's user
// (flock ls, cat, put, mkdir, rm, chmod, redundancy) and returns what it
// read: a file, a listing, attributes. attrs is a setattr's change
// (sys.ParseAttrChange's text). A refusal is a *RequestError whose text
// names the path and the reason.
func (c *Client) File(ctx context.Context, op node.FileOp, path string, data []byte, attrs string) ([]byte, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientFile, FileOp: op, Key: path, Data: data, Text: attrs})
	if err != nil {
		return nil, err
	}
	return r.m.Data, nil
}

// Leave makes the machine leave the VM (admin).
func (c *Client) Leave(ctx context.Context) (string, error) {
	r, err := c.request(ctx, &node.ClientMsg{Kind: node.ClientLeave})
	if err != nil {
		return "", err
	}
	return r.m.Text, nil
}
