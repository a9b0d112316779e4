package coherence

import (
	"fmt"
	"strings"
)

// describePages renders every page entry of the process, in address order.
func (a *Agent) describePages(pid uint64) []string {
	p := a.procs[pid]
	if p == nil {
		return nil
	}
	var out []string
	for _, pg := range p.sortedPages() {
		out = append(out, a.describePage(pg))
	}
	return out
}

func (a *Agent) describePage(pg *page) string {
	var b strings.Builder
	off := pg.base()
	fmt.Fprintf(&b, "r%d+%#x", off>>RegionShift, off&regionMask)
	if pg.lost != 0 {
		fmt.Fprintf(&b, " lost(%v)", pg.lost)
	}
	if pg.home {
		d := pg.dir
		fmt.Fprintf(&b, " home e%d rights=%s", d.epoch, rightsString(pg.frame))
		if d.owner != nil {
			fmt.Fprintf(&b, " owner=%s", d.owner)
		}
		if len(d.sharers) > 0 {
			var ss []string
			for _, s := range d.sharers {
				ss = append(ss, s.String())
			}
			fmt.Fprintf(&b, " sharers=[%s]", strings.Join(ss, " "))
		}
		if t := d.txn; t != nil {
			fmt.Fprintf(&b, " txn(e%d %s acks=%d owner-done=%v)", t.epoch, t.req, len(t.acks), t.owner == nil || t.ownerDone)
		}
		if len(d.queue) > 0 {
			fmt.Fprintf(&b, " queued=%d", len(d.queue))
		}
		if d.delegated {
			b.WriteString(" delegated")
		}
	} else {
		fmt.Fprintf(&b, " %v", pg.copy)
		if pg.copy != copyNone {
			fmt.Fprintf(&b, " e%d", pg.epoch)
		}
		if pg.fetch != nil {
			kind := "S"
			if pg.fetch.excl {
				kind = "M"
			}
			fmt.Fprintf(&b, " fetch(%s #%d)", kind, pg.fetch.seq)
		}
		if pg.xfer != nil {
			fmt.Fprintf(&b, " xfer(e%d)", pg.xfer.ownerEpoch)
		}
		if pg.stash != nil {
			b.WriteString(" stashed-fwd")
		}
		if pg.delegatedUntil > a.tick {
			b.WriteString(" delegated")
		}
		if pg.waitingSpace {
			b.WriteString(" waiting-for-space")
		}
		if pg.graceFwd != nil || pg.graceEvict {
			b.WriteString(" revoking")
		}
	}
	if len(pg.ops) > 0 {
		fmt.Fprintf(&b, " waiting=%d", len(pg.ops))
	}
	return b.String()
}

func rightsString(f *Frame) string {
	if f == nil {
		return "-"
	}
	switch f.rights.Load() {
	case rightRead:
		return "r"
	case rightsAll:
		return "rw"
	}
	return "none"
}

func (h holder) String() string { return fmt.Sprintf("%v@e%d#%d", h.node, h.epoch, h.seq) }

func (r homeReq) String() string {
	mode := "S"
	if r.excl {
		mode = "M"
	}
	if r.local {
		return "local " + mode
	}
	return fmt.Sprintf("%s for %v#%d", mode, r.from.node, r.from.seq)
}

// Stuck describes what the process waits for on this machine: pages with
// operations parked, fetches outstanding or transactions open. For failure
// reports.
func (a *Agent) Stuck(pid uint64) []string {
	p := a.procs[pid]
	if p == nil {
		return nil
	}
	var out []string
	for _, pg := range p.sortedPages() {
		if len(pg.ops) > 0 || pg.fetch != nil || pg.xfer != nil || pg.reserved || (pg.home && (pg.dir.txn != nil || len(pg.dir.queue) > 0)) {
			out = append(out, a.describePage(pg))
		}
	}
	if len(a.spaceWaiters) > 0 {
		out = append(out, fmt.Sprintf("%d pages wait for cache space (%d of %d bytes used)", len(a.spaceWaiters), a.cacheBytes, a.cfg.CacheBytesMax))
	}
	for _, seq := range a.remoteWaitSeqs() {
		if w := a.remoteWaits[seq]; w.op.proc == p {
			out = append(out, fmt.Sprintf("wait #%d queued at %v", seq, w.home))
		}
	}
	a.requests.Ascend(func(rq *request) bool {
		if rq.kind == reqOp && rq.proc == p {
			out = append(out, fmt.Sprintf("op #%d %v to %v", rq.seq, rq.op.kind, rq.to))
		}
		return true
	})
	return out
}
