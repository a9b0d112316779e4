package sys

import (
	"reflect"
	"testing"
)

func TestAttrTextRoundTrip(t *testing.T) {
	a := Attr{Redundancy: 3, Owner: "alice", Readers: []string{"alice", "bob"}, Writers: []string{}}
	got, err := ParseAttr(a.Format())
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("ParseAttr(Format(%+v)) = %+v, %v", a, got, err)
	}
}

func TestParseAttrChange(t *testing.T) {
	tests := []struct {
		in   string
		want AttrChange
		ok   bool
	}{
		{"redundancy=2", AttrChange{Redundancy: 2}, true},
		{"readers=bob,alice,bob\nwriters=*\n", AttrChange{Readers: []string{"alice", "bob"}, SetReaders: true, Writers: []string{"*"}, SetWriters: true}, true},
		{"writers=", AttrChange{Writers: []string{}, SetWriters: true}, true},
		{"redundancy=0", AttrChange{}, false},
		{"redundancy=8", AttrChange{}, false},
		{"redundancy=02", AttrChange{}, false},
		{"readers=a b", AttrChange{}, false},
		{"owner=bob", AttrChange{}, false},
		{"readers=a\nreaders=b", AttrChange{}, false},
		{"", AttrChange{}, false},
	}
	for _, tc := range tests {
		got, err := ParseAttrChange([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("ParseAttrChange(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestAllows(t *testing.T) {
	tests := []struct {
		list []string
		user string
		want bool
	}{
		{[]string{"alice"}, "alice", true}, {[]string{"alice"}, "bob", false}, {[]string{"*"}, "bob", true},
		{nil, "root", true}, {nil, "alice", false},
	}
	for _, tc := range tests {
		if got := Allows(tc.list, tc.user); got != tc.want {
			t.Errorf("Allows(%v, %q) = %v, want %v", tc.list, tc.user, got, tc.want)
		}
	}
}

func FuzzParseAttr(f *testing.F) {
	f.Add([]byte("redundancy=2\nowner=alice\nreaders=alice,bob\nwriters=*\n"))
	f.Add([]byte("readers=*\nwriters=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseAttr(b); err == nil {
			if again, err := ParseAttr(a.Format()); err != nil || !reflect.DeepEqual(again, a) {
				t.Fatalf("ParseAttr(Format(%+v)) = %+v, %v", a, again, err)
			}
		}
		if c, err := ParseAttrChange(b); err == nil && c.Redundancy > RedundancyMax {
			t.Fatalf("ParseAttrChange(%q) = redundancy %d", b, c.Redundancy)
		}
	})
}
