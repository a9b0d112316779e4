package coherence

import (
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

func TestParseBug(t *testing.T) {
	names := BugNames()
	if !slices.IsSorted(names) || len(names) < 5 {
		t.Fatalf("BugNames() = %v, want at least 5, sorted", names)
	}
	for _, name := range names {
		b, err := ParseBug(name)
		if err != nil {
			t.Fatalf("ParseBug(%q) error = %v", name, err)
		}
		if got := b.Names(); !slices.Equal(got, []string{name}) {
			t.Errorf("ParseBug(%q).Names() = %v, want just it", name, got)
		}
	}
	if _, err := ParseBug("no-such-bug"); err == nil {
		t.Errorf("ParseBug(no-such-bug) = nil error, want an error")
	}
	if got := (Bugs{}).Names(); len(got) != 0 {
		t.Errorf("Bugs{}.Names() = %v, want none", got)
	}
}

func TestConfigRejects(t *testing.T) {
	ok := Config{Self: 1, Incarnation: 1, Transport: dropSends{}, Completer: noCompletions{}}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(minimal config) error = %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.Self = 0 },
		func(c *Config) { c.Incarnation = 0 },
		func(c *Config) { c.Transport = nil },
		func(c *Config) { c.PageBytes = 1000 },
		func(c *Config) { c.PageBytes = 256 },
		func(c *Config) { c.CacheBytesMax = 4096 },
		func(c *Config) { c.RetransmitTicks, c.RetransmitTicksMax = 8, 4 },
		func(c *Config) { c.InFlightMax = -1 },
		func(c *Config) { c.Atomics = 9 },
	}
	for i, f := range bad {
		c := ok
		f(&c)
		if _, err := New(c); err == nil {
			t.Errorf("bad config %d accepted: %+v", i, c)
		}
	}
}

type dropSends struct{}

func (dropSends) Send(netmodel.NodeID, []byte) {}

type noCompletions struct{}

func (noCompletions) Complete(sys.ReqID, sys.Reply) {}
