package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The join exchange: a joiner without a certificate opens a TLS connection
// (protocol "flock-join/1", the server's certificate checked against the
// CA hash of the token), sends one JoinRequest and reads one JoinResponse.
//
//	JoinRequest:  "FJQ" 2 | token id (4) | proof (32) | public key (32) | info length (u16) | info
//	JoinResponse: "FJR" 2 | status (1) | machine id (u64) | message length (u16) | message |
//	              certificate length (u16) | certificate DER | cluster length (u16) | cluster
const (
	joinVersion = 2
	// JoinInfoMax bounds what a joiner says about itself (what it
	// provides, where it listens).
	JoinInfoMax = 4 << 10
	// JoinMessageMax bounds a refusal's text.
	JoinMessageMax = 1 << 10
	// JoinCertMax bounds the issued certificate.
	JoinCertMax = 16 << 10
	// JoinClusterMax bounds what the issuer says of the VM (its voters,
	// its machines' addresses).
	JoinClusterMax = 32 << 10
	// JoinMessageSizeMax bounds an encoded request or response.
	JoinMessageSizeMax = 4 + 1 + 8 + 2 + JoinMessageMax + 2 + JoinCertMax + 2 + JoinClusterMax + JoinInfoMax
)

var (
	joinRequestMagic  = [3]byte{'F', 'J', 'Q'}
	joinResponseMagic = [3]byte{'F', 'J', 'R'}
)

// ErrJoinMessage is wrapped by every decoding error of the join exchange.
var ErrJoinMessage = errors.New("identity: bad join message")

// JoinRequest is a machine asking to join with a token.
type JoinRequest struct {
	TokenID   [4]byte
	Proof     [32]byte
	PublicKey ed25519.PublicKey
	Info      []byte // what the machine says about itself, opaque here
}

// Encode returns the request's wire form. It panics on a request that
// breaks the limits: the joiner builds it.
func (r *JoinRequest) Encode() []byte {
	if len(r.PublicKey) != ed25519.PublicKeySize || len(r.Info) > JoinInfoMax {
		panic(fmt.Sprintf("identity: join request with a %d-byte key and %d bytes of info", len(r.PublicKey), len(r.Info)))
	}
	b := append([]byte(nil), joinRequestMagic[:]...)
	b = append(b, joinVersion)
	b = append(b, r.TokenID[:]...)
	b = append(b, r.Proof[:]...)
	b = append(b, r.PublicKey...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Info)))
	return append(b, r.Info...)
}

// DecodeJoinRequest parses a request; garbage is an error wrapping
// ErrJoinMessage.
func DecodeJoinRequest(b []byte) (JoinRequest, error) {
	d := joinDecoder{b: b}
	d.header(joinRequestMagic)
	var r JoinRequest
	copy(r.TokenID[:], d.take(4))
	copy(r.Proof[:], d.take(32))
	r.PublicKey = ed25519.PublicKey(append([]byte(nil), d.take(ed25519.PublicKeySize)...))
	r.Info = append([]byte(nil), d.lenPrefixed(JoinInfoMax)...)
	if err := d.finish(); err != nil {
		return JoinRequest{}, err
	}
	return r, nil
}

// JoinStatus is the outcome of a join.
type JoinStatus uint8

// Join outcomes.
const (
	JoinOK JoinStatus = iota + 1
	// JoinRefused: the token was wrong, unknown, expired or used up.
	JoinRefused
	// JoinUnavailable: the issuer could not admit a machine now; retry.
	JoinUnavailable
)

// JoinResponse is the issuer's answer.
type JoinResponse struct {
	Status    JoinStatus
	MachineID uint64 // JoinOK: the id the machine got
	Message   string // why not, for a refusal
	Cert      []byte // JoinOK: the machine's certificate (DER)
	Cluster   []byte // JoinOK: what the issuer says of the VM, opaque here
}

// Encode returns the response's wire form, truncating an overlong message.
func (r *JoinResponse) Encode() []byte {
	if len(r.Cert) > JoinCertMax || len(r.Cluster) > JoinClusterMax {
		panic(fmt.Sprintf("identity: join response with a %d-byte certificate and %d bytes of cluster", len(r.Cert), len(r.Cluster)))
	}
	msg := r.Message
	if len(msg) > JoinMessageMax {
		msg = msg[:JoinMessageMax]
	}
	b := append([]byte(nil), joinResponseMagic[:]...)
	b = append(b, joinVersion, byte(r.Status))
	b = binary.LittleEndian.AppendUint64(b, r.MachineID)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Cert)))
	b = append(b, r.Cert...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Cluster)))
	return append(b, r.Cluster...)
}

// DecodeJoinResponse parses a response; garbage is an error wrapping
// ErrJoinMessage.
func DecodeJoinResponse(b []byte) (JoinResponse, error) {
	d := joinDecoder{b: b}
	d.header(joinResponseMagic)
	var r JoinResponse
	st := d.take(1)
	if st != nil {
		r.Status = JoinStatus(st[0])
	}
	if id := d.take(8); id != nil {
		r.MachineID = binary.LittleEndian.Uint64(id)
	}
	r.Message = string(d.lenPrefixed(JoinMessageMax))
	r.Cert = append([]byte(nil), d.lenPrefixed(JoinCertMax)...)
	r.Cluster = append([]byte(nil), d.lenPrefixed(JoinClusterMax)...)
	if err := d.finish(); err != nil {
		return JoinResponse{}, err
	}
	if r.Status < JoinOK || r.Status > JoinUnavailable {
		return JoinResponse{}, fmt.Errorf("%w: status %d", ErrJoinMessage, r.Status)
	}
	if (r.Status == JoinOK) != (len(r.Cert) > 0 && r.MachineID != 0) {
		return JoinResponse{}, fmt.Errorf("%w: status %d with machine %d and a %d-byte certificate", ErrJoinMessage, r.Status, r.MachineID, len(r.Cert))
	}
	return r, nil
}

// joinDecoder reads fields until the first error, which it keeps.
type joinDecoder struct {
	b   []byte
	err error
}

func (d *joinDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated", ErrJoinMessage)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *joinDecoder) header(magic [3]byte) {
	h := d.take(4)
	if h != nil && (h[0] != magic[0] || h[1] != magic[1] || h[2] != magic[2] || h[3] != joinVersion) {
		d.err = fmt.Errorf("%w: header % x, want %q version %d", ErrJoinMessage, h, magic[:], joinVersion)
	}
}

func (d *joinDecoder) lenPrefixed(max int) []byte {
	l := d.take(2)
	if l == nil {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(l))
	if n > max {
		d.err = fmt.Errorf("%w: field of %d bytes, more than %d", ErrJoinMessage, n, max)
		return nil
	}
	return d.take(n)
}

func (d *joinDecoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrJoinMessage, len(d.b))
	}
	return d.err
}

// NewJoinRequest builds the request a joiner holding tok sends on a TLS
// session whose exported keying material is binding, asking for key's
// public half to be certified.
func NewJoinRequest(tok Token, binding []byte, key ed25519.PrivateKey, info []byte) JoinRequest {
	pub := key.Public().(ed25519.PublicKey)
	return JoinRequest{TokenID: tok.ID, Proof: tok.Prove(binding, pub), PublicKey: pub, Info: info}
}

// CheckIssuer verifies that caCert (as the issuer presented it) is the CA
// the token pins.
func (t Token) CheckIssuer(caCert *x509.Certificate) error {
	if CAHash(caCert) != t.CAHash {
		return fmt.Errorf("%w: the server's CA is not the one the token names", ErrToken)
	}
	_, err := vmOfCA(caCert)
	return err
}

// FinishJoin turns an accepted join into the machine's credential,
// checking that the certificate is the CA's, for key, and names the id.
func FinishJoin(caCert *x509.Certificate, resp JoinResponse, key ed25519.PrivateKey, now time.Time) (*Credential, error) {
	switch resp.Status {
	case JoinOK:
	case JoinRefused:
		return nil, fmt.Errorf("%w: refused: %s", ErrToken, resp.Message)
	default:
		return nil, fmt.Errorf("%w: %s", ErrJoinUnavailable, resp.Message)
	}
	cert, err := x509.ParseCertificate(resp.Cert)
	if err != nil {
		return nil, fmt.Errorf("%w: issued certificate: %w", ErrJoinMessage, err)
	}
	c, err := NewCredential(caCert, cert, key, now)
	if err != nil {
		return nil, err
	}
	if c.Principal.Kind != KindMachine || uint64(c.Principal.Machine) != resp.MachineID {
		return nil, fmt.Errorf("%w: issued certificate names %v, want machine %d", ErrJoinMessage, c.Principal, resp.MachineID)
	}
	return c, nil
}
