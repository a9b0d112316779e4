package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// Issuer admits machines: it checks a join request against the tokens in
// a data dir and signs a certificate for the joiner. It is safe for
// concurrent use (join connections are served on their own goroutines).
type Issuer struct {
	CA   *CA
	Dir  Dir
	Rand io.Reader        // crypto/rand.Reader if nil
	Now  func() time.Time // time.Now if nil
	// NextMachineID allocates the joiner's machine id; nil uses the data
	// dir's counter (Dir.NextMachineID).
	NextMachineID func() (uint64, error)
	// Cluster, if set, is what an admitted machine is told of the VM
	// (JoinResponse.Cluster).
	Cluster func() []byte
	// Admitted, if set, is told every machine admitted, with what it said
	// of itself (JoinRequest.Info).
	Admitted func(id uint64, info []byte)

	mu sync.Mutex
}

// Join answers one join request. binding is the TLS session's exported
// keying material the proof must cover. A refusal leaves no state behind.
func (is *Issuer) Join(req JoinRequest, binding []byte) JoinResponse {
	is.mu.Lock()
	defer is.mu.Unlock()
	now := time.Now()
	if is.Now != nil {
		now = is.Now()
	}
	rec, err := is.findToken(req, binding, now)
	// A machine asking again with the key it was admitted with (its first
	// answer was lost) gets its id again, without spending a use.
	id, again, ierr := is.Dir.IssuedTo(req.PublicKey)
	switch {
	case ierr != nil:
		return JoinResponse{Status: JoinUnavailable, Message: ierr.Error()}
	case err != nil && !(again && errors.Is(err, ErrTokenUsedUp)):
		if errors.Is(err, ErrToken) {
			return JoinResponse{Status: JoinRefused, Message: err.Error()}
		}
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	if !again {
		if id, err = is.spend(rec, req.PublicKey); err != nil {
			return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
		}
	}
	cert, err := is.CA.IssueMachine(id, req.PublicKey, is.Rand, now)
	if err != nil {
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	if is.Admitted != nil {
		is.Admitted(id, req.Info)
	}
	resp := JoinResponse{Status: JoinOK, MachineID: id, Cert: cert.Raw}
	if is.Cluster != nil {
		resp.Cluster = is.Cluster()
	}
	return resp
}

// spend takes a use of the token and allocates the machine's id, durably,
// in that order: a crash between them loses a use, never grants an extra
// machine.
func (is *Issuer) spend(rec TokenRecord, pub ed25519.PublicKey) (uint64, error) {
	next := is.NextMachineID
	if next == nil {
		next = is.Dir.NextMachineID
	}
	rec.UsesLeft--
	if err := is.Dir.SaveToken(rec); err != nil {
		return 0, err
	}
	id, err := next()
	if err != nil {
		return 0, err
	}
	if err := is.Dir.SaveIssued(pub, id); err != nil {
		return 0, err
	}
	return id, nil
}

// CreateToken makes a join token for uses machines, valid for ttl, and
// records it.
func (is *Issuer) CreateToken(uses int, ttl time.Duration) (Token, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if uses <= 0 || ttl <= 0 {
		return Token{}, fmt.Errorf("%w: %d uses for %v", ErrToken, uses, ttl)
	}
	now := time.Now()
	if is.Now != nil {
		now = is.Now()
	}
	tok, err := NewToken(is.CA.Hash(), is.Rand)
	if err != nil {
		return Token{}, err
	}
	if err := is.Dir.SaveToken(TokenRecord{Token: tok, Expires: now.Add(ttl), UsesLeft: uses}); err != nil {
		return Token{}, err
	}
	return tok, nil
}

// AddUser signs a certificate (DER) naming user name for pub.
func (is *Issuer) AddUser(name string, pub []byte) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("identity: user %q: a public key of %d bytes, want %d", name, len(pub), ed25519.PublicKeySize)
	}
	now := time.Now()
	if is.Now != nil {
		now = is.Now()
	}
	cert, err := is.CA.IssueUser(name, ed25519.PublicKey(pub), is.Rand, now)
	if err != nil {
		return nil, err
	}
	return cert.Raw, nil
}

func (is *Issuer) findToken(req JoinRequest, binding []byte, now time.Time) (TokenRecord, error) {
	if len(req.PublicKey) != ed25519.PublicKeySize {
		return TokenRecord{}, fmt.Errorf("%w: public key of %d bytes", ErrToken, len(req.PublicKey))
	}
	recs, err := is.Dir.Tokens()
	if err != nil {
		return TokenRecord{}, err
	}
	for _, r := range recs {
		if r.Token.ID == req.TokenID {
			return r, r.Check(req.TokenID, req.Proof, binding, req.PublicKey, now)
		}
	}
	return TokenRecord{}, fmt.Errorf("%w: unknown token", ErrToken)
}

// MachinesFile holds the last machine id the data dir's counter handed out.
const MachinesFile = "identity/last-machine-id"

// IssuedDir holds, per public key admitted here (named by its SHA-256),
// the machine id it was given.
const IssuedDir = "identity/issued"

func issuedName(pub []byte) string { return IssuedDir + "/" + IssuedKeyName(pub) }

// SaveIssued records that pub was admitted as machine id.
func (d Dir) SaveIssued(pub []byte, id uint64) error {
	return d.write(issuedName(pub), []byte(strconv.FormatUint(id, 10)+"\n"))
}

// IssuedTo reports the machine id pub was admitted as, if it was.
func (d Dir) IssuedTo(pub []byte) (uint64, bool, error) {
	data, err := diskmodel.ReadFile(d.FS, issuedName(pub))
	if isNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("identity: %w", err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || id == 0 {
		return 0, false, fmt.Errorf("identity: %s holds %q, not a machine id", issuedName(pub), data)
	}
	return id, true, nil
}

// NextMachineID hands out machine ids 1, 2, 3, ... durably, for a VM whose
// membership does not yet allocate them.
func (d Dir) NextMachineID() (uint64, error) {
	last := uint64(0)
	data, err := diskmodel.ReadFile(d.FS, MachinesFile)
	if err == nil {
		last, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || last >= IncarnationMax {
			return 0, fmt.Errorf("identity: %s holds %q, not a machine id", MachinesFile, data)
		}
	} else if !isNotExist(err) {
		return 0, fmt.Errorf("identity: %w", err)
	}
	if err := d.write(MachinesFile, []byte(strconv.FormatUint(last+1, 10)+"\n")); err != nil {
		return 0, err
	}
	return last + 1, nil
}
