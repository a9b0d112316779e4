package node

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

// The clients' metadata sessions: a user's key-value operations (and the
// other metadata reads of the client service) run on a pool of raftkv
// sessions of their own, clientMetaSlots of them per node, so that many
// clients' operations are in the store at once. Through the node's one
// membership session they would go one at a time, each a full round of
// the log: the whole VM's client throughput would be one operation per
// commit latency per machine. The sessions are addressed like the
// filesystem's (machine | slot<<32, storage.go), in the slots after
// theirs, and travel under the same header services.

// clientMetaSlots is how many metadata sessions serve a node's clients.
const clientMetaSlots = 16

// sessionSlotsMax is the highest slot of any metadata session of a node.
const sessionSlotsMax = storageMetaSlots + clientMetaSlots

// clientSessions is the pool, for one incarnation.
type clientSessions struct {
	sessions []*raftkv.Client
	queue    []*metaOp // waiting for a session; bounded by the client service's MetaOpsMax
}

// openClientSessions makes the pool of a fresh incarnation.
func (n *Node) openClientSessions() error {
	p := &clientSessions{}
	for i := range clientMetaSlots {
		c, err := n.newSlotSession(storageMetaSlots+1+i, "client")
		if err != nil {
			return err
		}
		p.sessions = append(p.sessions, c)
	}
	n.clientMeta = p
	return nil
}

// newSlotSession makes the metadata session of slot (what names its user
// in errors): addressed machine | slot<<32, sending to the group's voters.
func (n *Node) newSlotSession(slot int, what string) (*raftkv.Client, error) {
	cc := n.cfg.MetaClient
	cc.Self = storageSessionAddr(n.cfg.ID, slot)
	cc.Servers, cc.ReadFrom = n.sessionServers()
	cc.Rand = n.cfg.Rand
	cc.Transport = storageMetaTransport{n: n, slot: byte(slot)}
	c, err := raftkv.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("node: %s metadata session %d: %w", what, slot, err)
	}
	return c, nil
}

// push runs op on an idle session, or queues it for the next one free.
func (p *clientSessions) push(op *metaOp) {
	p.queue = append(p.queue, op)
	p.next()
}

func (p *clientSessions) next() {
	for len(p.queue) > 0 {
		i := slices.IndexFunc(p.sessions, func(c *raftkv.Client) bool { return !c.Busy() })
		if i < 0 {
			return
		}
		op := p.queue[0]
		p.queue = p.queue[1:]
		err := op.start(p.sessions[i], func(res raftkv.Result) {
			op.done(res)
			p.next()
		})
		if err != nil {
			op.done(raftkv.Result{Err: fmt.Errorf("node: metadata %s: %w", op.name, err)})
		}
	}
}

func (p *clientSessions) tick() {
	for _, c := range p.sessions {
		c.Tick()
	}
}

// receive hands a reply to the session in slot.
func (p *clientSessions) receive(slot int, from netmodel.NodeID, body []byte) bool {
	i := slot - storageMetaSlots - 1
	if i < 0 || i >= len(p.sessions) {
		return false
	}
	p.sessions[i].Receive(from, body)
	return true
}
