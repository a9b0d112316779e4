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
	if err != nil {
		if errors.Is(err, ErrToken) {
			return JoinResponse{Status: JoinRefused, Message: err.Error()}
		}
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	next := is.NextMachineID
	if next == nil {
		next = is.Dir.NextMachineID
	}
	// Spend the token first: a crash after it loses a use, never grants
	// an extra one.
	rec.UsesLeft--
	if err := is.Dir.SaveToken(rec); err != nil {
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	id, err := next()
	if err != nil {
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	cert, err := is.CA.IssueMachine(id, req.PublicKey, is.Rand, now)
	if err != nil {
		return JoinResponse{Status: JoinUnavailable, Message: err.Error()}
	}
	return JoinResponse{Status: JoinOK, MachineID: id, Cert: cert.Raw}
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
