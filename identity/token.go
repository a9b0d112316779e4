package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// A join token, as the user copies it from `flock new` to `flock join`:
//
//	flk1-<id: 8 hex>-<secret: 32 hex>-<CA hash: 64 hex>
//
// The id names the token at the issuer (so it can be listed and revoked),
// the secret is what the joiner proves, and the CA hash pins the VM's CA
// so the joiner refuses to talk to anyone else.
const tokenPrefix = "flk1"

// Token is a join token.
type Token struct {
	ID     [4]byte
	Secret [16]byte
	CAHash [32]byte
}

// ErrToken is wrapped by every error about a malformed or refused token.
var ErrToken = errors.New("identity: bad join token")

// ErrTokenUsedUp: the token is right but admitted as many machines as it
// may (wraps ErrToken).
var ErrTokenUsedUp = fmt.Errorf("%w: used up", ErrToken)

// NewToken draws a token for the CA whose hash is caHash.
func NewToken(caHash [32]byte, rnd io.Reader) (Token, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	t := Token{CAHash: caHash}
	if _, err := io.ReadFull(rnd, t.ID[:]); err != nil {
		return Token{}, fmt.Errorf("identity: token: %w", err)
	}
	if _, err := io.ReadFull(rnd, t.Secret[:]); err != nil {
		return Token{}, fmt.Errorf("identity: token: %w", err)
	}
	return t, nil
}

// IDString is the token's id in hex, the name it is listed and revoked by.
func (t Token) IDString() string { return hex.EncodeToString(t.ID[:]) }

func (t Token) String() string {
	return strings.Join([]string{tokenPrefix, hex.EncodeToString(t.ID[:]),
		hex.EncodeToString(t.Secret[:]), hex.EncodeToString(t.CAHash[:])}, "-")
}

// ParseToken reads a token in the form String writes.
func ParseToken(s string) (Token, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) != 4 || parts[0] != tokenPrefix {
		return Token{}, fmt.Errorf("%w: want %s-<8 hex>-<32 hex>-<64 hex>", ErrToken, tokenPrefix)
	}
	var t Token
	for _, f := range []struct {
		dst []byte
		src string
	}{{t.ID[:], parts[1]}, {t.Secret[:], parts[2]}, {t.CAHash[:], parts[3]}} {
		if len(f.src) != 2*len(f.dst) || strings.ToLower(f.src) != f.src {
			return Token{}, fmt.Errorf("%w: a field has %d characters, want %d lowercase hex", ErrToken, len(f.src), 2*len(f.dst))
		}
		if _, err := hex.Decode(f.dst, []byte(f.src)); err != nil {
			return Token{}, fmt.Errorf("%w: %w", ErrToken, err)
		}
	}
	return t, nil
}

// Prove is the joiner's proof that it holds the token: an HMAC-SHA256 keyed
// by the secret over the TLS session's exported keying material (binding)
// and the public key it wants certified. A proof cannot be replayed on
// another connection or for another key, and the secret never travels.
func (t Token) Prove(binding, publicKey []byte) [32]byte {
	mac := hmac.New(sha256.New, t.Secret[:])
	mac.Write([]byte("flock join v1\x00"))
	mac.Write(binding)
	mac.Write(publicKey)
	var out [32]byte
	mac.Sum(out[:0])
	return out
}

// TokenRecord is what the issuer keeps of a token it handed out.
type TokenRecord struct {
	Token    Token
	Expires  time.Time
	UsesLeft int // machines that may still join with it
}

// Check verifies a join proof against the record at now: the token is
// known, not expired, has uses left, and the proof is right. Every refusal
// wraps ErrToken and says nothing about the secret.
func (r *TokenRecord) Check(id [4]byte, proof [32]byte, binding, publicKey []byte, now time.Time) error {
	if subtle.ConstantTimeCompare(id[:], r.Token.ID[:]) != 1 {
		return fmt.Errorf("%w: unknown token", ErrToken)
	}
	want := r.Token.Prove(binding, publicKey)
	if !hmac.Equal(want[:], proof[:]) {
		return fmt.Errorf("%w: wrong proof for token %s", ErrToken, r.Token.IDString())
	}
	if !now.Before(r.Expires) {
		return fmt.Errorf("%w: token %s expired at %s", ErrToken, r.Token.IDString(), r.Expires.UTC().Format(time.RFC3339))
	}
	if r.UsesLeft <= 0 {
		return fmt.Errorf("%w (token %s)", ErrTokenUsedUp, r.Token.IDString())
	}
	return nil
}
