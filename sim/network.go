package sim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/flockvm/flock/netmodel"
)

// DefaultLinkQueueMax bounds the messages in flight on one directed link
// when FaultConfig.LinkQueueMax is zero.
const DefaultLinkQueueMax = 4096

// Counter counts messages and their payload bytes.
type Counter struct {
	Msgs  int64
	Bytes int64
}

func (c *Counter) add(n int) {
	c.Msgs++
	c.Bytes += int64(n)
}

// NetStats counts what happened to messages. Every sent message, and every
// duplicate, ends in exactly one of Delivered or a loss counter (or is still
// in flight): Sent + Duplicated = Delivered + Dropped + Partitioned + Garbled
// + DestDown + SenderDown + Overflow + in flight.
type NetStats struct {
	Sent        Counter // handed to Send
	Duplicated  Counter // extra copies the network made
	Delivered   Counter // handed to a Receiver
	Dropped     Counter // lost on purpose (FaultConfig.DropProb)
	Partitioned Counter // cut by a partition, at send or at arrival
	Garbled     Counter // corrupted in flight, rejected by the frame check
	DestDown    Counter // destination unknown, crashed, or restarted since
	SenderDown  Counter // sender crashed before the message left its disk queue
	Overflow    Counter // the link already had LinkQueueMax messages in flight
	// Reordered counts deliveries (a subset of Delivered) of a message sent
	// before another message on the same link that was delivered already.
	Reordered Counter
}

// InFlight returns the messages sent (and duplicated) but not yet settled.
func (s NetStats) InFlight() int64 {
	return s.Sent.Msgs + s.Duplicated.Msgs - s.Delivered.Msgs - s.Dropped.Msgs - s.Partitioned.Msgs -
		s.Garbled.Msgs - s.DestDown.Msgs - s.SenderDown.Msgs - s.Overflow.Msgs
}

// link is one direction between two machines.
type link struct {
	from, to   NodeID
	base       time.Duration // this link's share of LatencyBase
	inflight   int
	blocked    int // partitions cutting the link
	clogEnd    Time
	clogFactor int64
	sends      uint64 // Sends on this link so far
	arrivedMax uint64 // the highest sendSeq delivered
}

type linkKey struct{ from, to NodeID }

type network struct {
	w       *World
	rng     *rand.Rand
	links   map[linkKey]*link
	parts   []*Partition // active partitions, oldest first
	stats   NetStats
	kinds   []string // message kinds seen, in order of first sight; 0 is ""
	kindIdx map[string]uint16
	byKind  []NetStats // indexed like kinds
}

// outcome names a NetStats counter.
type outcome uint8

const (
	outSent outcome = iota
	outDuplicated
	outDelivered
	outDropped
	outPartitioned
	outGarbled
	outDestDown
	outSenderDown
	outOverflow
)

func (s *NetStats) counter(o outcome) *Counter {
	switch o {
	case outSent:
		return &s.Sent
	case outDuplicated:
		return &s.Duplicated
	case outDelivered:
		return &s.Delivered
	case outDropped:
		return &s.Dropped
	case outPartitioned:
		return &s.Partitioned
	case outGarbled:
		return &s.Garbled
	case outDestDown:
		return &s.DestDown
	case outSenderDown:
		return &s.SenderDown
	case outOverflow:
		return &s.Overflow
	}
	panic(fmt.Sprintf("sim: unknown message outcome %d", o))
}

// add counts one message of the given kind with outcome o.
func (n *network) add(kind uint16, o outcome, size int) {
	n.stats.counter(o).add(size)
	if n.byKind != nil {
		n.byKind[kind].counter(o).add(size)
	}
}

// maxMessageKinds bounds Config.MessageKind's distinct answers.
const maxMessageKinds = 1 << 10

// classify returns the index of payload's kind (0 without a classifier).
func (n *network) classify(payload []byte) uint16 {
	if n.w.cfg.MessageKind == nil {
		return 0
	}
	name := n.w.cfg.MessageKind(payload)
	if i, ok := n.kindIdx[name]; ok {
		return i
	}
	if len(n.kinds) >= maxMessageKinds {
		panic(fmt.Sprintf("sim: Config.MessageKind returned more than %d kinds (new kind %q)", maxMessageKinds, name))
	}
	i := uint16(len(n.kinds))
	n.kinds = append(n.kinds, name)
	n.kindIdx[name] = i
	n.byKind = append(n.byKind, NetStats{})
	return i
}

// NetStatsByKind returns the network's counters per message kind, as named
// by Config.MessageKind (nil without one).
func (w *World) NetStatsByKind() map[string]NetStats {
	if w.net.byKind == nil {
		return nil
	}
	out := make(map[string]NetStats, len(w.net.kinds))
	for i, k := range w.net.kinds {
		if i > 0 || w.net.byKind[0] != (NetStats{}) {
			out[k] = w.net.byKind[i]
		}
	}
	return out
}

func newNetwork(w *World) *network {
	n := &network{
		w:     w,
		rng:   newStream(w.cfg.Seed, "sim.net", 0),
		links: make(map[linkKey]*link),
	}
	if w.cfg.MessageKind != nil {
		// Index 0 is reserved for the kind "" so the classifier is only
		// consulted per send.
		n.kinds, n.kindIdx, n.byKind = []string{""}, map[string]uint16{"": 0}, []NetStats{{}}
	}
	return n
}

// NetStats returns the network's counters.
func (w *World) NetStats() NetStats { return w.net.stats }

// link returns the directed link, creating it on first use. A link's base
// latency is LatencyBase scaled by a factor in [0.5, 1.5) that depends only
// on the seed and the two ids, so links differ but no stream is consumed.
func (n *network) link(from, to NodeID) *link {
	k := linkKey{from, to}
	if lk := n.links[k]; lk != nil {
		return lk
	}
	h := deriveSeed(deriveSeed(n.w.cfg.Seed, "sim.link", uint64(from)), "", uint64(to))
	factor := 0.5 + float64(h>>11)/(1<<53)
	lk := &link{from: from, to: to, base: time.Duration(float64(n.w.faults.LatencyBase) * factor)}
	n.links[k] = lk
	return lk
}

func (n *network) queueMax() int {
	if q := n.w.faults.LinkQueueMax; q > 0 {
		return q
	}
	return DefaultLinkQueueMax
}

// send puts one message (and maybe a duplicate) on the wire.
func (n *network) send(src *Machine, to NodeID, payload []byte) {
	w := n.w
	f := &w.faults
	size := len(payload)
	kind := n.classify(payload)
	n.add(kind, outSent, size)
	dst := w.machines[to]
	if dst == nil {
		n.add(kind, outDestDown, size)
		return
	}
	lk := n.link(src.id, to)
	if lk.blocked > 0 {
		n.add(kind, outPartitioned, size)
		return
	}
	if to == src.id {
		n.sendSelf(src, lk, payload, size, kind)
		return
	}
	if f.DropProb > 0 && n.rng.Float64() < f.DropProb {
		w.counts["net_drop"]++
		n.add(kind, outDropped, size)
		return
	}
	src.settleDisk()
	depart := max(w.now, src.diskBusy())
	lk.sends++
	// The payload is the network's now (netmodel.Transport): the receiver
	// is handed it, and a garbled bit lands in it. Only a duplicate needs a
	// copy of its own, since each receiver owns what it is handed.
	var dup []byte
	if f.DupProb > 0 && n.rng.Float64() < f.DupProb {
		w.counts["net_dup"]++
		n.add(kind, outDuplicated, size)
		dup = bytes.Clone(payload)
	}
	n.launch(src, dst, lk, payload, depart, size, kind)
	if dup != nil {
		n.launch(src, dst, lk, dup, depart, size, kind)
	}
}

// sendSelf delivers a machine's message to itself: it crosses no network
// (no loss, duplication, garbling, latency or partition), but, like
// everything the machine says, it leaves only after the disk work issued
// before it has completed, so that nothing acknowledged to itself is acted
// on before it is durable.
func (n *network) sendSelf(src *Machine, lk *link, payload []byte, size int, kind uint16) {
	w := n.w
	src.settleDisk()
	depart := max(w.now, src.diskBusy())
	lk.sends++
	if lk.inflight >= n.queueMax() {
		n.add(kind, outOverflow, size)
		return
	}
	n.schedule(src, src, lk, nil, payload, depart, depart, kind)
}

// launch schedules the arrival of one copy of a frame. Only a copy the
// network garbles carries its header, checksum and all, with the flipped
// bit in it or in the payload, for the receiving side to decode and refuse:
// an intact frame would decode to itself, so it skips the checksum's two
// passes over the payload.
func (n *network) launch(src, dst *Machine, lk *link, payload []byte, depart Time, size int, kind uint16) {
	w := n.w
	if lk.inflight >= n.queueMax() {
		n.add(kind, outOverflow, size)
		return
	}
	var garbled *[netmodel.FrameHeaderSize]byte
	if p := w.faults.GarbleProb; p > 0 && n.rng.Float64() < p {
		w.counts["net_garble"]++
		var hdr [netmodel.FrameHeaderSize]byte
		netmodel.AppendFrameHeader(hdr[:0], src.id, dst.id, payload)
		garbled = &hdr
		bit := n.rng.IntN((len(hdr) + len(payload)) * 8)
		if i := bit / 8; i < len(hdr) {
			hdr[i] ^= 1 << (bit % 8)
		} else {
			payload[i-len(hdr)] ^= 1 << (bit % 8)
		}
	}
	n.schedule(src, dst, lk, garbled, payload, depart, depart.Add(n.latency(lk)), kind)
}

// schedule queues the delivery of a frame that leaves at depart and
// arrives at arrive; garbled is the header of a garbled one (nil: intact).
func (n *network) schedule(src, dst *Machine, lk *link, garbled *[netmodel.FrameHeaderSize]byte, payload []byte, depart, arrive Time, kind uint16) {
	ev := n.w.q.alloc()
	ev.kind, ev.node, ev.name = evDeliver, dst.id, "deliver"
	ev.m, ev.inc = dst, dst.inc
	ev.from, ev.fromInc = src, src.inc
	ev.departAt, ev.payload, ev.link, ev.msgKind, ev.sendSeq = depart, payload, lk, kind, lk.sends
	if garbled != nil {
		ev.hdr, ev.garbled = *garbled, true
	}
	lk.inflight++
	n.w.q.push(ev, arrive)
}

// latency draws one message's travel time on lk.
func (n *network) latency(lk *link) time.Duration {
	f := &n.w.faults
	d := lk.base
	if f.LatencyJitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(f.LatencyJitter)))
	}
	if f.TailProb > 0 && f.TailMax > 0 && n.rng.Float64() < f.TailProb {
		d += time.Duration(n.rng.Int64N(int64(f.TailMax))) + 1
	}
	if n.w.now < lk.clogEnd {
		d *= time.Duration(lk.clogFactor)
	}
	return d
}

// deliver processes an arriving message and reports whether it counted as an
// event (a message held back by a pause does not, yet).
func (n *network) deliver(ev *event) bool {
	dst, src := ev.m, ev.from
	if dst.up && dst.inc == ev.inc && dst.paused {
		dst.deferEvent(ev)
		return false
	}
	size := len(ev.payload)
	switch {
	case uint64(len(src.crashTimes)) >= ev.fromInc && ev.departAt > src.crashTimes[ev.fromInc-1]:
		n.settle(ev, "lost: sender crashed", outSenderDown, size)
	case !dst.up || dst.inc != ev.inc:
		n.settle(ev, "lost: destination down", outDestDown, size)
	case ev.link.blocked > 0:
		n.settle(ev, "lost: partition", outPartitioned, size)
	default:
		if ev.garbled {
			f, err := netmodel.DecodeFrameParts(ev.hdr[:], ev.payload)
			if err != nil || f.From != src.id || f.To != dst.id {
				n.settle(ev, "lost: garbled", outGarbled, size)
				return true
			}
			// A checksum that missed the flipped bit: CRC-32C catches
			// every single-bit error, so this is a bug.
			panic(fmt.Sprintf("sim: a garbled frame %v -> %v passed its checksum", src.id, dst.id))
		}
		payload := ev.payload // settle frees the event
		n.noteOrder(ev, size)
		n.settle(ev, "deliver", outDelivered, size)
		dst.recv.Receive(src.id, payload)
		dst.settleDisk()
	}
	return true
}

// noteOrder counts a delivery that overtook nothing but was overtaken: a
// message sent later on its link arrived first.
func (n *network) noteOrder(ev *event, size int) {
	lk := ev.link
	if ev.sendSeq < lk.arrivedMax {
		n.stats.Reordered.add(size)
		if n.byKind != nil {
			n.byKind[ev.msgKind].Reordered.add(size)
		}
		return
	}
	lk.arrivedMax = ev.sendSeq
}

// settle ends a message's flight: counts it, folds it into the trace as an
// event named name, and frees the event.
func (n *network) settle(ev *event, name string, o outcome, size int) {
	w := n.w
	n.add(ev.msgKind, o, size)
	ev.link.inflight--
	ev.name = name
	from := ev.from.id
	w.count(ev)
	w.hash = hashWord(hashWord(w.hash, uint64(from)), uint64(size))
	if w.trace != nil {
		b := w.traceHead(w.line[:0], ev.node)
		b = append(b, name...)
		b = append(b, " from n"...)
		b = strconv.AppendUint(b, uint64(from), 10)
		b = append(b, " ("...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, " bytes)\n"...)
		w.writeTrace(b)
	}
	w.q.release(ev)
}

// lose settles a message that never reaches the queue's head again (its
// paused destination crashed) without counting an event.
func (n *network) lose(ev *event, o outcome) {
	n.add(ev.msgKind, o, len(ev.payload))
	ev.link.inflight--
	n.w.q.release(ev)
}

// Partition is a handle on a network partition; Heal ends it.
type Partition struct {
	w        *World
	kind     string
	links    []*link
	isolated *Machine
	healed   bool
}

// Kind returns "partition" (symmetric), "partition_oneway" or "isolate".
func (p *Partition) Kind() string { return p.kind }

// Heal reconnects what the partition cut. Healing twice does nothing.
func (p *Partition) Heal() {
	if p.healed {
		return
	}
	p.healed = true
	for _, lk := range p.links {
		lk.blocked--
	}
	if p.isolated != nil {
		p.isolated.isolated--
	}
	p.w.net.parts = removePart(p.w.net.parts, p)
	p.w.Record(0, "heal %s", p.kind)
}

// Partition cuts every link between groups a and b, both directions.
func (w *World) Partition(a, b []NodeID) *Partition {
	p := w.cut("partition", a, b, false)
	return p
}

// PartitionOneWay cuts the links from group from to group to only: messages
// from→to are lost, messages to→from still arrive.
func (w *World) PartitionOneWay(from, to []NodeID) *Partition {
	return w.cut("partition_oneway", from, to, true)
}

// Isolate cuts a machine off from every other machine, both directions.
func (w *World) Isolate(id NodeID) *Partition {
	m := w.mustMachine("Isolate", id)
	var others []NodeID
	for _, o := range w.sorted {
		if o.id != id {
			others = append(others, o.id)
		}
	}
	p := w.cut("isolate", []NodeID{id}, others, false)
	p.isolated = m
	m.isolated++
	return p
}

func (w *World) cut(kind string, a, b []NodeID, oneWay bool) *Partition {
	p := &Partition{w: w, kind: kind}
	for _, x := range a {
		w.mustMachine("Partition", x)
		for _, y := range b {
			w.mustMachine("Partition", y)
			if x == y {
				panic(fmt.Sprintf("sim: %s: %v is on both sides", kind, x))
			}
			p.links = append(p.links, w.net.link(x, y))
			if !oneWay {
				p.links = append(p.links, w.net.link(y, x))
			}
		}
	}
	for _, lk := range p.links {
		lk.blocked++
	}
	w.net.parts = append(w.net.parts, p)
	w.fault(kind, 0, int64(len(p.links)))
	return p
}

func removePart(ps []*Partition, p *Partition) []*Partition {
	for i, q := range ps {
		if q == p {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}

// Clog multiplies the latency of messages sent on the link from→to by factor
// for d. A clog on a clogged link replaces it.
func (w *World) Clog(from, to NodeID, factor int, d time.Duration) {
	w.mustMachine("Clog", from)
	w.mustMachine("Clog", to)
	if factor < 1 {
		panic(fmt.Sprintf("sim: Clog(%v, %v) with factor %d < 1", from, to, factor))
	}
	lk := w.net.link(from, to)
	lk.clogEnd = w.now.Add(d)
	lk.clogFactor = int64(factor)
	w.fault("clog", from, int64(to))
}

// sortedLinks returns every link ordered by (from, to).
func (n *network) sortedLinks() []*link {
	out := make([]*link, 0, len(n.links))
	for _, lk := range n.links {
		out = append(out, lk)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].from != out[j].from {
			return out[i].from < out[j].from
		}
		return out[i].to < out[j].to
	})
	return out
}
