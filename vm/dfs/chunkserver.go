package dfs

import "github.com/flockvm/flock/netmodel"

// The chunk server: what a Service does for other machines' requests on
// its own chunk files. Every handler answers exactly once.

func (s *Service) handle(from uint64, m *message) {
	switch m.kind {
	case msgPut:
		s.onPut(from, m)
	case msgGet:
		s.onGet(from, m)
	case msgCopy:
		s.onCopy(from, m)
	case msgProbe:
		s.onProbe(from, m)
	case msgGone:
		s.collect.removed(m.ref.ino)
	default:
		s.answered(from, m)
	}
}

// reply sends an answer (to this machine's own request: delivered here).
func (s *Service) reply(to uint64, m *message) {
	if to == s.self {
		s.later(func() { s.answered(s.self, m) })
		return
	}
	s.cfg.Transport.Send(netmodel.NodeID(to), m.encode())
}

func (s *Service) onPut(from uint64, m *message) {
	ack := message{kind: msgPutAck, tag: m.tag, ref: m.ref}
	content, status := s.putContent(m)
	switch {
	case status != ackOK:
		ack.status = status
	case s.buggify("dfs.put-refused"):
		ack.status = ackFull
	default:
		s.store.write(m.ref, m.version, content, s.ticks, func(crc uint32, st storeStatus) {
			ack.status, ack.crc = ackOf(st), crc
			s.reply(from, &ack)
		})
		return
	}
	s.reply(from, &ack)
}

// putContent is the chunk a put stores: its data, or its patch applied to
// the base generation held here (checked against the base's checksum).
func (s *Service) putContent(m *message) ([]byte, ackStatus) {
	if m.baseGen.IsZero() {
		return m.data, ackOK
	}
	baseRef := chunkRef{ino: m.ref.ino, idx: m.ref.idx, gen: m.baseGen}
	base, st := s.store.read(baseRef, m.baseCRC)
	if st != storeOK || len(base) > int(m.length) {
		s.noteUnreadable(baseRef, st)
		markNeedBase.Hit()
		return nil, ackNeedBase
	}
	content := make([]byte, m.length)
	copy(content, base)
	copy(content[m.off:], m.data)
	return content, ackOK
}

// noteUnreadable: a generation the asker believed current here could not
// be read. If it was lost or bad, this machine leaves the chunk's record.
func (s *Service) noteUnreadable(ref chunkRef, st storeStatus) {
	if st == storeMissing && s.store.hasOtherGeneration(ref) {
		markStaleRefused.Hit() // another generation is here: never served in its place
	}
	if st == storeMissing || st == storeBad {
		s.drops.add(ref)
	}
}

func (s *Service) onGet(from uint64, m *message) {
	ack := message{kind: msgGetAck, tag: m.tag, ref: m.ref}
	data, st := s.store.read(m.ref, m.crc)
	if st == storeOK && len(data) != int(m.length) {
		st = storeBad // cannot happen with a checksum match: a bug or a forged request
	}
	if st != storeOK {
		s.noteUnreadable(m.ref, st)
	} else {
		s.stats.BytesServed += uint64(len(data))
	}
	ack.status, ack.data = ackOf(st), data
	s.reply(from, &ack)
}

// onProbe answers from the inventory alone, without touching the disk (a
// probe names many chunks): the scrubber and the readers find the copies
// that rotted or vanished from under it, and drop them from it.
func (s *Service) onProbe(from uint64, m *message) {
	ack := message{kind: msgProbeAck, tag: m.tag}
	for i, it := range m.items {
		if c, ok := s.store.get(it.ref); !ok || c.crc != it.crc {
			ack.bad = append(ack.bad, uint32(i))
		}
	}
	s.reply(from, &ack)
}

// onCopy makes this machine hold a generation, fetched from the sources
// (good replicas) and checked against the record's checksum.
func (s *Service) onCopy(from uint64, m *message) {
	req := *m
	answer := func(st ackStatus) {
		ack := message{kind: msgCopyAck, tag: req.tag, ref: req.ref, status: st}
		s.reply(from, &ack)
	}
	if c, ok := s.store.get(req.ref); ok && c.crc == req.crc {
		answer(ackOK)
		return
	}
	s.copyFrom(&req, 0, answer)
}

func (s *Service) copyFrom(req *message, i int, answer func(ackStatus)) {
	if i >= len(req.sources) {
		answer(ackFailed)
		return
	}
	src := req.sources[i]
	if src == s.self {
		s.copyFrom(req, i+1, answer)
		return
	}
	get := message{kind: msgGet, ref: req.ref, length: req.length, crc: req.crc}
	s.call(src, get, func(ack *message) {
		if ack == nil || ack.status != ackOK || !s.verified(ack.data, req.crc, req.length) {
			s.copyFrom(req, i+1, answer)
			return
		}
		n := uint64(len(ack.data))
		s.store.write(req.ref, req.version, ack.data, s.ticks, func(_ uint32, st storeStatus) {
			if st == storeOK {
				s.stats.CopiesIn++
				s.stats.CopyBytesIn += n
			}
			answer(ackOf(st))
		})
	})
}

// verified checks data a replica sent against the record's checksum and
// length (the reader's own check, after the replica's).
func (s *Service) verified(data []byte, crc, length uint32) bool {
	if s.cfg.Bugs.SkipReadChecksum {
		return true // BUG: whatever came is taken
	}
	if len(data) != int(length) || checksum(data) != crc {
		s.stats.BadServed++
		return false
	}
	return true
}
