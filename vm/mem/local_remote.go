package mem

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	"github.com/flockvm/flock/vm/sys"
)

// A thread spawned on another machine takes its parent's local memory
// lazily (docs/node.md, "Lazy local memory"): its image carries the
// allocator's state, every all-zero page (a flag), the few pages worth
// sending at once, and, for the rest, a reference to a snapshot its source
// machine keeps pinned. Those pages are absent here: not in the page table,
// so the fast paths (Word, SetWord) miss on them exactly as on an unmapped
// page and cost nothing more on present pages. The slow path notes which
// absent page an operation needed (Fault); the interpreter parks the
// thread, has the page fetched from the source (PageSource) and installs
// it (InstallPages) before running the operation again.

// lazyMagic starts EncodeLazy's bytes.
const lazyMagic = "FLKR\x01"

// pageFlagAbsent marks, in EncodeLazy's bytes, a run of pages left on the
// source (a count follows).
const pageFlagAbsent = 4

// lazyAbsentPagesMax bounds the absent pages of one lazy Local (16 GiB):
// what a decoder builds from a few bytes stays bounded.
const lazyAbsentPagesMax = 1 << 22

// SnapshotRef names a pinned snapshot on its source machine: the machine,
// the incarnation that pinned it (a restarted machine has lost it), and
// the pin's number there.
type SnapshotRef struct {
	Machine, Incarnation, ID uint64
}

// PageSource fetches absent pages from the snapshot's source. The answer
// (at once or through the caller's Completer) carries EncodePages' bytes
// in Data, or a trap (TrapLost, Val naming the machine, when the source is
// gone).
type PageSource interface {
	FetchPages(c sys.Caller, ref SnapshotRef, indexes []uint64) (sys.Reply, bool)
}

// Remote is the link to a pinned snapshot, shared by every Local of this
// machine that still misses pages of it (a lazy thread's own snapshots
// share its absent pages). When the last of them lets go (released, or
// every page fetched) OnIdle runs, once: the source may unpin. Its Locals
// may run on several cores: the count is atomic, and OnIdle must be safe
// to call from any goroutine.
type Remote struct {
	Ref    SnapshotRef
	Source PageSource // set by the machine that decoded it, before use
	OnIdle func()
	users  atomic.Int32
}

func (r *Remote) drop() {
	if n := r.users.Add(-1); n == 0 {
		if r.OnIdle != nil {
			r.OnIdle()
		}
	} else if n < 0 {
		panic(fmt.Sprintf("mem: remote snapshot %+v dropped more often than shared", r.Ref))
	}
}

// lazyPart is a Local's absent pages.
type lazyPart struct {
	remote *Remote
	absent absentSet
	fault  uint64 // 1 + the absent page the last failed access needed; 0: none
}

// share is the lazy part of a snapshot: the same absent pages.
func (z *lazyPart) share() *lazyPart {
	if z == nil {
		return nil
	}
	z.remote.users.Add(1)
	return &lazyPart{remote: z.remote, absent: z.absent.clone()}
}

func (l *Local) dropLazy() {
	if z := l.lazy; z != nil {
		l.lazy = nil
		z.remote.drop()
	}
}

// noteFault passes trap through; an unmapped access that touched an absent
// page of [addr, addr+n) notes that page for Fault.
func (l *Local) noteFault(trap sys.Trap, addr, n uint64) sys.Trap {
	z := l.lazy
	if trap != sys.TrapUnmapped || z == nil || n == 0 {
		return trap
	}
	last := addr + n - 1
	if last < addr {
		last = ^uint64(0)
	}
	for i := addr >> pageShift; i <= last>>pageShift && i < LocalLimitBytes>>pageShift; i++ {
		if z.absent.has(i) {
			z.fault = i + 1
			break
		}
	}
	return trap
}

// Lazy reports whether some pages are still on another machine.
func (l *Local) Lazy() bool { return l.lazy != nil }

// Remote is the snapshot the absent pages come from; nil if none.
func (l *Local) Remote() *Remote {
	if l.lazy == nil {
		return nil
	}
	return l.lazy.remote
}

// Fault is the absent page the last access that trapped with
// TrapUnmapped needed, if it was one; it is forgotten once asked.
func (l *Local) Fault() (index uint64, ok bool) {
	z := l.lazy
	if z == nil || z.fault == 0 {
		return 0, false
	}
	index = z.fault - 1
	z.fault = 0
	return index, z.absent.has(index)
}

// Absent lists the pages still on the source, in order.
func (l *Local) Absent() []uint64 {
	if l.lazy == nil {
		return nil
	}
	return l.lazy.absent.sorted()
}

// DataPages counts the mapped pages that are not all zero (what an eager
// copy carries in full).
func (l *Local) DataPages() int {
	n := 0
	l.forPages(func(_ uint64, p *page) {
		if p.w != ([pageWords]uint64{}) {
			n++
		}
	})
	return n
}

// EncodeLazy serialises the memory for a machine that will fetch its pages
// on first touch from the snapshot ref names (this Local, kept pinned by
// its machine): the allocator's state and every all-zero page in full, the
// pages eager selects with their data, the others as absent. absent is how
// many it left out.
func (l *Local) EncodeLazy(ref SnapshotRef, eager func(index uint64) bool) (data []byte, absent int) {
	if l.lazy != nil {
		panic(fmt.Sprintf("mem: EncodeLazy of a local memory with %d pages still on machine %d", l.lazy.absent.count, l.lazy.remote.Ref.Machine))
	}
	b := l.appendHeap([]byte(lazyMagic))
	for _, v := range []uint64{ref.Machine, ref.Incarnation, ref.ID} {
		b = binary.AppendUvarint(b, v)
	}
	// Entries in address order: a page with its data (or zero flag), or a
	// run of absent pages.
	type entry struct {
		index, run uint64
		p          *page
		flags      byte
	}
	var entries []entry
	l.forPages(func(index uint64, p *page) {
		if p.w == ([pageWords]uint64{}) || eager(index) {
			entries = append(entries, entry{index: index, p: p})
			return
		}
		absent++
		flags := byte(pageFlagAbsent)
		if p.ro {
			flags |= pageFlagRO
		}
		if k := len(entries) - 1; k >= 0 && entries[k].p == nil && entries[k].flags == flags && entries[k].index+entries[k].run == index {
			entries[k].run++
			return
		}
		entries = append(entries, entry{index: index, run: 1, flags: flags})
	})
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, e.index)
		if e.p != nil {
			b = appendPage(b, e.p, 0)
			continue
		}
		b = append(b, e.flags)
		b = binary.AppendUvarint(b, e.run)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), absent
}

// decodeLazy is DecodeLocal of EncodeLazy's bytes: the Local's Remote has
// no Source yet.
func decodeLazy(data []byte, acct *Account) (*Local, error) {
	d, err := openSealed(data, lazyMagic)
	if err != nil {
		return nil, err
	}
	l, err := decodeHeap(d, acct)
	if err != nil {
		return nil, err
	}
	ref := SnapshotRef{Machine: d.uvarint(^uint64(0)), Incarnation: d.uvarint(^uint64(0)), ID: d.uvarint(^uint64(0))}
	z := &lazyPart{remote: &Remote{Ref: ref}, absent: newAbsentSet()}
	z.remote.users.Store(1)
	l.lazy = z
	n := d.count(2)
	next := uint64(0)
	for range n {
		index := d.uvarint(LocalLimitBytes>>pageShift - 1)
		flags := d.byte1()
		if d.err == nil && (index < next || flags&^(pageFlagRO|pageFlagZero|pageFlagAbsent) != 0 || flags&(pageFlagZero|pageFlagAbsent) == pageFlagZero|pageFlagAbsent) {
			d.err = fmt.Errorf("%w: page %d out of order or bad flags %#x", ErrCorrupt, index, flags)
		}
		if d.err != nil {
			l.Release()
			return nil, d.err
		}
		next = index + 1
		if flags&pageFlagAbsent != 0 {
			run := d.uvarint(lazyAbsentPagesMax - uint64(z.absent.count))
			if d.err == nil && (run == 0 || index+run > LocalLimitBytes>>pageShift) {
				d.err = fmt.Errorf("%w: absent run of %d pages at %d", ErrCorrupt, run, index)
			}
			if d.err != nil {
				l.Release()
				return nil, d.err
			}
			for i := index; i < index+run; i++ {
				z.absent.add(i)
			}
			next = index + run
			continue
		}
		if err := l.decodePage(d, index, flags); err != nil {
			l.Release()
			return nil, err
		}
	}
	if z.absent.count == 0 {
		l.dropLazy()
	}
	return l.finishDecode(d)
}

// EncodePages serialises pages for InstallPages elsewhere: each one's flags
// and, unless all zero, its words. Every page must be mapped here.
func (l *Local) EncodePages(indexes []uint64) ([]byte, error) {
	if l.lazy != nil {
		return nil, fmt.Errorf("mem: serving pages from a local memory that is itself partly remote")
	}
	var b []byte
	for _, index := range indexes {
		p := l.sp.lookup(index << pageShift)
		if index >= LocalLimitBytes>>pageShift || p == nil {
			return nil, fmt.Errorf("mem: page %d is not mapped in the snapshot", index)
		}
		b = appendPage(b, p, 0)
	}
	return b, nil
}

// InstallPages puts fetched pages (EncodePages' bytes for indexes) in
// place. A page that is already here (a duplicate answer) is skipped. Once
// nothing is absent the Local lets go of its Remote. Garbage is an error
// and installs nothing more.
func (l *Local) InstallPages(indexes []uint64, data []byte) error {
	d := &reader{b: data}
	for _, index := range indexes {
		flags := d.byte1()
		if d.err != nil {
			return d.err
		}
		if flags&^(pageFlagRO|pageFlagZero) != 0 {
			return fmt.Errorf("%w: fetched page %d has bad flags %#x", ErrCorrupt, index, flags)
		}
		z := l.lazy
		if z == nil || !z.absent.has(index) {
			if flags&pageFlagZero == 0 {
				if len(d.b) < PageBytes {
					return fmt.Errorf("%w: fetched page %d truncated", ErrCorrupt, index)
				}
				d.b = d.b[PageBytes:]
			}
			continue
		}
		if err := l.decodePage(d, index, flags); err != nil {
			return err
		}
		z.absent.remove(index)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the fetched pages", ErrCorrupt, len(d.b))
	}
	if l.lazy != nil && l.lazy.absent.count == 0 {
		l.dropLazy()
	}
	return nil
}
