package tcpnet

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
)

// serveJoin answers the one join request of a connection that negotiated
// the join protocol (no client certificate), then closes it.
func (t *Transport) serveJoin(tc *tls.Conn) {
	defer tc.Close()
	t.stats.joins.Add(1)
	_ = tc.SetDeadline(time.Now().Add(joinTimeoutDefault))
	f, _, err := readFrame(bufio.NewReaderSize(tc, 4<<10), identity.JoinMessageSizeMax)
	if err != nil {
		t.log.Warn("join: bad request", "remote", tc.RemoteAddr().String(), "err", err.Error())
		return
	}
	req, err := identity.DecodeJoinRequest(f.Payload)
	if err != nil {
		t.log.Warn("join: bad request", "remote", tc.RemoteAddr().String(), "err", err.Error())
		return
	}
	binding, err := exportBinding(tc.ConnectionState())
	if err != nil {
		return
	}
	resp := t.cfg.Join(req, binding)
	if resp.Status == identity.JoinOK {
		t.stats.joinsOK.Add(1)
		t.log.Info("join: admitted", "remote", tc.RemoteAddr().String(), "machine", netmodel.NodeID(resp.MachineID).String())
	} else {
		t.log.Warn("join: refused", "remote", tc.RemoteAddr().String(), "why", resp.Message)
	}
	_, _ = tc.Write(netmodel.AppendFrame(nil, t.cfg.Self, 0, resp.Encode()))
}

func exportBinding(cs tls.ConnectionState) ([]byte, error) {
	return cs.ExportKeyingMaterial(exporterLabel, nil, exporterBytes)
}

// Join asks the machine at addr to admit this one with token tok: it
// checks that the server's certificate chains to the CA the token pins,
// proves the token, and returns the credential the VM issued for key.
// A refusal is an error wrapping identity.ErrToken.
func Join(ctx context.Context, addr string, tok identity.Token, key ed25519.PrivateKey, info []byte) (*identity.Credential, error) {
	cred, _, err := JoinVM(ctx, addr, "", tok, key, info)
	return cred, err
}

// ErrWrongVM: the machine at the join address belongs to a VM of another
// name than the joiner asked for.
var ErrWrongVM = errors.New("tcpnet: join: the machine belongs to another VM")

// JoinVM is Join that also checks the VM is named vmName (unless empty)
// before anything is proved, and returns the issuer's whole answer (its
// Cluster says what the VM is).
func JoinVM(ctx context.Context, addr, vmName string, tok identity.Token, key ed25519.PrivateKey, info []byte) (*identity.Credential, identity.JoinResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeoutDefault)
	defer cancel()
	var caCert *x509.Certificate
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{joinProto},
		// Verified below against the token's CA hash, not by host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain := cs.PeerCertificates
			if len(chain) < 2 {
				return errors.New("tcpnet: join: server sent no CA certificate")
			}
			ca := chain[len(chain)-1]
			if err := tok.CheckIssuer(ca); err != nil {
				return err
			}
			if vmName != "" && ca.Subject.CommonName != "flock vm "+vmName {
				return fmt.Errorf("%w: it is %q, not %q", ErrWrongVM, strings.TrimPrefix(ca.Subject.CommonName, "flock vm "), vmName)
			}
			p, err := identity.Verify(ca, chain[0], time.Now())
			if err != nil {
				return err
			}
			if p.Kind != identity.KindMachine {
				return fmt.Errorf("tcpnet: join: server is %v, not a machine", p)
			}
			caCert = ca
			return nil
		},
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: %w", addr, err)
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: %w", addr, err)
	}
	if tc.ConnectionState().NegotiatedProtocol != joinProto {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: the machine does not admit joins", addr)
	}
	binding, err := exportBinding(tc.ConnectionState())
	if err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: %w", addr, err)
	}
	req := identity.NewJoinRequest(tok, binding, key, info)
	if _, err := tc.Write(netmodel.AppendFrame(nil, 0, 0, req.Encode())); err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: %w", addr, err)
	}
	f, _, err := readFrame(bufio.NewReader(tc), identity.JoinMessageSizeMax)
	if err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: no answer (a refused token closes the connection only after answering): %w", addr, err)
	}
	resp, err := identity.DecodeJoinResponse(f.Payload)
	if err != nil {
		return nil, identity.JoinResponse{}, fmt.Errorf("tcpnet: join %s: %w", addr, err)
	}
	cred, err := identity.FinishJoin(caCert, resp, key, time.Now())
	return cred, resp, err
}
