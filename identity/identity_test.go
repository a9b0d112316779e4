package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/netmodel"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// seeded is a deterministic key source so tests are reproducible.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func newCA(t testing.TB, name string, seed uint64) *CA {
	t.Helper()
	ca, err := NewCA(name, seeded(seed), t0)
	if err != nil {
		t.Fatalf("NewCA(%q) = %v", name, err)
	}
	return ca
}

func TestIssueAndVerify(t *testing.T) {
	ca := newCA(t, "myvm", 1)
	other := newCA(t, "myvm", 2) // same name, another VM
	m, err := ca.MachineCredential(3, seeded(3), t0)
	if err != nil {
		t.Fatalf("MachineCredential(3) = %v", err)
	}
	u, err := ca.IssueCredential("alice", seeded(4), t0)
	if err != nil {
		t.Fatalf("IssueCredential(alice) = %v", err)
	}
	tests := []struct {
		name    string
		ca      *CA
		cred    *Credential
		now     time.Time
		want    Principal
		wantErr error
	}{
		{"machine", ca, m, t0, Principal{VMID: ca.VM.ID, Kind: KindMachine, Machine: 3}, nil},
		{"user", ca, u, t0.Add(time.Hour), Principal{VMID: ca.VM.ID, Kind: KindUser, User: "alice"}, nil},
		{"other vm", other, m, t0, Principal{}, ErrNotOfVM},
		{"expired", ca, m, t0.Add(LeafValidity + time.Hour), Principal{}, ErrNotOfVM},
		{"not yet valid", ca, u, t0.Add(-2 * clockSkewMax), Principal{}, ErrNotOfVM},
	}
	for _, tc := range tests {
		got, err := Verify(tc.ca.Cert, tc.cred.Cert, tc.now)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr != nil) != (err != nil) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.wantErr)
		}
		if got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIssueRefusesBadNames(t *testing.T) {
	ca := newCA(t, "vm", 1)
	key, _ := NewKey(seeded(9))
	if _, err := ca.IssueUser("Bob Smith", key.Public(), nil, t0); !errors.Is(err, ErrBadName) {
		t.Errorf("IssueUser(%q) error = %v, want ErrBadName", "Bob Smith", err)
	}
	for _, id := range []uint64{0, uint64(ClientIDBit) | 5} {
		if _, err := ca.IssueMachine(id, key.Public(), nil, t0); err == nil {
			t.Errorf("IssueMachine(%#x) = nil error, want one", id)
		}
	}
	if _, err := NewCA("My VM", nil, t0); !errors.Is(err, ErrBadName) {
		t.Errorf("NewCA(%q) error = %v, want ErrBadName", "My VM", err)
	}
}

func TestMaySpeakAs(t *testing.T) {
	m := Principal{VMID: "0123456789abcdef", Kind: KindMachine, Machine: 4}
	u := Principal{VMID: "0123456789abcdef", Kind: KindUser, User: "admin"}
	tests := []struct {
		p    Principal
		id   netmodel.NodeID
		want bool
	}{
		{m, 4, true},
		{m, 5, false},
		{m, ClientIDBit | 4, false},
		{u, ClientIDBit | 77, true},
		{u, 4, false},
	}
	for _, tc := range tests {
		if got := tc.p.MaySpeakAs(tc.id) == nil; got != tc.want {
			t.Errorf("%v.MaySpeakAs(%v) ok = %v, want %v", tc.p, tc.id, got, tc.want)
		}
	}
	id, err := NewClientID(seeded(1))
	if err != nil || !IsClientID(id) {
		t.Errorf("NewClientID = %v, %v; want a client id", id, err)
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	ca := newCA(t, "vm", 1)
	u, err := ca.IssueCredential("admin", seeded(2), t0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeCredential(u.Encode(), t0)
	if err != nil {
		t.Fatalf("DecodeCredential(Encode()) = %v", err)
	}
	if back.Principal != u.Principal || back.VM != ca.VM || !back.Key.Equal(u.Key) || !back.Cert.Equal(u.Cert) {
		t.Errorf("DecodeCredential(Encode()) = %v of %v, want %v of %v", back.Principal, back.VM, u.Principal, ca.VM)
	}
	caBack, err := DecodeCA(ca.Encode())
	if err != nil || caBack.VM != ca.VM || !caBack.Key.Equal(ca.Key) {
		t.Fatalf("DecodeCA(Encode()) = %v, %v; want %v", caBack, err, ca.VM)
	}
	// A credential whose key is not its certificate's is refused.
	other, _ := ca.IssueCredential("admin", seeded(3), t0)
	mixed := encodePEM(u.Cert, ca.Cert, other.Key)
	if _, err := DecodeCredential(mixed, t0); !errors.Is(err, ErrCredential) {
		t.Errorf("DecodeCredential(mismatched key) error = %v, want ErrCredential", err)
	}
	// A user credential is not a CA file.
	if _, err := DecodeCA(u.Encode()); !errors.Is(err, ErrCredential) {
		t.Errorf("DecodeCA(a user credential) error = %v, want ErrCredential", err)
	}
}

func TestTokenRoundTripAndProof(t *testing.T) {
	ca := newCA(t, "vm", 1)
	tok, err := NewToken(ca.Hash(), seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseToken(" " + tok.String() + "\n")
	if err != nil || back != tok {
		t.Fatalf("ParseToken(String()) = %v, %v; want %v", back, err, tok)
	}
	if err := tok.CheckIssuer(ca.Cert); err != nil {
		t.Errorf("CheckIssuer(its CA) = %v", err)
	}
	if err := tok.CheckIssuer(newCA(t, "vm", 2).Cert); !errors.Is(err, ErrToken) {
		t.Errorf("CheckIssuer(another CA) = %v, want ErrToken", err)
	}
	key, _ := NewKey(seeded(6))
	pub := key.Public().(ed25519.PublicKey)
	binding := []byte("session-1")
	rec := TokenRecord{Token: tok, Expires: t0.Add(time.Hour), UsesLeft: 1}
	wrong := tok
	wrong.Secret[0] ^= 1
	otherKey, _ := NewKey(seeded(7))
	tests := []struct {
		name    string
		rec     TokenRecord
		proof   [32]byte
		binding []byte
		pub     []byte
		now     time.Time
		ok      bool
	}{
		{"good", rec, tok.Prove(binding, pub), binding, pub, t0, true},
		{"wrong secret", rec, wrong.Prove(binding, pub), binding, pub, t0, false},
		{"replayed on another session", rec, tok.Prove(binding, pub), []byte("session-2"), pub, t0, false},
		{"for another key", rec, tok.Prove(binding, pub), binding, otherKey.Public().(ed25519.PublicKey), t0, false},
		{"expired", rec, tok.Prove(binding, pub), binding, pub, t0.Add(time.Hour), false},
		{"used up", TokenRecord{Token: tok, Expires: rec.Expires}, tok.Prove(binding, pub), binding, pub, t0, false},
	}
	for _, tc := range tests {
		err := tc.rec.Check(tok.ID, tc.proof, tc.binding, tc.pub, tc.now)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrToken)) {
			t.Errorf("%s: Check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestParseTokenRejects(t *testing.T) {
	good := Token{}.String()
	for _, s := range []string{"", "flk1", "flk2" + good[4:], strings.ToUpper(good), good + "-00", good[:len(good)-1], strings.Replace(good, "0", "g", 1)} {
		if _, err := ParseToken(s); !errors.Is(err, ErrToken) {
			t.Errorf("ParseToken(%q) error = %v, want ErrToken", s, err)
		}
	}
}

func TestJoinMessagesRoundTrip(t *testing.T) {
	key, _ := NewKey(seeded(1))
	tok, _ := NewToken([32]byte{1}, seeded(2))
	req := NewJoinRequest(tok, []byte("b"), key, []byte("cpu:3"))
	back, err := DecodeJoinRequest(req.Encode())
	if err != nil || back.TokenID != req.TokenID || back.Proof != req.Proof || !back.PublicKey.Equal(req.PublicKey) || string(back.Info) != "cpu:3" {
		t.Errorf("DecodeJoinRequest(Encode()) = %+v, %v; want %+v", back, err, req)
	}
	for _, resp := range []JoinResponse{
		{Status: JoinOK, MachineID: 2, Cert: []byte{1, 2, 3}},
		{Status: JoinRefused, Message: "no"},
		{Status: JoinUnavailable},
	} {
		got, err := DecodeJoinResponse(resp.Encode())
		if err != nil || got.Status != resp.Status || got.MachineID != resp.MachineID || got.Message != resp.Message || !bytes.Equal(got.Cert, resp.Cert) {
			t.Errorf("DecodeJoinResponse(Encode(%+v)) = %+v, %v", resp, got, err)
		}
	}
	enc := req.Encode()
	for n := range len(enc) {
		if _, err := DecodeJoinRequest(enc[:n]); !errors.Is(err, ErrJoinMessage) {
			t.Fatalf("DecodeJoinRequest(first %d of %d bytes) error = %v, want ErrJoinMessage", n, len(enc), err)
		}
	}
}

// TestJoinEndToEnd admits a machine through an Issuer over a data dir and
// checks that its token is spent.
func TestJoinEndToEnd(t *testing.T) {
	fsys, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	dir := Dir{FS: fsys}
	ca := newCA(t, "vm", 1)
	if _, err := dir.NextMachineID(); err != nil { // the first machine is 1
		t.Fatal(err)
	}
	tok, _ := NewToken(ca.Hash(), seeded(2))
	if err := dir.SaveToken(TokenRecord{Token: tok, Expires: t0.Add(time.Hour), UsesLeft: 1}); err != nil {
		t.Fatal(err)
	}
	is := &Issuer{CA: ca, Dir: dir, Rand: seeded(3), Now: func() time.Time { return t0 }}
	key, _ := NewKey(seeded(4))
	binding := []byte("tls exporter")

	wrongTok := tok
	wrongTok.Secret[3] ^= 0x10
	if resp := is.Join(NewJoinRequest(wrongTok, binding, key, nil), binding); resp.Status != JoinRefused {
		t.Fatalf("Join(wrong secret) = %+v, want JoinRefused", resp)
	}
	if recs, _ := dir.Tokens(); len(recs) != 1 || recs[0].UsesLeft != 1 {
		t.Fatalf("after a refused join, tokens = %+v, want one use left", recs)
	}
	resp := is.Join(NewJoinRequest(tok, binding, key, nil), binding)
	cred, err := FinishJoin(ca.Cert, resp, key, t0)
	if err != nil {
		t.Fatalf("FinishJoin(Join(good token)) = %v (response %+v)", err, resp)
	}
	if cred.Principal.Machine != 2 {
		t.Errorf("joined as %v, want machine 2", cred.Principal)
	}
	other, _ := NewKey(seeded(5))
	if resp := is.Join(NewJoinRequest(tok, binding, other, nil), binding); resp.Status != JoinRefused {
		t.Errorf("Join(used-up token, another key) = %+v, want JoinRefused", resp)
	}
	// The first machine asking again (its answer was lost) gets its id
	// again, and spends nothing.
	again := is.Join(NewJoinRequest(tok, binding, key, nil), binding)
	if again.Status != JoinOK || again.MachineID != 2 {
		t.Errorf("Join(used-up token, the admitted key) = %+v, want machine 2 again", again)
	}
	if id, _ := dir.NextMachineID(); id != 3 {
		t.Errorf("after the repeated join the next id is %d, want 3 (none spent)", id)
	}
}

func TestDataDir(t *testing.T) {
	root := t.TempDir()
	lock, err := LockDir(root)
	if err != nil {
		t.Fatalf("LockDir = %v", err)
	}
	if _, err := LockDir(root); !errors.Is(err, ErrLocked) {
		t.Errorf("second LockDir error = %v, want ErrLocked", err)
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	lock2, err := LockDir(root)
	if err != nil {
		t.Fatalf("LockDir after Unlock = %v", err)
	}
	defer lock2.Unlock()

	fsys, _ := osdisk.Open(root)
	defer fsys.Close()
	dir := Dir{FS: fsys}
	for want := uint64(1); want <= 3; want++ {
		if got, err := dir.NextIncarnation(); got != want || err != nil {
			t.Errorf("NextIncarnation() = %d, %v; want %d", got, err, want)
		}
	}
	if ok, err := dir.Exists(); ok || err != nil {
		t.Errorf("Exists() on a fresh dir = %v, %v; want false", ok, err)
	}
	ca := newCA(t, "vm", 1)
	m, _ := ca.MachineCredential(1, seeded(2), t0)
	if err := dir.SaveMachine(m); err != nil {
		t.Fatal(err)
	}
	if err := dir.SaveCA(ca); err != nil {
		t.Fatal(err)
	}
	if got, err := dir.Machine(t0); err != nil || got.Principal != m.Principal {
		t.Errorf("Machine() = %v, %v; want %v", got, err, m.Principal)
	}
	if got, err := dir.CA(); err != nil || got.VM != ca.VM {
		t.Errorf("CA() = %v, %v; want %v", got, err, ca.VM)
	}
	if _, err := dir.Admin(t0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Admin() on a dir without one: error %v, want ErrNotExist", err)
	}
	if err := diskmodelWrite(dir, IncarnationFile, "garbage"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.NextIncarnation(); err == nil {
		t.Errorf("NextIncarnation() over a garbled file = nil error, want one")
	}
}

func diskmodelWrite(d Dir, name, s string) error { return d.write(name, []byte(s)) }

func TestTokenRecordRoundTrip(t *testing.T) {
	tok, _ := NewToken([32]byte{9}, seeded(1))
	r := TokenRecord{Token: tok, Expires: t0, UsesLeft: 3}
	back, err := DecodeTokenRecord(r.Encode())
	if err != nil || back.Token != r.Token || !back.Expires.Equal(r.Expires) || back.UsesLeft != 3 {
		t.Errorf("DecodeTokenRecord(Encode()) = %+v, %v; want %+v", back, err, r)
	}
}
