package host

import (
	"errors"
	"reflect"
	"testing"

	"github.com/flockvm/flock/netmodel"
)

func TestClusterRoundTrip(t *testing.T) {
	tests := []Cluster{
		{VM: "myvm", Voters: []netmodel.NodeID{1, 2, 3}, Peers: map[netmodel.NodeID]string{1: "10.0.0.1:7070", 3: "[::1]:7070"}},
		{VM: "a", Voters: []netmodel.NodeID{1}, Peers: map[netmodel.NodeID]string{}},
		{Peers: map[netmodel.NodeID]string{2: "h:1"}},
	}
	for _, c := range tests {
		got, err := DecodeCluster(c.Encode())
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("DecodeCluster(Encode(%+v)) = %+v, %v", c, got, err)
		}
	}
}

func TestDecodeClusterRejects(t *testing.T) {
	for _, s := range []string{
		"vm BAD\n", "vm a\nvm b\n", "voters 1 1\n", "voters 0\n", "voters 1 2 3 4 5 6\n",
		"peer 1\n", "peer 1 a:1\npeer 1 b:2\n", "peer 9223372036854775809 a:1\n", "colour blue\n",
		"vm  a\n", "voters 01\n",
	} {
		if c, err := DecodeCluster([]byte(s)); !errors.Is(err, ErrCluster) {
			t.Errorf("DecodeCluster(%q) = %+v, %v; want ErrCluster", s, c, err)
		}
	}
}

func FuzzDecodeCluster(f *testing.F) {
	f.Add([]byte("vm myvm\nvoters 1 2 3\npeer 1 10.0.0.1:7070\n"))
	f.Add([]byte("peer 4 x:1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCluster(b)
		if err != nil {
			return
		}
		again, err := DecodeCluster(c.Encode())
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("DecodeCluster(%q) = %+v; re-encoded and decoded %+v, %v", b, c, again, err)
		}
	})
}

func TestAdvertisedIn(t *testing.T) {
	for _, tc := range []struct{ info, want string }{
		{"advertise 10.0.0.2:7070\nprovide cpu:1\n", "10.0.0.2:7070"},
		{"advertise 127.0.0.1:0\n", ""},
		{"advertise :7070\n", ""},
		{"provide cpu:1\n", ""},
		{"advertise nonsense\n", ""},
	} {
		if got := advertisedIn([]byte(tc.info)); got != tc.want {
			t.Errorf("advertisedIn(%q) = %q, want %q", tc.info, got, tc.want)
		}
	}
}
