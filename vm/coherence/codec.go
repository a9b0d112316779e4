package coherence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// wireVersion is the first byte of every payload of this service.
const wireVersion = 1

// msgsPerPayloadMax bounds the messages one payload may carry, so a garbled
// count cannot make a receiver loop or allocate without limit.
const msgsPerPayloadMax = 1 << 14

// kind is a message type (docs/memory.md §3).
type kind uint8

const (
	kGetS kind = iota + 1
	kGetM
	kData
	kInv
	kInvAck
	kFwd
	kXfer
	kXferAck
	kNotHeld
	kDenied
	kOp
	kOpReply
	kWake
	kWakeAck
	kStale
	numKinds
)

var kindNames = [numKinds]string{
	kGetS: "GetS", kGetM: "GetM", kData: "Data", kInv: "Inv", kInvAck: "InvAck", kFwd: "Fwd",
	kXfer: "Xfer", kXferAck: "XferAck", kNotHeld: "NotHeld", kDenied: "Denied", kOp: "Op",
	kOpReply: "OpReply", kWake: "Wake", kWakeAck: "WakeAck", kStale: "Stale",
}

func (k kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// KindNames lists the message kinds in the order of Stats.Sent.
func KindNames() []string { return append([]string(nil), kindNames[1:]...) }

// Flags of a message.
const (
	flagExclusive uint8 = 1 // Data, Fwd: write access; Xfer: the owner kept a shared copy
)

// Reasons of a Denied.
const (
	denyUnmapped  = 1
	denyLost      = 2
	denyDelegated = 3
)

// Data payload tags.
const (
	dataNone  = 0
	dataZero  = 1 // a page of zeros
	dataPage  = 2 // a whole page, PageBytes bytes
	dataBytes = 3 // a length-prefixed byte string of at most a page
)

// msg is one message. Which fields travel depends on kind (see encodeMsg).
type msg struct {
	kind       kind
	pid, vpn   uint64
	seq, epoch uint64
	aux        uint64 // GetM: epoch of the copy held; Xfer, XferAck: owner epoch; Denied: reason
	flags      uint8
	target     netmodel.NodeID // Fwd: where the data goes (0: the home); Denied, OpReply: lost with
	targetInc  uint64
	targetSeq  uint64
	op         opKind // Op
	addr, a, b uint64
	req        sys.ReqID
	val        uint64 // OpReply
	trap       sys.Trap
	hasPage    bool
	page       pageData // nil with hasPage: zeros
	bytes      []byte
	hasBytes   bool
}

// envelope is one payload: a header and a batch of messages.
type envelope struct {
	fromInc, toInc uint64
	ackBelow       uint64
	msgs           []msg
}

// Errors of decodeEnvelope.
var (
	ErrDecode  = errors.New("coherence: undecodable payload")
	errVersion = fmt.Errorf("%w: unsupported version", ErrDecode)
)

func appendUvarints(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func appendPage(b []byte, has bool, data pageData) []byte {
	switch {
	case !has:
		return append(b, dataNone)
	case data == nil:
		return append(b, dataZero)
	}
	b = append(b, dataPage)
	return append(b, data...)
}

func appendBytes(b []byte, has bool, data []byte) []byte {
	if !has {
		return append(b, dataNone)
	}
	b = append(b, dataBytes)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// encodeMsg appends m's encoding.
func encodeMsg(b []byte, m *msg) []byte {
	b = append(b, byte(m.kind))
	switch m.kind {
	case kGetS:
		b = appendUvarints(b, m.pid, m.vpn, m.seq)
	case kGetM:
		b = appendUvarints(b, m.pid, m.vpn, m.seq, m.aux)
	case kData:
		b = appendUvarints(b, m.pid, m.vpn, m.seq, m.epoch)
		b = append(b, m.flags)
		b = appendPage(b, m.hasPage, m.page)
	case kInv:
		b = appendUvarints(b, m.pid, m.vpn, m.epoch, m.seq)
	case kInvAck, kNotHeld:
		b = appendUvarints(b, m.pid, m.vpn, m.epoch)
	case kFwd:
		b = appendUvarints(b, m.pid, m.vpn, m.epoch, m.seq)
		b = append(b, m.flags)
		b = appendUvarints(b, uint64(m.target), m.targetInc, m.targetSeq)
	case kXfer:
		b = appendUvarints(b, m.pid, m.vpn, m.epoch, m.aux)
		b = append(b, m.flags)
		b = appendPage(b, m.hasPage, m.page)
	case kXferAck:
		b = appendUvarints(b, m.pid, m.vpn, m.aux)
	case kDenied:
		b = appendUvarints(b, m.pid, m.vpn, m.seq, m.aux, uint64(m.target))
	case kOp:
		b = appendUvarints(b, m.seq, m.pid, uint64(m.op), m.addr, m.a, m.b,
			m.req.Machine, uint64(m.req.Incarnation), uint64(m.req.Core), m.req.Seq)
		b = appendBytes(b, m.hasBytes, m.bytes)
	case kOpReply:
		b = appendUvarints(b, m.seq, m.val, uint64(m.trap), uint64(m.target))
		b = appendBytes(b, m.hasBytes, m.bytes)
	case kWake:
		b = appendUvarints(b, m.pid, m.seq, uint64(m.target))
	case kWakeAck:
		b = appendUvarints(b, m.seq)
	case kStale:
	default:
		panic(fmt.Sprintf("coherence: encode of message kind %d", m.kind))
	}
	return b
}

// appendHeader starts a payload.
func appendHeader(b []byte, fromInc, toInc, ackBelow uint64, count int) []byte {
	b = append(b, wireVersion)
	return appendUvarints(b, fromInc, toInc, ackBelow, uint64(count))
}

// decoder reads one payload; the first error sticks.
type decoder struct {
	b         []byte
	err       error
	pageBytes int
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrDecode}, args...)...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) flags() uint8 {
	f := d.byte1()
	if f&^flagExclusive != 0 {
		d.fail("flags %#x", f)
	}
	return f
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("%d exceeds 32 bits", v)
	}
	return uint32(v)
}

func (d *decoder) page() (has bool, data pageData) {
	switch tag := d.byte1(); tag {
	case dataNone:
		return false, nil
	case dataZero:
		return true, nil
	case dataPage:
		if len(d.b) < d.pageBytes {
			d.fail("page truncated")
			return false, nil
		}
		// The receiver owns the payload (netmodel.Receiver): the page
		// stays in it, not copied.
		data = pageData(d.b[:d.pageBytes:d.pageBytes])
		d.b = d.b[d.pageBytes:]
		return true, data
	default:
		d.fail("page tag %d", tag)
		return false, nil
	}
}

func (d *decoder) bytesField() (has bool, data []byte) {
	switch tag := d.byte1(); tag {
	case dataNone:
		return false, nil
	case dataBytes:
		n := d.uvarint()
		if d.err != nil {
			return false, nil
		}
		if n > uint64(d.pageBytes) || n > uint64(len(d.b)) {
			d.fail("byte string of %d", n)
			return false, nil
		}
		data = append([]byte(nil), d.b[:n]...)
		d.b = d.b[n:]
		return true, data
	default:
		d.fail("bytes tag %d", tag)
		return false, nil
	}
}

func (d *decoder) msg() msg {
	m := msg{kind: kind(d.byte1())}
	u := d.uvarint
	switch m.kind {
	case kGetS:
		m.pid, m.vpn, m.seq = u(), u(), u()
	case kGetM:
		m.pid, m.vpn, m.seq, m.aux = u(), u(), u(), u()
	case kData:
		m.pid, m.vpn, m.seq, m.epoch = u(), u(), u(), u()
		m.flags = d.flags()
		m.hasPage, m.page = d.page()
	case kInv:
		m.pid, m.vpn, m.epoch, m.seq = u(), u(), u(), u()
	case kInvAck, kNotHeld:
		m.pid, m.vpn, m.epoch = u(), u(), u()
	case kFwd:
		m.pid, m.vpn, m.epoch, m.seq = u(), u(), u(), u()
		m.flags = d.flags()
		m.target, m.targetInc, m.targetSeq = netmodel.NodeID(u()), u(), u()
	case kXfer:
		m.pid, m.vpn, m.epoch, m.aux = u(), u(), u(), u()
		m.flags = d.flags()
		m.hasPage, m.page = d.page()
		if !m.hasPage {
			d.fail("Xfer without data")
		}
	case kXferAck:
		m.pid, m.vpn, m.aux = u(), u(), u()
	case kDenied:
		m.pid, m.vpn, m.seq, m.aux, m.target = u(), u(), u(), u(), netmodel.NodeID(u())
		if m.aux < denyUnmapped || m.aux > denyDelegated {
			d.fail("Denied reason %d", m.aux)
		}
	case kOp:
		m.seq, m.pid = u(), u()
		m.op = opKind(u())
		m.addr, m.a, m.b = u(), u(), u()
		m.req.Machine, m.req.Incarnation, m.req.Core, m.req.Seq = u(), d.u32(), d.u32(), u()
		m.hasBytes, m.bytes = d.bytesField()
		if !m.op.remote() {
			d.fail("Op kind %d", m.op)
		}
	case kOpReply:
		m.seq, m.val = u(), u()
		if t := u(); t < uint64(sys.NumTraps) {
			m.trap = sys.Trap(t)
		} else {
			d.fail("trap %d", t)
		}
		m.target = netmodel.NodeID(u())
		m.hasBytes, m.bytes = d.bytesField()
	case kWake:
		m.pid, m.seq, m.target = u(), u(), netmodel.NodeID(u())
	case kWakeAck:
		m.seq = u()
	case kStale:
	default:
		d.fail("message kind %d", m.kind)
	}
	return m
}

// decodeEnvelope decodes a payload. Garbage gives an error wrapping
// ErrDecode, never a panic.
func decodeEnvelope(payload []byte, pageBytes int) (envelope, error) {
	return decodeEnvelopeInto(payload, pageBytes, nil)
}

// decodeEnvelopeInto is decodeEnvelope with the messages appended to
// msgs[:0], which the caller lends for reuse (the agent's receive scratch).
func decodeEnvelopeInto(payload []byte, pageBytes int, msgs []msg) (envelope, error) {
	d := decoder{b: payload, pageBytes: pageBytes}
	if v := d.byte1(); d.err == nil && v != wireVersion {
		return envelope{}, fmt.Errorf("%w %d", errVersion, v)
	}
	env := envelope{fromInc: d.uvarint(), toInc: d.uvarint(), ackBelow: d.uvarint()}
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > msgsPerPayloadMax || n > uint64(len(d.b))) {
		d.fail("%d messages", n)
	}
	if d.err == nil && env.fromInc == 0 {
		d.fail("sender incarnation 0")
	}
	if d.err == nil {
		env.msgs = slices.Grow(msgs[:0], int(n))
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		env.msgs = append(env.msgs, d.msg())
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return envelope{}, d.err
	}
	return env, nil
}

// describe renders m for traces: pages as region+offset of their first byte.
func (m *msg) describe(pageBytes int) string {
	pg := func() string {
		off := m.vpn * uint64(pageBytes)
		return fmt.Sprintf("p%d:r%d+%#x", m.pid, off>>RegionShift, off&regionMask)
	}
	mode := "S"
	if m.flags&flagExclusive != 0 {
		mode = "M"
	}
	data := func() string {
		switch {
		case !m.hasPage:
			return "no data"
		case m.page == nil:
			return "zeros"
		}
		return "data"
	}
	switch m.kind {
	case kGetS:
		return fmt.Sprintf("GetS %s #%d", pg(), m.seq)
	case kGetM:
		return fmt.Sprintf("GetM %s #%d have=%d", pg(), m.seq, m.aux)
	case kData:
		return fmt.Sprintf("Data %s #%d e%d %s %s", pg(), m.seq, m.epoch, mode, data())
	case kInv:
		return fmt.Sprintf("Inv %s e%d grant #%d", pg(), m.epoch, m.seq)
	case kInvAck:
		return fmt.Sprintf("InvAck %s e%d", pg(), m.epoch)
	case kFwd:
		to := "to home"
		if m.target != 0 {
			to = fmt.Sprintf("to %v #%d", m.target, m.targetSeq)
		}
		return fmt.Sprintf("Fwd %s e%d grant #%d %s %s", pg(), m.epoch, m.seq, mode, to)
	case kXfer:
		kept := ""
		if m.flags&flagExclusive != 0 {
			kept = " kept"
		}
		return fmt.Sprintf("Xfer %s e%d owned e%d%s %s", pg(), m.epoch, m.aux, kept, data())
	case kXferAck:
		return fmt.Sprintf("XferAck %s owned e%d", pg(), m.aux)
	case kNotHeld:
		return fmt.Sprintf("NotHeld %s e%d", pg(), m.epoch)
	case kDenied:
		reason := map[uint64]string{denyUnmapped: "unmapped", denyLost: "lost", denyDelegated: "delegated"}[m.aux]
		if m.aux == denyLost {
			reason += " by " + m.target.String()
		}
		return fmt.Sprintf("Denied %s #%d %s", pg(), m.seq, reason)
	case kOp:
		off := m.addr &^ gbit
		return fmt.Sprintf("Op #%d %v p%d:r%d+%#x a=%d b=%d", m.seq, m.op, m.pid, off>>RegionShift, off&regionMask, m.a, m.b)
	case kOpReply:
		return fmt.Sprintf("OpReply #%d val=%d trap=%d", m.seq, m.val, m.trap)
	case kWake:
		return fmt.Sprintf("Wake p%d #%d", m.pid, m.seq)
	case kWakeAck:
		return fmt.Sprintf("WakeAck #%d", m.seq)
	case kStale:
		return "Stale"
	}
	return m.kind.String()
}

// describePayload renders a payload for traces.
func describePayload(payload []byte, pageBytes int) string {
	env, err := decodeEnvelope(payload, pageBytes)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	parts := make([]string, len(env.msgs))
	for i := range env.msgs {
		parts[i] = env.msgs[i].describe(pageBytes)
	}
	return strings.Join(parts, "; ")
}

// PayloadKind names a payload by its first message's kind ("GetS", "Data",
// ...), for per-kind counters; "undecodable" if it does not get that far.
func PayloadKind(payload []byte) string {
	d := decoder{b: payload}
	if d.byte1() != wireVersion {
		return "undecodable"
	}
	for range 4 {
		d.uvarint()
	}
	k := kind(d.byte1())
	if d.err != nil || k == 0 || k >= numKinds {
		return "undecodable"
	}
	return k.String()
}

// DescribePayload renders a payload of this service for traces, message by
// message (pageBytes: the agents' page size).
func DescribePayload(payload []byte, pageBytes int) string {
	return describePayload(payload, pageBytes)
}
