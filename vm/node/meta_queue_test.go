package node

import (
	"math/rand/v2"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

type nullTransport struct{}

func (nullTransport) Send(netmodel.NodeID, []byte) {}

// TestMetaQueueServesNormalOpsBetweenUrgentOnes: urgent operations that
// come due as fast as the store serves them (a lease, a poll, a read of
// the members, each queued again when it ends) must not starve a normal
// one queued behind them: it runs within metaUrgentStreakMax+1 turns.
func TestMetaQueueServesNormalOpsBetweenUrgentOnes(t *testing.T) {
	c, err := raftkv.NewClient(raftkv.ClientConfig{Self: 100, Servers: []netmodel.NodeID{1}, Transport: nullTransport{}, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	q := &metaQueue{c: c, max: 64}
	var order []string
	var finish func() // ends the running operation
	var periodic func(name string) *metaOp
	periodic = func(name string) *metaOp {
		return &metaOp{name: name,
			start: func(_ *raftkv.Client, done func(raftkv.Result)) error {
				order = append(order, name)
				finish = func() { done(raftkv.Result{}) }
				return nil
			},
			done: func(raftkv.Result) {
				if err := q.push(periodic(name), true); err != nil { // due again at once
					t.Fatal(err)
				}
			}}
	}
	for _, name := range []string{"lease", "poll", "members"} {
		if err := q.push(periodic(name), true); err != nil {
			t.Fatal(err)
		}
	}
	ran := false
	normal := &metaOp{name: "pid-block",
		start: func(_ *raftkv.Client, done func(raftkv.Result)) error {
			order = append(order, "pid-block")
			ran = true
			finish = func() { done(raftkv.Result{}) }
			return nil
		},
		done: func(raftkv.Result) {}}
	if err := q.push(normal, false); err != nil {
		t.Fatal(err)
	}
	for turn := 0; turn < metaUrgentStreakMax+1 && !ran; turn++ {
		finish()
	}
	if !ran {
		t.Fatalf("after %d turns the normal operation has not run; order %v", metaUrgentStreakMax+1, order)
	}
}
