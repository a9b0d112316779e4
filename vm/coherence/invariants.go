package coherence

import "fmt"

// CheckInvariants verifies the agent's bookkeeping against its state (for
// tests and the simulator; it scans everything); an error names the first
// broken invariant.
func (a *Agent) CheckInvariants() error {
	fetching := map[*page]bool{}
	var dupFetch error
	a.requests.Ascend(func(rq *request) bool {
		if rq.kind == reqFetch {
			if fetching[rq.page] || rq.page.fetch != rq || rq.page.proc.pages[rq.page.vpn] != rq.page {
				dupFetch = fmt.Errorf("%v: fetch #%d is not the page's one fetch (page's: %v)", rq.page, rq.seq, rq.page.fetch != nil)
				return false
			}
			fetching[rq.page] = true
		}
		return true
	})
	if dupFetch != nil {
		return dupFetch
	}
	if a.inFlight != a.requests.Len() {
		return fmt.Errorf("inFlight %d, %d requests outstanding", a.inFlight, a.requests.Len())
	}
	if a.inFlight > a.cfg.InFlightMax {
		return fmt.Errorf("inFlight %d over InFlightMax %d", a.inFlight, a.cfg.InFlightMax)
	}
	var reserved uint64
	parked := 0
	waiters := 0
	for _, p := range a.sortedProcs() {
		for _, pg := range p.sortedPages() {
			if pg.reserved {
				reserved += uint64(a.cfg.PageBytes)
			}
			if pg.home && (pg.reserved || pg.fetch != nil || pg.xfer != nil || pg.copy != copyNone) {
				return fmt.Errorf("%v: home page with cache state", pg)
			}
			if p.pages[pg.vpn] != pg {
				return fmt.Errorf("%v: not the process's entry for its page", pg)
			}
			if !pg.home && pg.dir != nil {
				return fmt.Errorf("%v: cache page with a directory entry", pg)
			}
			if rq := pg.fetch; rq != nil {
				if _, ok := a.requests.Get(rq); !ok && !rq.waiting {
					return fmt.Errorf("%v: fetch #%d neither outstanding nor queued", pg, rq.seq)
				}
			}
			if pg.xfer != nil && !a.xferPages.Has(pg) {
				return fmt.Errorf("%v: transfer not tracked", pg)
			}
			if pg.reserved && pg.frame == nil && pg.fetch == nil && pg.xfer == nil && !pg.graceEvict && pg.graceFwd == nil {
				return fmt.Errorf("%v: a cache slot reserved for nothing (%s)", pg, a.describePage(pg))
			}
			if pg.frame != nil && !pg.home && !pg.reserved {
				return fmt.Errorf("%v: cached frame without a reserved slot", pg)
			}
			if pg.home && pg.lost == 0 {
				d := pg.dir
				if d.owner != nil && len(d.sharers) > 0 {
					return fmt.Errorf("%v: owner %v and sharers %v", pg, d.owner, d.sharers)
				}
				if d.txn == nil && pg.frame.rights.Load() != d.rights() {
					return fmt.Errorf("%v: home rights %d, directory allows %d", pg, pg.frame.rights.Load(), d.rights())
				}
				if (d.txn != nil) != a.txnPages.Has(pg) {
					return fmt.Errorf("%v: transaction tracking differs", pg)
				}
			}
			for _, o := range pg.ops {
				if o.finished {
					return fmt.Errorf("%v: finished %v still waiting", pg, o.kind)
				}
				if o.parked {
					parked++
				}
			}
		}
		for _, q := range p.waitq {
			waiters += len(q.ws)
			for _, w := range q.ws {
				if w.parked {
					parked++
				}
			}
		}
	}
	a.requests.Ascend(func(rq *request) bool {
		if rq.op != nil && rq.op.parked {
			parked++
		}
		return true
	})
	for _, rq := range a.queued {
		if rq.op != nil && rq.op.parked {
			parked++
		}
	}
	for _, w := range a.remoteWaits {
		if w.op.parked {
			parked++
		}
	}
	if reserved != a.cacheBytes {
		return fmt.Errorf("cacheBytes %d, reserved pages hold %d", a.cacheBytes, reserved)
	}
	if a.cacheBytes > a.cfg.CacheBytesMax {
		return fmt.Errorf("cacheBytes %d over CacheBytesMax %d", a.cacheBytes, a.cfg.CacheBytesMax)
	}
	if parked != a.parked {
		return fmt.Errorf("parked %d, %d parked operations found", a.parked, parked)
	}
	if waiters != a.waiters {
		return fmt.Errorf("waiters %d, %d queued", a.waiters, waiters)
	}
	return nil
}
