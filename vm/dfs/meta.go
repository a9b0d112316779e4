package dfs

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Errors of metadata requests, as operations see them.
var (
	// errMetaUnavailable: the store did not take the request (no leader
	// answered); it had no effect.
	errMetaUnavailable = errors.New("dfs: metadata store unavailable")
	// errMetaUnknown: a commit was sent but its outcome stayed unknown.
	errMetaUnknown = errors.New("dfs: metadata commit outcome unknown")
	// errMetaFull: the store is full; the commit had no effect.
	errMetaFull = errors.New("dfs: metadata store full")
)

// metaResult is a metadata request's outcome.
type metaResult struct {
	err     error // nil, or one of the errMeta errors (or raftkv.ErrInvalid: a bug)
	swapped bool  // a Txn: its compares held
	pairs   []raftkv.KV
	more    bool
}

// errno is how an operation reports a metadata failure.
func (r metaResult) errno() sys.Errno {
	switch {
	case errors.Is(r.err, errMetaUnknown):
		return sys.EIO
	case errors.Is(r.err, errMetaFull):
		return sys.ENOSPC
	case errors.Is(r.err, raftkv.ErrInvalid):
		return sys.EINVAL
	}
	return sys.EAGAIN
}

// Bounds of the pool's retries: a refused request is sent again up to
// metaAttemptsMax times; an unknown commit is resent under its session up
// to unknownResendsMax times (each resend is itself AttemptsMax attempts
// of the raftkv client), which covers far more than a partition of the
// safety phase.
const (
	metaAttemptsMax   = 8
	unknownResendsMax = 12
)

type metaReq struct {
	txn       *raftkv.Txn
	ranges    []raftkv.Range
	done      func(metaResult)
	attempts  int
	resends   int
	notBefore uint64 // a request the store refused waits until this tick
}

// metaPool spreads metadata requests over the sessions it was given: one
// request per session at a time, the rest waiting in order.
type metaPool struct {
	clients []MetaClient
	queue   []*metaReq
	stats   *Stats
	later   func(func())
	// settle runs the work a result's callback deferred (Service.drain):
	// a result arrives through a session's Receive, which is no input of
	// the Service's, and a put the callback sent the Service's own
	// machine would otherwise wait for the next tick (up to 10 ms of a
	// write's latency on the real cluster).
	settle func()
	ticks  uint64
}

func newMetaPool(clients []MetaClient, stats *Stats, later func(func()), settle func()) *metaPool {
	return &metaPool{clients: clients, stats: stats, later: later, settle: settle}
}

func (p *metaPool) tick() {
	p.ticks++
	for _, c := range p.clients {
		c.Tick()
	}
	p.dispatch()
}

// read reads ranges at one applied index.
func (p *metaPool) read(rs []rangeSpec, done func(metaResult)) {
	ranges := make([]raftkv.Range, len(rs))
	for i, r := range rs {
		ranges[i] = raftkv.Range{Start: r.start, End: r.end, Limit: r.limit}
	}
	p.enqueue(&metaReq{ranges: ranges, done: done})
}

// txn commits t.
func (p *metaPool) txn(t txnBuilder, done func(metaResult)) {
	txn := t.Txn
	p.enqueue(&metaReq{txn: &txn, done: done})
}

func (p *metaPool) enqueue(r *metaReq) {
	if len(p.queue) >= metaQueueMax {
		// Never answered inside the caller: callbacks come from Tick or
		// Receive.
		p.later(func() { r.done(metaResult{err: errMetaUnavailable}) })
		return
	}
	p.queue = append(p.queue, r)
	p.dispatch()
}

// dispatch gives waiting requests to idle sessions, in order, skipping
// those backing off.
func (p *metaPool) dispatch() {
	next := 0
	for _, c := range p.clients {
		if c.Busy() {
			continue
		}
		for next < len(p.queue) && p.queue[next].notBefore > p.ticks {
			next++
		}
		if next == len(p.queue) {
			return
		}
		r := p.queue[next]
		p.queue = append(p.queue[:next], p.queue[next+1:]...)
		p.issue(c, r)
	}
}

func (p *metaPool) issue(c MetaClient, r *metaReq) {
	r.attempts++
	var err error
	if r.txn != nil {
		err = c.Txn(*r.txn, func(res raftkv.Result) { p.txnDone(c, r, res) })
	} else {
		err = c.Ranges(r.ranges, func(res raftkv.Result) { p.readDone(r, res) })
	}
	if err != nil {
		panic(fmt.Sprintf("dfs: metadata request refused by an idle client: %v", err))
	}
}

func (p *metaPool) readDone(r *metaReq, res raftkv.Result) {
	defer p.settle()
	if errors.Is(res.Err, raftkv.ErrInvalid) {
		r.done(metaResult{err: fmt.Errorf("dfs: metadata read rejected: %w", res.Err)})
		p.dispatch()
		return
	}
	if res.Err != nil {
		p.retryOrFail(r, errMetaUnavailable)
		return
	}
	r.done(metaResult{pairs: res.Pairs, more: res.More})
	p.dispatch()
}

func (p *metaPool) txnDone(c MetaClient, r *metaReq, res raftkv.Result) {
	defer p.settle()
	switch {
	case res.Err == nil:
		if r.resends > 0 {
			markUnknownResolved.Hit()
			p.stats.Resolved++
		}
		r.done(metaResult{swapped: res.Swapped})
	case errors.Is(res.Err, raftkv.ErrSessionExpired) && (r.resends > 0 || errors.Is(res.Err, raftkv.ErrUnknownOutcome)):
		p.stats.Unknown++
		r.done(metaResult{err: errMetaUnknown})
	case errors.Is(res.Err, raftkv.ErrUnknownOutcome):
		if r.resends < unknownResendsMax {
			r.resends++
			// The same session, at once: nothing else may use it before
			// the outcome is known.
			if err := c.RetryUnknown(func(res raftkv.Result) { p.txnDone(c, r, res) }); err != nil {
				panic(fmt.Sprintf("dfs: resend of an unknown commit refused: %v", err))
			}
			return
		}
		p.stats.Unknown++
		r.done(metaResult{err: errMetaUnknown})
	case errors.Is(res.Err, raftkv.ErrStateFull):
		r.done(metaResult{err: errMetaFull})
	case errors.Is(res.Err, raftkv.ErrInvalid):
		r.done(metaResult{err: fmt.Errorf("dfs: metadata request rejected: %w", res.Err)})
	case r.resends > 0:
		// A resend that was refused (unavailable, or a new session): still unknown.
		p.stats.Unknown++
		r.done(metaResult{err: errMetaUnknown})
	default:
		p.retryOrFail(r, errMetaUnavailable)
		return
	}
	p.dispatch()
}

// metaBackoffTicks is how much longer each retry of a refused request
// waits: the store refuses when it has no leader or is overloaded, and
// asking again at once only adds to the load.
const metaBackoffTicks = 5

func (p *metaPool) retryOrFail(r *metaReq, err error) {
	if r.attempts < metaAttemptsMax {
		r.notBefore = p.ticks + uint64(r.attempts*metaBackoffTicks)
		p.queue = append(p.queue, r)
	} else {
		r.done(metaResult{err: err})
	}
	p.dispatch()
}

// txnBuilder assembles a raftkv.Txn.
type txnBuilder struct{ raftkv.Txn }

func txnIf(cmps ...raftkv.Compare) txnBuilder {
	return txnBuilder{raftkv.Txn{If: cmps}}
}

func (t txnBuilder) and(cmps ...raftkv.Compare) txnBuilder {
	t.If = append(t.If, cmps...)
	return t
}

func (t txnBuilder) then(ops ...raftkv.TxnOp) txnBuilder {
	t.Then = append(t.Then, ops...)
	return t
}

func cmpEqual(key, value string) raftkv.Compare {
	return raftkv.Compare{Kind: raftkv.CompareEqual, Key: key, Value: value}
}

// cmpIs compares key with value, or absence when value is "".
func cmpIs(key, value string) raftkv.Compare {
	if value == "" {
		return cmpAbsent(key)
	}
	return cmpEqual(key, value)
}

func cmpAbsent(key string) raftkv.Compare {
	return raftkv.Compare{Kind: raftkv.CompareAbsent, Key: key}
}

func cmpPresent(key string) raftkv.Compare {
	return raftkv.Compare{Kind: raftkv.ComparePresent, Key: key}
}

func cmpEmpty(prefix string) raftkv.Compare {
	return raftkv.Compare{Kind: raftkv.CompareNoPrefix, Key: prefix}
}

func put(key, value string) raftkv.TxnOp {
	return raftkv.TxnOp{Kind: raftkv.TxnPut, Key: key, Value: value}
}

func del(key string) raftkv.TxnOp { return raftkv.TxnOp{Kind: raftkv.TxnDelete, Key: key} }

func delPrefix(prefix string) raftkv.TxnOp {
	return raftkv.TxnOp{Kind: raftkv.TxnDeletePrefix, Key: prefix}
}

func raiseTo(key string, n uint64) raftkv.TxnOp {
	return raftkv.TxnOp{Kind: raftkv.TxnMax, Key: key, Value: encodeSize(n)}
}

// lookup finds key among pairs (sorted); "" if absent.
func lookup(pairs []raftkv.KV, key string) string {
	for _, p := range pairs {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}
