package coherence

import (
	"fmt"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// copyState is what a machine other than the home holds of a page.
type copyState uint8

const (
	copyNone copyState = iota
	copyShared
	copyModified
)

func (c copyState) String() string {
	switch c {
	case copyShared:
		return "shared"
	case copyModified:
		return "modified"
	}
	return "none"
}

// page is one page of one process as this machine knows it: the home's
// directory entry and master copy, or another machine's cached copy.
type page struct {
	proc  *process
	vpn   uint64
	home  bool
	frame *Frame // the master (home) or the copy; nil: no data here
	ops   []*op  // operations waiting for access, in arrival order
	lost  netmodel.NodeID

	// Cache side.
	copy           copyState
	epoch          uint64 // of the grant the copy came from
	grantSeq       uint64 // the request that grant answered
	fetch          *request
	stash          *msg      // a forward that arrived before its grant's data
	xfer           *transfer // data handed back, kept until the home acknowledges
	delegatedUntil uint64    // tick: ship operations to the home until then
	reserved       bool      // a cache slot (PageBytes of CacheBytesMax) is charged
	waitingSpace   bool      // in Agent.spaceWaiters
	lruPrev        *page
	lruNext        *page
	inLRU          bool
	// A revocation waiting for a grace period: the forward to answer, or
	// an eviction to finish.
	graceTicket uint64
	graceFwd    *msg
	graceEvict  bool
	// running counts the loops running this page's waiting operations:
	// meanwhile the page is pinned (its operations are out of pg.ops).
	running int

	// Home side.
	dir *dirEntry
}

// transfer is page data handed back to the home (a writeback or the answer
// to a forward), kept until the home acknowledges it.
type transfer struct {
	epoch      uint64 // the forward answered; 0 for a voluntary writeback
	ownerEpoch uint64 // the grant the data was owned under
	ownerSeq   uint64
	kept       bool
	data       pageData
	// The forward's target, to resend its Data when the forward is
	// retransmitted.
	target    netmodel.NodeID
	targetInc uint64
	targetSeq uint64
	excl      bool
	nextTick  uint64
	backoff   int
}

func (pg *page) String() string {
	return fmt.Sprintf("p%d/%#x", pg.proc.pid, pg.base())
}

// base is the global offset of the page's first byte.
func (pg *page) base() uint64 { return pg.vpn << pg.proc.table.pageShift }

// addr is the global address of the page's first byte.
func (pg *page) addr() uint64 { return pg.base() | gbit }

// pinned reports whether the page must stay: something waits on it.
func (pg *page) pinned() bool {
	return pg.fetch != nil || len(pg.ops) > 0 || pg.stash != nil || pg.graceFwd != nil || pg.graceEvict || pg.xfer != nil || pg.running > 0
}

// idle reports whether a cache-side entry holds nothing worth keeping.
func (pg *page) idle() bool {
	return !pg.home && pg.frame == nil && !pg.pinned() && !pg.reserved && pg.lost == 0 && pg.delegatedUntil == 0
}

// lookup finds a page entry without creating one.
func (p *process) lookup(vpn uint64) *page { return p.pages[vpn] }

// pageAt returns the entry of the page holding global offset off, creating
// it; a trap when the page is outside every region, or unmapped in a region
// homed here.
func (a *Agent) pageAt(p *process, off uint64) (*page, sys.Trap) {
	r := p.region(off)
	if r < 0 {
		return nil, sys.TrapUnmapped
	}
	vpn := off >> p.table.pageShift
	if pg := p.pages[vpn]; pg != nil {
		return pg, sys.TrapNone
	}
	pg := &page{proc: p, vpn: vpn}
	if r == p.self && p.regionLost[r] == 0 {
		if off >= p.mappedTop {
			return nil, sys.TrapUnmapped
		}
		pg.home = true
		pg.dir = &dirEntry{}
		pg.frame = newFrame(a.cfg.PageBytes / 8)
		pg.frame.rights.Store(rightsAll)
		p.table.set(pg.base(), pg.frame)
	}
	p.pages[vpn] = pg
	return pg, sys.TrapNone
}

// forget drops an idle cache-side entry.
func (a *Agent) forget(pg *page) {
	if pg.idle() && pg.proc.pages[pg.vpn] == pg {
		delete(pg.proc.pages, pg.vpn)
	}
}

// setFrame installs (or with nil removes) the page's frame in the table.
func (a *Agent) setFrame(pg *page, f *Frame) {
	if pg.frame != nil && pg.frame != f {
		pg.frame.rights.Store(0)
	}
	pg.frame = f
	pg.proc.table.set(pg.base(), f)
}

// lower reduces a frame's rights and returns the ticket of the grace period
// after which no core can still be using the rights taken away (0: none
// needed).
func (a *Agent) lower(pg *page, rights uint32) uint64 {
	f := pg.frame
	if f == nil {
		return 0
	}
	old := f.rights.Load()
	f.rights.Store(old & rights)
	if old&^rights&rightWrite == 0 {
		// Taking read rights needs no grace: a load in flight returns a
		// value the copy held while it was valid, and frames are never
		// reused.
		return 0
	}
	return a.grace.revoke()
}

// lruList orders cached pages by when they were installed or last used on
// the slow path, oldest first: eviction's candidates.
type lruList struct {
	head, tail *page
	n          int
}

func (l *lruList) remove(pg *page) {
	if !pg.inLRU {
		return
	}
	if pg.lruPrev != nil {
		pg.lruPrev.lruNext = pg.lruNext
	} else {
		l.head = pg.lruNext
	}
	if pg.lruNext != nil {
		pg.lruNext.lruPrev = pg.lruPrev
	} else {
		l.tail = pg.lruPrev
	}
	pg.lruPrev, pg.lruNext, pg.inLRU = nil, nil, false
	l.n--
}

func (l *lruList) pushBack(pg *page) {
	l.remove(pg)
	pg.lruPrev = l.tail
	if l.tail != nil {
		l.tail.lruNext = pg
	} else {
		l.head = pg
	}
	l.tail = pg
	pg.inLRU = true
	l.n++
}
