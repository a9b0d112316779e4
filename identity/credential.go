package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"
)

// Credential is what a machine or a client holds to speak to a VM: its own
// certificate and key and the VM's CA certificate.
type Credential struct {
	Principal Principal
	VM        VM
	CACert    *x509.Certificate
	Cert      *x509.Certificate
	Key       ed25519.PrivateKey
}

// CredentialSizeMax bounds a credential or CA file a decoder accepts.
const CredentialSizeMax = 64 << 10

// ErrCredential is wrapped by every error about a malformed credential or
// CA file.
var ErrCredential = errors.New("identity: bad credential")

// NewCredential checks that cert, signed by caCert, belongs to key, and
// returns the credential.
func NewCredential(caCert, cert *x509.Certificate, key ed25519.PrivateKey, now time.Time) (*Credential, error) {
	vm, err := vmOfCA(caCert)
	if err != nil {
		return nil, err
	}
	p, err := Verify(caCert, cert, now)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PrivateKeySize || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: the key does not match the certificate of %v", ErrCredential, p)
	}
	return &Credential{Principal: p, VM: vm, CACert: caCert, Cert: cert, Key: key}, nil
}

// TLSCertificate is the credential as crypto/tls wants it; the chain
// carries the CA so a joiner can check it against its token.
func (c *Credential) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw, c.CACert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Pool is a pool holding the VM's CA only.
func (c *Credential) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.CACert)
	return pool
}

const (
	pemCert = "CERTIFICATE"
	pemKey  = "PRIVATE KEY"
)

// Encode is the credential as a PEM file: the holder's certificate, the
// CA's certificate, the holder's PKCS #8 private key. Keep it private
// (mode 0600).
func (c *Credential) Encode() []byte {
	return encodePEM(c.Cert, c.CACert, c.Key)
}

func encodePEM(first, second *x509.Certificate, key ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(fmt.Sprintf("identity: marshal an ed25519 key: %v", err))
	}
	var b bytes.Buffer
	for _, blk := range []*pem.Block{
		{Type: pemCert, Bytes: first.Raw},
		{Type: pemCert, Bytes: second.Raw},
		{Type: pemKey, Bytes: der},
	} {
		if err := pem.Encode(&b, blk); err != nil {
			panic(fmt.Sprintf("identity: pem encode: %v", err))
		}
	}
	return b.Bytes()
}

// DecodeCredential parses a credential file and checks it (the certificate
// is signed by the CA it carries, valid at now, and matches the key).
func DecodeCredential(data []byte, now time.Time) (*Credential, error) {
	first, second, key, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	c, err := NewCredential(second, first, key, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	return c, nil
}

// EncodeCA is the CA as a PEM file: its certificate twice (so the layout is
// that of a credential) and its private key. Whoever holds it can admit
// machines and users: keep it private (mode 0600).
func (ca *CA) Encode() []byte { return encodePEM(ca.Cert, ca.Cert, ca.Key) }

// DecodeCA parses a file written by CA.Encode.
func DecodeCA(data []byte) (*CA, error) {
	first, second, key, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	if !first.Equal(second) {
		return nil, fmt.Errorf("%w: a CA file holds one certificate twice", ErrCredential)
	}
	vm, err := vmOfCA(first)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	pub, ok := first.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%w: the CA key does not match its certificate", ErrCredential)
	}
	if err := first.CheckSignatureFrom(first); err != nil {
		return nil, fmt.Errorf("%w: CA certificate is not self-signed: %w", ErrCredential, err)
	}
	return &CA{VM: vm, Cert: first, Key: key}, nil
}

func decodePEM(data []byte) (first, second *x509.Certificate, key ed25519.PrivateKey, err error) {
	if len(data) > CredentialSizeMax {
		return nil, nil, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrCredential, len(data), CredentialSizeMax)
	}
	var blocks []*pem.Block
	for rest := data; len(bytes.TrimSpace(rest)) > 0; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil || len(blocks) == 3 {
			return nil, nil, nil, fmt.Errorf("%w: want exactly 2 certificates and a key in PEM", ErrCredential)
		}
		blocks = append(blocks, blk)
	}
	if len(blocks) != 3 || blocks[0].Type != pemCert || blocks[1].Type != pemCert || blocks[2].Type != pemKey {
		return nil, nil, nil, fmt.Errorf("%w: want blocks CERTIFICATE, CERTIFICATE, PRIVATE KEY", ErrCredential)
	}
	if first, err = x509.ParseCertificate(blocks[0].Bytes); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	if second, err = x509.ParseCertificate(blocks[1].Bytes); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(blocks[2].Bytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCredential, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: key is %T, want ed25519", ErrCredential, k)
	}
	return first, second, key, nil
}

// NewKey draws an Ed25519 key pair from rnd (crypto/rand.Reader if nil).
func NewKey(rnd io.Reader) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("identity: new key: %w", err)
	}
	return key, nil
}

// IssueCredential makes a user credential: a fresh key and a certificate
// for it signed by ca.
func (ca *CA) IssueCredential(user string, rnd io.Reader, now time.Time) (*Credential, error) {
	key, err := NewKey(rnd)
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueUser(user, key.Public(), rnd, now)
	if err != nil {
		return nil, err
	}
	return NewCredential(ca.Cert, cert, key, now)
}

// MachineCredential makes a machine credential: a fresh key and a
// certificate naming machine id, signed by ca.
func (ca *CA) MachineCredential(id uint64, rnd io.Reader, now time.Time) (*Credential, error) {
	key, err := NewKey(rnd)
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueMachine(id, key.Public(), rnd, now)
	if err != nil {
		return nil, err
	}
	return NewCredential(ca.Cert, cert, key, now)
}
