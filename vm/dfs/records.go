package dfs

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/flockvm/flock/vm/sys"
)

// The values stored under the keys of id.go. Each starts with the record
// version and a tag; lists are canonical (sorted, no duplicates) so that
// equal records have equal bytes and a Txn can compare them.
const recordVersion = 1

const (
	tagDir     = 'D'
	tagEntry   = 'E'
	tagFile    = 'F'
	tagChunk   = 'C'
	tagTomb    = 'T'
	tagMachine = 'M'
)

// replicasMax bounds a chunk's replica list (RedundancyMax plus the copies
// repair adds before it drops the ones it replaces).
const replicasMax = 2 * sys.RedundancyMax

// dirRecord is a directory's attributes (fs/d/<ino>).
type dirRecord struct {
	owner      string
	redundancy uint8
	readers    []string
	writers    []string
}

func (r dirRecord) attr() sys.Attr {
	return sys.Attr{Redundancy: r.redundancy, Owner: r.owner, Readers: slices.Clone(r.readers), Writers: slices.Clone(r.writers)}
}

func dirFromAttr(a sys.Attr) dirRecord {
	return dirRecord{owner: a.Owner, redundancy: a.Redundancy, readers: slices.Clone(a.Readers), writers: slices.Clone(a.Writers)}
}

func (r dirRecord) mayRead(user string) bool  { return sys.Allows(r.readers, user) }
func (r dirRecord) mayWrite(user string) bool { return sys.Allows(r.writers, user) }

// mayLookUp: a name in the directory may be looked up (read or write).
func (r dirRecord) mayLookUp(user string) bool { return r.mayRead(user) || r.mayWrite(user) }

// mayChange: the attributes may be changed (owner or root).
func (r dirRecord) mayChange(user string) bool { return user == sys.UserRoot || user == r.owner }

func (r dirRecord) encode() string {
	b := []byte{recordVersion, tagDir}
	b = appendString(b, r.owner)
	b = append(b, r.redundancy)
	for _, list := range [][]string{r.readers, r.writers} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, u := range list {
			b = appendString(b, u)
		}
	}
	return string(b)
}

func decodeDir(s string) (dirRecord, error) {
	d := recordDecoder(s, tagDir)
	var r dirRecord
	r.owner = d.str("owner", sys.UserBytesMax)
	r.redundancy = d.u8("redundancy")
	r.readers = decodeUsers(&d, "readers")
	r.writers = decodeUsers(&d, "writers")
	if err := d.finish("dir record"); err != nil {
		return dirRecord{}, err
	}
	if !sys.ValidUser(r.owner) || r.redundancy < 1 || r.redundancy > sys.RedundancyMax {
		return dirRecord{}, fmt.Errorf("%w: dir record: owner %q redundancy %d", ErrDecode, r.owner, r.redundancy)
	}
	return r, nil
}

func decodeUsers(d *decoder, what string) []string {
	n := d.count(what, 2, sys.UsersMax)
	users := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		u := d.str(what, sys.UserBytesMax)
		switch {
		case d.err != nil:
		case u != sys.Everyone && !sys.ValidUser(u):
			d.fail("%s: %q is not a user", what, u)
		case i > 0 && u <= users[i-1]:
			d.fail("%s: %q not after %q", what, u, users[i-1])
		default:
			users = append(users, u)
		}
	}
	return users
}

func recordDecoder(s string, tag byte) decoder {
	d := decoder{buf: []byte(s)}
	if v, t := d.u8("version"), d.u8("tag"); d.err == nil && (v != recordVersion || t != tag) {
		d.fail("record version %d tag %q, want %d %q", v, t, recordVersion, tag)
	}
	return d
}

// entry is a directory entry (fs/n/<dir>/<name>).
type entry struct {
	isDir bool
	ino   ID
}

func (e entry) encode() string {
	kind := byte('f')
	if e.isDir {
		kind = 'd'
	}
	return string(appendID([]byte{recordVersion, tagEntry, kind}, e.ino))
}

func decodeEntry(s string) (entry, error) {
	d := recordDecoder(s, tagEntry)
	kind := d.u8("kind")
	e := entry{isDir: kind == 'd', ino: d.id("ino")}
	if err := d.finish("entry"); err != nil {
		return entry{}, err
	}
	if kind != 'd' && kind != 'f' || e.ino.IsZero() {
		return entry{}, fmt.Errorf("%w: entry kind %q ino %v", ErrDecode, kind, e.ino)
	}
	return e, nil
}

// fileRecord is a file (fs/i/<ino>): the directory it is in (whose
// permissions apply), its owner and its chunk size, fixed at creation.
type fileRecord struct {
	dir            ID
	owner          string
	chunkSizeBytes uint32
}

func (r fileRecord) encode() string {
	b := appendID([]byte{recordVersion, tagFile}, r.dir)
	b = appendString(b, r.owner)
	return string(binary.AppendUvarint(b, uint64(r.chunkSizeBytes)))
}

func decodeFile(s string) (fileRecord, error) {
	d := recordDecoder(s, tagFile)
	r := fileRecord{dir: d.id("dir"), owner: d.str("owner", sys.UserBytesMax)}
	cs := d.uvarint("chunk size")
	if err := d.finish("file record"); err != nil {
		return fileRecord{}, err
	}
	if !sys.ValidUser(r.owner) || cs < ChunkSizeBytesMin || cs > ChunkSizeBytesMax {
		return fileRecord{}, fmt.Errorf("%w: file record: owner %q chunk size %d", ErrDecode, r.owner, cs)
	}
	r.chunkSizeBytes = uint32(cs)
	return r, nil
}

// chunkRecord is a chunk's committed state (fs/i/<ino>/k/<idx>): its
// version (1 for the first write, +1 per write), the generation holding it,
// its length and checksum, and the machines holding that generation.
type chunkRecord struct {
	version  uint64
	gen      ID
	length   uint32
	crc      uint32
	replicas []uint64 // ascending, distinct, non-zero
}

func (r chunkRecord) encode() string {
	b := binary.AppendUvarint([]byte{recordVersion, tagChunk}, r.version)
	b = appendID(b, r.gen)
	b = binary.AppendUvarint(b, uint64(r.length))
	b = binary.LittleEndian.AppendUint32(b, r.crc)
	b = binary.AppendUvarint(b, uint64(len(r.replicas)))
	for _, m := range r.replicas {
		b = binary.AppendUvarint(b, m)
	}
	return string(b)
}

func decodeChunk(s string) (chunkRecord, error) {
	d := recordDecoder(s, tagChunk)
	r := chunkRecord{version: d.uvarint("version"), gen: d.id("gen")}
	length := d.uvarint("length")
	r.crc = d.u32("crc")
	n := d.count("replicas", 1, replicasMax)
	for i := 0; i < n && d.err == nil; i++ {
		m := d.uvarint("replica")
		if d.err == nil && (m == 0 || i > 0 && m <= r.replicas[i-1]) {
			d.fail("replica %d (%d) not ascending", i, m)
		}
		r.replicas = append(r.replicas, m)
	}
	if err := d.finish("chunk record"); err != nil {
		return chunkRecord{}, err
	}
	if r.version == 0 || r.gen.IsZero() || length > ChunkSizeBytesMax {
		return chunkRecord{}, fmt.Errorf("%w: chunk record version %d gen %v length %d", ErrDecode, r.version, r.gen, length)
	}
	r.length = uint32(length)
	return r, nil
}

func (r chunkRecord) holds(m uint64) bool {
	_, found := slices.BinarySearch(r.replicas, m)
	return found
}

// withReplicas returns r naming the given replicas (sorted and deduplicated).
func (r chunkRecord) withReplicas(ms []uint64) chunkRecord {
	ms = slices.Clone(ms)
	slices.Sort(ms)
	r.replicas = slices.Compact(ms)
	return r
}

// tombstone fences a write generation (fs/i/<ino>/t/<gen>) that never
// committed: its chunk and the version it would have made.
type tombstone struct {
	idx     uint64
	version uint64
}

func (t tombstone) encode() string {
	b := binary.AppendUvarint([]byte{recordVersion, tagTomb}, t.idx)
	return string(binary.AppendUvarint(b, t.version))
}

func decodeTomb(s string) (tombstone, error) {
	d := recordDecoder(s, tagTomb)
	t := tombstone{idx: d.uvarint("idx"), version: d.uvarint("version")}
	if err := d.finish("tombstone"); err != nil {
		return tombstone{}, err
	}
	if t.version == 0 {
		return tombstone{}, fmt.Errorf("%w: tombstone of version 0", ErrDecode)
	}
	return t, nil
}

// machineRecord is what a machine provides for chunks and uses
// (fs/m/<id>), published by the machine itself.
type machineRecord struct {
	quotaBytes uint64
	usedBytes  uint64
}

func (r machineRecord) encode() string {
	b := binary.AppendUvarint([]byte{recordVersion, tagMachine}, r.quotaBytes)
	return string(binary.AppendUvarint(b, r.usedBytes))
}

func decodeMachine(s string) (machineRecord, error) {
	d := recordDecoder(s, tagMachine)
	r := machineRecord{quotaBytes: d.uvarint("quota"), usedBytes: d.uvarint("used")}
	return r, d.finish("machine record")
}

func (r machineRecord) freeBytes() uint64 {
	if r.usedBytes >= r.quotaBytes {
		return 0
	}
	return r.quotaBytes - r.usedBytes
}

// encodeSize and decodeSize: a file's size is a canonical decimal, so the
// store's Txn max can raise it without a compare.
func encodeSize(n uint64) string { return strconv.FormatUint(n, 10) }

func decodeSize(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%w: size %q", ErrDecode, s)
	}
	return n, nil
}
