package raftkv

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
)

// The client's retry rules, scripted one reply at a time against a
// transport that only records what the client sends (no servers): the
// paths a cluster run rarely takes (every attempt lost, a leader hint
// outside the configuration, redirects that never end, a refusal after an
// attempt that may have applied).

// sent is one request the client sent.
type sent struct {
	to  netmodel.NodeID
	req request
}

type recordingTransport struct {
	t    *testing.T
	sent []sent
}

func (r *recordingTransport) Send(to netmodel.NodeID, payload []byte) {
	env, err := decodeEnvelope(payload)
	if err != nil || env.kind != kindRequest {
		r.t.Fatalf("the client sent %x to %v: %v", payload, to, err)
	}
	r.sent = append(r.sent, sent{to: to, req: env.request})
}

func (r *recordingTransport) last() sent {
	r.t.Helper()
	if len(r.sent) == 0 {
		r.t.Fatal("the client sent nothing")
	}
	return r.sent[len(r.sent)-1]
}

var scriptServers = []netmodel.NodeID{1, 2, 3}

func scriptedClient(t *testing.T, attemptsMax int) (*Client, *recordingTransport) {
	tr := &recordingTransport{t: t}
	c, err := NewClient(ClientConfig{Self: 100, Servers: scriptServers, Transport: tr, Rand: rand.New(rand.NewPCG(1, 2)),
		RequestTimeoutTicks: 4, AttemptsMax: attemptsMax})
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// answerLast answers the client's last request from its target.
func answerLast(c *Client, tr *recordingTransport, rep reply) {
	s := tr.last()
	rep.attempt = s.req.attempt
	if s.req.op == OpRegister {
		rep.seq = s.req.seq
	} else {
		rep.session, rep.seq = s.req.session, s.req.seq
	}
	c.Receive(s.to, encodeReplyEnvelope(&rep))
}

func tickUntilSent(c *Client, tr *recordingTransport, n int) {
	for range 100 {
		if len(tr.sent) >= n {
			return
		}
		c.Tick()
	}
}

func register(t *testing.T, c *Client, tr *recordingTransport, session uint64) {
	t.Helper()
	if got := tr.last().req.op; got != OpRegister {
		t.Fatalf("first request = %v, want a registration", got)
	}
	answerLast(c, tr, reply{status: statusOK, index: session})
}

// Every attempt of a registration lost: nothing can have applied, so the
// operation fails as unavailable, not as of unknown outcome.
func TestClientLostRegistrationIsUnavailable(t *testing.T) {
	c, tr := scriptedClient(t, 3)
	var res *Result
	if err := c.Put("k", "v", func(r Result) { res = &r }); err != nil {
		t.Fatal(err)
	}
	tickUntilSent(c, tr, 4)
	for range 10 {
		c.Tick()
	}
	if res == nil || !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("Put after %d lost registrations = %+v, want ErrUnavailable", len(tr.sent), res)
	}
	if len(tr.sent) != 3 {
		t.Errorf("the client sent %d requests, want AttemptsMax = 3", len(tr.sent))
	}
}

// A write whose attempts time out may have applied: unknown outcome. A
// session-less read that times out had no effect: unavailable.
func TestClientTimedOutWriteIsUnknownReadIsNot(t *testing.T) {
	c, tr := scriptedClient(t, 2)
	var res *Result
	c.Put("k", "v", func(r Result) { res = &r })
	register(t, c, tr, 7)
	for range 20 {
		c.Tick()
	}
	if res == nil || !errors.Is(res.Err, ErrUnknownOutcome) {
		t.Fatalf("Put whose attempts timed out = %+v, want ErrUnknownOutcome", res)
	}
	res = nil
	c, _ = scriptedClient(t, 2) // (after an unknown write a read is fenced: it goes through the log)
	c.Get("k", func(r Result) { res = &r })
	for range 20 {
		c.Tick()
	}
	if res == nil || !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("Get whose attempts timed out = %+v, want ErrUnavailable", res)
	}
}

// A refusal naming a leader outside the client's servers is followed, and
// the leader learned (a configuration changed since the servers were set:
// a client whose every server was replaced must still reach the group);
// a refusal naming no leader, or the refusing server itself, is not.
func TestClientLearnsLeaderHint(t *testing.T) {
	c, tr := scriptedClient(t, 5)
	c.Put("k", "v", func(Result) {})
	first := tr.last().to
	answerLast(c, tr, reply{status: statusNotLeader, leader: first})
	answerLast(c, tr, reply{status: statusNotLeader})
	if len(tr.sent) != 1 {
		t.Fatalf("after refusals naming no other leader the client sent %d requests at once, want none (it waits)", len(tr.sent)-1)
	}
	tickUntilSent(c, tr, 2)
	answerLast(c, tr, reply{status: statusNotLeader, leader: 99})
	if got := tr.last().to; len(tr.sent) != 3 || got != 99 {
		t.Fatalf("after a hint naming n99 the client sent to %v (%d requests), want n99 at once", got, len(tr.sent))
	}
	if st := c.Stats(); st.ServersLearned != 1 || st.Redirects != 1 || !slices.Contains(c.Servers(), 99) {
		t.Errorf("Stats = %+v, Servers = %v; want n99 learned once, one redirect", st, c.Servers())
	}
}

// Servers that keep naming each other as leader: the client follows each
// hint at once (a redirect) but no more than AttemptsMax sends in all.
func TestClientRedirectsBounded(t *testing.T) {
	c, tr := scriptedClient(t, 4)
	var res *Result
	c.Put("k", "v", func(r Result) { res = &r })
	for i := 0; res == nil && i < 10; i++ {
		other := scriptServers[0]
		if tr.last().to == other {
			other = scriptServers[1]
		}
		answerLast(c, tr, reply{status: statusNotLeader, leader: other})
		for j := 0; res == nil && j < 10 && len(tr.sent) == i+1; j++ {
			c.Tick()
		}
	}
	if res == nil || !errors.Is(res.Err, ErrUnavailable) {
		t.Fatalf("Put refused by servers naming each other = %+v, want ErrUnavailable", res)
	}
	if st := c.Stats(); len(tr.sent) != 4 || st.Redirects != 3 {
		t.Errorf("sent %d requests with %d redirects, want 4 and 3", len(tr.sent), st.Redirects)
	}
}

// A configuration change whose first attempt timed out (it may be in the
// log) and whose retry is refused as pending is not finished with that
// refusal: the first attempt's outcome decides, so the client keeps trying.
func TestClientConfPendingAfterMaybeApplied(t *testing.T) {
	c, tr := scriptedClient(t, 5)
	var res *Result
	c.Put("k", "v", func(r Result) { res = &r })
	register(t, c, tr, 7)
	answerLast(c, tr, reply{status: statusOK})
	if res == nil || res.Err != nil {
		t.Fatalf("Put = %+v, want ok", res)
	}
	res = nil
	if err := c.ChangeMembers([]MemberChange{{Kind: MemberAddLearner, ID: 4}}, 0, func(r Result) { res = &r }); err != nil {
		t.Fatal(err)
	}
	n := len(tr.sent)
	tickUntilSent(c, tr, n+1) // the first attempt times out: it may be in the log
	answerLast(c, tr, reply{status: statusConfPending})
	if res != nil {
		t.Fatalf("ChangeMembers after a timed-out attempt finished with %+v on a pending refusal, want it to keep trying", res)
	}
	tickUntilSent(c, tr, n+2)
	if len(tr.sent) != n+2 {
		t.Errorf("after the pending refusal the client sent %d more requests, want a retry", len(tr.sent)-n)
	}
}

// RetryUnknown resends the request of an operation of unknown outcome
// under its session and sequence number, once; with nothing unknown it is
// refused.
func TestClientRetryUnknown(t *testing.T) {
	c, tr := scriptedClient(t, 2)
	if err := c.RetryUnknown(func(Result) {}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("RetryUnknown with nothing unknown = %v, want ErrInvalid", err)
	}
	var res *Result
	c.Put("k", "v", func(r Result) { res = &r })
	register(t, c, tr, 7)
	first := tr.last().req
	for range 20 {
		c.Tick()
	}
	if res == nil || !errors.Is(res.Err, ErrUnknownOutcome) {
		t.Fatalf("Put whose attempts timed out = %+v, want ErrUnknownOutcome", res)
	}
	res = nil
	if err := c.RetryUnknown(func(r Result) { res = &r }); err != nil {
		t.Fatal(err)
	}
	again := tr.last().req
	if again.session != first.session || again.seq != first.seq || again.op != OpPut {
		t.Fatalf("RetryUnknown sent %v s%d#%d, want the put s%d#%d again", again.op, again.session, again.seq, first.session, first.seq)
	}
	answerLast(c, tr, reply{status: statusOK})
	if res == nil || res.Err != nil {
		t.Fatalf("RetryUnknown answered = %+v, want ok", res)
	}
	if err := c.RetryUnknown(func(Result) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a second RetryUnknown = %v, want ErrInvalid", err)
	}
}
