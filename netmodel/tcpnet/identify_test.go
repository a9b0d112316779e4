package tcpnet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flockvm/flock/identity"
)

// TestIdentify: a client learns which machine listens at an address; a
// credential of another VM learns nothing.
func TestIdentify(t *testing.T) {
	v := newVM(t, "idvm")
	srv := start(t, Config{Self: 7, Incarnation: 1, Credential: v.machine(7), Listen: "127.0.0.1:0"})
	addr := srv.tr.Addr().String()
	p, err := Identify(context.Background(), addr, v.user("alice"))
	if err != nil || p.Kind != identity.KindMachine || p.Machine != 7 {
		t.Fatalf("Identify(%s) = %v, %v; want machine 7", addr, p, err)
	}
	// The server finishes its side of the handshake after the client.
	deadline := time.Now().Add(waitMax)
	for srv.tr.Stats().Identifies != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := srv.tr.Stats().Identifies; got != 1 {
		t.Errorf("Stats().Identifies = %d, want 1", got)
	}
	other := newVM(t, "idvm")
	if p, err := Identify(context.Background(), addr, other.user("alice")); err == nil {
		t.Errorf("Identify with another VM's credential = %v, want an error", p)
	}
	if p, err := Identify(context.Background(), "127.0.0.1:1", v.user("alice")); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Identify(nothing listening) = %v, %v; want a dial error", p, err)
	}
}
