package node

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

// The address book (docs/client.md): every node records where it listens
// under a/<id> once it has joined, and reads every machine's entry (before
// it has joined too), so its host can reach machines it was never told
// about.

const keyAddrPrefix = "a/"

// addressLenMax bounds an address in the book.
const addressLenMax = 256

// Addresses is the address book as last read: machine → address. The map
// is the caller's.
func (n *Node) Addresses() map[netmodel.NodeID]string {
	defer n.enter()()
	out := make(map[netmodel.NodeID]string, len(n.clients.addrs))
	for id, a := range n.clients.addrs {
		out[id] = a
	}
	return out
}

// tickAddresses advertises this machine's address once joined, and reads
// the book at every AddressPollTicks, joined or not: a machine that joined
// through one whose book lacked the metadata leader reaches the leader
// only through the book, read from any replica it can reach.
func (n *Node) tickAddresses() {
	cs := &n.clients
	if a := cs.cfg.Address; n.joined && a != "" && cs.advertisedInc != n.inc && !n.mq.pendingNamed("client-advertise") {
		key, val, inc := keyAddrPrefix+strconv.FormatUint(uint64(n.cfg.ID), 10), fmt.Sprintf("%d %s", n.inc, a), n.inc
		n.pushMeta("client-advertise", false, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, val, done) },
			func(res raftkv.Result) {
				if res.Err != nil {
					n.metaFailed("client-advertise", res.Err)
					return
				}
				cs.advertisedInc = inc
			})
	}
	if n.ticks%cs.cfg.AddressPollTicks == 0 && !n.mq.pendingNamed("client-addresses") {
		n.pushMeta("client-addresses", false, func(c *raftkv.Client, done func(raftkv.Result)) error {
			return c.Scan(keyAddrPrefix, membershipScanMax, done)
		}, func(res raftkv.Result) {
			if res.Err != nil {
				n.metaFailed("client-addresses", res.Err)
				return
			}
			cs.addrs = parseAddresses(res.Pairs)
		})
	}
}

// parseAddresses reads a/ entries; one that does not parse is skipped (the
// book is advisory: a wrong address only fails to connect).
func parseAddresses(pairs []raftkv.KV) map[netmodel.NodeID]string {
	out := map[netmodel.NodeID]string{}
	for _, kv := range pairs {
		id, err := strconv.ParseUint(strings.TrimPrefix(kv.Key, keyAddrPrefix), 10, 64)
		_, addr, ok := strings.Cut(kv.Value, " ")
		if err != nil || id == 0 || !ok || addr == "" || len(addr) > addressLenMax {
			continue
		}
		out[netmodel.NodeID(id)] = addr
	}
	return out
}

// OwnLeaseAgeTicks is how many ticks ago this node last saw its own lease
// (this incarnation's) move in the membership it read; ok is false until
// it has read its record. A host uses it to fence a node cut off from the
// metadata store: past the lease's expiry the others may have declared it
// dead and drop everything it sends, so it can never read that it was.
func (n *Node) OwnLeaseAgeTicks() (age uint64, ok bool) {
	defer n.enter()()
	me := n.ms.members[n.cfg.ID]
	if !n.joined || me == nil || me.rec.Incarnation != n.inc {
		return 0, false
	}
	return n.ticks - me.seenTick, true
}

// LeaseExpireTicks is how long a lease may stand still before the others
// declare its machine dead.
func (n *Node) LeaseExpireTicks() uint64 { return n.cfg.LeaseExpireTicks }
