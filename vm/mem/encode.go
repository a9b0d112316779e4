package mem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/google/btree"
)

// A Local travels between machines (thread migration, spawning on another
// machine) as bytes: magic, the heap's state, then every mapped page (an
// all-zero page without its content), then a CRC-32C.
const localMagic = "FLKL\x01"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	pageFlagRO   = 1
	pageFlagZero = 2
)

// Encode serialises the memory. The Local is unchanged. A Local with pages
// still on another machine cannot be encoded whole (FetchAll them first):
// that would silently drop them.
func (l *Local) Encode() []byte {
	if l.lazy != nil {
		panic(fmt.Sprintf("mem: Encode of a local memory with %d pages still on machine %d", l.lazy.absent.count, l.lazy.remote.Ref.Machine))
	}
	b := l.appendHeap([]byte(localMagic))
	var n uint64
	l.forPages(func(uint64, *page) { n++ })
	b = binary.AppendUvarint(b, n)
	l.forPages(func(index uint64, p *page) {
		b = binary.AppendUvarint(b, index)
		b = appendPage(b, p, 0)
	})
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// appendHeap appends mappedTop and the allocator's state.
func (l *Local) appendHeap(b []byte) []byte {
	b = binary.AppendUvarint(b, l.heap.mappedTop)
	b = binary.AppendUvarint(b, l.heap.top)
	b = binary.AppendUvarint(b, l.heap.limit)
	for _, tree := range []*btree.BTreeG[block]{l.heap.live, l.heap.freeAddr} {
		b = binary.AppendUvarint(b, uint64(tree.Len()))
		tree.Ascend(func(x block) bool {
			b = binary.AppendUvarint(b, x.addr)
			b = binary.AppendUvarint(b, x.size)
			return true
		})
	}
	return b
}

// appendPage appends a page's flags (with extra ones) and, unless it is all
// zero, its words.
func appendPage(b []byte, p *page, extra byte) []byte {
	flags := extra
	if p.ro {
		flags |= pageFlagRO
	}
	if p.w == ([pageWords]uint64{}) {
		flags |= pageFlagZero
	}
	b = append(b, flags)
	if flags&pageFlagZero == 0 {
		for _, w := range p.w {
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

// forPages visits the mapped pages in address order.
func (l *Local) forPages(f func(index uint64, p *page)) {
	for di, d := range l.sp.dirs {
		if d == nil {
			continue
		}
		for pi, p := range d.pages {
			if p != nil {
				f(uint64(di)<<(dirShift-pageShift)|uint64(pi), p)
			}
		}
	}
}

// ErrNoMemory: the pages do not fit in the account's limit.
var ErrNoMemory = errors.New("out of memory")

// ErrCorrupt: the bytes are not an encoded Local.
var ErrCorrupt = errors.New("corrupt local memory image")

// DecodeLocal rebuilds a Local from Encode's (or EncodeLazy's) bytes,
// charging its pages to acct. Garbage gives an error, never a panic.
func DecodeLocal(data []byte, acct *Account) (*Local, error) {
	if len(data) >= len(lazyMagic)+4 && string(data[:len(lazyMagic)]) == lazyMagic {
		return decodeLazy(data, acct)
	}
	d, err := openSealed(data, localMagic)
	if err != nil {
		return nil, err
	}
	l, err := decodeHeap(d, acct)
	if err != nil {
		return nil, err
	}
	if err := l.decodePages(d); err != nil {
		l.Release()
		return nil, err
	}
	return l.finishDecode(d)
}

// openSealed checks magic and checksum and returns a reader of the body.
func openSealed(data []byte, magic string) (*reader, error) {
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return &reader{b: body[len(magic):]}, nil
}

// decodeHeap reads appendHeap's fields into a new, empty Local.
func decodeHeap(d *reader, acct *Account) (*Local, error) {
	l := &Local{sp: space{acct: acct}}
	mappedTop := d.uvarint(LocalLimitBytes)
	top, limit := d.uvarint(LocalLimitBytes), d.uvarint(LocalLimitBytes)
	l.heap = &Heap{top: top, limit: limit, mappedTop: mappedTop, live: btree.NewG(btreeDegree, byAddr), freeAddr: btree.NewG(btreeDegree, byAddr), freeSize: btree.NewG(btreeDegree, bySize)}
	l.heap.refs.Store(1)
	for i, tree := range []*btree.BTreeG[block]{l.heap.live, l.heap.freeAddr} {
		n := d.count(2)
		prevEnd := uint64(0)
		for range n {
			x := block{addr: d.uvarint(top), size: d.uvarint(top)}
			if d.err == nil && (x.size == 0 || x.size%8 != 0 || x.addr < prevEnd || x.addr+x.size > top) {
				d.err = fmt.Errorf("%w: bad block %+v", ErrCorrupt, x)
			}
			if d.err != nil {
				return nil, d.err
			}
			prevEnd = x.addr + x.size
			tree.ReplaceOrInsert(x)
			if i == 1 {
				l.heap.freeSize.ReplaceOrInsert(x)
			}
		}
	}
	return l, d.err
}

// finishDecode checks that nothing is left and fixes mappedTop.
func (l *Local) finishDecode(d *reader) (*Local, error) {
	if len(d.b) != 0 {
		l.Release()
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	// Pages below mappedTop may hold old data that ALLOC must zero.
	h := l.heap
	l.forPages(func(index uint64, _ *page) { h.mappedTop = max(h.mappedTop, (index+1)<<pageShift) })
	if l.lazy != nil {
		h.mappedTop = max(h.mappedTop, l.lazy.absent.top()<<pageShift)
	}
	return l, nil
}

func (l *Local) decodePages(d *reader) error {
	n := d.count(2)
	next := uint64(0)
	for range n {
		index := d.uvarint(LocalLimitBytes >> pageShift)
		flags := d.byte1()
		if d.err != nil {
			return d.err
		}
		if index < next || flags&^(pageFlagRO|pageFlagZero) != 0 {
			return fmt.Errorf("%w: page %d out of order or bad flags %#x", ErrCorrupt, index, flags)
		}
		next = index + 1
		if err := l.decodePage(d, index, flags); err != nil {
			return err
		}
	}
	return d.err
}

// decodePage maps page index and fills it from d as flags say.
func (l *Local) decodePage(d *reader, index uint64, flags byte) error {
	off := index << pageShift
	if trap := l.sp.mapRange(off, off+PageBytes, false); trap != 0 {
		return fmt.Errorf("decoding local memory: %w", ErrNoMemory)
	}
	p := l.sp.lookup(off)
	if flags&pageFlagZero == 0 {
		if len(d.b) < PageBytes {
			return fmt.Errorf("%w: page %d truncated", ErrCorrupt, index)
		}
		for i := range p.w {
			p.w[i] = binary.LittleEndian.Uint64(d.b[8*i:])
		}
		d.b = d.b[PageBytes:]
	}
	p.ro = flags&pageFlagRO != 0
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > max {
		r.err = fmt.Errorf("%w: bad number", ErrCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that take at least minBytes each.
func (r *reader) count(minBytes int) uint64 {
	n := r.uvarint(uint64(len(r.b)))
	if r.err == nil && n > uint64(len(r.b)/minBytes) {
		r.err = fmt.Errorf("%w: count %d exceeds the input", ErrCorrupt, n)
	}
	return n
}

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		if r.err == nil {
			r.err = fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}
