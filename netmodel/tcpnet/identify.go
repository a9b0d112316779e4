package tcpnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/flockvm/flock/identity"
)

// IdentifyTimeout bounds Identify when its context has no deadline.
const IdentifyTimeout = 10 * time.Second

// Identify learns which machine of cred's VM listens at addr: one TLS
// handshake, mutually authenticated, on the protocol "flock-id/1", after
// which the machine closes. A client knows a machine only by its address
// (NAME@ADDR) and must name its id to dial it.
func Identify(ctx context.Context, addr string, cred *identity.Credential) (identity.Principal, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, IdentifyTimeout)
		defer cancel()
	}
	var found identity.Principal
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cred.TLSCertificate()},
		NextProtos:   []string{idProto},
		// Verified below against the VM's CA, by principal.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tcpnet: the server sent no certificate")
			}
			p, err := identity.Verify(cred.CACert, cs.PeerCertificates[0], time.Now())
			if err != nil {
				return err
			}
			if p.Kind != identity.KindMachine {
				return fmt.Errorf("tcpnet: %s is %v, not a machine", addr, p)
			}
			found = p
			return nil
		},
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return identity.Principal{}, fmt.Errorf("tcpnet: identify %s: %w", addr, err)
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return identity.Principal{}, fmt.Errorf("tcpnet: identify %s: %w", addr, err)
	}
	if tc.ConnectionState().NegotiatedProtocol != idProto {
		return identity.Principal{}, fmt.Errorf("tcpnet: identify %s: the machine does not answer who it is", addr)
	}
	return found, nil
}
