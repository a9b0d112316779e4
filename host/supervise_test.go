package host

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
)

var (
	errTransient = errors.New("disk hiccup")
	errCorrupt   = errors.New("corrupt")
)

// flaky fails with its error after failAfter ticks.
type flaky struct {
	ticks, failAfter int
	err              error
	closed           *int
	batches          *int
}

func (f *flaky) Tick()                           { f.ticks++ }
func (f *flaky) Receive(netmodel.NodeID, []byte) {}
func (f *flaky) EndBatch()                       { *f.batches++ }
func (f *flaky) Err() error {
	if f.ticks >= f.failAfter {
		return f.err
	}
	return nil
}
func (f *flaky) Close() error { *f.closed++; return nil }

func newTestHost(t *testing.T, open OpenFunc) *Host {
	t.Helper()
	ca, err := identity.NewCA("vm", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ca.MachineCredential(1, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tcpnet.New(tcpnet.Config{Self: 1, Incarnation: 1, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	disk, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	h, err := New(Config{Service: "test", Transport: tr, Disk: disk, Open: open, TickPeriod: time.Millisecond,
		Fatal: func(err error) bool { return errors.Is(err, errCorrupt) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSupervision: a machine that fails with a transient error is closed
// and reopened; one that fails with a fatal error stops the Host.
func TestSupervision(t *testing.T) {
	closed, batches, opens := 0, 0, 0
	h := newTestHost(t, func(env Env) (Machine, error) {
		opens++
		if env.Open != uint64(opens) || env.Rand == nil {
			t.Errorf("Env.Open = %d, want %d; Rand %v", env.Open, opens, env.Rand)
		}
		err := errTransient
		if opens == 3 {
			err = errCorrupt
		}
		return &flaky{failAfter: 3, err: err, closed: &closed, batches: &batches}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := h.Run(ctx)
	if !errors.Is(err, ErrFailStop) || !errors.Is(err, errCorrupt) {
		t.Fatalf("Run = %v, want a fail-stop on the corrupt error", err)
	}
	if opens != 3 || closed != 3 {
		t.Errorf("opens %d closes %d, want 3 and 3", opens, closed)
	}
	if err := h.Do(ctx, func(Machine) {}); !errors.Is(err, ErrStopped) {
		t.Errorf("Do after Run = %v, want ErrStopped", err)
	}
}

// TestOpenRetried: an Open that fails with a transient error is retried.
func TestOpenRetried(t *testing.T) {
	calls := 0
	closed, batches := 0, 0
	h := newTestHost(t, func(env Env) (Machine, error) {
		calls++
		if calls < 3 {
			return nil, errTransient
		}
		return &flaky{failAfter: 1 << 30, closed: &closed, batches: &batches}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var up bool
		if err := h.Do(context.Background(), func(m Machine) { up = m != nil }); err != nil {
			t.Fatal(err)
		}
		if up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine never opened after %d calls", calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if calls != 3 || closed != 1 {
		t.Errorf("Open called %d times, closed %d; want 3 and 1", calls, closed)
	}
}
