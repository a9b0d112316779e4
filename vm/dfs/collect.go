package dfs

// The collector deletes this machine's chunk files that can never be read
// again (docs/storage.md, "Collecting orphans"), a bounded batch at a time.
type collector struct {
	s        *Service
	at       chunkRef // cursor over the local files
	nextTick uint64
	busy     int
}

func (c *collector) tick() {
	s := c.s
	if c.busy > 0 || s.ticks < c.nextTick || s.store.chunks.Len() == 0 {
		return
	}
	c.nextTick = s.ticks + uint64(s.cfg.CollectEveryTicks)
	for _, lc := range s.store.after(c.at, s.cfg.CollectBatch) {
		c.at = lc.ref
		c.examine(*lc)
	}
}

func (c *collector) examine(lc localChunk) {
	s := c.s
	ref := lc.ref
	rs := []rangeSpec{exactRange(keyFile(ref.ino)), exactRange(keyChunk(ref.ino, ref.idx)), exactRange(keyTomb(ref.ino, ref.gen))}
	c.busy++
	s.meta.read(rs, func(r metaResult) {
		c.busy--
		if r.err != nil {
			return
		}
		c.decide(lc, lookup(r.pairs, keyFile(ref.ino)) != "", lookup(r.pairs, keyChunk(ref.ino, ref.idx)),
			lookup(r.pairs, keyTomb(ref.ino, ref.gen)) != "")
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
	c.busy++
	s.meta.txn(t, func(r metaResult) {
		c.busy--
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
