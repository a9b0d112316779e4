package dfs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// chunkRef names one generation of one chunk: the unit a machine stores.
type chunkRef struct {
	ino ID
	idx uint64
	gen ID
}

func (r chunkRef) String() string { return fmt.Sprintf("%v/%d@%v", r.ino, r.idx, r.gen) }

func refLess(a, b chunkRef) bool {
	if a.ino != b.ino {
		return idLess(a.ino, b.ino)
	}
	if a.idx != b.idx {
		return a.idx < b.idx
	}
	return idLess(a.gen, b.gen)
}

func idLess(a, b ID) bool {
	if a.Machine != b.Machine {
		return a.Machine < b.Machine
	}
	if a.Inc != b.Inc {
		return a.Inc < b.Inc
	}
	return a.N < b.N
}

// A chunk file, <Dir>/c/<ino>-<idx>-<gen>, holds one generation:
//
//	offset size
//	0      4    magic "FLCK"
//	4      1    version (1)
//	5      20   inode id
//	25     8    chunk index
//	33     20   generation
//	53     8    chunk version (the record's version this generation makes)
//	61     4    data length
//	65     4    CRC-32C of the data
//	69     4    CRC-32C of bytes [0, 69)
//	73     n    data
//
// A file is written once, synced, and never modified; a torn or rotted one
// fails its checks and is treated as missing.
const chunkHeaderBytes = 73

const chunkFileVersion = 1

var chunkMagic = [4]byte{'F', 'L', 'C', 'K'}

// chunkHeader is a decoded chunk file header.
type chunkHeader struct {
	ref     chunkRef
	version uint64
	length  uint32
	crc     uint32
}

func (h chunkHeader) encode() []byte {
	b := make([]byte, 0, chunkHeaderBytes)
	b = append(b, chunkMagic[:]...)
	b = append(b, chunkFileVersion)
	b = appendID(b, h.ref.ino)
	b = binary.LittleEndian.AppendUint64(b, h.ref.idx)
	b = appendID(b, h.ref.gen)
	b = binary.LittleEndian.AppendUint64(b, h.version)
	b = binary.LittleEndian.AppendUint32(b, h.length)
	b = binary.LittleEndian.AppendUint32(b, h.crc)
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

// decodeChunkHeader checks the header's own checksum and fields.
func decodeChunkHeader(b []byte) (chunkHeader, error) {
	if len(b) < chunkHeaderBytes {
		return chunkHeader{}, fmt.Errorf("%w: chunk header of %d bytes", ErrDecode, len(b))
	}
	b = b[:chunkHeaderBytes]
	if got, want := binary.LittleEndian.Uint32(b[69:]), checksum(b[:69]); got != want {
		return chunkHeader{}, fmt.Errorf("%w: chunk header checksum %08x, want %08x", ErrDecode, got, want)
	}
	d := decoder{buf: b[:69]}
	var magic [4]byte
	copy(magic[:], d.take(4, "magic"))
	version := d.u8("file version")
	h := chunkHeader{ref: chunkRef{ino: d.id("ino"), idx: d.u64("idx"), gen: d.id("gen")}}
	h.version = d.u64("chunk version")
	h.length = d.u32("length")
	h.crc = d.u32("crc")
	if err := d.finish("chunk header"); err != nil {
		return chunkHeader{}, err
	}
	if magic != chunkMagic || version != chunkFileVersion || h.version == 0 || h.ref.gen.IsZero() || h.length > ChunkSizeBytesMax {
		return chunkHeader{}, fmt.Errorf("%w: chunk header magic %q version %d chunk version %d gen %v length %d",
			ErrDecode, magic[:], version, h.version, h.ref.gen, h.length)
	}
	return h, nil
}

// chunkFileName is the file name of a generation within the chunk directory.
func chunkFileName(r chunkRef) string {
	return string(appendChunkFileName(make([]byte, 0, chunkFileNameBytes), r))
}

// chunkFileNameBytes is the length of every chunk file name.
const chunkFileNameBytes = 2*idHexLen + 16 + 2

func appendChunkFileName(b []byte, r chunkRef) []byte {
	b = append(r.ino.appendHex(b), '-')
	b = append(appendHexFixed(b, r.idx, 16), '-')
	return r.gen.appendHex(b)
}

// parseChunkFileName parses chunkFileName.
func parseChunkFileName(name string) (chunkRef, error) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 || len(parts[1]) != 16 {
		return chunkRef{}, fmt.Errorf("dfs: %q is not a chunk file name", name)
	}
	ino, err1 := parseID(parts[0])
	idx, err2 := strconv.ParseUint(parts[1], 16, 64)
	gen, err3 := parseID(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || gen.IsZero() {
		return chunkRef{}, fmt.Errorf("dfs: %q is not a chunk file name", name)
	}
	r := chunkRef{ino: ino, idx: idx, gen: gen}
	if chunkFileName(r) != name {
		return chunkRef{}, fmt.Errorf("dfs: %q is not a canonical chunk file name", name)
	}
	return r, nil
}

// chunkFileBytes is the disk a generation of length n takes.
func chunkFileBytes(n uint32) uint64 { return chunkHeaderBytes + uint64(n) }
