package dfs

// dropQueue removes this machine from the records of chunks whose copy
// here was found missing or bad, one Txn at a time, each comparing the
// record it read. Repair then restores the redundancy.
type dropQueue struct {
	s      *Service
	refs   []chunkRef
	queued map[chunkRef]bool
	busy   bool
}

// dropsMax bounds the queue; a copy left out is found again by repair's
// probes.
const dropsMax = 1024

func (q *dropQueue) add(ref chunkRef) {
	if q.queued == nil {
		q.queued = map[chunkRef]bool{}
	}
	if q.queued[ref] || len(q.refs) >= dropsMax {
		return
	}
	q.queued[ref] = true
	q.refs = append(q.refs, ref)
}

func (q *dropQueue) run() {
	if q.busy || len(q.refs) == 0 {
		return
	}
	ref := q.refs[0]
	q.refs = q.refs[1:]
	delete(q.queued, ref)
	q.busy = true
	s := q.s
	key := keyChunk(ref.ino, ref.idx)
	s.meta.read([]rangeSpec{exactRange(key)}, func(r metaResult) {
		raw := lookup(r.pairs, key)
		rec, err := decodeChunk(raw)
		if r.err != nil || err != nil || rec.gen != ref.gen || !rec.holds(s.self) {
			q.done()
			return
		}
		if _, ok := s.store.get(ref); ok && s.store.check(ref, rec.crc) == storeOK {
			// Stored again, good, since the copy was found bad or missing
			// (a retried put rewrites it): dropping this machine now would
			// leave the record without the copy it holds (fs seed 1376: the
			// only copy of an R = 1 chunk, then collected as unnamed).
			markDropStale.Hit()
			q.done()
			return
		}
		var rest []uint64
		for _, m := range rec.replicas {
			if m != s.self {
				rest = append(rest, m)
			}
		}
		t := txnIf(cmpEqual(key, raw)).then(put(key, rec.withReplicas(rest).encode()))
		s.meta.txn(t, func(r metaResult) {
			if r.err == nil && r.swapped {
				markSelfDropped.Hit()
				s.stats.SelfDrops++
			} else {
				q.add(ref) // look again: the record changed, or the store did not answer
			}
			q.done()
		})
	})
}

func (q *dropQueue) done() {
	q.busy = false
	q.s.later(q.run)
}
