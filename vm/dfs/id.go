package dfs

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// ID names an inode or a write generation for all time: the service that
// made it (its machine and that machine's incarnation) and a counter of
// that service. No allocation round trip is needed, and a restarted machine
// never reuses an id because its incarnation is new.
type ID struct {
	Machine uint64
	Inc     uint32
	N       uint64
}

// RootIno is the inode of the root directory.
var RootIno = ID{}

// idHexLen is the length of an ID in keys and file names.
const idHexLen = 16 + 8 + 16

// idBytes is the length of an ID in binary records.
const idBytes = 8 + 4 + 8

// IsZero reports whether id is the zero ID (the root inode; no generation).
func (id ID) IsZero() bool { return id == ID{} }

// String is the fixed-width hex form used in keys and file names, so that
// key order is id order and no id is a prefix of another.
func (id ID) String() string {
	return string(id.appendHex(make([]byte, 0, idHexLen)))
}

// appendHex appends the String form (keys and file names are built on the
// hot path: no fmt).
func (id ID) appendHex(b []byte) []byte {
	b = appendHexFixed(b, id.Machine, 16)
	b = appendHexFixed(b, uint64(id.Inc), 8)
	return appendHexFixed(b, id.N, 16)
}

// appendHexFixed appends the low digits hex digits of v, zero-padded
// (fmt's %0Nx for a v that fits).
func appendHexFixed(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// parseID parses the String form.
func parseID(s string) (ID, error) {
	if len(s) != idHexLen {
		return ID{}, fmt.Errorf("dfs: id %q: want %d hex digits", s, idHexLen)
	}
	m, err1 := strconv.ParseUint(s[:16], 16, 64)
	inc, err2 := strconv.ParseUint(s[16:24], 16, 32)
	n, err3 := strconv.ParseUint(s[24:], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return ID{}, fmt.Errorf("dfs: id %q is not hex", s)
	}
	id := ID{Machine: m, Inc: uint32(inc), N: n}
	if id.String() != s {
		return ID{}, fmt.Errorf("dfs: id %q is not in canonical form", s)
	}
	return id, nil
}

func appendID(b []byte, id ID) []byte {
	b = binary.LittleEndian.AppendUint64(b, id.Machine)
	b = binary.LittleEndian.AppendUint32(b, id.Inc)
	return binary.LittleEndian.AppendUint64(b, id.N)
}

// Metadata keys, all under "fs/" in the store the VM shares with other
// services. See docs/storage.md.
const (
	keyPrefix        = "fs/"
	keyDirPrefix     = "fs/d/"
	keyEntryPrefix   = "fs/n/"
	keyFilePrefix    = "fs/i/"
	keyMachinePrefix = "fs/m/"
)

func keyDir(ino ID) string                { return keyDirPrefix + ino.String() }
func keyEntries(dir ID) string            { return keyEntryPrefix + dir.String() + "/" }
func keyEntry(dir ID, name string) string { return keyEntries(dir) + name }
func keyFile(ino ID) string               { return keyFilePrefix + ino.String() }
func keyChunks(ino ID) string             { return keyFile(ino) + "/k/" }
func keyChunk(ino ID, idx uint64) string {
	return string(appendHexFixed([]byte(keyChunks(ino)), idx, 16))
}
func keySize(ino ID) string         { return keyFile(ino) + "/s" }
func keyTombs(ino ID) string        { return keyFile(ino) + "/t/" }
func keyTomb(ino ID, gen ID) string { return keyTombs(ino) + gen.String() }
func keyMachine(m uint64) string    { return string(appendHexFixed([]byte(keyMachinePrefix), m, 16)) }

// exactRange is the range holding exactly key.
func exactRange(key string) rangeSpec { return rangeSpec{start: key, end: key + "\x00", limit: 1} }

// rangeSpec is a key range to read (raftkv.Range without the import in
// every signature).
type rangeSpec struct {
	start, end string
	limit      int
}

// fileKey is what a key under fs/i/ names.
type fileKey struct {
	ino  ID
	kind byte // 'f' file record, 'k' chunk, 's' size, 't' tombstone
	idx  uint64
	gen  ID
}

// parseFileKey parses a key under fs/i/.
func parseFileKey(key string) (fileKey, error) {
	bad := func() (fileKey, error) { return fileKey{}, fmt.Errorf("dfs: malformed file key %q", key) }
	rest := key[min(len(key), len(keyFilePrefix)):]
	if len(key) < len(keyFilePrefix) || key[:len(keyFilePrefix)] != keyFilePrefix || len(rest) < idHexLen {
		return bad()
	}
	ino, err := parseID(rest[:idHexLen])
	if err != nil {
		return bad()
	}
	rest = rest[idHexLen:]
	k := fileKey{ino: ino}
	switch {
	case rest == "":
		k.kind = 'f'
	case rest == "/s":
		k.kind = 's'
	case len(rest) == 3+16 && rest[:3] == "/k/":
		idx, err := strconv.ParseUint(rest[3:], 16, 64)
		if err != nil || fmt.Sprintf("%016x", idx) != rest[3:] {
			return bad()
		}
		k.kind, k.idx = 'k', idx
	case len(rest) == 3+idHexLen && rest[:3] == "/t/":
		gen, err := parseID(rest[3:])
		if err != nil {
			return bad()
		}
		k.kind, k.gen = 't', gen
	default:
		return bad()
	}
	return k, nil
}
