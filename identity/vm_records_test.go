package identity

import (
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel/osdisk"
)

// TestIssuerState: what a data dir's issuer wrote is what the handover
// reads, and the handover mark sticks.
func TestIssuerState(t *testing.T) {
	fsys, err := osdisk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	d := Dir{FS: fsys}
	ca, _ := NewCA("vm", seeded(1), t0)
	if err := d.SaveCA(ca); err != nil {
		t.Fatal(err)
	}
	is := &Issuer{CA: ca, Dir: d, Rand: seeded(2)}
	tok, err := is.CreateToken(3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.NextMachineID(); err != nil {
			t.Fatal(err)
		}
	}
	pub := make([]byte, 32)
	pub[0] = 9
	if err := d.SaveIssued(pub, 2); err != nil {
		t.Fatal(err)
	}
	st, err := d.IssuerState()
	if err != nil {
		t.Fatal(err)
	}
	if st.LastMachineID != 2 || len(st.Tokens) != 1 || st.Tokens[0].Token != tok || st.Tokens[0].UsesLeft != 3 {
		t.Errorf("IssuerState() = last %d, tokens %+v; want last 2, token %s with 3 uses", st.LastMachineID, st.Tokens, tok.IDString())
	}
	if got := st.Issued[IssuedKeyName(pub)]; len(st.Issued) != 1 || got != 2 {
		t.Errorf("IssuerState().Issued = %v, want %s -> 2", st.Issued, IssuedKeyName(pub))
	}
	if st.CA.Hash() != ca.Hash() {
		t.Errorf("IssuerState().CA is another CA")
	}
	if handed, err := d.HandedOver(); handed || err != nil {
		t.Errorf("HandedOver() before the mark = %v, %v", handed, err)
	}
	if err := d.MarkHandedOver(); err != nil {
		t.Fatal(err)
	}
	if handed, err := d.HandedOver(); !handed || err != nil {
		t.Errorf("HandedOver() after the mark = %v, %v", handed, err)
	}
}

func TestParseMachineID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1", 1, true}, {"42\n", 42, true}, {"0", 0, false}, {"", 0, false}, {"-3", 0, false}, {"x", 0, false},
		{"281474976710656", 0, false}, // IncarnationMax
	} {
		got, err := ParseMachineID("k", tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMachineID(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
