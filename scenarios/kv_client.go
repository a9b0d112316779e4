package scenarios

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/raftkv"
)

// kvClient is one user of the store: a sequential stream of random
// operations during the safety phase, then a final round of reads of every
// key and a write, which must all get definite answers (the liveness check).
type kvClient struct {
	run     *kvRun
	index   int
	servers []sim.NodeID
	rng     *rand.Rand // the workload's choices, apart from the machine's stream
	// readFrom is the replica this client reads from first, as if they
	// shared a machine; drawn once from rng.
	readFrom sim.NodeID
	m        *sim.Machine
	c        *raftkv.Client
	seq      int               // operations issued, for unique values
	seen     map[string]string // last value read or written per key, for CAS
	final    []kvOp            // the liveness round, once started
	inFinal  bool
	done     bool
	// failure is set when a final-round operation had no definite answer.
	failure string
}

// kvOp is one operation the workload issues: one logical operation,
// whatever requests carry it.
type kvOp struct {
	in checker.KVInput
	// retries counts final-round reissues after a definite refusal.
	retries int
}

// kvFinalRetriesMax bounds how often a final-round operation refused with a
// definite error that says it had no effect (its session was evicted, the
// store was unavailable), or a read that failed in any way, is issued
// again. An application retries those; more refusals than this is a
// liveness failure.
const kvFinalRetriesMax = 3

func (c *kvClient) boot(m *sim.Machine) netmodel.Receiver {
	c.m = m
	if c.readFrom == 0 {
		c.readFrom = c.servers[c.rng.IntN(len(c.servers))]
	}
	client, err := raftkv.NewClient(raftkv.ClientConfig{
		Self:                m.ID(),
		Servers:             c.servers,
		ReadFrom:            c.readFrom,
		Transport:           m,
		Rand:                m.Rand(),
		RequestTimeoutTicks: kvRequestTimeout,
		AttemptsMax:         kvClientAttempts,
		KeySizeMax:          c.run.shape.limits.keySizeMax,
		ValueSizeMax:        c.run.shape.limits.valueSizeMax,
	})
	if err != nil {
		panic(fmt.Sprintf("scenarios: kv client %d: %v", c.index, err))
	}
	c.c = client
	c.seen = map[string]string{}
	m.After(kvTick, "kv.client.tick", c.tick)
	m.After(c.think(), "kv.client.next", c.next)
	return netmodel.ReceiverFunc(client.Receive)
}

func (c *kvClient) tick() {
	c.c.Tick()
	c.m.After(kvTick, "kv.client.tick", c.tick)
}

func (c *kvClient) think() time.Duration {
	return time.Duration(c.rng.Int64N(int64(c.run.shape.thinkMax) + 1))
}

func (c *kvClient) key(i int) string { return fmt.Sprintf("k%d", i) }

// next issues the next operation: a random one in the safety phase, the
// next of the final round after Heal.
func (c *kvClient) next() {
	if c.c.Busy() || c.done {
		return
	}
	if c.inFinal {
		if len(c.final) == 0 {
			c.done = true
			return
		}
		op := c.final[0]
		c.final = c.final[1:]
		c.issue(op)
		return
	}
	if c.run.world.Healed() {
		return // startFinalRound takes over
	}
	if churn := c.run.shape.sessionChurn; churn > 0 && c.rng.Float64() < churn {
		if err := c.c.NewSession(); err != nil {
			panic(fmt.Sprintf("scenarios: kv client %d: NewSession while idle: %v", c.index, err))
		}
	}
	c.issue(c.randomOp())
}

func (c *kvClient) randomOp() kvOp {
	key := c.key(c.rng.IntN(c.run.shape.keys))
	c.seq++
	value := fmt.Sprintf("c%d-%d", c.index, c.seq)
	switch p := c.rng.IntN(100); {
	case p < 40:
		return kvOp{in: checker.KVInput{Kind: checker.KVGet, Key: key}}
	case p < 70:
		return kvOp{in: checker.KVInput{Kind: checker.KVPut, Key: key, Value: value}}
	case p < 85:
		expect, known := c.seen[key]
		return kvOp{in: checker.KVInput{Kind: checker.KVCAS, Key: key, Value: value, Expect: expect, ExpectAbsent: !known}}
	default:
		return kvOp{in: checker.KVInput{Kind: checker.KVDelete, Key: key}}
	}
}

// startFinalRound queues the liveness round: read every key, write once.
func (c *kvClient) startFinalRound() {
	c.inFinal = true
	for i := range c.run.shape.keys {
		c.final = append(c.final, kvOp{in: checker.KVInput{Kind: checker.KVGet, Key: c.key(i)}})
	}
	for range kvFinalWritesEach {
		c.seq++
		c.final = append(c.final, kvOp{in: checker.KVInput{Kind: checker.KVPut, Key: c.key(c.rng.IntN(c.run.shape.keys)),
			Value: fmt.Sprintf("c%d-%d", c.index, c.seq)}})
	}
	if !c.c.Busy() {
		c.m.After(0, "kv.client.next", c.next)
	}
}

// issue sends op and records its call; the completion records its return.
func (c *kvClient) issue(op kvOp) {
	w := c.run.world
	final := c.inFinal
	id := c.run.history.Call(c.index, op.in, int64(w.Now()))
	done := func(res raftkv.Result) { c.complete(op, id, final, res) }
	var err error
	switch op.in.Kind {
	case checker.KVGet:
		err = c.c.Get(op.in.Key, done)
	case checker.KVPut:
		err = c.c.Put(op.in.Key, op.in.Value, done)
	case checker.KVDelete:
		err = c.c.Delete(op.in.Key, done)
	case checker.KVCAS:
		err = c.c.CAS(op.in.Key, op.in.Expect, !op.in.ExpectAbsent, op.in.Value, done)
	}
	if err != nil {
		// The client refused before sending: nothing happened.
		c.run.history.Return(id, checker.KVOutput{Err: err.Error()}, int64(w.Now()))
		c.m.After(c.think(), "kv.client.next", c.next)
	}
}

func (c *kvClient) complete(op kvOp, id checker.OpID, final bool, res raftkv.Result) {
	w := c.run.world
	now := int64(w.Now())
	switch {
	case res.Err == nil:
		c.run.history.Return(id, checker.KVOutput{Found: res.Found, Value: res.Value, Swapped: res.Swapped}, now)
		c.learn(op, res)
		if op.in.Kind != checker.KVGet {
			c.run.acked = append(c.run.acked, checker.RequestID{Session: res.Session, Seq: res.Seq})
		}
	case errors.Is(res.Err, raftkv.ErrUnknownOutcome):
		c.run.history.Unknown(id)
		delete(c.seen, op.in.Key)
		if c.run.appBugs.RetryUnderNewSeq && op.in.Kind != checker.KVGet && !final {
			// BUG: the same logical write again, as a new request.
			w.Record(c.m.ID(), "kv op %d %v %s unknown: retried as a new request", id, op.in.Kind, op.in.Key)
			c.m.After(0, "kv.client.retry", func() { c.issue(op) })
			return
		}
	case errors.Is(res.Err, raftkv.ErrStaleRequest):
		c.run.history.Unknown(id)
		c.run.surprise("client %d: %v %s got %v, which a correct store never tells a correct client", c.index, op.in.Kind, op.in.Key, res.Err)
	default:
		// Unavailable, session expired before sending, invalid, store full:
		// definite errors, the operation had no effect.
		c.run.history.Return(id, checker.KVOutput{Err: res.Err.Error()}, now)
	}
	if final && res.Err != nil && c.failure == "" {
		if c.retryFinal(op, res.Err) {
			w.Record(c.m.ID(), "kv op %d %v %s refused after Heal (%v): issued again", id, op.in.Kind, op.in.Key, res.Err)
			return
		}
		if !finalAnswerAccepted(res.Err) {
			c.failure = fmt.Sprintf("client %d: %v %s after Heal ended with %v", c.index, op.in.Kind, op.in.Key, res.Err)
		}
	}
	w.Record(c.m.ID(), "kv op %d %v %s done: %v", id, op.in.Kind, op.in.Key, res.Err)
	if c.inFinal && !final {
		// The operation in flight at Heal finished: the final round starts.
		c.m.After(0, "kv.client.next", c.next)
		return
	}
	c.m.After(c.think(), "kv.client.next", c.next)
}

// finalAnswerAccepted: errors a final-round operation may end with and
// still count as finished. A full store is a definite answer. A write whose
// session the bounded table evicted while its outcome was open ends
// unknown: the table's documented limit, which no retry can lift (resending
// the write under a new session could apply it twice).
func finalAnswerAccepted(err error) bool {
	return errors.Is(err, raftkv.ErrStateFull) ||
		errors.Is(err, raftkv.ErrUnknownOutcome) && errors.Is(err, raftkv.ErrSessionExpired)
}

// retryFinal queues a final-round operation again if it was refused with
// an error that says it had no effect, within kvFinalRetriesMax.
func (c *kvClient) retryFinal(op kvOp, err error) bool {
	definite := errors.Is(err, raftkv.ErrUnavailable) ||
		errors.Is(err, raftkv.ErrSessionExpired) && !errors.Is(err, raftkv.ErrUnknownOutcome)
	read := op.in.Kind == checker.KVGet // no effect to be unsure of
	if !definite && !read || op.retries >= kvFinalRetriesMax {
		return false
	}
	op.retries++
	c.final = append([]kvOp{op}, c.final...)
	c.m.After(c.think(), "kv.client.next", c.next)
	return true
}

// learn remembers what the client now knows of a key, so its CASes can
// succeed.
func (c *kvClient) learn(op kvOp, res raftkv.Result) {
	switch op.in.Kind {
	case checker.KVGet:
		if res.Found {
			c.seen[op.in.Key] = res.Value
		} else {
			delete(c.seen, op.in.Key)
		}
	case checker.KVPut:
		c.seen[op.in.Key] = op.in.Value
	case checker.KVDelete:
		delete(c.seen, op.in.Key)
	case checker.KVCAS:
		if res.Swapped {
			c.seen[op.in.Key] = op.in.Value
		} else {
			delete(c.seen, op.in.Key)
		}
	}
}
