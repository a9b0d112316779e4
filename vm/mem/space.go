package mem

import (
	"fmt"
	"sync/atomic"

	"github.com/flockvm/flock/vm/sys"
)

const (
	pageShift  = 12
	PageBytes  = 1 << pageShift
	pageWords  = PageBytes / 8
	dirShift   = 21
	dirPages   = 1 << (dirShift - pageShift)
	pageMask   = dirPages - 1
	wordInPage = pageWords - 1
)

// Pages and directories are shared copy-on-write between the Locals of a
// thread and the threads spawned from it, which may run on different
// interpreter cores at once: reference counts are atomic, and a shared page
// or directory (refs > 1) is never written in place. Whoever copies one
// copies it first and drops its reference after, so a sharer that sees
// refs == 1 owns it alone.
type page struct {
	w    [pageWords]uint64
	refs atomic.Int32
	ro   bool // read-only: a write traps with permission denied
}

type dir struct {
	pages [dirPages]*page
	refs  atomic.Int32
}

func newPage(ro bool) *page {
	p := &page{ro: ro}
	p.refs.Store(1)
	return p
}

func newDir() *dir {
	d := &dir{}
	d.refs.Store(1)
	return d
}

// space is a paged address space of offsets [0, len(dirs) << dirShift).
type space struct {
	dirs []*dir
	acct *Account
}

// snapshot shares every directory with a new space.
func (s *space) snapshot() space {
	dirs := make([]*dir, len(s.dirs))
	copy(dirs, s.dirs)
	for _, d := range dirs {
		if d != nil {
			d.refs.Add(1)
		}
	}
	return space{dirs: dirs, acct: s.acct}
}

// release drops this space's references; pages nobody references any more
// are given back to the account.
func (s *space) release() {
	for i, d := range s.dirs {
		if d == nil {
			continue
		}
		s.dirs[i] = nil
		s.dropDir(d)
	}
	s.dirs = nil
}

// dropDir drops one reference to d; the last one drops d's references to
// its pages.
func (s *space) dropDir(d *dir) {
	if d.refs.Add(-1) > 0 {
		return
	}
	for _, p := range d.pages {
		if p != nil {
			s.dropPage(p)
		}
	}
}

func (s *space) dropPage(p *page) {
	if p.refs.Add(-1) == 0 {
		s.acct.Uncharge(PageBytes)
	}
}

// lookup is the page holding offset off, or nil.
func (s *space) lookup(off uint64) *page {
	di := off >> dirShift
	if di >= uint64(len(s.dirs)) {
		return nil
	}
	d := s.dirs[di]
	if d == nil {
		return nil
	}
	return d.pages[(off>>pageShift)&pageMask]
}

// writable is the page holding off, made private to this space.
func (s *space) writable(off uint64) (*page, sys.Trap) {
	di := off >> dirShift
	if di >= uint64(len(s.dirs)) || s.dirs[di] == nil {
		return nil, sys.TrapUnmapped
	}
	d := s.ownDir(di)
	pi := (off >> pageShift) & pageMask
	p := d.pages[pi]
	if p == nil {
		return nil, sys.TrapUnmapped
	}
	if p.ro {
		return nil, sys.TrapPermission
	}
	if p.refs.Load() > 1 {
		if !s.acct.Charge(PageBytes) {
			return nil, sys.TrapOutOfMemory
		}
		np := newPage(false)
		np.w = p.w
		d.pages[pi] = np
		s.dropPage(p)
		p = np
	}
	return p, sys.TrapNone
}

// ownDir makes directory di private to this space.
func (s *space) ownDir(di uint64) *dir {
	d := s.dirs[di]
	if d.refs.Load() > 1 {
		nd := newDir()
		nd.pages = d.pages
		for _, p := range nd.pages {
			if p != nil {
				p.refs.Add(1)
			}
		}
		s.dirs[di] = nd
		s.dropDir(d)
		d = nd
	}
	return d
}

// mapRange maps fresh zero pages over [from, to) where none are mapped yet.
func (s *space) mapRange(from, to uint64, ro bool) sys.Trap {
	for off := from &^ (PageBytes - 1); off < to; off += PageBytes {
		di := off >> dirShift
		for di >= uint64(len(s.dirs)) {
			s.dirs = append(s.dirs, nil)
		}
		if s.dirs[di] == nil {
			s.dirs[di] = newDir()
		}
		if s.lookup(off) != nil {
			continue
		}
		if !s.acct.Charge(PageBytes) {
			return sys.TrapOutOfMemory
		}
		s.ownDir(di).pages[(off>>pageShift)&pageMask] = newPage(ro)
	}
	return sys.TrapNone
}

func (s *space) load64(off uint64) (uint64, sys.Trap) {
	if off&7 != 0 {
		return 0, sys.TrapMisaligned
	}
	p := s.lookup(off)
	if p == nil {
		return 0, sys.TrapUnmapped
	}
	return p.w[(off>>3)&wordInPage], sys.TrapNone
}

func (s *space) store64(off, v uint64) sys.Trap {
	if off&7 != 0 {
		return sys.TrapMisaligned
	}
	p, trap := s.writable(off)
	if trap != sys.TrapNone {
		return trap
	}
	p.w[(off>>3)&wordInPage] = v
	return sys.TrapNone
}

func (s *space) load8(off uint64) (uint64, sys.Trap) {
	p := s.lookup(off)
	if p == nil {
		return 0, sys.TrapUnmapped
	}
	return (p.w[(off>>3)&wordInPage] >> (8 * (off & 7))) & 0xff, sys.TrapNone
}

func (s *space) store8(off, v uint64) sys.Trap {
	p, trap := s.writable(off)
	if trap != sys.TrapNone {
		return trap
	}
	shift := 8 * (off & 7)
	w := &p.w[(off>>3)&wordInPage]
	*w = *w&^(0xff<<shift) | (v&0xff)<<shift
	return sys.TrapNone
}

// readBytes copies n bytes from off; every byte must be mapped.
func (s *space) readBytes(off, n uint64) ([]byte, sys.Trap) {
	if off+n < off {
		return nil, sys.TrapUnmapped
	}
	// Check every page first: never allocate for a range that traps.
	for a := off &^ (PageBytes - 1); a < off+n; a += PageBytes {
		if s.lookup(a) == nil {
			return nil, sys.TrapUnmapped
		}
	}
	out := make([]byte, n)
	for i := uint64(0); i < n; i++ {
		b, trap := s.load8(off + i)
		if trap != sys.TrapNone {
			return nil, trap
		}
		out[i] = byte(b)
	}
	return out, sys.TrapNone
}

// writeBytes copies data to off; every byte must be mapped and writable.
// On a trap, a prefix may have been written.
func (s *space) writeBytes(off uint64, data []byte) sys.Trap {
	if off+uint64(len(data)) < off {
		return sys.TrapUnmapped
	}
	for i, b := range data {
		if trap := s.store8(off+uint64(i), uint64(b)); trap != sys.TrapNone {
			return trap
		}
	}
	return sys.TrapNone
}

// zero clears [off, off+n), n a multiple of 8 and off aligned.
func (s *space) zero(off, n uint64) sys.Trap {
	if off&7 != 0 || n&7 != 0 {
		panic(fmt.Sprintf("mem: zero(%#x, %d) not word aligned", off, n))
	}
	for a := off; a < off+n; a += 8 {
		if p := s.lookup(a); p != nil && p.w[(a>>3)&wordInPage] == 0 {
			continue
		}
		if trap := s.store64(a, 0); trap != sys.TrapNone {
			return trap
		}
	}
	return sys.TrapNone
}
