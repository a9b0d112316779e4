package identity

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/flockvm/flock/netmodel"
)

// ClientIDBit is set in every NodeID a client speaks as and in none of a
// machine's, so a client can never pass for a machine.
const ClientIDBit netmodel.NodeID = 1 << 63

// IsClientID reports whether id is in the client range.
func IsClientID(id netmodel.NodeID) bool { return id&ClientIDBit != 0 }

// NewClientID draws a random NodeID of the client range. With 63 random
// bits, two clients of one VM pick the same id with negligible odds.
func NewClientID(rnd io.Reader) (netmodel.NodeID, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return 0, fmt.Errorf("identity: client id: %w", err)
	}
	return netmodel.NodeID(binary.LittleEndian.Uint64(b[:])) | ClientIDBit, nil
}

// Kind says what a principal is.
type Kind uint8

// The kinds of principal.
const (
	KindMachine Kind = iota + 1
	KindUser
)

func (k Kind) String() string {
	switch k {
	case KindMachine:
		return "machine"
	case KindUser:
		return "user"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Principal is the holder of a certificate.
type Principal struct {
	VMID    string // the VM's id, 16 hex digits
	Kind    Kind
	Machine netmodel.NodeID // KindMachine: the machine's id
	User    string          // KindUser: the user's name
}

func (p Principal) String() string {
	if p.Kind == KindMachine {
		return fmt.Sprintf("machine %v of vm %s", p.Machine, p.VMID)
	}
	return fmt.Sprintf("user %q of vm %s", p.User, p.VMID)
}

// URI is the SAN that names p in its certificate.
func (p Principal) URI() *url.URL {
	switch p.Kind {
	case KindMachine:
		return &url.URL{Scheme: uriScheme, Host: p.VMID, Path: "/machine/" + strconv.FormatUint(uint64(p.Machine), 10)}
	case KindUser:
		return &url.URL{Scheme: uriScheme, Host: p.VMID, Path: "/user/" + p.User}
	}
	panic(fmt.Sprintf("identity: URI of a principal of kind %v", p.Kind))
}

// MaySpeakAs reports why a connection authenticated as p may not send as
// id, or nil if it may: a machine speaks only as itself, a user's client
// only as a client id.
func (p Principal) MaySpeakAs(id netmodel.NodeID) error {
	switch p.Kind {
	case KindMachine:
		if id != p.Machine {
			return fmt.Errorf("identity: %v may not speak as %v", p, id)
		}
	case KindUser:
		if !IsClientID(id) {
			return fmt.Errorf("identity: %v may not speak as %v, which is not a client id", p, id)
		}
	default:
		return fmt.Errorf("identity: principal of %v", p.Kind)
	}
	return nil
}

const uriScheme = "flock"

var (
	vmIDPattern     = regexp.MustCompile(`^[0-9a-f]{16}$`)
	userNamePattern = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,63}$`)
	vmNamePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
)

// ErrBadName means a VM or user name is not of the allowed form.
var ErrBadName = errors.New("identity: bad name")

// ValidUserName reports whether name may name a user: lowercase letters,
// digits, '_', '.', '-', starting with a letter or '_', at most 64 bytes.
func ValidUserName(name string) bool { return userNamePattern.MatchString(name) }

// ValidVMName reports whether name may name a VM: lowercase letters,
// digits, '_', '.', '-', starting with a letter or digit, at most 63 bytes.
func ValidVMName(name string) bool { return vmNamePattern.MatchString(name) }

// ParsePrincipal reads the principal a certificate names. It does not
// verify the certificate: do that first (the TLS handshake does).
func ParsePrincipal(cert *x509.Certificate) (Principal, error) {
	var found []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == uriScheme {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		return Principal{}, fmt.Errorf("identity: certificate %q names %d flock principals, want 1", cert.Subject.CommonName, len(found))
	}
	return parsePrincipalURI(found[0])
}

func parsePrincipalURI(u *url.URL) (Principal, error) {
	bad := func(why string) (Principal, error) {
		return Principal{}, fmt.Errorf("identity: principal %q: %s", u.String(), why)
	}
	if !vmIDPattern.MatchString(u.Host) || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("not flock://<16 hex digits>/...")
	}
	p := Principal{VMID: u.Host}
	kind, rest, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok {
		return bad("no kind")
	}
	switch kind {
	case "machine":
		id, err := strconv.ParseUint(rest, 10, 64)
		if err != nil || id == 0 || IsClientID(netmodel.NodeID(id)) || strconv.FormatUint(id, 10) != rest {
			return bad("machine id must be a decimal NodeID outside the client range")
		}
		p.Kind, p.Machine = KindMachine, netmodel.NodeID(id)
	case "user":
		if !ValidUserName(rest) {
			return bad("bad user name")
		}
		p.Kind, p.User = KindUser, rest
	default:
		return bad("unknown kind")
	}
	return p, nil
}

func nodeID(id uint64) netmodel.NodeID { return netmodel.NodeID(id) }
