package raftkv

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/flockvm/flock/netmodel"
)

// ClientStats counts what a Client did since NewClient.
type ClientStats struct {
	Operations     uint64 // operations started
	Attempts       uint64 // requests sent, registrations included
	Timeouts       uint64 // attempts that went unanswered
	Refusals       uint64 // attempts refused: not leader, overloaded
	Redirects      uint64 // attempts sent at once to a named leader
	Reads          uint64 // reads served without a log entry (ReadIndex), started
	ReadsFrom      uint64 // attempts sent to ReadFrom
	FencedReads    uint64 // reads sent through the log after an unknown outcome
	Registrations  uint64 // sessions opened
	UnknownRetries uint64 // RetryUnknown calls
	StaleReplies   uint64 // replies to earlier operations or attempts
	Garbage        uint64 // undecodable messages
	ServersLearned uint64 // leaders named by a server, not among Servers, added to them
}

// readFromSuspectTimeouts: a ReadFrom that left a read unanswered is
// skipped for this many request timeouts.
const readFromSuspectTimeouts = 2

type clientOp struct {
	req          request
	done         func(Result)
	sessionless  bool // a read served by ReadIndex: no session, no effect
	target       netmodel.NodeID
	registering  bool   // opening a session before sending req
	nonce        uint64 // the registration's id
	attempts     int    // sends so far, registration included
	elapsed      int    // ticks since the last send
	wait         int    // ticks the last send is given
	refused      bool   // the last send was refused, so not proposed
	maybeApplied bool   // a send of req went unanswered: it may be in the log
	sentReq      bool   // req itself was sent at least once
}

// Client is one session of a user of the store: it sends one operation at
// a time, retries it with the same (session, seq) until a server answers,
// and calls the operation's done function exactly once, from Tick or
// Receive. Drive it from one goroutine.
//
// Writes go through the leader's log. The first write registers a session
// through the log (its id is the registration's log index). The session
// survives ErrUnknownOutcome: a request still in flight can then apply only
// before the session's next operation, never after it. After
// ErrSessionExpired the next operation registers a new session. NewSession
// starts a new one on demand.
//
// Reads (Get, Scan) need no session and take no log entry: any replica
// serves them by ReadIndex, ReadFrom first if set. They are linearizable.
// The one exception keeps the promise above: the read right after an
// operation with an unknown outcome goes through the log in the session,
// so that the earlier request can no longer apply after it.
type Client struct {
	cfg     ClientConfig
	lim     limits
	session uint64
	seq     uint64
	leader  netmodel.NodeID // last server known to lead; 0 if unknown
	next    int             // the server to try when no leader is known
	op      *clientOp
	stats   ClientStats
	ticks   uint64
	readID  uint64 // ids of session-less reads, even (registration nonces are odd)
	// fence: an operation of this session ended with an unknown outcome and
	// no later one went through the log yet.
	fence bool
	// readFromSuspectUntil: ReadFrom is skipped until this tick.
	readFromSuspectUntil uint64
	// unknown is the request of the last operation if it ended with
	// ErrUnknownOutcome and nothing was started since: RetryUnknown sends
	// it again.
	unknown *request
}

// NewClient returns a Client without a session; its first operation opens
// one.
func NewClient(cfg ClientConfig) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg: cfg,
		lim: limits{keySizeMax: cfg.KeySizeMax, valueSizeMax: cfg.ValueSizeMax, scanLimitMax: math.MaxInt32},
	}
	c.next = cfg.Rand.IntN(len(cfg.Servers))
	return c, nil
}

// Get reads key.
func (c *Client) Get(key string, done func(Result)) error {
	return c.start(request{op: OpGet, key: key}, done)
}

// Put sets key to value.
func (c *Client) Put(key, value string, done func(Result)) error {
	return c.start(request{op: OpPut, key: key, value: value}, done)
}

// Delete removes key.
func (c *Client) Delete(key string, done func(Result)) error {
	return c.start(request{op: OpDelete, key: key}, done)
}

// CAS sets key to value if its current state is the expected one: present
// with value expected (expectedFound), or absent (!expectedFound, expected
// empty). Result.Swapped says whether it did.
func (c *Client) CAS(key, expected string, expectedFound bool, value string, done func(Result)) error {
	return c.start(request{op: OpCAS, key: key, expected: expected, expectedFound: expectedFound, value: value}, done)
}

// Scan reads up to limit pairs whose keys start with prefix, in key order.
// Result.More says whether more match (the server may return fewer than
// limit to bound the reply's size).
func (c *Client) Scan(prefix string, limit int, done func(Result)) error {
	if limit < 1 {
		return fmt.Errorf("%w: scan limit %d", ErrInvalid, limit)
	}
	return c.start(request{op: OpScan, key: prefix, limit: uint64(limit)}, done)
}

// Txn applies t atomically: if every compare of t.If holds, the writes of
// t.Then, else those of t.Else. Result.Swapped is true when Then ran. Like
// every write it goes through the leader's log in the session, at most once.
func (c *Client) Txn(t Txn, done func(Result)) error {
	if err := t.validate(c.lim); err != nil {
		return err
	}
	return c.start(request{op: OpTxn, value: encodeTxn(&t)}, done)
}

// Ranges reads several key ranges at one applied index (linearizable, no
// log entry, like Get and Scan). The ranges must be ascending and
// disjoint. Result.Pairs holds the pairs of every range in order
// (SplitRanges tells them apart); Result.More says a range had more pairs
// than its Limit, or the reply reached its byte bound (then the later
// ranges were left out).
func (c *Client) Ranges(ranges []Range, done func(Result)) error {
	if err := validateRanges(ranges, c.lim); err != nil {
		return err
	}
	return c.start(request{op: OpRanges, value: encodeRanges(ranges)}, done)
}

// ChangeMembers changes the group's configuration (members.go): one step
// is a simple change, several enter a joint configuration that the leader
// leaves by itself. Like a write it runs in the session, at most once. If
// ifIndex is not zero the change applies only if the configuration is
// still the one made at that index (Membership.Index), else it ends with
// ErrMembersChanged. A leader still applying an earlier change refuses it
// with ErrConfChangePending; raft's rules refuse it with
// ErrConfChangeRefused. Result.Members is the configuration after it.
func (c *Client) ChangeMembers(changes []MemberChange, ifIndex uint64, done func(Result)) error {
	if err := validateMemberChanges(changes); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return c.start(request{op: OpChangeMembers, value: encodeMemberChanges(memberChanges{ifIndex: ifIndex, changes: changes})}, done)
}

// Members reads the group's configuration (linearizable, no log entry,
// like Get): Result.Members.
func (c *Client) Members(done func(Result)) error {
	return c.start(request{op: OpMembers}, done)
}

// SetServers replaces the replicas the client sends to (after a change of
// the configuration) and the one it reads from first (0: none). The
// operation in flight, if any, goes on with its current attempt.
func (c *Client) SetServers(servers []netmodel.NodeID, readFrom netmodel.NodeID) error {
	cfg := c.cfg
	cfg.Servers, cfg.ReadFrom = slices.Clone(servers), readFrom
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	c.cfg = cfg
	if !slices.Contains(servers, c.leader) {
		c.leader = 0
	}
	c.next %= len(servers)
	return nil
}

// Servers lists the replicas the client sends to.
func (c *Client) Servers() []netmodel.NodeID { return slices.Clone(c.cfg.Servers) }

// RetryUnknown sends again, with the same session and sequence number, the
// request of the last operation, which ended with ErrUnknownOutcome: the
// session table then answers it with its first result if it was applied,
// or it is applied now, so the outcome becomes known (unless the session
// expired meanwhile: then the error wraps both ErrUnknownOutcome and
// ErrSessionExpired). It fails with ErrInvalid if the last operation did
// not end with an unknown outcome, or another operation started since.
func (c *Client) RetryUnknown(done func(Result)) error {
	if c.op != nil {
		return ErrBusy
	}
	if done == nil {
		return fmt.Errorf("%w: nil done function", ErrInvalid)
	}
	if c.unknown == nil {
		return fmt.Errorf("%w: no operation with an unknown outcome to retry", ErrInvalid)
	}
	req := *c.unknown
	c.unknown = nil
	c.stats.Operations++
	c.stats.UnknownRetries++
	c.op = &clientOp{req: req, done: done, maybeApplied: true}
	c.sendAttempt()
	return nil
}

// Busy reports whether an operation is outstanding.
func (c *Client) Busy() bool { return c.op != nil }

// Session is the current session id, 0 before the first registration.
func (c *Client) Session() uint64 { return c.session }

// NewSession drops the current session: the next operation opens a new
// one. It fails with ErrBusy while an operation is outstanding.
func (c *Client) NewSession() error {
	if c.op != nil {
		return ErrBusy
	}
	c.session, c.seq, c.fence, c.unknown = 0, 0, false, nil
	return nil
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats { return c.stats }

func (c *Client) start(req request, done func(Result)) error {
	if c.op != nil {
		return ErrBusy
	}
	if done == nil {
		return fmt.Errorf("%w: nil done function", ErrInvalid)
	}
	req.session = 1 // validated as if a session existed
	if err := validateRequest(&req, c.lim); err != nil {
		return err
	}
	req.session = 0
	c.stats.Operations++
	c.unknown = nil
	c.op = &clientOp{req: req, done: done}
	switch {
	case req.op.isRead() && !c.fence:
		c.stats.Reads++
		c.readID += 2
		c.op.sessionless = true
		c.op.req.seq = c.readID
	case c.session == 0:
		c.op.registering = true
		c.op.nonce = c.cfg.Rand.Uint64() | 1
	default:
		if req.op.isRead() {
			c.stats.FencedReads++
		}
		c.assignSeq()
	}
	c.sendAttempt()
	return nil
}

func (c *Client) assignSeq() {
	c.seq++
	c.op.req.session, c.op.req.seq = c.session, c.seq
}

func (c *Client) sendAttempt() {
	op := c.op
	op.attempts++
	op.elapsed, op.wait, op.refused = 0, c.cfg.RequestTimeoutTicks, false
	r := op.req
	if op.registering {
		r = request{op: OpRegister, seq: op.nonce}
	} else {
		op.sentReq = true
	}
	r.attempt = uint32(op.attempts)
	c.stats.Attempts++
	op.target = c.target()
	c.cfg.Transport.Send(op.target, encodeRequestEnvelope(&r))
}

func (c *Client) target() netmodel.NodeID {
	op := c.op
	if op.sessionless && op.attempts == 1 && c.cfg.ReadFrom != 0 && c.ticks >= c.readFromSuspectUntil {
		c.stats.ReadsFrom++
		return c.cfg.ReadFrom
	}
	if c.leader != 0 {
		return c.leader
	}
	to := c.cfg.Servers[c.next]
	c.next = (c.next + 1) % len(c.cfg.Servers)
	return to
}

// Tick advances the client's clock: an attempt unanswered for
// RequestTimeoutTicks is retried on the next server.
func (c *Client) Tick() {
	c.ticks++
	op := c.op
	if op == nil {
		return
	}
	op.elapsed++
	if op.elapsed < op.wait {
		return
	}
	if !op.refused {
		c.timedOut(op)
	}
	c.retryOrGiveUp()
}

// timedOut suspects the server that left the attempt unanswered.
func (c *Client) timedOut(op *clientOp) {
	c.stats.Timeouts++
	if op.target == c.leader {
		c.leader = 0
	}
	if op.sessionless && op.target == c.cfg.ReadFrom {
		c.readFromSuspectUntil = c.ticks + readFromSuspectTimeouts*uint64(c.cfg.RequestTimeoutTicks)
	}
	if !op.registering && !op.sessionless {
		op.maybeApplied = true // a read without a session has no effect to be unsure of
	}
}

func (c *Client) retryOrGiveUp() {
	op := c.op
	if op.attempts < c.cfg.AttemptsMax {
		c.sendAttempt()
		return
	}
	res := Result{Session: op.req.session, Seq: op.req.seq, Err: ErrUnavailable}
	if op.maybeApplied {
		res.Err = ErrUnknownOutcome
	}
	c.finish(res)
}

// Receive handles a server's reply.
func (c *Client) Receive(from netmodel.NodeID, payload []byte) {
	env, err := decodeEnvelope(payload)
	if err != nil || env.kind != kindReply {
		c.stats.Garbage++
		return
	}
	rep := &env.reply
	op := c.op
	if op == nil || !c.matches(rep) {
		c.stats.StaleReplies++
		return
	}
	switch rep.status {
	case statusNotLeader, statusOverloaded:
		c.refused(from, rep)
	case statusConfPending:
		if op.maybeApplied || rep.attempt != uint32(op.attempts) {
			// An earlier attempt may be in the log: its outcome decides.
			c.refused(from, rep)
			return
		}
		c.finish(resultFromReply(rep))
	case statusOK:
		if op.sessionless {
			res := resultFromReply(rep)
			res.Seq = 0 // the read id is no sequence number of a session
			c.finish(res)
			return
		}
		c.leader = from
		if op.registering {
			c.registered(rep)
			return
		}
		c.fence = false
		c.finish(resultFromReply(rep))
	case statusSessionExpired:
		c.session, c.seq, c.fence = 0, 0, false
		res := resultFromReply(rep)
		if op.maybeApplied {
			res.Err = fmt.Errorf("%w: %w", ErrUnknownOutcome, ErrSessionExpired)
		}
		c.finish(res)
	case statusStale, statusStateFull, statusConfRefused, statusMembersChanged:
		c.fence = false // it reached the session table: earlier requests can no longer apply
		c.finish(resultFromReply(rep))
	default:
		c.finish(resultFromReply(rep))
	}
}

func (c *Client) matches(rep *reply) bool {
	if c.op.registering {
		return rep.session == 0 && rep.seq == c.op.nonce
	}
	return rep.session == c.op.req.session && rep.seq == c.op.req.seq
}

// refused handles a server's refusal of the current attempt: go straight
// to a leader it names, else retry after a short back-off.
func (c *Client) refused(from netmodel.NodeID, rep *reply) {
	op := c.op
	if rep.attempt != uint32(op.attempts) {
		c.stats.StaleReplies++ // refusal of an earlier attempt: the current one may be in the log
		return
	}
	c.stats.Refusals++
	op.refused = true
	if from == c.leader {
		c.leader = 0
	}
	if rep.status == statusNotLeader && rep.leader != 0 && rep.leader != from {
		c.learnServer(rep.leader)
		if slices.Contains(c.cfg.Servers, rep.leader) {
			c.leader = rep.leader
		}
	}
	// Go at once to the leader, if another server is known to lead and
	// this one refused as a follower (or, for a read, was merely busy).
	elsewhere := c.leader != 0 && c.leader != from && (rep.status == statusNotLeader || op.sessionless)
	if elsewhere && op.attempts < c.cfg.AttemptsMax {
		c.stats.Redirects++
		c.sendAttempt()
		return
	}
	op.wait = min(op.wait, op.elapsed+max(1, c.cfg.RequestTimeoutTicks/2))
}

// learnServer adds a leader a server named that the client was not told
// of: one elected in a configuration changed since its Servers were set
// (a client whose every server was replaced could otherwise never reach
// the group). Bounded by MembersMax; SetServers replaces the list.
func (c *Client) learnServer(id netmodel.NodeID) {
	if slices.Contains(c.cfg.Servers, id) || len(c.cfg.Servers) >= MembersMax {
		return
	}
	c.cfg.Servers = append(slices.Clone(c.cfg.Servers), id)
	c.stats.ServersLearned++
}

func (c *Client) registered(rep *reply) {
	c.stats.Registrations++
	c.session, c.seq = rep.index, 0
	c.op.registering = false
	c.assignSeq()
	c.retryOrGiveUp()
}

func (c *Client) finish(res Result) {
	op := c.op
	c.op = nil
	if errors.Is(res.Err, ErrUnknownOutcome) && !errors.Is(res.Err, ErrSessionExpired) {
		c.fence = true
		req := op.req
		c.unknown = &req
	}
	op.done(res)
}

var _ netmodel.Receiver = (*Client)(nil)
