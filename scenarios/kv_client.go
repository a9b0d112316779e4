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

// kvOp is one operation the workload issues.
type kvOp struct {
	in checker.KVInput
}

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
	c.issue(c.randomOp())
}

func (c *kvClient) randomOp() kvOp {
	key := c.key(c.rng.IntN(c.run.shape.keys))
	c.seq++
	value := fmt.Sprintf("c%d-%d", c.index, c.seq)
	switch p := c.rng.IntN(100); {
	case p < 40:
		return kvOp{checker.KVInput{Kind: checker.KVGet, Key: key}}
	case p < 70:
		return kvOp{checker.KVInput{Kind: checker.KVPut, Key: key, Value: value}}
	case p < 85:
		expect, known := c.seen[key]
		return kvOp{checker.KVInput{Kind: checker.KVCAS, Key: key, Value: value, Expect: expect, ExpectAbsent: !known}}
	default:
		return kvOp{checker.KVInput{Kind: checker.KVDelete, Key: key}}
	}
}

// startFinalRound queues the liveness round: read every key, write once.
func (c *kvClient) startFinalRound() {
	c.inFinal = true
	for i := range c.run.shape.keys {
		c.final = append(c.final, kvOp{checker.KVInput{Kind: checker.KVGet, Key: c.key(i)}})
	}
	for range kvFinalWritesEach {
		c.seq++
		c.final = append(c.final, kvOp{checker.KVInput{Kind: checker.KVPut, Key: c.key(c.rng.IntN(c.run.shape.keys)),
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
	case errors.Is(res.Err, raftkv.ErrStaleRequest):
		c.run.history.Unknown(id)
		c.run.surprise("client %d: %v %s got %v, which a correct store never tells a correct client", c.index, op.in.Kind, op.in.Key, res.Err)
	default:
		// Unavailable, session expired before sending, invalid, store full:
		// definite errors, the operation had no effect.
		c.run.history.Return(id, checker.KVOutput{Err: res.Err.Error()}, now)
	}
	if final && res.Err != nil && c.failure == "" {
		c.failure = fmt.Sprintf("client %d: %v %s after Heal ended with %v", c.index, op.in.Kind, op.in.Key, res.Err)
	}
	w.Record(c.m.ID(), "kv op %d %v %s done: %v", id, op.in.Kind, op.in.Key, res.Err)
	if c.inFinal && !final {
		// The operation in flight at Heal finished: the final round starts.
		c.m.After(0, "kv.client.next", c.next)
		return
	}
	c.m.After(c.think(), "kv.client.next", c.next)
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
