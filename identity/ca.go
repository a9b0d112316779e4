package identity

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Validity of what the CA signs. There is no rotation yet, so certificates
// live long; the CA outlives every certificate it signs.
const (
	CAValidity   = 20 * 365 * 24 * time.Hour
	LeafValidity = 10 * 365 * 24 * time.Hour
	// clockSkewMax backdates NotBefore so a machine whose clock is a little
	// behind the CA's accepts a fresh certificate.
	clockSkewMax = time.Hour
)

// CA is the VM's certificate authority: its certificate and private key.
type CA struct {
	VM   VM
	Cert *x509.Certificate
	Key  ed25519.PrivateKey
}

// VM names a Flock VM.
type VM struct {
	Name string // chosen at flock new
	ID   string // 16 random hex digits drawn at flock new
}

func (v VM) String() string { return v.Name + " (" + v.ID + ")" }

// NewCA makes the certificate authority of a new VM named name. Keys and
// the VM id come from rnd (crypto/rand.Reader if nil).
func NewCA(name string, rnd io.Reader, now time.Time) (*CA, error) {
	if !ValidVMName(name) {
		return nil, fmt.Errorf("%w: VM name %q (want lowercase letters, digits, '_', '.', '-')", ErrBadName, name)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var idBytes [8]byte
	if _, err := io.ReadFull(rnd, idBytes[:]); err != nil {
		return nil, fmt.Errorf("identity: VM id: %w", err)
	}
	vm := VM{Name: name, ID: hex.EncodeToString(idBytes[:])}
	pub, key, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("identity: CA key: %w", err)
	}
	serial, err := newSerial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "flock vm " + name, SerialNumber: vm.ID},
		NotBefore:             now.Add(-clockSkewMax),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("identity: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("identity: CA certificate: %w", err)
	}
	return &CA{VM: vm, Cert: cert, Key: key}, nil
}

// vmOfCA reads the VM a CA certificate names.
func vmOfCA(cert *x509.Certificate) (VM, error) {
	name, ok := strings.CutPrefix(cert.Subject.CommonName, "flock vm ")
	if !ok || !ValidVMName(name) || !vmIDPattern.MatchString(cert.Subject.SerialNumber) || !cert.IsCA {
		return VM{}, fmt.Errorf("identity: certificate %q is not a flock VM's CA", cert.Subject.CommonName)
	}
	return VM{Name: name, ID: cert.Subject.SerialNumber}, nil
}

func newSerial(rnd io.Reader) (*big.Int, error) {
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("identity: serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

// Hash is the SHA-256 of the CA's public key (its SubjectPublicKeyInfo):
// what a join token pins.
func (ca *CA) Hash() [32]byte { return sha256.Sum256(ca.Cert.RawSubjectPublicKeyInfo) }

// CAHash is the SHA-256 of a CA certificate's public key.
func CAHash(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// IssueMachine signs a certificate naming machine id for the public key pub.
func (ca *CA) IssueMachine(id uint64, pub crypto.PublicKey, rnd io.Reader, now time.Time) (*x509.Certificate, error) {
	p := Principal{VMID: ca.VM.ID, Kind: KindMachine, Machine: nodeID(id)}
	if id == 0 || IsClientID(p.Machine) {
		return nil, fmt.Errorf("identity: machine id %d is zero or in the client range", id)
	}
	return ca.issue(p, fmt.Sprintf("machine %d", id), pub, rnd, now)
}

// IssueUser signs a certificate naming user name for the public key pub.
func (ca *CA) IssueUser(name string, pub crypto.PublicKey, rnd io.Reader, now time.Time) (*x509.Certificate, error) {
	if !ValidUserName(name) {
		return nil, fmt.Errorf("%w: user name %q", ErrBadName, name)
	}
	p := Principal{VMID: ca.VM.ID, Kind: KindUser, User: name}
	return ca.issue(p, "user "+name, pub, rnd, now)
}

func (ca *CA) issue(p Principal, cn string, pub crypto.PublicKey, rnd io.Reader, now time.Time) (*x509.Certificate, error) {
	if _, ok := pub.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("identity: %v: public key is %T, want ed25519", p, pub)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	serial, err := newSerial(rnd)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-clockSkewMax),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Machines serve and dial; clients only dial, but one kind of
		// certificate keeps verification uniform.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{p.URI()},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("identity: sign %v: %w", p, err)
	}
	return x509.ParseCertificate(der)
}

// Verify checks that cert was signed by this VM's CA (caCert), is valid at
// now and names a principal of this VM, and returns that principal.
func Verify(caCert *x509.Certificate, cert *x509.Certificate, now time.Time) (Principal, error) {
	vm, err := vmOfCA(caCert)
	if err != nil {
		return Principal{}, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: certificate %q is not of vm %v: %w", ErrNotOfVM, cert.Subject.CommonName, vm, err)
	}
	p, err := ParsePrincipal(cert)
	if err != nil {
		return Principal{}, err
	}
	if p.VMID != vm.ID {
		return Principal{}, fmt.Errorf("%w: certificate names vm %s, want %s", ErrNotOfVM, p.VMID, vm.ID)
	}
	return p, nil
}

// ErrNotOfVM is wrapped by errors about certificates of another VM.
var ErrNotOfVM = errors.New("identity: not of this VM")
