package raftkv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// clientBase numbers clients apart from servers: client c is node 100+c.
const clientBase = 100

type message struct {
	from, to netmodel.NodeID
	payload  []byte
}

type link struct{ from, to netmodel.NodeID }

// heldKind names raft messages of one type on one link.
type heldKind struct {
	link
	typ pb.MessageType
}

// harness is a deterministic in-test world: servers on simulated disks,
// clients, and a network that holds every message until the test delivers,
// drops, duplicates or reorders it. It checks as it goes that replicas
// agree on every applied index.
type harness struct {
	t       fataler
	seed    uint64
	ids     []netmodel.NodeID // every server, spares included
	peers   []netmodel.NodeID // the bootstrap voters; the others are spares: new members when added
	base    Config            // template: per-node fields are filled in
	disks   map[netmodel.NodeID]*simdisk.Disk
	servers map[netmodel.NodeID]*Server // nil while down
	clients map[netmodel.NodeID]*Client
	queue   []message
	cut     map[link]bool
	held    map[heldKind]bool // messages kept queued until released
	faults  simdisk.Faults

	canon   map[uint64]ApplyEvent // the agreed log, index by index
	applied map[netmodel.NodeID]int
	ops     []*opRecord
	step    int              // a logical clock for real-time order
	out     *strings.Builder // interaction output, nil when quiet
	verbose bool             // print every delivered message
	lim     limits
	opens   int
	syncRng *rand.Rand // draws what happens during syncs; nil: nothing
	// asyncRng draws when the syncs run elsewhere (Config.SyncAsync) finish;
	// syncs are those under way, in the order they started.
	asyncRng *rand.Rand
	syncs    []pendingSync
}

// opRecord is one client operation as the harness saw it.
type opRecord struct {
	client        netmodel.NodeID
	op            Op
	key, value    string
	expected      string
	expectedFound bool
	limit         int
	changes       []MemberChange // OpChangeMembers
	ifIndex       uint64         // OpChangeMembers
	start, end    int
	done          bool
	res           Result
}

func (o *opRecord) String() string {
	switch o.op {
	case OpPut:
		return fmt.Sprintf("put %s=%s", o.key, o.value)
	case OpCAS:
		exp := "<absent>"
		if o.expectedFound {
			exp = o.expected
		}
		return fmt.Sprintf("cas %s %s->%s", o.key, exp, o.value)
	case OpScan:
		return fmt.Sprintf("scan %q limit=%d", o.key, o.limit)
	case OpChangeMembers:
		return fmt.Sprintf("change %v if=%d", o.changes, o.ifIndex)
	case OpMembers:
		return "members"
	}
	return fmt.Sprintf("%v %s", o.op, o.key)
}

type harnessOptions struct {
	n               int
	spares          int // servers beyond the n bootstrap voters, opened as new members
	seed            uint64
	bugs            Bugs
	snapshotEntries uint64
	sessionsMax     int
	faults          simdisk.Faults
	segmentBytes    int64
	buggify         bool // sites fire one time in eight
	// interleaveSync: while a server syncs its WAL (Config.SyncUnlocked),
	// it receives, steps or ticks now and then, as when the driver's
	// other goroutines call it with the lock released.
	interleaveSync bool
	// asyncSync: the WAL's fsyncs run elsewhere (Config.SyncAsync) and
	// finish at later steps of the harness, in a drawn order, the server
	// taking inputs meanwhile; a crash loses the ones not finished.
	asyncSync bool
}

// pendingSync is a Config.SyncAsync call not finished yet.
type pendingSync struct {
	id    netmodel.NodeID
	fsync func() error
	done  func(error)
}

func newHarness(t fataler, o harnessOptions) *harness {
	if o.n == 0 {
		o.n = 3
	}
	if o.segmentBytes == 0 {
		o.segmentBytes = 4096
	}
	h := &harness{
		t: t, seed: o.seed, faults: o.faults,
		disks:   make(map[netmodel.NodeID]*simdisk.Disk),
		servers: make(map[netmodel.NodeID]*Server),
		clients: make(map[netmodel.NodeID]*Client),
		cut:     make(map[link]bool),
		held:    make(map[heldKind]bool),
		canon:   make(map[uint64]ApplyEvent),
		applied: make(map[netmodel.NodeID]int),
	}
	for i := 1; i <= o.n+o.spares; i++ {
		h.ids = append(h.ids, netmodel.NodeID(i))
	}
	h.peers = h.ids[:o.n]
	h.base = Config{
		Peers: h.peers, Dir: "raftkv",
		ElectionTicks: 10, HeartbeatTicks: 2,
		SnapshotEntries: o.snapshotEntries, SessionsMax: o.sessionsMax,
		Bugs: o.bugs, WALSegmentSizeBytes: o.segmentBytes,
		// The harness's disks have no clock: Sync returns once durable,
		// as osdisk's does, so a leader may send before its own sync.
		SendBeforeSync: true,
	}
	if o.interleaveSync {
		h.syncRng = rand.New(rand.NewPCG(o.seed, 0x5ca1ab1e))
	}
	if o.asyncSync {
		h.asyncRng = rand.New(rand.NewPCG(o.seed, 0xa5c))
	}
	if o.buggify {
		rng := rand.New(rand.NewPCG(o.seed, 0xb0661f7))
		h.base.Buggify = func(string) bool { return rng.IntN(8) == 0 }
	}
	for _, id := range h.ids {
		h.disks[id] = simdisk.New(rand.New(rand.NewPCG(o.seed, uint64(id)<<32)), o.faults)
		h.open(id)
	}
	h.lim = h.servers[h.ids[0]].lim
	return h
}

func (h *harness) logf(format string, args ...any) {
	if h.out != nil {
		fmt.Fprintf(h.out, format+"\n", args...)
	}
}

type harnessTransport struct {
	h    *harness
	from netmodel.NodeID
}

func (tr harnessTransport) Send(to netmodel.NodeID, payload []byte) {
	tr.h.queue = append(tr.h.queue, message{from: tr.from, to: to, payload: payload})
}

func (h *harness) open(id netmodel.NodeID) {
	h.t.Helper()
	cfg := h.base
	cfg.ID, cfg.Disk = id, h.disks[id]
	if !slices.Contains(h.peers, id) {
		cfg.Peers = nil
	}
	cfg.Transport = harnessTransport{h: h, from: id}
	h.opens++
	cfg.Rand = rand.New(rand.NewPCG(h.seed, uint64(id)<<16|uint64(h.opens)))
	cfg.OnApply = h.observe
	if h.asyncRng != nil {
		cfg.SyncAsync = func(fsync func() error, done func(error)) {
			h.syncs = append(h.syncs, pendingSync{id: id, fsync: fsync, done: done})
		}
	}
	if h.syncRng != nil {
		cfg.SyncUnlocked = func(fsync func() error) error {
			h.duringSync(id)
			err := fsync()
			h.duringSync(id)
			return err
		}
	}
	s, err := Open(cfg)
	if err != nil {
		h.t.Fatalf("Open(%v) error = %v", id, err)
	}
	h.servers[id] = s
}

func (h *harness) client(c int) *Client {
	id := netmodel.NodeID(clientBase + c)
	if cl := h.clients[id]; cl != nil {
		return cl
	}
	cl, err := NewClient(ClientConfig{
		Self: id, Servers: h.ids, Transport: harnessTransport{h: h, from: id},
		Rand: rand.New(rand.NewPCG(h.seed, uint64(id))), RequestTimeoutTicks: 20, AttemptsMax: 20,
	})
	if err != nil {
		h.t.Fatalf("NewClient(%v) error = %v", id, err)
	}
	h.clients[id] = cl
	return cl
}

// setReadFrom makes client c send its reads to server id first (0: none).
func (h *harness) setReadFrom(c int, id netmodel.NodeID) {
	h.t.Helper()
	if id != 0 && !slices.Contains(h.ids, id) {
		h.t.Fatalf("setReadFrom(%d, %v): not a server", c, id)
	}
	h.client(c).cfg.ReadFrom = id
}

func (h *harness) clientIDs() []netmodel.NodeID {
	ids := make([]netmodel.NodeID, 0, len(h.clients))
	for id := range h.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// observe checks each applied entry against what other replicas applied
// at that index.
func (h *harness) observe(ev ApplyEvent) {
	h.t.Helper()
	if ev.Kind == ApplySnapshot {
		return
	}
	h.applied[ev.Node]++
	prev, ok := h.canon[ev.Index]
	if !ok {
		h.canon[ev.Index] = ev
		return
	}
	if !sameApply(prev, ev) {
		h.t.Fatalf("replicas disagree at index %d:\n%v applied %s\n%v applied %s",
			ev.Index, prev.Node, describeApply(prev), ev.Node, describeApply(ev))
	}
}

func sameApply(a, b ApplyEvent) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Digest == b.Digest && a.Kind == b.Kind &&
		a.Op == b.Op && a.Session == b.Session && a.Seq == b.Seq && a.Client == b.Client &&
		a.Key == b.Key && a.Value == b.Value && a.Expected == b.Expected &&
		a.ExpectedFound == b.ExpectedFound && a.Limit == b.Limit && sameResult(a.Result, b.Result)
}

func sameResult(a, b Result) bool {
	return a.Err == b.Err && a.Found == b.Found && a.Value == b.Value && a.Swapped == b.Swapped &&
		slices.Equal(a.Pairs, b.Pairs) && a.More == b.More && a.Index == b.Index &&
		a.Session == b.Session && a.Seq == b.Seq && sameMembership(a.Members, b.Members)
}

func sameMembership(a, b Membership) bool {
	return slices.Equal(a.Voters, b.Voters) && slices.Equal(a.Learners, b.Learners) &&
		slices.Equal(a.VotersOutgoing, b.VotersOutgoing) && slices.Equal(a.LearnersNext, b.LearnersNext) &&
		a.AutoLeave == b.AutoLeave && a.Index == b.Index
}

func describeApply(ev ApplyEvent) string {
	if ev.LeaveJoint {
		return fmt.Sprintf("term %d digest %x %v leave-joint -> %v", ev.Term, ev.Digest, ev.Kind, ev.Result.Members)
	}
	if ev.Op == 0 {
		return fmt.Sprintf("term %d digest %x %v", ev.Term, ev.Digest, ev.Kind)
	}
	if ev.Op == OpChangeMembers {
		mc, _ := decodeMemberChanges(ev.Value)
		return fmt.Sprintf("term %d digest %x %v %v s%d#%d %v if=%d -> %s",
			ev.Term, ev.Digest, ev.Kind, ev.Op, ev.Session, ev.Seq, mc.changes, mc.ifIndex, describeResult(ev.Op, ev.Result))
	}
	return fmt.Sprintf("term %d digest %x %v %v s%d#%d key %q value %q -> %s",
		ev.Term, ev.Digest, ev.Kind, ev.Op, ev.Session, ev.Seq, ev.Key, ev.Value, describeResult(ev.Op, ev.Result))
}

// describeResult renders a result the way interaction tests print it.
func describeResult(op Op, r Result) string {
	if r.Err != nil {
		if op == OpChangeMembers && !errors.Is(r.Err, ErrUnknownOutcome) && !errors.Is(r.Err, ErrUnavailable) && !errors.Is(r.Err, ErrConfChangePending) {
			return fmt.Sprintf("error: %v (%v)", r.Err, r.Members)
		}
		return "error: " + r.Err.Error()
	}
	var b strings.Builder
	b.WriteString("ok")
	switch op {
	case OpGet:
		if r.Found {
			fmt.Fprintf(&b, " value=%s", r.Value)
		} else {
			b.WriteString(" not-found")
		}
	case OpDelete, OpPut:
		fmt.Fprintf(&b, " existed=%v", r.Found)
	case OpCAS:
		fmt.Fprintf(&b, " swapped=%v", r.Swapped)
	case OpScan:
		for _, p := range r.Pairs {
			fmt.Fprintf(&b, " %s=%s", p.Key, p.Value)
		}
		if r.More {
			b.WriteString(" more")
		}
	case OpChangeMembers, OpMembers:
		fmt.Fprintf(&b, " %v", r.Members)
	}
	fmt.Fprintf(&b, " (index %d, session %d seq %d)", r.Index, r.Session, r.Seq)
	return b.String()
}

// startOp starts an operation on client c; false if the client is busy.
func (h *harness) startOp(c int, o *opRecord) bool {
	return h.startOpThen(c, o, func(Result) {})
}

// startOpThen is startOp with a function told the result.
func (h *harness) startOpThen(c int, o *opRecord, then func(Result)) bool {
	h.t.Helper()
	cl := h.client(c)
	if cl.Busy() {
		return false
	}
	o.client, o.start = netmodel.NodeID(clientBase+c), h.step
	done := func(r Result) {
		o.done, o.res, o.end = true, r, h.step
		h.logf("%v: %s -> %s", o.client, o, describeResult(o.op, r))
		then(r)
	}
	var err error
	switch o.op {
	case OpGet:
		err = cl.Get(o.key, done)
	case OpPut:
		err = cl.Put(o.key, o.value, done)
	case OpDelete:
		err = cl.Delete(o.key, done)
	case OpCAS:
		err = cl.CAS(o.key, o.expected, o.expectedFound, o.value, done)
	case OpScan:
		err = cl.Scan(o.key, o.limit, done)
	case OpChangeMembers:
		err = cl.ChangeMembers(o.changes, o.ifIndex, done)
	case OpMembers:
		err = cl.Members(done)
	}
	if err != nil {
		h.t.Fatalf("%v: %s: error = %v", o.client, o, err)
	}
	h.ops = append(h.ops, o)
	return true
}

// tick ticks every live server and every client once.
func (h *harness) tick() {
	h.step++
	h.finishSyncs()
	for _, id := range h.ids {
		if s := h.servers[id]; s != nil {
			s.Tick()
		}
	}
	for _, id := range h.clientIDs() {
		h.clients[id].Tick()
	}
}

// deliverAt delivers (or loses, if its link is cut or its target is down)
// the i-th queued message.
func (h *harness) deliverAt(i int) { h.deliverMode(i, false) }

// stepAt delivers the i-th queued message as deliverAt does, but a server
// only steps it: its Ready waits for flush, its next tick or a Receive, as
// when the host drives it a burst at a time (group commit).
func (h *harness) stepAt(i int) { h.deliverMode(i, true) }

// flush handles the Ready of every server that stepped messages.
func (h *harness) flush() {
	h.step++
	h.finishSyncs()
	for _, id := range h.ids {
		if s := h.servers[id]; s != nil {
			s.Flush()
		}
	}
}

func (h *harness) deliverMode(i int, stepOnly bool) {
	h.step++
	m := h.queue[i]
	h.queue = slices.Delete(h.queue, i, i+1)
	defer h.finishSyncs()
	if h.cut[link{m.from, m.to}] {
		h.logf("dropped %s", describeMessage(m))
		return
	}
	s, isServer := h.servers[m.to]
	if h.out != nil && h.verbose {
		if isServer && s == nil {
			h.logf("%s (lost: %v is down)", describeMessage(m), m.to)
		} else {
			h.logf("%s", describeMessage(m))
		}
	}
	if isServer {
		switch {
		case s != nil && stepOnly:
			s.Step(m.from, m.payload)
		case s != nil:
			s.Receive(m.from, m.payload)
		}
		return
	}
	if c := h.clients[m.to]; c != nil {
		c.Receive(m.from, m.payload)
	}
}

// deliverAll delivers every queued message not held, and the messages
// they cause, until the network is quiet (bounded).
func (h *harness) deliverAll() {
	for i := 0; ; i++ {
		if i > 100000 {
			h.t.Fatalf("network never quiet: %d messages queued", len(h.queue))
		}
		next := h.nextDeliverable()
		if next < 0 {
			return
		}
		h.deliverAt(next)
	}
}

// nextDeliverable is the index of the first queued message not held, -1
// if there is none.
func (h *harness) nextDeliverable() int {
	if len(h.held) == 0 {
		return min(0, len(h.queue)-1)
	}
	for i, m := range h.queue {
		if !h.isHeld(m) {
			return i
		}
	}
	return -1
}

func (h *harness) isHeld(m message) bool {
	env, err := decodeEnvelope(m.payload)
	if err != nil || env.kind != kindRaft {
		return false
	}
	msg := &pb.Message{}
	if proto.Unmarshal(env.raft, msg) != nil {
		return false
	}
	return h.held[heldKind{link{m.from, m.to}, msg.GetType()}]
}

// duringSync is what other goroutines may do to server id while it syncs
// with the driver's lock released: deliver it a few messages (Receive or
// Step), or tick it.
func (h *harness) duringSync(id netmodel.NodeID) {
	s := h.servers[id]
	if s == nil {
		return
	}
	switch h.syncRng.IntN(4) {
	case 0:
	case 1:
		s.Tick()
	default:
		stepOnly := h.syncRng.IntN(2) == 0
		for n := 1 + h.syncRng.IntN(3); n > 0; n-- {
			i := slices.IndexFunc(h.queue, func(m message) bool { return m.to == id && !h.isHeld(m) })
			if i < 0 {
				return
			}
			h.deliverMode(i, stepOnly)
		}
	}
}

func (h *harness) crash(id netmodel.NodeID) {
	h.t.Helper()
	if s := h.servers[id]; s != nil {
		s.Close()
	}
	h.servers[id] = nil
	h.disks[id].Crash()
	// A sync not finished is lost with the crash: its server is gone.
	h.syncs = slices.DeleteFunc(h.syncs, func(p pendingSync) bool { return p.id == id })
}

// finishSyncs finishes each sync run elsewhere with probability 1/3, in the
// order drawn (the server's own done, if the server is still the one that
// started it). A server has at most one under way.
func (h *harness) finishSyncs() {
	if h.asyncRng == nil || len(h.syncs) == 0 {
		return
	}
	h.asyncRng.Shuffle(len(h.syncs), func(i, j int) { h.syncs[i], h.syncs[j] = h.syncs[j], h.syncs[i] })
	var now, later []pendingSync
	for _, p := range h.syncs {
		if h.asyncRng.IntN(3) == 0 {
			now = append(now, p)
		} else {
			later = append(later, p)
		}
	}
	h.syncs = later // a done may start the server's next sync
	for _, p := range now {
		p.done(p.fsync())
	}
}

func (h *harness) restart(id netmodel.NodeID) {
	h.t.Helper()
	if h.servers[id] == nil {
		h.open(id)
	}
}

func (h *harness) isolate(id netmodel.NodeID, cut bool) {
	for _, other := range append(slices.Clone(h.ids), h.clientIDs()...) {
		if other != id {
			h.setCut(id, other, cut)
			h.setCut(other, id, cut)
		}
	}
}

func (h *harness) setCut(from, to netmodel.NodeID, cut bool) {
	if cut {
		h.cut[link{from, to}] = true
	} else {
		delete(h.cut, link{from, to})
	}
}

// leader is the server that leads in the highest term (a removed or cut
// off one may still think it leads an older one).
func (h *harness) leader() netmodel.NodeID {
	leader, term := netmodel.NodeID(0), uint64(0)
	for _, id := range h.ids {
		if s := h.servers[id]; s != nil && s.Status().State == StateLeader && s.Status().Term > term {
			leader, term = id, s.Status().Term
		}
	}
	return leader
}

// members are the servers of the leader's configuration; every server
// when there is no leader.
func (h *harness) members() []netmodel.NodeID {
	if l := h.leader(); l != 0 {
		return h.servers[l].Status().Members.Members()
	}
	return h.ids
}

func (h *harness) statusLine(id netmodel.NodeID) string {
	s := h.servers[id]
	if s == nil {
		return fmt.Sprintf("%v: down", id)
	}
	st := s.Status()
	return fmt.Sprintf("%v: %v term=%d leader=%v commit=%d applied=%d last=%d snap=%d",
		id, st.State, st.Term, st.Leader, st.Commit, st.Applied, st.LastIndex, st.SnapshotIndex)
}

// describeMessage renders a message without protobuf's String (its
// spacing changes between builds).
func describeMessage(m message) string {
	env, err := decodeEnvelope(m.payload)
	if err != nil {
		return fmt.Sprintf("%v->%v garbage (%v)", m.from, m.to, err)
	}
	switch env.kind {
	case kindRaft:
		msg := &pb.Message{}
		if err := proto.Unmarshal(env.raft, msg); err != nil {
			return fmt.Sprintf("%v->%v raft garbage", m.from, m.to)
		}
		s := fmt.Sprintf("%v->%v %v term=%d", m.from, m.to, msg.GetType(), msg.GetTerm())
		switch msg.GetType() {
		case pb.MsgApp:
			s += fmt.Sprintf(" index=%d logterm=%d commit=%d entries=%d", msg.GetIndex(), msg.GetLogTerm(), msg.GetCommit(), len(msg.GetEntries()))
		case pb.MsgAppResp:
			s += fmt.Sprintf(" index=%d reject=%v", msg.GetIndex(), msg.GetReject())
		case pb.MsgVoteResp, pb.MsgPreVoteResp:
			s += fmt.Sprintf(" reject=%v", msg.GetReject())
		case pb.MsgSnap:
			s += fmt.Sprintf(" snapshot=%d", msg.GetSnapshot().GetMetadata().GetIndex())
		case pb.MsgHeartbeat:
			s += fmt.Sprintf(" commit=%d", msg.GetCommit())
		case pb.MsgReadIndexResp:
			s += fmt.Sprintf(" index=%d", msg.GetIndex())
		}
		if t := msg.GetType(); t == pb.MsgReadIndex || t == pb.MsgReadIndexResp {
			if _, newest, ok := decodeReadCtx(msg.GetEntries()[0].GetData()); ok {
				s += fmt.Sprintf(" reads<=%d", newest)
			}
		}
		if ctx := msg.GetContext(); len(ctx) == heartbeatCtxBytes {
			s += fmt.Sprintf(" readpos=%d", binary.LittleEndian.Uint64(ctx))
		}
		return s
	case kindRequest:
		r := env.request
		if r.session == 0 && r.op.isRead() {
			return fmt.Sprintf("%v->%v request %v %q read#%d attempt %d", m.from, m.to, r.op, r.key, r.seq, r.attempt)
		}
		return fmt.Sprintf("%v->%v request %v %q s%d#%d attempt %d", m.from, m.to, r.op, r.key, r.session, r.seq, r.attempt)
	default:
		r := env.reply
		if r.session == 0 && r.seq%2 == 0 {
			return fmt.Sprintf("%v->%v reply %v read#%d index %d leader %d", m.from, m.to, r.status, r.seq, r.index, r.leader)
		}
		return fmt.Sprintf("%v->%v reply %v s%d#%d leader %d", m.from, m.to, r.status, r.session, r.seq, r.leader)
	}
}
