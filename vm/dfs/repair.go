package dfs

import (
	"slices"

	"github.com/flockvm/flock/vm/raftkv"
)

// Repair (docs/storage.md, "Repair and re-replication"): the machine with
// the lowest id among those up walks every chunk record, a page at a
// time: it probes the replicas of the page, then copies chunks that have
// fewer than R good copies to machines with room, trims chunks that have
// more, drops replicas that are down or bad once R good ones exist, and
// deletes tombstones whose chunk moved past them. Every change is a Txn
// comparing the record it read.

type repairer struct {
	s        *Service
	running  bool
	nextTick uint64
	dirs     map[ID]uint8 // redundancy of every directory, read at the start of a pass
	file     ID           // the file whose keys the scan is in
	fileDir  ID
	dirKnown bool              // the file's record was seen
	versions map[uint64]uint64 // chunk versions of that file, for its tombstones
}

// repairPageKeys is how many keys one page of the scan reads.
const repairPageKeys = 256

// dirsPageKeys is how many directory records one read takes.
const dirsPageKeys = 1000

func (p *repairer) tick() {
	s := p.s
	if p.running || s.ticks < p.nextTick {
		return
	}
	if up := s.upMachines(); len(up) == 0 || up[0] != s.self {
		return
	}
	p.running = true
	s.stats.RepairPasses++
	p.dirs = map[ID]uint8{}
	s.place.whenReady(func() { p.readDirs(keyDirPrefix) })
}

func (p *repairer) end() {
	p.running = false
	p.nextTick = p.s.ticks + uint64(p.s.cfg.RepairEveryTicks)
}

func (p *repairer) readDirs(from string) {
	s := p.s
	s.meta.read([]rangeSpec{{start: from, end: prefixRange(keyDirPrefix, 1).end, limit: dirsPageKeys}}, func(r metaResult) {
		if r.err != nil {
			p.end()
			return
		}
		for _, kv := range r.pairs {
			ino, err1 := parseID(kv.Key[len(keyDirPrefix):])
			rec, err2 := decodeDir(kv.Value)
			if err1 == nil && err2 == nil {
				p.dirs[ino] = rec.redundancy
			}
		}
		if r.more && len(r.pairs) > 0 {
			p.readDirs(r.pairs[len(r.pairs)-1].Key + "\x00")
			return
		}
		p.file, p.dirKnown, p.versions = ID{}, false, map[uint64]uint64{}
		p.scan(keyFilePrefix)
	})
}

// rchunk is one chunk record of a page.
type rchunk struct {
	ino        ID
	idx        uint64
	raw        string
	rec        chunkRecord
	redundancy uint8
	bad        map[uint64]bool // replicas whose probe said missing or bad
	answered   map[uint64]bool // replicas that answered the probe
}

func (c *rchunk) ref() chunkRef { return chunkRef{ino: c.ino, idx: c.idx, gen: c.rec.gen} }

func (p *repairer) scan(from string) {
	s := p.s
	s.meta.read([]rangeSpec{{start: from, end: prefixRange(keyFilePrefix, 1).end, limit: repairPageKeys}}, func(r metaResult) {
		if r.err != nil {
			p.end()
			return
		}
		chunks, tombs := p.page(r.pairs)
		next := ""
		if r.more && len(r.pairs) > 0 {
			next = r.pairs[len(r.pairs)-1].Key + "\x00"
		}
		p.freeTombs(tombs)
		p.probe(chunks, func() {
			p.act(chunks, func() {
				if next == "" {
					p.end()
					return
				}
				p.scan(next)
			})
		})
	})
}

// rtomb is a tombstone of a page with the version its chunk is at.
type rtomb struct {
	key, raw string
	tomb     tombstone
	current  uint64
}

// page sorts a page's keys into chunk records (of files whose directory's
// redundancy is known) and tombstones.
func (p *repairer) page(pairs []raftkv.KV) ([]*rchunk, []rtomb) {
	var chunks []*rchunk
	var tombs []rtomb
	for _, kv := range pairs {
		k, err := parseFileKey(kv.Key)
		if err != nil {
			continue
		}
		if k.ino != p.file {
			p.file, p.fileDir, p.dirKnown, p.versions = k.ino, ID{}, false, map[uint64]uint64{}
		}
		switch k.kind {
		case 'f':
			if rec, err := decodeFile(kv.Value); err == nil {
				p.fileDir, p.dirKnown = rec.dir, true
			}
		case 'k':
			rec, err := decodeChunk(kv.Value)
			if err != nil {
				continue
			}
			p.versions[k.idx] = rec.version
			if r, ok := p.dirs[p.fileDir]; ok && p.dirKnown {
				chunks = append(chunks, &rchunk{ino: k.ino, idx: k.idx, raw: kv.Value, rec: rec, redundancy: r,
					bad: map[uint64]bool{}, answered: map[uint64]bool{}})
			}
		case 't':
			if t, err := decodeTomb(kv.Value); err == nil {
				tombs = append(tombs, rtomb{key: kv.Key, raw: kv.Value, tomb: t, current: p.versions[t.idx]})
			}
		}
	}
	return chunks, tombs
}

// freeTombs deletes tombstones whose chunk's version passed the
// generation they fence: that generation can no longer commit anyway.
func (p *repairer) freeTombs(tombs []rtomb) {
	for _, t := range tombs {
		if t.current < t.tomb.version {
			continue
		}
		p.s.meta.txn(txnIf(cmpEqual(t.key, t.raw)).then(del(t.key)), func(r metaResult) {
			if r.err == nil && r.swapped {
				p.s.stats.TombsFreed++
			}
		})
	}
}

// probe asks every machine up that the page's records name which of its
// generations it lacks or holds bad.
func (p *repairer) probe(chunks []*rchunk, done func()) {
	s := p.s
	items := map[uint64][]*rchunk{}
	var machines []uint64
	for _, c := range chunks {
		for _, m := range c.rec.replicas {
			if !s.isUp(m) {
				continue
			}
			if _, seen := items[m]; !seen {
				machines = append(machines, m)
			}
			items[m] = append(items[m], c)
		}
	}
	slices.Sort(machines)
	waiting := len(machines)
	if waiting == 0 {
		done()
		return
	}
	for _, m := range machines {
		cs := items[m]
		msg := message{kind: msgProbe}
		for _, c := range cs {
			msg.items = append(msg.items, probeItem{ref: c.ref(), crc: c.rec.crc})
		}
		s.call(m, msg, func(ack *message) {
			if ack != nil && ack.kind == msgProbeAck {
				for _, c := range cs {
					c.answered[m] = true
				}
				for _, i := range ack.bad {
					if int(i) < len(cs) {
						cs[i].bad[m] = true
					}
				}
			}
			waiting--
			if waiting == 0 {
				done()
			}
		})
	}
}

// act repairs the chunks of a page, RepairCopiesMax at a time.
// A chunk's repair may finish at once (nothing to change), inside pump:
// finished makes sure done runs once.
func (p *repairer) act(chunks []*rchunk, done func()) {
	next, running, finished := 0, 0, false
	var pump func()
	pump = func() {
		for running < p.s.cfg.RepairCopiesMax && next < len(chunks) {
			c := chunks[next]
			next++
			running++
			p.repair(c, func() {
				running--
				pump()
			})
		}
		if running == 0 && next == len(chunks) && !finished {
			finished = true
			done()
		}
	}
	pump()
}

// repair brings one chunk's record to R good replicas. A replica is good
// when its machine is up (membership) and its probe did not say it lacks
// the generation or holds it bad; one that did not answer the probe is
// given the benefit of the doubt (a slow or briefly unreachable machine
// must not cause a storm of copies: membership declares the dead ones),
// but only those that answered serve as sources.
func (p *repairer) repair(c *rchunk, done func()) {
	s := p.s
	var answered, silent, down []uint64
	for _, m := range c.rec.replicas {
		switch {
		case c.bad[m]:
		case !s.isUp(m):
			down = append(down, m) // may come back: kept while short
		case c.answered[m]:
			answered = append(answered, m)
		default:
			silent = append(silent, m)
		}
	}
	good := append(slices.Clone(answered), silent...)
	r := int(c.redundancy)
	switch {
	case len(good) >= r:
		if len(good) > r {
			markRepairTrimmed.Hit()
			s.stats.RepairTrims++
		}
		p.commit(c, good[:r], done)
	case len(good) == 0:
		if len(down) == 0 {
			s.stats.RepairLostChunks++
		}
		p.commit(c, down, done)
	case len(answered) == 0:
		done() // no source answered this pass
	default:
		p.copy(c, answered, append(silent, down...), r-len(good), done)
	}
}

// copy makes need new copies of a chunk from the replicas that answered
// (good); others keeps the replicas that did not answer or are down.
func (p *repairer) copy(c *rchunk, good, others []uint64, need int, done func()) {
	s := p.s
	exclude := map[uint64]bool{}
	for _, m := range c.rec.replicas {
		exclude[m] = true
	}
	targets := s.choose(need, nil, exclude, chunkFileBytes(c.rec.length))
	if len(targets) == 0 {
		p.commit(c, append(good, others...), done)
		return
	}
	copied := slices.Clone(good)
	waiting := len(targets)
	for _, t := range targets {
		msg := message{kind: msgCopy, ref: c.ref(), version: c.rec.version, length: c.rec.length, crc: c.rec.crc, sources: good}
		s.call(t, msg, func(ack *message) {
			if ack != nil && ack.status == ackOK {
				markRepairCopied.Hit()
				s.stats.RepairCopies++
				s.stats.RepairBytes += uint64(c.rec.length)
				copied = append(copied, t)
			}
			waiting--
			if waiting > 0 {
				return
			}
			copied = append(copied, others...) // the silent ones count as good; the trim drops extras later
			if len(copied) > int(c.redundancy) {
				copied = dropDown(s, copied, int(c.redundancy))
			}
			p.commit(c, copied, done)
		})
	}
}

// commit writes the chunk's new replica list if it changed, comparing the
// record read at the start of the page.
func (p *repairer) commit(c *rchunk, replicas []uint64, done func()) {
	s := p.s
	next := c.rec.withReplicas(replicas)
	if slices.Equal(next.replicas, c.rec.replicas) {
		done()
		return
	}
	key := keyChunk(c.ino, c.idx)
	t := txnIf(cmpEqual(key, c.raw)).then(put(key, next.encode()))
	if s.cfg.Bugs.RepairStale {
		t = txnIf(cmpPresent(key)).then(put(key, next.encode())) // BUG: the record may have moved on since the page was read
	}
	s.meta.txn(t, func(r metaResult) {
		if r.err == nil && !r.swapped {
			s.stats.RepairConflicts++
		}
		done()
	})
}

// dropDown removes replicas that are down from ms while more than r remain.
func dropDown(s *Service, ms []uint64, r int) []uint64 {
	var out []uint64
	extra := len(ms) - r
	for _, m := range ms {
		if extra > 0 && !s.isUp(m) {
			extra--
			continue
		}
		out = append(out, m)
	}
	return out
}
