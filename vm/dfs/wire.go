package dfs

import (
	"encoding/binary"
	"fmt"
)

// Messages between Services. Every payload starts with wireVersion and a
// kind; requests carry a tag that their answer echoes. Decoders reject
// garbage: the frame around a message is checksummed, so a decoding error
// means a bug or a foreign sender, never line noise.
const wireVersion = 1

type msgKind uint8

const (
	msgPut msgKind = iota + 1
	msgPutAck
	msgGet
	msgGetAck
	msgCopy
	msgCopyAck
	msgProbe
	msgProbeAck
	msgGone // a file was removed: its chunk files here may be collected now (no answer)
	msgKindEnd
)

var msgKindNames = [...]string{"", "put", "put-ack", "get", "get-ack", "copy", "copy-ack", "probe", "probe-ack", "gone"}

func (k msgKind) String() string {
	if k == 0 || k >= msgKindEnd {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return msgKindNames[k]
}

// tag names a request of one incarnation of a Service.
type tag struct {
	inc uint32
	seq uint64
}

// ackStatus is how a chunk request was answered.
type ackStatus uint8

const (
	ackOK       ackStatus = iota // done (put, copy), data attached (get), nothing lacking (probe)
	ackNeedBase                  // put: the base generation is not here: send the whole chunk
	ackMissing                   // get: no such generation here
	ackBad                       // get: the copy failed its checksum
	ackFull                      // put, copy: no room
	ackIOError                   // the disk failed; another machine may do
	ackFailed                    // copy: no source gave a good copy
	ackStatusEnd
)

var ackStatusNames = [...]string{"ok", "need-base", "missing", "bad", "full", "io-error", "failed"}

func (s ackStatus) String() string {
	if s < ackStatusEnd {
		return ackStatusNames[s]
	}
	return fmt.Sprintf("ack(%d)", uint8(s))
}

func ackOf(s storeStatus) ackStatus {
	switch s {
	case storeOK:
		return ackOK
	case storeMissing:
		return ackMissing
	case storeBad:
		return ackBad
	case storeFull:
		return ackFull
	}
	return ackIOError
}

// message is one decoded message; the fields used depend on kind.
type message struct {
	kind    msgKind
	tag     tag
	ref     chunkRef
	status  ackStatus
	version uint64   // put, copy: the version the generation makes
	baseGen ID       // put: the generation data patches (zero: data is the whole chunk)
	baseCRC uint32   // put: the base's checksum
	off     uint32   // put: where in the chunk data goes
	length  uint32   // put: the new chunk's length; get, copy: the generation's length
	crc     uint32   // get, copy: the expected checksum; put-ack: the stored one
	data    []byte   // put: the patch or the chunk; get-ack: the chunk
	sources []uint64 // copy: machines holding a good copy
	items   []probeItem
	bad     []uint32 // probe-ack: indexes of the items lacking or bad
}

// probeItem is one (generation, checksum) a probe asks about.
type probeItem struct {
	ref chunkRef
	crc uint32
}

func appendRef(b []byte, r chunkRef) []byte {
	b = appendID(b, r.ino)
	b = binary.AppendUvarint(b, r.idx)
	return appendID(b, r.gen)
}

func (d *decoder) ref(what string) chunkRef {
	return chunkRef{ino: d.id(what), idx: d.uvarint(what), gen: d.id(what)}
}

func (m *message) encode() []byte {
	b := []byte{wireVersion, byte(m.kind)}
	b = binary.LittleEndian.AppendUint32(b, m.tag.inc)
	b = binary.AppendUvarint(b, m.tag.seq)
	switch m.kind {
	case msgPut:
		b = appendRef(b, m.ref)
		b = binary.AppendUvarint(b, m.version)
		b = appendID(b, m.baseGen)
		b = binary.LittleEndian.AppendUint32(b, m.baseCRC)
		b = binary.AppendUvarint(b, uint64(m.off))
		b = binary.AppendUvarint(b, uint64(m.length))
		b = appendBytes(b, m.data)
	case msgPutAck:
		b = appendRef(b, m.ref)
		b = append(b, byte(m.status))
		b = binary.LittleEndian.AppendUint32(b, m.crc)
	case msgGet:
		b = appendRef(b, m.ref)
		b = binary.AppendUvarint(b, uint64(m.length))
		b = binary.LittleEndian.AppendUint32(b, m.crc)
	case msgGetAck:
		b = appendRef(b, m.ref)
		b = append(b, byte(m.status))
		b = appendBytes(b, m.data)
	case msgCopy:
		b = appendRef(b, m.ref)
		b = binary.AppendUvarint(b, m.version)
		b = binary.AppendUvarint(b, uint64(m.length))
		b = binary.LittleEndian.AppendUint32(b, m.crc)
		b = binary.AppendUvarint(b, uint64(len(m.sources)))
		for _, s := range m.sources {
			b = binary.AppendUvarint(b, s)
		}
	case msgCopyAck:
		b = appendRef(b, m.ref)
		b = append(b, byte(m.status))
	case msgProbe:
		b = binary.AppendUvarint(b, uint64(len(m.items)))
		for _, it := range m.items {
			b = appendRef(b, it.ref)
			b = binary.LittleEndian.AppendUint32(b, it.crc)
		}
	case msgProbeAck:
		b = binary.AppendUvarint(b, uint64(len(m.bad)))
		for _, i := range m.bad {
			b = binary.AppendUvarint(b, uint64(i))
		}
	case msgGone:
		b = appendID(b, m.ref.ino)
	default:
		panic(fmt.Sprintf("dfs: encode of message kind %v", m.kind))
	}
	return b
}

// refBytesMin is the smallest encoding of a chunkRef.
const refBytesMin = 2*idBytes + 1

func decodeMessage(payload []byte) (message, error) {
	d := decoder{buf: payload}
	if v := d.u8("version"); d.err == nil && v != wireVersion {
		return message{}, fmt.Errorf("%w: message version %d", ErrDecode, v)
	}
	m := message{kind: msgKind(d.u8("kind"))}
	m.tag = tag{inc: d.u32("tag"), seq: d.uvarint("tag")}
	switch m.kind {
	case msgPut:
		m.ref, m.version, m.baseGen = d.ref("ref"), d.uvarint("version"), d.id("base")
		m.baseCRC = d.u32("base crc")
		m.off, m.length = d.u32v("offset", ChunkSizeBytesMax), d.u32v("length", ChunkSizeBytesMax)
		m.data = d.bytes("data", ChunkSizeBytesMax)
		if d.err == nil && (m.version == 0 || uint64(m.off)+uint64(len(m.data)) > uint64(m.length) ||
			m.baseGen.IsZero() && (m.off != 0 || len(m.data) != int(m.length))) {
			d.fail("put: version %d offset %d data %d length %d base %v", m.version, m.off, len(m.data), m.length, m.baseGen)
		}
	case msgPutAck, msgCopyAck:
		m.ref, m.status = d.ref("ref"), ackStatus(d.u8("status"))
		if m.kind == msgPutAck {
			m.crc = d.u32("crc")
		}
	case msgGet:
		m.ref, m.length, m.crc = d.ref("ref"), d.u32v("length", ChunkSizeBytesMax), d.u32("crc")
	case msgGetAck:
		m.ref, m.status, m.data = d.ref("ref"), ackStatus(d.u8("status")), d.bytes("data", ChunkSizeBytesMax)
	case msgCopy:
		m.ref, m.version = d.ref("ref"), d.uvarint("version")
		m.length, m.crc = d.u32v("length", ChunkSizeBytesMax), d.u32("crc")
		n := d.count("sources", 1, replicasMax)
		for i := 0; i < n && d.err == nil; i++ {
			m.sources = append(m.sources, d.uvarint("source"))
		}
	case msgProbe:
		n := d.count("items", refBytesMin+4, probeItemsMax)
		for i := 0; i < n && d.err == nil; i++ {
			m.items = append(m.items, probeItem{ref: d.ref("item"), crc: d.u32("item crc")})
		}
	case msgProbeAck:
		n := d.count("bad", 1, probeItemsMax)
		for i := 0; i < n && d.err == nil; i++ {
			m.bad = append(m.bad, d.u32v("bad item", probeItemsMax-1))
		}
	case msgGone:
		m.ref.ino = d.id("ino")
	default:
		return message{}, fmt.Errorf("%w: message kind %d", ErrDecode, m.kind)
	}
	if err := d.finish(m.kind.String()); err != nil {
		return message{}, err
	}
	if m.status >= ackStatusEnd {
		return message{}, fmt.Errorf("%w: %v status %d", ErrDecode, m.kind, m.status)
	}
	return m, nil
}

// u32v decodes a uvarint of at most max.
func (d *decoder) u32v(what string, max uint32) uint32 {
	v := d.uvarint(what)
	if d.err == nil && v > uint64(max) {
		d.fail("%s %d exceeds %d", what, v, max)
		return 0
	}
	return uint32(v)
}
