package identity

import (
	"bytes"
	"net/url"
	"testing"
	"time"
)

func FuzzParseToken(f *testing.F) {
	tok, _ := NewToken([32]byte{7}, seeded(1))
	f.Add(tok.String())
	f.Add("flk1-00-00-00")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if again, err := ParseToken(tok.String()); err != nil || again != tok {
			t.Fatalf("ParseToken(String()) = %v, %v; want %v", again, err, tok)
		}
	})
}

func FuzzDecodeJoinRequest(f *testing.F) {
	key, _ := NewKey(seeded(1))
	tok, _ := NewToken([32]byte{1}, seeded(2))
	req := NewJoinRequest(tok, []byte("b"), key, []byte("info"))
	f.Add(req.Encode())
	f.Add([]byte("FJQ\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeJoinRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("Encode(DecodeJoinRequest(b)) != b")
		}
	})
}

func FuzzDecodeJoinResponse(f *testing.F) {
	f.Add((&JoinResponse{Status: JoinOK, MachineID: 3, Cert: []byte("der")}).Encode())
	f.Add((&JoinResponse{Status: JoinRefused, Message: "no"}).Encode())
	f.Add([]byte("FJR\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeJoinResponse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("Encode(DecodeJoinResponse(b)) != b")
		}
	})
}

func FuzzDecodeCredential(f *testing.F) {
	ca, _ := NewCA("vm", seeded(1), t0)
	u, _ := ca.IssueCredential("admin", seeded(2), t0)
	f.Add(u.Encode())
	f.Add(ca.Encode())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeCredential(b, t0.Add(time.Hour)); err == nil {
			if _, err := Verify(c.CACert, c.Cert, t0.Add(time.Hour)); err != nil {
				t.Fatalf("DecodeCredential accepted a credential Verify refuses: %v", err)
			}
		}
		if ca, err := DecodeCA(b); err == nil && !ca.Cert.IsCA {
			t.Fatalf("DecodeCA accepted a certificate that is not a CA")
		}
	})
}

func FuzzDecodeTokenRecord(f *testing.F) {
	tok, _ := NewToken([32]byte{7}, seeded(1))
	r := TokenRecord{Token: tok, Expires: t0, UsesLeft: 2}
	f.Add(r.Encode())
	f.Add([]byte("token \nexpires \nuses \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeTokenRecord(b)
		if err != nil {
			return
		}
		if again, err := DecodeTokenRecord(r.Encode()); err != nil || again.Token != r.Token || again.UsesLeft != r.UsesLeft {
			t.Fatalf("DecodeTokenRecord(Encode()) = %+v, %v; want %+v", again, err, r)
		}
	})
}

func FuzzParsePrincipalURI(f *testing.F) {
	f.Add("flock://0123456789abcdef/machine/3")
	f.Add("flock://0123456789abcdef/user/alice")
	f.Add("flock://0123456789abcdef/machine/9223372036854775809")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		p, err := parsePrincipalURI(u)
		if err != nil {
			return
		}
		back, err := parsePrincipalURI(p.URI())
		if err != nil || back != p {
			t.Fatalf("parsePrincipalURI(URI()) = %v, %v; want %v", back, err, p)
		}
	})
}
