package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/probe"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/raftkv"
)

// The client service (docs/client.md): clients of the VM (flock run --vm,
// ps, kill, status, ...) talk to the node they contacted, which answers
// from its own state and the metadata store, and asks its peers for their
// part of ps, status and kill.

var (
	markClientRunDuplicate = probe.Declare("node/client-run-duplicate", "a client's run request arrived again and was answered with its first answer")
	markClientResend       = probe.Declare("node/client-output-resent", "a run's unacknowledged output was sent again")
	markClientExpired      = probe.Declare("node/client-session-expired", "a client fell silent and its running processes were killed")
)

// AdminUser is the user allowed to admit machines and users and to kill
// any process.
const AdminUser = "admin"

// Admin does what needs the VM's certificate authority, which the node
// does not hold: the host hands one in. Its methods are called under the
// node's lock and must not wait for the node.
type Admin interface {
	// CreateToken makes a join token for uses machines, valid for ttl.
	CreateToken(uses int, ttl time.Duration) (TokenGrant, error)
	// AddUser signs a certificate (DER) naming user name for publicKey.
	AddUser(name string, publicKey []byte) ([]byte, error)
}

// TokenGrant is a join token made by an Admin. If Key is set, the token
// holds only once the metadata store has Key = Value (the record every
// machine's issuer checks a join against): the node writes it before it
// answers with the token.
type TokenGrant struct {
	Token      string
	Key, Value string
}

// ClientConfig configures a node's client service. Zero fields take their
// defaults.
type ClientConfig struct {
	// Admin, if set, answers token and user-add requests.
	Admin Admin
	// Address is where this machine listens, recorded in the address book.
	Address string

	IdleTicks          uint64 // a client silent this long is forgotten (its runs killed)
	RetransmitTicks    uint64 // unacknowledged output is resent after this long without progress
	AliveTicks         uint64 // a run with nothing sent for this long gets an alive message
	QueryTicks         uint64 // a fan-out waits at most this long for its peers
	QueryResendTicks   uint64 // and resends its queries this often
	AddressPollTicks   uint64 // the address book is read this often
	SessionsMax        int    // clients at once
	RunsMax            int    // runs attached to one client
	RepliesKept        int    // replies kept per client for retransmissions
	OutputChunkBytes   int    // bytes per output message
	OutputWindowBytes  int    // output sent and not yet acknowledged
	OutputKeptBytesMax int    // output kept for a client; beyond it the program's output fails
	MetaOpsMax         int    // clients' metadata operations queued at once
	FanoutsMax         int    // ps/status/kill fan-outs at once
	StartingMax        int    // runs starting at once
}

// Defaults of ClientConfig.
const (
	ClientIdleTicksDefault         = 1000
	ClientRetransmitTicksDefault   = 50
	ClientAliveTicksDefault        = 100
	ClientQueryTicksDefault        = 200
	ClientQueryResendTicksDefault  = 50
	ClientAddressPollTicksDefault  = 100
	ClientSessionsMaxDefault       = 4096
	ClientRunsMaxDefault           = 64
	ClientRepliesKeptDefault       = 16
	ClientOutputChunkBytesDefault  = 64 << 10
	ClientOutputWindowBytesDefault = 4 << 20
	ClientOutputKeptBytesDefault   = 16 << 20
	ClientMetaOpsMaxDefault        = 256
	ClientFanoutsMaxDefault        = 256
	ClientStartingMaxDefault       = 256
)

func (c ClientConfig) withDefaults() ClientConfig {
	set := func(p *uint64, d uint64) {
		if *p == 0 {
			*p = d
		}
	}
	set(&c.IdleTicks, ClientIdleTicksDefault)
	set(&c.RetransmitTicks, ClientRetransmitTicksDefault)
	set(&c.AliveTicks, ClientAliveTicksDefault)
	set(&c.QueryTicks, ClientQueryTicksDefault)
	set(&c.QueryResendTicks, ClientQueryResendTicksDefault)
	set(&c.AddressPollTicks, ClientAddressPollTicksDefault)
	seti := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	seti(&c.SessionsMax, ClientSessionsMaxDefault)
	seti(&c.RunsMax, ClientRunsMaxDefault)
	seti(&c.RepliesKept, ClientRepliesKeptDefault)
	seti(&c.OutputChunkBytes, ClientOutputChunkBytesDefault)
	seti(&c.OutputWindowBytes, ClientOutputWindowBytesDefault)
	seti(&c.OutputKeptBytesMax, ClientOutputKeptBytesDefault)
	seti(&c.MetaOpsMax, ClientMetaOpsMaxDefault)
	seti(&c.FanoutsMax, ClientFanoutsMaxDefault)
	seti(&c.StartingMax, ClientStartingMaxDefault)
	c.OutputWindowBytes = max(c.OutputWindowBytes, c.OutputChunkBytes)
	c.OutputKeptBytesMax = max(c.OutputKeptBytesMax, c.OutputWindowBytes)
	return c
}

// ClientStats counts what the client service did.
type ClientStats struct {
	Sessions, Runs                   int // now
	Requests, Duplicates, Garbage    int64
	SessionsExpired, SessionsRefused int64
	OutputBytes, OutputResentBytes   int64
	OutputOverruns                   int64 // writes refused: the client fell too far behind
	Busy                             int64 // requests refused: too much clients' work in progress
	Queries, QueriesUnanswered       int64 // fan-out queries sent, and peers that did not answer in time
}

// clientState is the node's client service. Its zero value works with the
// default configuration; it survives the node's rebirths (a client keeps
// talking to the same machine).
type clientState struct {
	cfg      ClientConfig
	ready    bool
	sessions map[netmodel.NodeID]*clientSession
	runs     map[uint64]*clientRun // by pid
	fanouts  map[uint64]*fanout    // by query id
	nextQID  uint64
	leaving  bool
	// Work clients have started that is not done yet, bounded so that no
	// client can crowd out the node's own metadata operations: it is
	// counted for one incarnation (a rebirth drops the work it counts).
	loadInc              uint64
	metaOps, startingRun int

	advertisedInc uint64 // the incarnation whose address is recorded
	addrs         map[netmodel.NodeID]string
	stats         ClientStats
}

// clientSession is what the node keeps of one client.
type clientSession struct {
	id      netmodel.NodeID
	user    string
	heard   uint64                // the tick of its last message
	replies map[uint64]*ClientMsg // by seq; nil value: in progress
	order   []uint64              // seqs of replies, oldest first
	runs    []uint64              // pids attached to it
}

// clientRun is the output stream of a process a client started here.
type clientRun struct {
	pid      uint64
	client   netmodel.NodeID
	buf      []byte // output from acked on
	acked    uint64 // the client has every byte below
	sent     uint64 // bytes below were sent (since the last resend)
	written  uint64 // bytes the process wrote
	ended    bool
	status   kernel.Status
	endSent  bool
	lastSent uint64 // tick of the last message sent for it
	progress uint64 // tick of the last send of new bytes or advancing ack
}

// ConfigureClients sets the client service's configuration (zero fields
// take their defaults). Call it after Open, before the first client.
func (n *Node) ConfigureClients(cfg ClientConfig) {
	n.clients.init()
	n.clients.cfg = cfg.withDefaults()
}

func (cs *clientState) init() {
	if cs.ready {
		return
	}
	cs.ready = true
	cs.cfg = cs.cfg.withDefaults()
	cs.sessions = map[netmodel.NodeID]*clientSession{}
	cs.runs = map[uint64]*clientRun{}
	cs.fanouts = map[uint64]*fanout{}
	cs.addrs = map[netmodel.NodeID]string{}
}

// ClientStats returns the client service's counters.
func (n *Node) ClientStats() ClientStats {
	defer n.enter()()
	n.clients.init()
	st := n.clients.stats
	st.Sessions, st.Runs = len(n.clients.sessions), len(n.clients.runs)
	return st
}

// ReceiveClient handles one message from a client that authenticated as
// user (the transport knows who; the node takes its word). Garbage is
// counted and dropped.
func (n *Node) ReceiveClient(from netmodel.NodeID, user string, payload []byte) {
	defer n.enter()()
	cs := &n.clients
	cs.init()
	h, body, err := DecodeHeader(payload)
	if err != nil || h.Service != ServiceClient {
		cs.stats.Garbage++
		return
	}
	m, err := DecodeClientMsg(body)
	if err != nil || !m.Kind.IsRequest() || user == "" {
		cs.stats.Garbage++
		return
	}
	s, why := n.session(from, user)
	if s == nil {
		if m.Kind != ClientAck {
			n.sendClient(from, &ClientMsg{Kind: ClientReply, Seq: m.Seq, Code: CodeUnavailable, Text: why})
		}
		return
	}
	if m.Kind == ClientAck {
		n.clientAck(s, m)
		return
	}
	n.clientRequest(s, m)
}

// session finds or makes the session of client id; nil, and why, if
// there is no room. A client id is bound to the user it first came as.
func (n *Node) session(id netmodel.NodeID, user string) (*clientSession, string) {
	cs := &n.clients
	s := cs.sessions[id]
	if s != nil && s.user != user {
		// The transport never lets this happen; refuse rather than mix users.
		cs.stats.SessionsRefused++
		return nil, fmt.Sprintf("client %v came as user %q before", id, s.user)
	}
	if s == nil {
		if len(cs.sessions) >= cs.cfg.SessionsMax {
			cs.stats.SessionsRefused++
			return nil, fmt.Sprintf("machine %v serves %d clients, its limit", n.cfg.ID, cs.cfg.SessionsMax)
		}
		s = &clientSession{id: id, user: user, replies: map[uint64]*ClientMsg{}}
		cs.sessions[id] = s
	}
	s.heard = n.ticks
	return s, ""
}

// clientRequest applies a request at most once: a retransmission gets the
// kept reply; one still in progress is dropped.
func (n *Node) clientRequest(s *clientSession, m *ClientMsg) {
	cs := &n.clients
	if rep, seen := s.replies[m.Seq]; seen {
		cs.stats.Duplicates++
		if m.Kind == ClientRun {
			markClientRunDuplicate.Hit()
		}
		if rep != nil {
			n.sendClient(s.id, rep)
		}
		return
	}
	if m.Seq == 0 {
		cs.stats.Garbage++
		return
	}
	if m.NodeInc != 0 && m.NodeInc != n.inc {
		// Sent to an earlier incarnation of this node, which may have
		// applied it: applying it again could do it twice.
		cs.stats.Duplicates++
		n.sendClient(s.id, &ClientMsg{Kind: ClientReply, Seq: m.Seq, Code: CodeUnknown, Text: fmt.Sprintf(
			"machine %v restarted (incarnation %d, the request was for %d): it may or may not have happened", n.cfg.ID, n.inc, m.NodeInc)})
		return
	}
	cs.stats.Requests++
	s.replies[m.Seq] = nil
	s.order = append(s.order, m.Seq)
	for len(s.order) > cs.cfg.RepliesKept {
		delete(s.replies, s.order[0])
		s.order = s.order[1:]
	}
	if n.failure != nil {
		n.answer(s, m.Seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v stopped: %v", n.cfg.ID, n.failure)})
		return
	}
	switch m.Kind {
	case ClientRun:
		n.clientRun(s, m)
	case ClientKill:
		n.clientKill(s, m)
	case ClientPS:
		n.clientPS(s, m)
	case ClientStatus:
		n.clientStatus(s, m)
	case ClientToken:
		n.clientToken(s, m)
	case ClientUserAdd:
		n.clientUserAdd(s, m)
	case ClientLeave:
		n.clientLeave(s, m)
	case ClientKV:
		n.clientKV(s, m)
	case ClientFile:
		n.clientFile(s, m)
	case ClientHello:
		n.answer(s, m.Seq, &ClientMsg{})
	default:
		n.answer(s, m.Seq, &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf("%v is not a request", m.Kind)})
	}
}

// answer sends the reply to request seq of s and keeps it for
// retransmissions. The session may have been forgotten meanwhile (then
// the reply is sent anyway, for a client that is only slow).
func (n *Node) answer(s *clientSession, seq uint64, rep *ClientMsg) {
	rep.Kind, rep.Seq = ClientReply, seq
	if _, pending := s.replies[seq]; pending {
		s.replies[seq] = rep
	}
	n.sendClient(s.id, rep)
}

func (n *Node) sendClient(to netmodel.NodeID, m *ClientMsg) {
	n.cfg.Transport.Send(to, AppendClientPayload(nil, n.inc, m))
}

// notJoined is why a node that has not joined cannot serve a request.
func (n *Node) notJoined() *ClientMsg {
	return &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf(
		"machine %v has not joined the VM yet (its metadata store has no leader until a quorum of the voters %v is up)",
		n.cfg.ID, n.voters())}
}

// clientRun starts the program as a process homed here, attached to s.
func (n *Node) clientRun(s *clientSession, m *ClientMsg) {
	cs := &n.clients
	switch {
	case cs.leaving:
		n.answer(s, m.Seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v is leaving the VM", n.cfg.ID)})
		return
	case !n.joined:
		n.answer(s, m.Seq, n.notJoined())
		return
	case len(s.runs) >= cs.cfg.RunsMax:
		n.answer(s, m.Seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("%d processes attached to this client, the limit", len(s.runs))})
		return
	case n.busy(s, m.Seq, &cs.startingRun, cs.cfg.StartingMax, "runs starting"):
		return
	}
	prog, err := isa.Decode(m.Data)
	if err != nil {
		n.answer(s, m.Seq, &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf("the program does not decode: %v", err)})
		return
	}
	r := &clientRun{client: s.id}
	seq, inc := m.Seq, n.inc
	cs.startingRun++
	n.start(Run{Program: prog, Args: m.Args, User: s.user, Out: &clientOutput{n: n, r: r}},
		func(pid uint64, err error) {
			if inc == cs.loadInc {
				cs.startingRun--
			}
			if err != nil {
				n.answer(s, seq, &ClientMsg{Code: CodeRefused, Text: err.Error()})
				return
			}
			r.pid, r.progress, r.lastSent = pid, n.ticks, n.ticks
			cs.runs[pid] = r
			if cs.sessions[s.id] != s {
				// The client went silent before its process started.
				_ = n.kill(pid)
				return
			}
			s.runs = append(s.runs, pid)
			n.answer(s, seq, &ClientMsg{PID: pid})
		},
		func(pid uint64, st kernel.Status) {
			r.ended, r.status = true, st
			n.flushRun(r)
		})
}

// clientOutput is a run's output sink: bytes join the run's stream.
type clientOutput struct {
	n *Node
	r *clientRun
}

// errOutputOverrun: the client is too far behind; the program's output
// call fails (EIO) rather than the node holding unbounded output.
var errOutputOverrun = errors.New("node: the client is not reading its output")

func (o *clientOutput) Write(p []byte) (int, error) {
	cs, r := &o.n.clients, o.r
	if len(r.buf)+len(p) > cs.cfg.OutputKeptBytesMax {
		cs.stats.OutputOverruns++
		return 0, errOutputOverrun
	}
	r.buf = append(r.buf, p...)
	r.written += uint64(len(p))
	cs.stats.OutputBytes += int64(len(p))
	return len(p), nil
}

// FlushClients sends the output the processes wrote since the last call
// (Tick does it too; a host calls it after each burst of work so output
// streams as it is produced).
func (n *Node) FlushClients() {
	defer n.enter()()
	cs := &n.clients
	if !cs.ready || n.failure != nil {
		return
	}
	for _, pid := range sortedKeys(cs.runs) {
		n.flushRun(cs.runs[pid])
	}
}

// flushRun sends the run's unsent output within the window, then its end
// once every byte has been sent.
func (n *Node) flushRun(r *clientRun) {
	cs := &n.clients
	if r.pid == 0 {
		return
	}
	for r.sent < r.written && r.sent-r.acked < uint64(cs.cfg.OutputWindowBytes) {
		end := min(r.written, r.sent+uint64(cs.cfg.OutputChunkBytes), r.acked+uint64(cs.cfg.OutputWindowBytes))
		data := r.buf[r.sent-r.acked : end-r.acked]
		n.sendClient(r.client, &ClientMsg{Kind: ClientOutput, PID: r.pid, Offset: r.sent, Data: data})
		r.sent, r.lastSent, r.progress = end, n.ticks, n.ticks
	}
	if r.ended && !r.endSent && r.sent == r.written {
		n.sendClient(r.client, &ClientMsg{Kind: ClientEnded, PID: r.pid, Offset: r.written, Status: r.status})
		r.endSent, r.lastSent, r.progress = true, n.ticks, n.ticks
	}
}

// clientAck moves a run's acknowledged offset; an acknowledged end frees
// the run. An ack of a run this node does not have is answered unknown
// (the node restarted, or forgot the client).
func (n *Node) clientAck(s *clientSession, m *ClientMsg) {
	cs := &n.clients
	r := cs.runs[m.PID]
	if r == nil || r.client != s.id {
		n.sendClient(s.id, &ClientMsg{Kind: ClientUnknown, PID: m.PID})
		return
	}
	if m.Offset > r.acked && m.Offset <= r.sent {
		r.buf = r.buf[m.Offset-r.acked:]
		if len(r.buf) == 0 {
			r.buf = nil // let a drained stream's memory go
		}
		r.acked, r.progress = m.Offset, n.ticks
		n.flushRun(r)
	}
	if m.Flag && r.ended && r.acked == r.written {
		n.dropRun(r)
	}
}

func (n *Node) dropRun(r *clientRun) {
	cs := &n.clients
	delete(cs.runs, r.pid)
	if s := cs.sessions[r.client]; s != nil {
		if i := slices.Index(s.runs, r.pid); i >= 0 {
			s.runs = slices.Delete(s.runs, i, i+1)
		}
	}
}

// tickClients runs the client service's timers: forgetting silent clients,
// resending output, keep-alives, fan-out deadlines and the address book.
func (n *Node) tickClients() {
	cs := &n.clients
	cs.init()
	n.clientLoad()
	n.expireSessions()
	for _, pid := range sortedKeys(cs.runs) {
		n.tickRun(cs.runs[pid])
	}
	n.tickFanouts()
	n.tickAddresses()
}

func (n *Node) tickRun(r *clientRun) {
	cs := &n.clients
	unacked := r.acked < r.sent || r.endSent
	if unacked && n.ticks-r.progress >= cs.cfg.RetransmitTicks {
		markClientResend.Hit()
		cs.stats.OutputResentBytes += int64(r.sent - r.acked)
		r.sent, r.endSent, r.progress = r.acked, false, n.ticks
	}
	n.flushRun(r)
	if !r.ended && n.ticks-r.lastSent >= cs.cfg.AliveTicks {
		n.sendClient(r.client, &ClientMsg{Kind: ClientAlive, PID: r.pid, Offset: r.written})
		r.lastSent = n.ticks
	}
}

// expireSessions forgets clients silent for IdleTicks; their running
// processes are killed, as a shell's are when its terminal hangs up.
func (n *Node) expireSessions() {
	cs := &n.clients
	var gone []netmodel.NodeID
	for id, s := range cs.sessions {
		if n.ticks-s.heard >= cs.cfg.IdleTicks {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		s := cs.sessions[id]
		delete(cs.sessions, id)
		cs.stats.SessionsExpired++
		for _, pid := range s.runs {
			r := cs.runs[pid]
			if r == nil {
				continue
			}
			delete(cs.runs, pid)
			if !r.ended {
				markClientExpired.Hit()
				n.cfg.Record("client %v silent: killing process %d", id, pid)
				_ = n.kill(pid)
			}
		}
	}
}

// clientLoad resets the counts of clients' work in progress when the node
// is a new incarnation: what the old one had queued is gone with it.
func (n *Node) clientLoad() {
	cs := &n.clients
	if cs.loadInc != n.inc {
		cs.loadInc, cs.metaOps, cs.startingRun = n.inc, 0, 0
	}
}

// busy answers the request unavailable if *count has reached max.
func (n *Node) busy(s *clientSession, seq uint64, count *int, max int, what string) bool {
	n.clientLoad()
	if *count < max {
		return false
	}
	n.clients.stats.Busy++
	n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v has %d %s, its limit: try again", n.cfg.ID, *count, what)})
	return true
}

// pushClientMeta queues a client's metadata operation, within
// MetaOpsMax; with no room it answers the request unavailable.
func (n *Node) pushClientMeta(s *clientSession, seq uint64, name string, start func(*raftkv.Client, func(raftkv.Result)) error, done func(raftkv.Result)) {
	cs := &n.clients
	if n.busy(s, seq, &cs.metaOps, cs.cfg.MetaOpsMax, "clients' metadata operations queued") {
		return
	}
	cs.metaOps++
	inc := n.inc
	n.clientMeta.push(&metaOp{name: name, start: start, done: func(res raftkv.Result) {
		if inc == cs.loadInc {
			cs.metaOps--
		}
		done(res)
	}})
}
