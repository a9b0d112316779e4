package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/raftkv"
)

// TestClientInteraction runs the scripts in testdata/client: the client
// protocol's races (docs/client.md), one script each. Regenerate with
//
//	go test ./vm/node -run TestClientInteraction -rewrite
//
// and read the diff. Commands:
//
//	start machines=N voters=V [cores=C] [idle=T] [metaops=M] [seed=S]   a VM, run until every node joined
//	run client=C on=N prog=P [user=U] [args=a,b]  C asks machine N to run program P
//	kill client=C on=N pid=P | ps client=C on=N [all] | status client=C on=N
//	token client=C on=N uses=U ttl=S | leave client=C on=N
//	kv client=C on=N op=get|put|delete|cas|list key=K [value=V] [expect=X | absent]
//	file client=C on=N op=list|read|put|mkdir|remove|getattr|setattr path=P [data=D] [attr=a=v;b=w]
//	resend client=C                C sends its last request again
//	deliver [steps=N] [until=reply|ended|unknown|quiet] [client=C] [verbose]
//	                               run the VM (N steps, or until a client got a reply, saw
//	                               a process end with all its output, or an unknown; quiet:
//	                               nothing for 400 steps); print what clients receive
//	hold client=C | release client=C   C stops / resumes acknowledging output
//	drop client=C | undrop client=C    messages to C are lost / arrive again
//	vanish client=C                C's messages are lost both ways from now on
//	crash id=N | restart id=N | cut a=N b=M | heal
//	forget-record on=N pid=P        delete p/P from the metadata store (a record not yet written)
func TestClientInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/client", func(t *testing.T, path string) {
		var h *clientHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = newClientHarness(t, d)
				return h.flush()
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.t = t
			h.command(d)
			return h.flush()
		})
	})
}

// clientHarness is the node test cluster plus scripted clients.
type clientHarness struct {
	t       *testing.T
	c       *cluster
	cfg     ClientConfig
	clients map[string]*testClient
	admin   *fakeAdmin
	out     strings.Builder
	verbose bool
}

// testClient is a scripted client: it keeps what it received, writes
// output in offset order and acknowledges it, as host.Client does.
type testClient struct {
	name      string
	id        netmodel.NodeID
	user      string
	seq       uint64
	answered  uint64 // the highest seq answered
	last      []byte // the last request, for resend
	lastTo    netmodel.NodeID
	outbox    []clientEnvelope
	hold      bool
	dropping  bool
	vanished  bool
	runs      map[uint64]*testRun
	kinds     map[uint64]ClientKind      // by seq
	nodeInc   map[netmodel.NodeID]uint64 // the incarnation last heard from each node
	got       []*ClientMsg
	endedSeen int // runs that ended with all their output, since deliver last looked
}

type clientEnvelope struct {
	to      netmodel.NodeID
	payload []byte
}

type testRun struct {
	out      bytes.Buffer
	received uint64
	ended    bool
	to       netmodel.NodeID
}

var clientTestPrograms = map[string]string{
	"hello": `
.string msg "hello\n"
main:
    PUSH msg
    PUSH len(msg)
    PRINTS
    PUSH 0
    EXIT
`,
	// lines prints N lines "line k".
	"lines": `
.string msg "line "
main:
    ENTER 0, 1
    PUSH 0
    SET 0
loop:
    GET 0
    PUSH 40
    LT
    JZ done
    PUSH msg
    PUSH len(msg)
    PRINTS
    GET 0
    PRINT
    PUSH '\n'
    PUTC
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP loop
done:
    PUSH 0
    EXIT
`,
	// spin runs until killed, spread over the machines: 12 threads that
	// loop forever.
	"spin": `
.const T 12
.string msg "spawned\n"
main:
    ENTER 0, 1
    PUSH 0
    SET 0
spawn:
    GET 0
    PUSH T
    LT
    JZ spawned
    GET 0
    SPAWN worker
    DROP
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP spawn
spawned:
    PUSH msg
    PUSH len(msg)
    PRINTS
forever:
    JMP forever
worker:
    ENTER 1, 0
wloop:
    JMP wloop
`,
	// sum spreads 12 threads over the machines, joins them and prints the
	// sum of their values (0+1+...+11 = 66).
	"sum": `
.const T 12
.zero tids T*8
main:
    ENTER 0, 2
    PUSH 0
    SET 0
spawn:
    GET 0
    PUSH T
    LT
    JZ spawned
    GET 0
    SPAWN worker
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP spawn
spawned:
    PUSH 0
    SET 0
join:
    GET 0
    PUSH T
    LT
    JZ joined
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    LOAD
    JOIN
    GET 1
    ADD
    SET 1
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP join
joined:
    GET 1
    PRINT
    PUSH '\n'
    PUTC
    PUSH 0
    EXIT
worker:
    ENTER 1, 1
    PUSH 0
    SET 1
wloop:
    GET 1
    PUSH 2000
    LT
    JZ wdone
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP wloop
wdone:
    GET 0
    TEXIT
`,
}

func newClientHarness(t *testing.T, d *datadriven.TestData) *clientHarness {
	machines, voters, cores, seed, idle := 3, 3, 1, uint64(1), uint64(0)
	d.MaybeScanArgs(t, "machines", &machines)
	d.MaybeScanArgs(t, "voters", &voters)
	d.MaybeScanArgs(t, "cores", &cores)
	d.MaybeScanArgs(t, "seed", &seed)
	d.MaybeScanArgs(t, "idle", &idle)
	var metaOps int
	d.MaybeScanArgs(t, "metaops", &metaOps)
	c := newClusterCores(t, machines, voters, cores, seed)
	h := &clientHarness{t: t, c: c, cfg: ClientConfig{IdleTicks: idle, MetaOpsMax: metaOps}, clients: map[string]*testClient{}, admin: &fakeAdmin{}}
	for _, id := range c.ids {
		h.configure(id)
	}
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("%s: nodes did not join:\n%s", d.Pos, c.dump())
	}
	fmt.Fprintf(&h.out, "%d machines joined\n", machines)
	return h
}

// newClusterCores is newCluster with a number of cores per machine.
func newClusterCores(t *testing.T, machines, voters, cores int, seed uint64) *cluster {
	c := newCluster(t, machines, voters, seed)
	if cores != c.cores {
		c.cores = cores
		for _, id := range c.ids {
			c.crash(id)
			c.boot(id)
		}
	}
	return c
}

// fakeAdmin stands for the host's issuer on machine 1.
type fakeAdmin struct{ tokens int }

func (a *fakeAdmin) CreateToken(uses int, ttl time.Duration) (TokenGrant, error) {
	a.tokens++
	tok := fmt.Sprintf("token-%d-uses-%d-ttl-%v", a.tokens, uses, ttl)
	return TokenGrant{Token: tok, Key: "i/t/" + strconv.Itoa(a.tokens), Value: tok}, nil
}

func (a *fakeAdmin) AddUser(name string, pub []byte) ([]byte, error) {
	if name == "" {
		return nil, errors.New("empty user name")
	}
	return append([]byte("cert of "+name+" for "), pub...), nil
}

func (h *clientHarness) configure(id netmodel.NodeID) {
	cfg := h.cfg
	if id == 1 {
		cfg.Admin = h.admin
	}
	cfg.Address = fmt.Sprintf("10.0.0.%d:7070", id)
	h.c.nodes[id].ConfigureClients(cfg)
}

func (h *clientHarness) flush() string {
	s := h.out.String()
	h.out.Reset()
	return s
}

func (h *clientHarness) client(d *datadriven.TestData) *testClient {
	var name string
	d.ScanArgs(h.t, "client", &name)
	cl := h.clients[name]
	if cl == nil {
		user := "alice"
		d.MaybeScanArgs(h.t, "user", &user)
		cl = &testClient{name: name, id: 1<<63 | netmodel.NodeID(len(h.clients)+1), user: user, runs: map[uint64]*testRun{}, kinds: map[uint64]ClientKind{}, nodeInc: map[netmodel.NodeID]uint64{}}
		h.clients[name] = cl
	}
	return cl
}

func (h *clientHarness) machine(d *datadriven.TestData, key string) netmodel.NodeID {
	var id uint64
	d.ScanArgs(h.t, key, &id)
	return netmodel.NodeID(id)
}

func (h *clientHarness) command(d *datadriven.TestData) {
	t := h.t
	switch d.Cmd {
	case "run":
		cl, on := h.client(d), h.machine(d, "on")
		var prog string
		d.ScanArgs(t, "prog", &prog)
		p, err := asm.Assemble(prog+".flasm", []byte(clientTestPrograms[prog]), asm.Options{})
		if err != nil {
			t.Fatalf("%s: assemble %s: %v", d.Pos, prog, err)
		}
		m := &ClientMsg{Kind: ClientRun, Data: isa.Encode(p)}
		var args string
		if d.MaybeScanArgs(t, "args", &args) {
			m.Args = strings.Split(args, ",")
		}
		h.request(cl, on, m)
	case "kill":
		cl, on := h.client(d), h.machine(d, "on")
		var pid uint64
		d.ScanArgs(t, "pid", &pid)
		h.request(cl, on, &ClientMsg{Kind: ClientKill, PID: pid})
	case "ps":
		h.request(h.client(d), h.machine(d, "on"), &ClientMsg{Kind: ClientPS, Flag: d.HasArg("all")})
	case "status":
		h.request(h.client(d), h.machine(d, "on"), &ClientMsg{Kind: ClientStatus})
	case "token":
		cl, on := h.client(d), h.machine(d, "on")
		m := &ClientMsg{Kind: ClientToken}
		d.ScanArgs(t, "uses", &m.Uses)
		d.ScanArgs(t, "ttl", &m.TTL)
		h.request(cl, on, m)
	case "user-add":
		cl, on := h.client(d), h.machine(d, "on")
		m := &ClientMsg{Kind: ClientUserAdd, Data: []byte("KEY")}
		d.ScanArgs(t, "name", &m.Text)
		h.request(cl, on, m)
	case "leave":
		h.request(h.client(d), h.machine(d, "on"), &ClientMsg{Kind: ClientLeave})
	case "kv":
		cl, on := h.client(d), h.machine(d, "on")
		var op string
		d.ScanArgs(t, "op", &op)
		m := &ClientMsg{Kind: ClientKV, Flag: d.HasArg("absent")}
		for o := KVGet; o < numKVOps; o++ {
			if o.String() == op {
				m.Op = o
			}
		}
		d.MaybeScanArgs(t, "key", &m.Key)
		d.MaybeScanArgs(t, "value", &m.Value)
		d.MaybeScanArgs(t, "expect", &m.Expect)
		h.request(cl, on, m)
	case "file":
		cl, on := h.client(d), h.machine(d, "on")
		var op string
		d.ScanArgs(t, "op", &op)
		m := &ClientMsg{Kind: ClientFile}
		for o := FileList; o < numFileOps; o++ {
			if o.String() == op {
				m.FileOp = o
			}
		}
		d.MaybeScanArgs(t, "path", &m.Key)
		var data string
		if d.MaybeScanArgs(t, "data", &data) {
			m.Data = []byte(data)
		}
		if d.MaybeScanArgs(t, "attr", &m.Text) {
			m.Text = strings.ReplaceAll(m.Text, ";", "\n")
		}
		h.request(cl, on, m)
	case "resend":
		cl := h.client(d)
		cl.outbox = append(cl.outbox, clientEnvelope{to: cl.lastTo, payload: cl.last})
		fmt.Fprintf(&h.out, "%s resends request %d\n", cl.name, cl.seq)
	case "hold":
		h.client(d).hold = true
	case "release":
		h.client(d).hold = false
	case "vanish":
		h.client(d).vanished = true
	case "drop":
		h.client(d).dropping = true
	case "undrop":
		h.client(d).dropping = false
	case "deliver":
		h.deliver(d)
	case "crash":
		h.c.crash(h.machine(d, "id"))
	case "restart":
		id := h.machine(d, "id")
		h.c.boot(id)
		h.configure(id)
		fmt.Fprintf(&h.out, "n%d restarted as incarnation %d\n", id, h.c.nodes[id].Incarnation())
	case "forget-record":
		on := h.machine(d, "on")
		var pid uint64
		d.ScanArgs(t, "pid", &pid)
		h.forgetRecord(on, pid)
	case "cut":
		a, b := h.machine(d, "a"), h.machine(d, "b")
		h.c.cut[[2]netmodel.NodeID{a, b}], h.c.cut[[2]netmodel.NodeID{b, a}] = true, true
	case "heal":
		clear(h.c.cut)
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

// forgetRecord deletes p/<pid> from the metadata store through node on,
// as if the process's home had not written it yet.
func (h *clientHarness) forgetRecord(on netmodel.NodeID, pid uint64) {
	key := keyProcPrefix + strconv.FormatUint(pid, 10)
	var res *raftkv.Result
	h.c.nodes[on].pushMeta("test-forget", false, func(cl *raftkv.Client, done func(raftkv.Result)) error { return cl.Delete(key, done) },
		func(r raftkv.Result) { res = &r })
	if !h.c.runUntil(func() bool { return res != nil }, 20000) || res.Err != nil {
		h.t.Fatalf("Delete(%s) through %v: %v", key, on, res)
	}
	fmt.Fprintf(&h.out, "%s deleted\n", key)
}

func (h *clientHarness) request(cl *testClient, on netmodel.NodeID, m *ClientMsg) {
	cl.seq++
	m.Seq, m.NodeInc = cl.seq, cl.nodeInc[on]
	cl.kinds[m.Seq] = m.Kind
	cl.last, cl.lastTo = AppendClientPayload(nil, 99, m), on
	cl.outbox = append(cl.outbox, clientEnvelope{to: on, payload: cl.last})
	fmt.Fprintf(&h.out, "%s -> n%d %v seq=%d\n", cl.name, on, m.Kind, m.Seq)
}

// deliver steps the cluster: client messages to nodes, the nodes' steps,
// messages to clients, acknowledgements.
func (h *clientHarness) deliver(d *datadriven.TestData) {
	steps, until := 4000, "quiet"
	if d.MaybeScanArgs(h.t, "steps", &steps) {
		until = ""
	}
	d.MaybeScanArgs(h.t, "until", &until)
	h.verbose = d.HasArg("verbose")
	var only string
	d.MaybeScanArgs(h.t, "client", &only)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range h.clients {
			if !yield(n) {
				return
			}
		}
	})
	quiet := 0
	for step := range steps {
		got := 0
		if step%clientKeepAliveSteps == clientKeepAliveSteps-1 {
			for _, name := range names {
				h.keepAlive(h.clients[name])
			}
		}
		for _, name := range names {
			h.sendFrom(h.clients[name])
		}
		// Answers given inside ReceiveClient are queued already: take them
		// before the cluster's step drops what is not for a node.
		for _, name := range names {
			got += h.receive(h.clients[name])
		}
		h.c.run(1, 4)
		for _, id := range h.c.ids {
			if n := h.c.nodes[id]; n != nil {
				n.FlushClients() // as the host does after each burst of work
			}
		}
		for _, name := range names {
			got += h.receive(h.clients[name])
		}
		for _, name := range names {
			cl := h.clients[name]
			if (only == "" || only == name) && h.satisfied(cl, until) {
				return
			}
		}
		if got == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if until == "quiet" && quiet > 400 {
			return
		}
	}
	if until != "quiet" && until != "" {
		fmt.Fprintf(&h.out, "(still waiting for %s after %d steps)\n", until, steps)
	}
}

// satisfied reports whether cl got what deliver waits for since it last
// looked.
func (h *clientHarness) satisfied(cl *testClient, until string) bool {
	got := cl.got
	cl.got = nil
	if until == "ended" && cl.endedSeen > 0 {
		cl.endedSeen = 0
		return true
	}
	for _, m := range got {
		if until == "reply" && m.Kind == ClientReply || until == "unknown" && m.Kind == ClientUnknown {
			return true
		}
	}
	return false
}

func (h *clientHarness) sendFrom(cl *testClient) {
	box := cl.outbox
	cl.outbox = nil
	for _, e := range box {
		n := h.c.nodes[e.to]
		if n == nil || cl.vanished {
			continue
		}
		n.ReceiveClient(cl.id, cl.user, e.payload)
	}
}

// receive takes the cluster's messages for cl off the queue and prints
// them; it acknowledges output as host.Client does.
func (h *clientHarness) receive(cl *testClient) int {
	var keep []envelope
	got := 0
	for _, e := range h.c.queue {
		if e.to != cl.id {
			keep = append(keep, e)
			continue
		}
		if cl.vanished || cl.dropping {
			continue
		}
		got++
		hdr, body, err := DecodeHeader(e.payload)
		if err != nil {
			h.t.Fatalf("client %s: header: %v", cl.name, err)
		}
		m, err := DecodeClientMsg(body)
		if err != nil {
			h.t.Fatalf("client %s: %v", cl.name, err)
		}
		cl.nodeInc[e.from] = hdr.Incarnation
		h.print(cl, e.from, m)
		cl.got = append(cl.got, m)
		h.take(cl, e.from, m)
	}
	h.c.queue = keep
	return got
}

func (h *clientHarness) take(cl *testClient, from netmodel.NodeID, m *ClientMsg) {
	switch m.Kind {
	case ClientReply:
		cl.answered = max(cl.answered, m.Seq)
		if m.PID != 0 && m.Code == CodeOK && cl.runs[m.PID] == nil {
			cl.runs[m.PID] = &testRun{to: from}
		}
	case ClientOutput:
		r := cl.runs[m.PID]
		if r == nil || m.Offset > r.received {
			return
		}
		if skip := r.received - m.Offset; skip < uint64(len(m.Data)) {
			r.out.Write(m.Data[skip:])
			r.received += uint64(len(m.Data)) - skip
		}
		h.ack(cl, m.PID, r)
	case ClientEnded:
		r := cl.runs[m.PID]
		if r == nil {
			return
		}
		if r.received == m.Offset && !r.ended {
			r.ended = true
			cl.endedSeen++
		}
		h.ack(cl, m.PID, r)
	}
}

// clientKeepAliveSteps: a client acknowledges each of its running
// processes about every second (100 ticks of 4 steps).
const clientKeepAliveSteps = 400

func (h *clientHarness) keepAlive(cl *testClient) {
	if cl.answered < cl.seq && cl.last != nil {
		cl.outbox = append(cl.outbox, clientEnvelope{to: cl.lastTo, payload: cl.last})
	}
	for _, pid := range slices.Sorted(func(yield func(uint64) bool) {
		for pid := range cl.runs {
			if !yield(pid) {
				return
			}
		}
	}) {
		if r := cl.runs[pid]; !r.ended {
			h.ack(cl, pid, r)
		}
	}
}

func (h *clientHarness) ack(cl *testClient, pid uint64, r *testRun) {
	if cl.hold {
		return
	}
	cl.outbox = append(cl.outbox, clientEnvelope{to: r.to, payload: AppendClientPayload(nil, 99,
		&ClientMsg{Kind: ClientAck, PID: pid, Offset: r.received, Flag: r.ended})})
}

func (h *clientHarness) print(cl *testClient, from netmodel.NodeID, m *ClientMsg) {
	w := &h.out
	switch m.Kind {
	case ClientReply:
		fmt.Fprintf(w, "%s <- %v reply seq=%d %v", cl.name, from, m.Seq, m.Code)
		if m.PID != 0 {
			fmt.Fprintf(w, " pid=%d", m.PID)
		}
		if m.Text != "" {
			fmt.Fprintf(w, " %q", m.Text)
		}
		if m.Errno != 0 {
			fmt.Fprintf(w, " errno=%d", m.Errno)
		}
		if len(m.Data) > 0 {
			fmt.Fprintf(w, " data=%q", m.Data)
		}
		if cl.kinds[m.Seq] == ClientKV && m.Code == CodeOK {
			fmt.Fprintf(w, " found=%v value=%q swapped=%v", m.Flag, m.Value, m.Swapped)
			for i, k := range m.Keys {
				fmt.Fprintf(w, " %s=%q", k, m.Args[i])
			}
		}
		fmt.Fprintln(w)
		for _, p := range m.Procs {
			fmt.Fprintf(w, "  pid=%d home=%v user=%s program=%s threads=%d done=%v %s\n", p.PID, p.Home, p.User, p.Program, p.Threads, p.Done, statusText(p.Status.Err(), p.Status.Code))
		}
		for _, s := range m.Nodes {
			fmt.Fprintf(w, "  %v state=%s inc=%d provide=%s reported=%v joined=%v voter=%v cores=%d addr=%s raft=%s\n",
				s.ID, s.State, s.Incarnation, s.Provide, s.Reported, s.Joined, s.Voter, s.Cores, s.Address, s.Raft.State)
		}
		if len(m.Voters) > 0 {
			fmt.Fprintf(w, "  voters=%v leader known=%v\n", m.Voters, m.Leader != 0)
		}
	case ClientOutput:
		fmt.Fprintf(w, "%s <- %v output pid=%d off=%d %q\n", cl.name, from, m.PID, m.Offset, m.Data)
	case ClientEnded:
		fmt.Fprintf(w, "%s <- %v ended pid=%d total=%d %s\n", cl.name, from, m.PID, m.Offset, statusText(m.Status.Err(), m.Status.Code))
	case ClientAlive:
		if h.verbose {
			fmt.Fprintf(w, "%s <- %v alive pid=%d total=%d\n", cl.name, from, m.PID, m.Offset)
		}
	case ClientUnknown:
		fmt.Fprintf(w, "%s <- %v unknown pid=%d\n", cl.name, from, m.PID)
	default:
		fmt.Fprintf(w, "%s <- %v %v\n", cl.name, from, m.Kind)
	}
}

func statusText(err error, code uint64) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "exit " + strconv.FormatUint(code, 10)
}
