package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/node"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/prometheus/client_golang/prometheus"
)

// The VM's issuer on every machine (docs/operating.md, "Security model").
//
// Machine 1 starts with the issuer's state in its data dir: the CA, join
// tokens, the keys it admitted, the machine id counter. It admits the
// first machines from there, since the metadata group may have no quorum
// before they join. Once the metadata store answers, it hands the state
// over: it marks its data dir (from then on it never issues from the dir)
// and writes everything in one transaction, if the store holds no CA yet.
// From then on every machine admits joiners, makes tokens and signs users'
// certificates from the store, so losing machine 1 loses none of it.
//
// A join is a compare-and-swap on the token's record and the id counter:
// two machines admitting with the last use of a token cannot both succeed.

const (
	// issuerOpTimeout bounds one metadata operation of the issuer.
	issuerOpTimeout = 5 * time.Second
	// issuerJoinTimeout bounds one join's metadata work.
	issuerJoinTimeout = 10 * time.Second
	// issuerAdmitAttemptsMax bounds a join's compare-and-swap retries
	// (each lost to another admission of the same token or id).
	issuerAdmitAttemptsMax = 8
	// issuerRetryMin, issuerRetryMax: the backoff of the background work
	// (reaching the store, handing over, reading the CA).
	issuerRetryMin = 100 * time.Millisecond
	issuerRetryMax = 2 * time.Second
)

// metaFunc runs one operation on this machine's metadata client and waits
// for its result (bounded by ctx).
type metaFunc func(ctx context.Context, name string, start func(*raftkv.Client, func(raftkv.Result)) error) (raftkv.Result, error)

// hostMeta runs metadata operations through the node the Host drives.
func hostMeta(hp *atomic.Pointer[Host]) metaFunc {
	return func(ctx context.Context, name string, start func(*raftkv.Client, func(raftkv.Result)) error) (raftkv.Result, error) {
		h := hp.Load()
		if h == nil {
			return raftkv.Result{}, errors.New("host: the machine is not running yet")
		}
		got := make(chan raftkv.Result, 1) // done runs once, on the Host's goroutine: never blocks
		var down bool
		err := h.Do(ctx, func(m Machine) {
			nm, ok := m.(*NodeMachine)
			if !ok {
				down = true
				return
			}
			nm.Node().MetaOp(name, start, func(r raftkv.Result) { got <- r })
		})
		switch {
		case err != nil:
			return raftkv.Result{}, err
		case down:
			return raftkv.Result{}, errors.New("host: the machine's node is down")
		}
		select {
		case r := <-got:
			return r, r.Err
		case <-ctx.Done():
			return raftkv.Result{}, fmt.Errorf("host: metadata %s: %w", name, ctx.Err())
		}
	}
}

// vmIssuer is the machine's issuer: tcpnet's Join and the node's Admin.
type vmIssuer struct {
	self     netmodel.NodeID
	dir      identity.Dir
	meta     metaFunc
	cluster  func() []byte
	admitted func(id uint64, info []byte)
	log      *slog.Logger

	// localUse is held (read) by every use of local and (write) while the
	// handover freezes the data dir's state.
	localUse sync.RWMutex
	mu       sync.Mutex
	local    *identity.Issuer // machine 1 before the handover
	handing  bool             // the dir is frozen, the store not yet seeded
	ca       *identity.CA     // nil until known (local mode: the dir's)
	stats    issuerStats
}

type issuerStats struct {
	admitted, refused, unavailable atomic.Uint64 // join requests answered, by outcome
}

var _ node.Admin = (*vmIssuer)(nil)

// newVMIssuer is the issuer of a machine whose data dir is d.
func newVMIssuer(self netmodel.NodeID, d identity.Dir, meta metaFunc, cluster func() []byte, admitted func(uint64, []byte), log *slog.Logger) (*vmIssuer, error) {
	is := &vmIssuer{self: self, dir: d, meta: meta, cluster: cluster, admitted: admitted, log: log}
	ca, err := d.CA()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return is, nil
	case err != nil:
		return nil, err
	}
	handed, err := d.HandedOver()
	if err != nil {
		return nil, err
	}
	if handed {
		is.handing = true // seeding the store again is harmless: it is skipped if done
		return is, nil
	}
	is.local = &identity.Issuer{CA: ca, Dir: d, Cluster: cluster, Admitted: admitted}
	is.ca = ca
	return is, nil
}

// state reads the issuer's mode under its lock.
func (is *vmIssuer) state() (local *identity.Issuer, handing bool, ca *identity.CA) {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.local, is.handing, is.ca
}

// notYet is why this machine cannot issue now, or "" if it can.
func (is *vmIssuer) notYet(handing bool, ca *identity.CA) string {
	switch {
	case handing:
		return fmt.Sprintf("machine %v is handing the VM's issuer over to the metadata store", is.self)
	case ca == nil:
		return fmt.Sprintf("machine %v has not read the VM's certificate authority from the metadata store yet", is.self)
	}
	return ""
}

// Join answers a join request (tcpnet calls it on the connection's
// goroutine).
func (is *vmIssuer) Join(req identity.JoinRequest, binding []byte) identity.JoinResponse {
	is.localUse.RLock()
	local, handing, ca := is.state()
	if local != nil {
		defer is.localUse.RUnlock()
		return is.count(local.Join(req, binding))
	}
	is.localUse.RUnlock()
	if why := is.notYet(handing, ca); why != "" {
		return is.count(identity.JoinResponse{Status: identity.JoinUnavailable, Message: why})
	}
	ctx, cancel := context.WithTimeout(context.Background(), issuerJoinTimeout)
	defer cancel()
	id, err := is.admit(ctx, req, binding, time.Now())
	if err != nil {
		if errors.Is(err, identity.ErrToken) {
			return is.count(identity.JoinResponse{Status: identity.JoinRefused, Message: err.Error()})
		}
		return is.count(identity.JoinResponse{Status: identity.JoinUnavailable, Message: err.Error()})
	}
	cert, err := ca.IssueMachine(id, req.PublicKey, rand.Reader, time.Now())
	if err != nil {
		return is.count(identity.JoinResponse{Status: identity.JoinUnavailable, Message: err.Error()})
	}
	if is.admitted != nil {
		is.admitted(id, req.Info)
	}
	return is.count(identity.JoinResponse{Status: identity.JoinOK, MachineID: id, Cert: cert.Raw, Cluster: is.cluster()})
}

func (is *vmIssuer) count(r identity.JoinResponse) identity.JoinResponse {
	switch r.Status {
	case identity.JoinOK:
		is.stats.admitted.Add(1)
	case identity.JoinRefused:
		is.stats.refused.Add(1)
	default:
		is.stats.unavailable.Add(1)
	}
	return r
}

// admit checks a join request against the store and gives the joiner its
// machine id: the one it was admitted with before, if it asks again with
// the same key (its first answer was lost), else a new one, spending a use
// of the token in the same transaction.
func (is *vmIssuer) admit(ctx context.Context, req identity.JoinRequest, binding []byte, now time.Time) (uint64, error) {
	if len(req.PublicKey) != ed25519.PublicKeySize {
		return 0, fmt.Errorf("%w: public key of %d bytes", identity.ErrToken, len(req.PublicKey))
	}
	tokenKey := identity.KeyTokenPrefix + hex.EncodeToString(req.TokenID[:])
	issuedKey := identity.IssuedKey(req.PublicKey)
	for range issuerAdmitAttemptsMax {
		tres, err := is.get(ctx, tokenKey)
		if err != nil {
			return 0, err
		}
		if !tres.Found {
			return 0, fmt.Errorf("%w: unknown token", identity.ErrToken)
		}
		rec, err := identity.DecodeTokenRecord([]byte(tres.Value))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", tokenKey, err)
		}
		checkErr := rec.Check(req.TokenID, req.Proof, binding, req.PublicKey, now)
		ires, err := is.get(ctx, issuedKey)
		if err != nil {
			return 0, err
		}
		if ires.Found && (checkErr == nil || errors.Is(checkErr, identity.ErrTokenUsedUp)) {
			return identity.ParseMachineID(issuedKey, ires.Value)
		}
		if checkErr != nil {
			return 0, checkErr
		}
		lres, err := is.get(ctx, identity.KeyLastMachineID)
		if err != nil {
			return 0, err
		}
		txn, id, err := spendTxn(tokenKey, tres.Value, rec, lres, issuedKey)
		if err != nil {
			return 0, err
		}
		res, err := is.meta(ctx, "admit", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Txn(txn, done) })
		switch {
		case err == nil && res.Swapped:
			is.log.Info("machine admitted", "machine", id, "token", hex.EncodeToString(req.TokenID[:]), "uses_left", rec.UsesLeft-1)
			return id, nil
		case err != nil && !errors.Is(err, raftkv.ErrUnknownOutcome):
			return 0, err
		}
		// Another admission moved the token or the counter first, or the
		// outcome is unknown: read again (an applied one is found by key).
	}
	return 0, fmt.Errorf("host: admitting a machine: %d attempts lost to other admissions", issuerAdmitAttemptsMax)
}

// spendTxn is the admission of a machine with a use of the token read as
// tokenValue (rec): if the token, the id counter (as read in last) and the
// key's record are unchanged, take the use, the next id, and record the
// key as admitted with it.
func spendTxn(tokenKey, tokenValue string, rec identity.TokenRecord, last raftkv.Result, issuedKey string) (raftkv.Txn, uint64, error) {
	lastID := uint64(0)
	lastCmp := raftkv.Compare{Kind: raftkv.CompareAbsent, Key: identity.KeyLastMachineID}
	if last.Found {
		var err error
		if lastID, err = identity.ParseMachineID(identity.KeyLastMachineID, last.Value); err != nil {
			return raftkv.Txn{}, 0, err
		}
		lastCmp = raftkv.Compare{Kind: raftkv.CompareEqual, Key: identity.KeyLastMachineID, Value: last.Value}
	}
	id := lastID + 1
	rec.UsesLeft--
	idText := strconv.FormatUint(id, 10)
	return raftkv.Txn{
		If: []raftkv.Compare{{Kind: raftkv.CompareEqual, Key: tokenKey, Value: tokenValue}, lastCmp,
			{Kind: raftkv.CompareAbsent, Key: issuedKey}},
		Then: []raftkv.TxnOp{{Kind: raftkv.TxnPut, Key: tokenKey, Value: string(rec.Encode())},
			{Kind: raftkv.TxnPut, Key: identity.KeyLastMachineID, Value: idText},
			{Kind: raftkv.TxnPut, Key: issuedKey, Value: idText}},
	}, id, nil
}

func (is *vmIssuer) get(ctx context.Context, key string) (raftkv.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, issuerOpTimeout)
	defer cancel()
	return is.meta(ctx, "issuer-get", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Get(key, done) })
}

// CreateToken makes a join token (the node's Admin: called under the
// node's lock, it must not wait for the store). From the store, the node
// writes the grant's record before it answers.
func (is *vmIssuer) CreateToken(uses int, ttl time.Duration) (node.TokenGrant, error) {
	is.localUse.RLock()
	defer is.localUse.RUnlock()
	local, handing, ca := is.state()
	if local != nil {
		tok, err := local.CreateToken(uses, ttl)
		if err != nil {
			return node.TokenGrant{}, err
		}
		return node.TokenGrant{Token: tok.String()}, nil
	}
	if why := is.notYet(handing, ca); why != "" {
		return node.TokenGrant{}, fmt.Errorf("%w: %s", node.ErrAdminUnavailable, why)
	}
	if uses <= 0 || ttl <= 0 {
		return node.TokenGrant{}, fmt.Errorf("%w: %d uses for %v", identity.ErrToken, uses, ttl)
	}
	tok, err := identity.NewToken(ca.Hash(), rand.Reader)
	if err != nil {
		return node.TokenGrant{}, err
	}
	rec := identity.TokenRecord{Token: tok, Expires: time.Now().Add(ttl), UsesLeft: uses}
	return node.TokenGrant{Token: tok.String(), Key: identity.TokenKey(tok), Value: string(rec.Encode())}, nil
}

// AddUser signs a user's certificate.
func (is *vmIssuer) AddUser(name string, pub []byte) ([]byte, error) {
	_, handing, ca := is.state()
	if why := is.notYet(handing, ca); why != "" {
		return nil, fmt.Errorf("%w: %s", node.ErrAdminUnavailable, why)
	}
	return (&identity.Issuer{CA: ca}).AddUser(name, pub)
}

// run does the issuer's background work until ctx ends: machine 1 hands
// its state over once the store answers; every other machine reads the CA.
func (is *vmIssuer) run(ctx context.Context) {
	local, handing, _ := is.state()
	defer is.pruneTokens(ctx)
	if local == nil && !handing {
		is.retry(ctx, "reading the VM's certificate authority", is.readCA)
		return
	}
	if local != nil {
		is.retry(ctx, "reaching the metadata store", func(ctx context.Context) error {
			_, err := is.get(ctx, identity.KeyCA)
			return err
		})
		if ctx.Err() != nil {
			return
		}
		if err := is.freeze(); err != nil {
			is.log.Error("handing the issuer over: the data dir", "err", err.Error())
			return
		}
	}
	is.retry(ctx, "handing the issuer over to the metadata store", is.seed)
}

// Token records in the store outlive their expiry by tokenKeepAfterExpiry
// (a machine whose join answer was lost may ask again until then), and are
// looked for every tokenPruneEvery, at most tokenPruneScanMax a time.
const (
	tokenKeepAfterExpiry = time.Hour
	tokenPruneEvery      = 10 * time.Minute
	tokenPruneScanMax    = 256
)

// pruneTokens deletes expired token records now and then until ctx ends.
// Every machine does it; deleting a record twice is harmless.
func (is *vmIssuer) pruneTokens(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(tokenPruneEvery):
		}
		if n, err := is.pruneTokensOnce(ctx, time.Now()); err != nil {
			is.log.Warn("issuer: pruning expired tokens", "err", err.Error())
		} else if n > 0 {
			is.log.Info("issuer: pruned expired tokens", "tokens", n)
		}
	}
}

// pruneTokensOnce deletes the token records expired more than
// tokenKeepAfterExpiry before now (and any that do not decode), and says
// how many.
func (is *vmIssuer) pruneTokensOnce(ctx context.Context, now time.Time) (int, error) {
	octx, cancel := context.WithTimeout(ctx, issuerOpTimeout)
	defer cancel()
	res, err := is.meta(octx, "issuer-scan-tokens", func(c *raftkv.Client, done func(raftkv.Result)) error {
		return c.Scan(identity.KeyTokenPrefix, tokenPruneScanMax, done)
	})
	if err != nil {
		return 0, err
	}
	pruned := 0
	for _, kv := range res.Pairs {
		rec, derr := identity.DecodeTokenRecord([]byte(kv.Value))
		if derr == nil && now.Before(rec.Expires.Add(tokenKeepAfterExpiry)) {
			continue
		}
		key := kv.Key
		octx, cancel := context.WithTimeout(ctx, issuerOpTimeout)
		_, err := is.meta(octx, "issuer-prune-token", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Delete(key, done) })
		cancel()
		if err != nil {
			return pruned, err
		}
		pruned++
	}
	return pruned, nil
}

// retry calls fn until it succeeds or ctx ends, backing off.
func (is *vmIssuer) retry(ctx context.Context, what string, fn func(context.Context) error) {
	wait := issuerRetryMin
	for failures := 0; ctx.Err() == nil; failures++ {
		err := fn(ctx)
		if err == nil {
			return
		}
		if failures%10 == 9 {
			is.log.Warn("issuer: still "+what, "attempts", failures+1, "err", err.Error())
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, issuerRetryMax)
	}
}

// readCA reads the CA from the store; absent, it is not handed over yet.
func (is *vmIssuer) readCA(ctx context.Context) error {
	res, err := is.get(ctx, identity.KeyCA)
	if err != nil {
		return err
	}
	if !res.Found {
		return errors.New("the metadata store holds no CA yet (machine 1 has not handed it over)")
	}
	ca, err := identity.DecodeCA([]byte(res.Value))
	if err != nil {
		return fmt.Errorf("%s: %w", identity.KeyCA, err)
	}
	is.mu.Lock()
	is.ca = ca
	is.mu.Unlock()
	is.log.Info("issuer: read the VM's certificate authority", "vm", ca.VM.Name)
	return nil
}

// freeze ends local issuing: once marked, the data dir's state never
// changes again, so seeding the store from it can be retried at will.
func (is *vmIssuer) freeze() error {
	is.localUse.Lock()
	defer is.localUse.Unlock()
	if err := is.dir.MarkHandedOver(); err != nil {
		return err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.local, is.handing = nil, true
	return nil
}

// seed writes the frozen data dir state into the store unless it holds a
// CA already (an earlier seed that committed), then issues from the store.
func (is *vmIssuer) seed(ctx context.Context) error {
	st, err := is.dir.IssuerState()
	if err != nil {
		return err
	}
	caPEM := string(st.CA.Encode())
	then := []raftkv.TxnOp{{Kind: raftkv.TxnPut, Key: identity.KeyCA, Value: caPEM}}
	if st.LastMachineID > 0 {
		then = append(then, raftkv.TxnOp{Kind: raftkv.TxnPut, Key: identity.KeyLastMachineID, Value: strconv.FormatUint(st.LastMachineID, 10)})
	}
	for name, id := range st.Issued {
		then = append(then, raftkv.TxnOp{Kind: raftkv.TxnPut, Key: identity.KeyIssuedPrefix + name, Value: strconv.FormatUint(id, 10)})
	}
	now := time.Now()
	for _, r := range st.Tokens {
		if r.UsesLeft > 0 && now.Before(r.Expires) && len(then) < raftkv.TxnItemsMax-1 {
			then = append(then, raftkv.TxnOp{Kind: raftkv.TxnPut, Key: identity.TokenKey(r.Token), Value: string(r.Encode())})
		}
	}
	txn := raftkv.Txn{If: []raftkv.Compare{{Kind: raftkv.CompareAbsent, Key: identity.KeyCA}}, Then: then}
	octx, cancel := context.WithTimeout(ctx, issuerOpTimeout)
	defer cancel()
	if _, err := is.meta(octx, "issuer-seed", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Txn(txn, done) }); err != nil {
		return err
	}
	res, err := is.get(ctx, identity.KeyCA)
	if err != nil {
		return err
	}
	if !res.Found || !bytes.Equal([]byte(res.Value), []byte(caPEM)) {
		// Never expected: the store names another CA. Issuing from it
		// would admit machines this dir's CA never signed for.
		return fmt.Errorf("the metadata store's %s is not this data dir's CA", identity.KeyCA)
	}
	is.mu.Lock()
	is.ca, is.handing = st.CA, false
	is.mu.Unlock()
	is.log.Info("issuer: handed over to the metadata store", "tokens", len(st.Tokens), "machines", len(st.Issued))
	return nil
}

// register exports the issuer's counters: joins by outcome, and whether it
// can issue now (and from where).
func (is *vmIssuer) register(reg prometheus.Registerer) error {
	labels := func(extra ...string) prometheus.Labels {
		l := prometheus.Labels{"machine": is.self.String(), "service": "node"}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	for _, o := range []struct {
		outcome string
		n       *atomic.Uint64
	}{{"admitted", &is.stats.admitted}, {"refused", &is.stats.refused}, {"unavailable", &is.stats.unavailable}} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flock_issuer_joins_total",
			Help: "join requests this machine answered, by outcome", ConstLabels: labels("outcome", o.outcome)},
			func() float64 { return float64(o.n.Load()) })
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flock_issuer_mode",
		Help: "where this machine issues from: 0 not yet (no CA read, or handing over), 1 its data dir (machine 1 before the handover), 2 the metadata store", ConstLabels: labels()},
		func() float64 {
			local, handing, ca := is.state()
			switch {
			case local != nil:
				return 1
			case handing || ca == nil:
				return 0
			}
			return 2
		}))
}
