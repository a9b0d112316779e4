package raftkv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/flockvm/flock/netmodel"
)

// Integers are little endian or unsigned varints; strings are a varint
// length and the bytes. Decoders reject trailing bytes, unknown enum values
// and lengths beyond what the buffer holds: input from the network and the
// disk is untrusted.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDecode is wrapped by every decoding error.
var errDecode = errors.New("raftkv: malformed encoding")

type decoder struct {
	buf []byte
	err error
	// src, for a decoder of a string (stringDecoder), is that string: buf
	// is a read-only view of its tail, and str returns substrings of it
	// instead of copies.
	src string
}

// stringDecoder decodes s without copying it: the strings it returns share
// s's memory (so a key kept from it keeps s).
func stringDecoder(s string) decoder {
	return decoder{buf: unsafe.Slice(unsafe.StringData(s), len(s)), src: s}
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errDecode, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) u8(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail("%s: truncated", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) u64(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 8 {
		d.fail("%s: truncated", what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("%s: bad varint", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count decodes a varint that counts items of at least itemBytesMin bytes
// each, so a garbled count cannot make the caller allocate without bound.
func (d *decoder) count(what string, itemBytesMin int) int {
	v := d.uvarint(what)
	if d.err == nil && v > uint64(len(d.buf)/itemBytesMin) {
		d.fail("%s: count %d exceeds what %d bytes can hold", what, v, len(d.buf))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("%s: length %d exceeds the %d bytes left", what, n, len(d.buf))
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) str(what string) string {
	b := d.bytes(what)
	if d.src == "" || len(b) == 0 {
		return string(b)
	}
	end := len(d.src) - len(d.buf) // b ends where the unread tail starts
	return d.src[end-len(b) : end]
}

func (d *decoder) finish(what string) error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.buf))
	}
	return d.err
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// stringEncoder builds an encoding as a string in one allocation when
// grown to its size first (stringBytes, uvarintBytes): transactions and
// ranges travel as strings.
type stringEncoder struct{ strings.Builder }

func (e *stringEncoder) uvarint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	e.Write(binary.AppendUvarint(b[:0], v))
}

func (e *stringEncoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.WriteString(s)
}

// uvarintBytes is the length of v's uvarint encoding.
func uvarintBytes(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// stringBytes is the length of s encoded by appendString.
func stringBytes(s string) int { return uvarintBytes(uint64(len(s))) + len(s) }

// Op is the kind of a request.
type Op uint8

// The operations. OpRegister opens a session; a Client sends it by itself.
// OpTxn and OpRanges carry their transaction or ranges in the request's
// value (txn.go), OpChangeMembers its changes (members.go). OpMembers reads
// the configuration.
const (
	OpGet Op = iota + 1
	OpPut
	OpDelete
	OpCAS
	OpScan
	OpRegister
	OpTxn
	OpRanges
	OpChangeMembers
	OpMembers
	opEnd
)

var opNames = [...]string{"", "get", "put", "delete", "cas", "scan", "register", "txn", "ranges", "change-members", "members"}

func (o Op) String() string {
	if o == 0 || o >= opEnd {
		return fmt.Sprintf("op(%d)", uint8(o))
	}
	return opNames[o]
}

func (o Op) isWrite() bool {
	return o == OpPut || o == OpDelete || o == OpCAS || o == OpTxn || o == OpChangeMembers
}

func (o Op) isRead() bool { return o == OpGet || o == OpScan || o == OpRanges || o == OpMembers }

// request is what a Client sends and, with the Client's address filled in
// by the accepting server, what a log entry holds. A read without a session
// (session 0) is served by ReadIndex and never enters the log.
type request struct {
	op            Op
	session       uint64 // 0 for OpRegister and for a read served by ReadIndex
	seq           uint64 // OpRegister: the client's nonce; a session-less read: the client's read id
	attempt       uint32 // echoed in the reply, so a late refusal is not taken for the current one
	client        netmodel.NodeID
	limit         uint64 // OpScan
	key           string // OpScan: the prefix
	value         string
	expected      string // OpCAS
	expectedFound bool   // OpCAS
	// txn and ranges: value decoded by validateRequest (OpTxn, OpRanges),
	// kept so that applying the request does not decode it again. Never
	// encoded.
	txn    *Txn
	ranges []Range
}

const (
	wireVersion = 1

	kindRaft    = 1
	kindRequest = 2
	kindReply   = 3
)

func appendRequestBody(dst []byte, r *request) []byte {
	flags := byte(0)
	if r.expectedFound {
		flags = 1
	}
	dst = append(dst, byte(r.op), flags)
	dst = binary.AppendUvarint(dst, r.session)
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendUvarint(dst, uint64(r.attempt))
	dst = binary.AppendUvarint(dst, uint64(r.client))
	dst = binary.AppendUvarint(dst, r.limit)
	dst = appendString(dst, r.key)
	dst = appendString(dst, r.value)
	return appendString(dst, r.expected)
}

func decodeRequestBody(d *decoder) request {
	var r request
	r.op = Op(d.u8("op"))
	flags := d.u8("flags")
	r.session = d.uvarint("session")
	r.seq = d.uvarint("seq")
	attempt := d.uvarint("attempt")
	r.client = netmodel.NodeID(d.uvarint("client"))
	r.limit = d.uvarint("limit")
	r.key = d.str("key")
	r.value = d.str("value")
	r.expected = d.str("expected")
	if d.err != nil {
		return request{}
	}
	switch {
	case r.op == 0 || r.op >= opEnd:
		d.fail("unknown op %d", r.op)
	case flags > 1:
		d.fail("unknown request flags %#x", flags)
	case attempt > math.MaxUint32:
		d.fail("attempt %d overflows", attempt)
	case r.op == OpRegister && r.session != 0, r.op.isWrite() && r.session == 0:
		d.fail("%v with session %d", r.op, r.session)
	}
	r.expectedFound = flags == 1
	r.attempt = uint32(attempt)
	return r
}

// encodeCommand is the data of the log entry for a request.
func encodeCommand(r *request) []byte {
	return appendRequestBody([]byte{wireVersion}, r)
}

func decodeCommand(data []byte) (request, error) {
	d := decoder{buf: data}
	if v := d.u8("version"); d.err == nil && v != wireVersion {
		return request{}, fmt.Errorf("%w: command version %d", errDecode, v)
	}
	r := decodeRequestBody(&d)
	return r, d.finish("command")
}

// status is how a server answers a request.
type status uint8

const (
	statusOK             status = iota // applied (or a duplicate answered from the session table); a read: served
	statusNotLeader                    // not proposed (a read: not served here): ask the leader (reply.leader, if known)
	statusSessionExpired               // not applied: the session is gone
	statusStale                        // not applied: an older seq than the session's last
	statusOverloaded                   // not proposed: too many pending requests
	statusInvalid                      // not applied: malformed
	statusStateFull                    // not applied: the store is full
	statusConfPending                  // not proposed: a configuration change is in progress
	statusConfRefused                  // not applied: raft's rules refuse the configuration change
	statusMembersChanged               // not applied: the configuration is no longer the one the change expected
	statusEnd
)

var statusNames = [...]string{"ok", "not-leader", "session-expired", "stale", "overloaded", "invalid", "state-full", "conf-pending", "conf-refused", "members-changed"}

func (s status) String() string {
	if s < statusEnd {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// reply is a server's answer to a request.
type reply struct {
	session, seq uint64
	attempt      uint32
	status       status
	leader       netmodel.NodeID // statusNotLeader: the leader, 0 if unknown
	found        bool
	swapped      bool
	more         bool
	index        uint64 // log index of the entry; for OpRegister the new session id; a session-less read: the applied index it read
	value        string
	pairs        []KV
	members      *Membership // OpChangeMembers, OpMembers: the configuration
}

func appendReplyBody(dst []byte, r *reply) []byte {
	flags := byte(0)
	if r.found {
		flags |= 1
	}
	if r.swapped {
		flags |= 2
	}
	if r.more {
		flags |= 4
	}
	if r.members != nil {
		flags |= 8
	}
	dst = append(dst, byte(r.status), flags)
	dst = binary.AppendUvarint(dst, r.session)
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendUvarint(dst, uint64(r.attempt))
	dst = binary.AppendUvarint(dst, uint64(r.leader))
	dst = binary.AppendUvarint(dst, r.index)
	dst = appendString(dst, r.value)
	dst = binary.AppendUvarint(dst, uint64(len(r.pairs)))
	for _, p := range r.pairs {
		dst = appendString(dst, p.Key)
		dst = appendString(dst, p.Value)
	}
	if r.members != nil {
		dst = appendMembership(dst, r.members)
	}
	return dst
}

func decodeReplyBody(d *decoder) reply {
	var r reply
	r.status = status(d.u8("status"))
	flags := d.u8("flags")
	r.session = d.uvarint("session")
	r.seq = d.uvarint("seq")
	attempt := d.uvarint("attempt")
	r.leader = netmodel.NodeID(d.uvarint("leader"))
	r.index = d.uvarint("index")
	r.value = d.str("value")
	n := d.count("pairs", 2)
	if n > 0 {
		r.pairs = make([]KV, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		r.pairs[i] = KV{Key: d.str("pair key"), Value: d.str("pair value")}
	}
	if flags&8 != 0 {
		r.members = decodeMembership(d)
	}
	switch {
	case d.err != nil:
		return reply{}
	case r.status >= statusEnd:
		d.fail("unknown status %d", r.status)
	case flags > 15:
		d.fail("unknown reply flags %#x", flags)
	case attempt > math.MaxUint32:
		d.fail("attempt %d overflows", attempt)
	}
	r.found, r.swapped, r.more = flags&1 != 0, flags&2 != 0, flags&4 != 0
	r.attempt = uint32(attempt)
	return r
}

// envelope is one decoded network message: exactly one of its parts is set.
type envelope struct {
	kind    byte
	raft    []byte // kindRaft: a marshalled raftpb.Message
	request request
	reply   reply
}

// A message on the wire: version, kind, body. The frame around it
// (netmodel) already checksums it, so a decoding error means a bug or a
// foreign sender, never line noise.

func encodeRaftEnvelope(msg []byte) []byte {
	out := make([]byte, 0, 2+len(msg))
	out = append(out, wireVersion, kindRaft)
	return append(out, msg...)
}

func encodeRequestEnvelope(r *request) []byte {
	return appendRequestBody([]byte{wireVersion, kindRequest}, r)
}

func encodeReplyEnvelope(r *reply) []byte {
	return appendReplyBody([]byte{wireVersion, kindReply}, r)
}

func decodeEnvelope(payload []byte) (envelope, error) {
	d := decoder{buf: payload}
	version := d.u8("version")
	kind := d.u8("kind")
	if d.err != nil {
		return envelope{}, d.err
	}
	if version != wireVersion {
		return envelope{}, fmt.Errorf("%w: message version %d", errDecode, version)
	}
	e := envelope{kind: kind}
	switch kind {
	case kindRaft:
		e.raft = d.buf
		return e, nil
	case kindRequest:
		e.request = decodeRequestBody(&d)
	case kindReply:
		e.reply = decodeReplyBody(&d)
	default:
		return envelope{}, fmt.Errorf("%w: message kind %d", errDecode, kind)
	}
	return e, d.finish("message")
}
