package raftkv

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
)

type sentTo struct{ to []netmodel.NodeID }

func (s *sentTo) Send(to netmodel.NodeID, _ []byte) { s.to = append(s.to, to) }

// TestClientLearnsLeaderOutsideServers: a client whose servers were all
// replaced by configuration changes reaches the leader a server names, and
// keeps it among its servers.
func TestClientLearnsLeaderOutsideServers(t *testing.T) {
	tr := &sentTo{}
	c, err := NewClient(ClientConfig{Self: 100, Servers: []netmodel.NodeID{1}, Transport: tr, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("k", "v", func(Result) {}); err != nil {
		t.Fatal(err)
	}
	op := c.op
	c.Receive(1, encodeReplyEnvelope(&reply{status: statusNotLeader, leader: 7, seq: op.nonce, attempt: uint32(op.attempts)}))
	if got, want := c.Servers(), []netmodel.NodeID{1, 7}; !slices.Equal(got, want) {
		t.Errorf("Servers() = %v after a refusal naming leader n7, want %v", got, want)
	}
	if got := tr.to[len(tr.to)-1]; got != 7 {
		t.Errorf("the next attempt went to %v, want the named leader n7 (sent to %v)", got, tr.to)
	}
	if got := c.Stats().ServersLearned; got != 1 {
		t.Errorf("ServersLearned = %d, want 1", got)
	}
}
