package host

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/netmodel/tcpnet"
	"github.com/flockvm/flock/vm/node"
	"github.com/flockvm/flock/vm/raftkv"
)

// tokenVia makes a join token through machine on, waiting while it has not
// read the VM's CA from the metadata store yet (answered unavailable).
func (v *testVM) tokenVia(on, uses int) identity.Token {
	v.t.Helper()
	c := v.client(on, v.admin)
	deadline := time.Now().Add(waitMax)
	for {
		s, err := c.CreateToken(context.Background(), uses, time.Hour)
		var re *RequestError
		if err == nil {
			tok, perr := identity.ParseToken(s)
			if perr != nil {
				v.t.Fatalf("CreateToken via machine %d = %q: %v", on, s, perr)
			}
			return tok
		}
		if !errors.As(err, &re) || re.Code != node.CodeUnavailable || time.Now().After(deadline) {
			v.t.Fatalf("CreateToken via machine %d = %v", on, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitIssuing waits until machine i issues from the metadata store.
func (v *testVM) waitIssuing(i int) *vmIssuer {
	v.t.Helper()
	for deadline := time.Now().Add(waitMax); ; time.Sleep(20 * time.Millisecond) {
		if is := v.machines[i].issuer.Load(); is != nil {
			if local, handing, ca := is.state(); local == nil && !handing && ca != nil {
				return is
			}
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("machine %d does not issue from the metadata store after %v", i+1, waitMax)
		}
	}
}

// joinVia joins a new machine through machine on with tok.
func (v *testVM) joinVia(on int, tok identity.Token) (*testMachine, netmodel.NodeID, error) {
	m := v.newMachine()
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	id, err := JoinVM(ctx, m.disk, JoinConfig{VM: v.name, Addr: v.machines[on].addr, Token: tok, Advertise: m.addr, Provide: node.Resources{Cores: 1}})
	return m, id, err
}

// TestIssuerOutlivesMachineOne: once machine 1 handed the issuer over to
// the metadata store, any machine makes tokens, admits joiners and signs
// users' certificates, with machine 1 down for good; a token's uses are
// spent once across machines; the tokens flock new made still work.
func TestIssuerOutlivesMachineOne(t *testing.T) {
	v := newTestVM(t, "issuervm", 3, 3)
	v.waitJoined(v.client(1, v.admin), 3)
	one := v.tokenVia(1, 1)
	if handed, err := (identity.Dir{FS: v.machines[0].disk}).HandedOver(); err != nil || !handed {
		t.Errorf("machine 1's HandedOver() = %v, %v; want true", handed, err)
	}
	if err := v.stopMachine(v.machines[0]); err != nil {
		t.Fatal(err)
	}

	// Two joiners race for the one use, through two machines.
	type joined struct {
		m   *testMachine
		id  netmodel.NodeID
		err error
	}
	ms := []*testMachine{v.newMachine(), v.newMachine()}
	results := make([]joined, 2)
	var wg sync.WaitGroup
	for i, on := range []int{1, 2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitMax)
			defer cancel()
			id, err := JoinVM(ctx, ms[i].disk, JoinConfig{VM: v.name, Addr: v.machines[on].addr, Token: one, Advertise: ms[i].addr, Provide: node.Resources{Cores: 1}})
			results[i] = joined{ms[i], id, err}
		}()
	}
	wg.Wait()
	var winner *testMachine
	for _, r := range results {
		switch {
		case r.err == nil && winner == nil:
			winner = r.m
			if r.id != 4 {
				t.Errorf("the admitted machine got id %v, want 4", r.id)
			}
		case r.err == nil:
			t.Errorf("both joiners were admitted with a token of one use")
		case !errors.Is(r.err, ErrRefused):
			t.Errorf("the other joiner's JoinVM = %v, want refused (used up)", r.err)
		}
	}
	if winner == nil {
		t.Fatalf("no joiner admitted: %v / %v", results[0].err, results[1].err)
	}
	v.serve(winner)

	// flock new's token (10 uses, made in machine 1's data dir) was
	// handed over with the rest.
	m5, id5, err := v.joinVia(2, v.token)
	if err != nil || id5 != 5 {
		t.Fatalf("JoinVM with flock new's token = %v, %v; want machine 5", id5, err)
	}
	v.serve(m5)
	c := v.client(2, v.admin)
	v.waitJoined(c, 4)
	dave, err := c.AddUser(context.Background(), "dave")
	if err != nil {
		t.Fatalf("AddUser(dave) via machine 3 = %v", err)
	}
	if _, _, err := v.client(len(v.machines)-1, dave).PS(context.Background(), false); err != nil {
		t.Errorf("PS as dave via machine 5 = %v", err)
	}
}

// TestIssuerPrunesExpiredTokens: token records expired longer than
// tokenKeepAfterExpiry ago are deleted from the store; a join with one is
// then refused as unknown.
func TestIssuerPrunesExpiredTokens(t *testing.T) {
	v := newTestVM(t, "prunevm", 1, 1)
	is := v.waitIssuing(0)
	tok := v.tokenVia(0, 1)
	ctx := context.Background()
	if n, err := is.pruneTokensOnce(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("pruneTokensOnce(now) = %d, %v; want 0 (every token live)", n, err)
	}
	// flock new's token and tok, both expiring within the hour.
	if n, err := is.pruneTokensOnce(ctx, time.Now().Add(time.Hour+tokenKeepAfterExpiry+time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruneTokensOnce(after expiry) = %d, %v; want 2", n, err)
	}
	if _, _, err := v.joinVia(0, tok); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unknown token") {
		t.Errorf("JoinVM with a pruned token = %v, want refused: unknown token", err)
	}
}

// TestIssuerJoinAskedAgain: a joiner whose answer was lost asks again with
// the key it kept, through another machine, and gets the same machine id
// without spending another use of the token; another key with the spent
// token is refused.
func TestIssuerJoinAskedAgain(t *testing.T) {
	v := newTestVM(t, "againvm", 2, 1)
	v.waitIssuing(1)
	tok := v.tokenVia(1, 1)
	key, err := identity.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	_, first, err := tcpnet.JoinVM(ctx, v.machines[1].addr, v.name, tok, key, nil)
	if err != nil {
		t.Fatalf("JoinVM via machine 2 = %v", err)
	}
	_, again, err := tcpnet.JoinVM(ctx, v.machines[0].addr, v.name, tok, key, nil)
	if err != nil || again.MachineID != first.MachineID {
		t.Fatalf("JoinVM again with the same key via machine 1 = id %d, %v; want id %d", again.MachineID, err, first.MachineID)
	}
	other, _ := identity.NewKey(nil)
	if _, _, err := tcpnet.JoinVM(ctx, v.machines[0].addr, v.name, tok, other, nil); !errors.Is(err, identity.ErrToken) || !strings.Contains(err.Error(), "used up") {
		t.Errorf("JoinVM with another key and the spent token = %v, want used up", err)
	}
}

func TestSpendTxn(t *testing.T) {
	rec := identity.TokenRecord{UsesLeft: 2, Expires: time.Unix(1e9, 0)}
	for _, tc := range []struct {
		last    raftkv.Result
		wantID  uint64
		wantCmp raftkv.CompareKind
		wantErr bool
	}{
		{raftkv.Result{}, 1, raftkv.CompareAbsent, false},
		{raftkv.Result{Found: true, Value: "4"}, 5, raftkv.CompareEqual, false},
		{raftkv.Result{Found: true, Value: "x"}, 0, 0, true},
	} {
		txn, id, err := spendTxn("i/t/ab", "old", rec, tc.last, "i/issued/cd")
		if (err != nil) != tc.wantErr {
			t.Errorf("spendTxn(last %+v) error %v, want error %v", tc.last, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if id != tc.wantID || len(txn.If) != 3 || txn.If[1].Kind != tc.wantCmp || len(txn.Then) != 3 {
			t.Errorf("spendTxn(last %+v) = id %d, %+v; want id %d with a %v compare on the counter", tc.last, id, txn, tc.wantID, tc.wantCmp)
			continue
		}
		spent, err := identity.DecodeTokenRecord([]byte(txn.Then[0].Value))
		if err != nil || spent.UsesLeft != 1 || txn.Then[1].Value != txn.Then[2].Value {
			t.Errorf("spendTxn(last %+v) writes %+v (%v); want the token with 1 use left and the id twice", tc.last, txn.Then, err)
		}
	}
}
