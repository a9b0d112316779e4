package dfs

// The collector deletes this machine's chunk files that can never be read
// again (docs/storage.md, "Collecting orphans"). It walks the local files a
// bounded batch at a time; and a generation that a later one of its chunk
// stored here supersedes (every overwrite makes one) is looked at soon
// after, so that a machine under writes does not fill its disk with them
// waiting for the walk.
type collector struct {
	s        *Service
	at       chunkRef // cursor over the local files
	nextTick uint64
	walking  bool
	suspects []suspect // first looks, in due order (each queued with the same delay)
	retries  []suspect // second looks, in due order
	looking  bool
	fencing  int // fence Txns in flight
}

// suspect is a local generation a later generation of its chunk stored here
// may have superseded, looked at from tick due on.
type suspect struct {
	lc    localChunk
	due   uint64
	looks int
}

// Superseded generations are first looked at suspectDelayTicks after the
// later one was stored (its commit takes a round trip and a sync), again
// suspectRetryTicks later if that commit had not landed, and then left to
// the walk. At most suspectsMax wait; the walk finds those left out.
const (
	suspectDelayTicks = 2
	suspectRetryTicks = 20
	suspectLooksMax   = 2
	suspectsMax       = 1024
)

// collectChunksPerRead bounds the chunk files one metadata read looks at:
// each needs three keys.
const collectChunksPerRead = 10

func (c *collector) tick() {
	c.takeSuspects()
	c.lookAtSuspects()
	c.walk()
}

// collectPressureFactor speeds the walk up under disk pressure: that many
// times the files, that many times as often.
const collectPressureFactor = 4

// walk looks at the next CollectBatch local files, every CollectEveryTicks;
// 16 times as fast while the files held take three quarters of the quota
// or more (a removed file's chunks are found only by the walk, and until
// then count as used: placement sends writes elsewhere, or nowhere).
func (c *collector) walk() {
	s := c.s
	if c.walking || c.fencing > 0 || s.ticks < c.nextTick || s.store.chunks.Len() == 0 {
		return
	}
	n, every := s.cfg.CollectBatch, s.cfg.CollectEveryTicks
	if st := s.store; st.heldBytes() >= st.quotaBytes/4*3 {
		n, every = n*collectPressureFactor, max(1, every/collectPressureFactor)
		markCollectPressed.Hit()
	}
	c.nextTick = s.ticks + uint64(every)
	batch := make([]localChunk, 0, n)
	for _, lc := range s.store.after(c.at, n) {
		c.at = lc.ref
		batch = append(batch, *lc)
	}
	c.walking = true
	c.examine(batch, func(localChunk, bool) {}, func() { c.walking = false })
}

// takeSuspects queues the generations the store found superseded by a
// later local one since the last tick.
func (c *collector) takeSuspects() {
	st := c.s.store
	for _, lc := range st.superseded {
		if len(c.suspects) < suspectsMax {
			c.suspects = append(c.suspects, suspect{lc: lc, due: c.s.ticks + suspectDelayTicks})
		}
	}
	st.superseded = st.superseded[:0]
}

// removed queues this machine's chunk files of file ino, told removed
// (msgGone), to be looked at soon, once: the collector's rules decide, so a
// hint that was false or early deletes nothing. At most suspectsMax wait;
// the walk finds those left out.
func (c *collector) removed(ino ID) {
	s := c.s
	var from chunkRef
	from.ino = ino
	for _, lc := range s.store.after(from, suspectsMax) {
		if lc.ref.ino != ino || len(c.suspects) >= suspectsMax {
			break
		}
		c.suspects = append(c.suspects, suspect{lc: *lc, due: s.ticks + suspectDelayTicks, looks: suspectLooksMax - 1})
		markGoneHinted.Hit()
	}
}

// lookAtSuspects looks at the due suspects still here, one metadata read
// per collectChunksPerRead of them, one read at a time; a suspect still
// kept is looked at again later, at most suspectLooksMax times.
func (c *collector) lookAtSuspects() {
	if c.looking {
		return
	}
	var looked []suspect
	c.suspects, looked = c.takeDue(c.suspects, looked)
	c.retries, looked = c.takeDue(c.retries, looked)
	if len(looked) == 0 {
		return
	}
	batch := make([]localChunk, len(looked))
	for i, sp := range looked {
		batch[i] = sp.lc
	}
	c.looking = true
	after := func(lc localChunk, stillHere bool) {
		if !stillHere {
			markSuspectDeleted.Hit()
			return
		}
		for _, sp := range looked {
			if sp.lc.ref == lc.ref && sp.looks+1 < suspectLooksMax && len(c.retries) < suspectsMax {
				// Its successor's commit had not landed (or failed: then
				// the walk deletes it after the orphan period).
				c.retries = append(c.retries, suspect{lc: lc, due: c.s.ticks + suspectRetryTicks, looks: sp.looks + 1})
			}
		}
	}
	c.examine(batch, after, func() { c.looking = false })
}

// takeDue moves the due suspects at the head of q that are still here onto
// looked, up to collectChunksPerRead in all, and returns what stays of q.
func (c *collector) takeDue(q, looked []suspect) ([]suspect, []suspect) {
	s := c.s
	n := 0
	for n < len(q) && q[n].due <= s.ticks && len(looked) < collectChunksPerRead {
		if cur, ok := s.store.get(q[n].lc.ref); ok && cur.since == q[n].lc.since {
			looked = append(looked, q[n])
		}
		n++
	}
	return append(q[:0], q[n:]...), looked
}

// examine reads what decides the fate of each of lcs, collectChunksPerRead
// files per read, the reads one after another, and decides; after each
// file's decision, after(lc, still here) runs; done runs after the last
// read (also when one fails: the rest wait for the walk).
func (c *collector) examine(lcs []localChunk, after func(localChunk, bool), done func()) {
	if len(lcs) == 0 {
		done()
		return
	}
	part := lcs[:min(len(lcs), collectChunksPerRead)]
	rest := lcs[len(part):]
	rs := make([]rangeSpec, 0, 3*len(part))
	for _, lc := range part {
		ref := lc.ref
		rs = append(rs, exactRange(keyFile(ref.ino)), exactRange(keyChunk(ref.ino, ref.idx)), exactRange(keyTomb(ref.ino, ref.gen)))
	}
	rs = sortedExactRanges(rs)
	part = append([]localChunk(nil), part...) // lcs may be reused before the answer
	s := c.s
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			done()
			return
		}
		for _, lc := range part {
			ref := lc.ref
			c.decide(lc, lookup(r.pairs, keyFile(ref.ino)) != "", lookup(r.pairs, keyChunk(ref.ino, ref.idx)),
				lookup(r.pairs, keyTomb(ref.ino, ref.gen)) != "")
			cur, ok := s.store.get(ref)
			after(lc, ok && cur.since == lc.since)
		}
		c.examine(rest, after, done)
	})
}

func (c *collector) decide(lc localChunk, fileExists bool, chunkRaw string, fenced bool) {
	s := c.s
	age := s.ticks - lc.since
	if !fileExists {
		markRemovedFile.Hit()
		c.delete(lc)
		return
	}
	var rec chunkRecord
	if chunkRaw != "" {
		var err error
		if rec, err = decodeChunk(chunkRaw); err != nil {
			return
		}
	}
	switch {
	case chunkRaw != "" && rec.gen == lc.ref.gen:
		if !rec.holds(s.self) && age >= uint64(s.cfg.GraceTicks) {
			c.delete(lc) // a copy the record does not name (trimmed, replaced)
		}
	case chunkRaw != "" && rec.version >= lc.version:
		markSuperseded.Hit()
		c.delete(lc) // another generation made this version or a later one
	case rec.version+1 != lc.version:
		// Cannot be: a generation's base is the version its writer read.
	case fenced:
		c.delete(lc)
	case age >= uint64(s.cfg.OrphanTicks) || s.buggify("dfs.fence-early"):
		c.fence(lc, chunkRaw)
	}
}

// fence makes an uncommitted generation unable to commit, then deletes it.
func (c *collector) fence(lc localChunk, chunkRaw string) {
	s := c.s
	ref := lc.ref
	t := txnIf(cmpPresent(keyFile(ref.ino)), cmpIs(keyChunk(ref.ino, ref.idx), chunkRaw), cmpAbsent(keyTomb(ref.ino, ref.gen))).
		then(put(keyTomb(ref.ino, ref.gen), tombstone{idx: ref.idx, version: lc.version}.encode()))
	c.fencing++
	s.meta.txn(t, func(r metaResult) {
		c.fencing--
		if r.err == nil && r.swapped {
			markOrphanFenced.Hit()
			s.stats.Fenced++
			c.delete(lc)
		}
	})
}

func (c *collector) delete(lc localChunk) {
	if cur, ok := c.s.store.get(lc.ref); ok && cur.since == lc.since {
		c.s.store.remove(lc.ref)
		c.s.stats.Collected++
	}
}

// scrub verifies local chunk files in the background, at most
// ScrubFilesPerTick files and ScrubBytesPerTick bytes a tick (the disk
// serves the machine's real work first): a rotted or vanished copy is
// dropped before a reader meets it.
func (s *Service) scrub() {
	budget := s.cfg.ScrubBytesPerTick
	s.scrubBuf = s.store.appendAfter(s.scrubBuf[:0], s.scrubAt, s.cfg.ScrubFilesPerTick)
	for _, lc := range s.scrubBuf {
		if budget <= 0 {
			return
		}
		s.scrubAt = lc.ref
		budget -= int(lc.length) + chunkHeaderBytes
		s.stats.Scrubbed += uint64(lc.length)
		if st := s.store.verify(lc); st != storeOK {
			s.noteUnreadable(lc.ref, st)
		}
	}
}
