package dfs

import (
	"github.com/flockvm/flock/vm/sys"
)

// fileView is what one metadata read says about an open file: its
// directory's record, its own record, some of its chunks and its size, all
// at one index.
type fileView struct {
	dirRaw  string
	dir     dirRecord
	fileRaw string
	file    fileRecord
	chunks  map[uint64]chunkView
	size    uint64
}

type chunkView struct {
	raw string
	rec chunkRecord
}

// refreshesMax bounds the rereads after finding a file moved to another
// directory (each finds where it is now).
const refreshesMax = 4

// readFile reads the file's metadata with the records of chunks [a, b]
// (none when a > b). The directory's permissions apply to the result.
func (s *Service) readFile(f *openFile, a, b uint64, done func(fileView, sys.Errno)) {
	s.readFileTry(f, a, b, 0, done)
}

func (s *Service) readFileTry(f *openFile, a, b uint64, try int, done func(fileView, sys.Errno)) {
	rs := []rangeSpec{exactRange(keyDir(f.dir)), exactRange(keyFile(f.ino))}
	if a <= b {
		rs = append(rs, rangeSpec{start: keyChunk(f.ino, a), end: keyChunk(f.ino, b) + "\x00", limit: int(b - a + 1)})
	}
	rs = append(rs, exactRange(keySize(f.ino)))
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			done(fileView{}, r.errno())
			return
		}
		fv, e := parseFileView(f, r)
		if e == 0 && fv.file.dir != f.dir {
			f.dir = fv.file.dir // renamed into another directory: its permissions apply now
			if try < refreshesMax {
				s.readFileTry(f, a, b, try+1, done)
				return
			}
			e = sys.EAGAIN
		}
		done(fv, e)
	})
}

func parseFileView(f *openFile, r metaResult) (fileView, sys.Errno) {
	fv := fileView{chunks: map[uint64]chunkView{}}
	fv.fileRaw = lookup(r.pairs, keyFile(f.ino))
	if fv.fileRaw == "" {
		return fv, sys.ENOENT // removed, or replaced by a rename
	}
	var err error
	if fv.file, err = decodeFile(fv.fileRaw); err != nil {
		return fv, sys.EIO
	}
	if fv.file.dir != f.dir {
		return fv, 0
	}
	if fv.dirRaw = lookup(r.pairs, keyDir(f.dir)); fv.dirRaw == "" {
		return fv, sys.EAGAIN // the file moved, and its old directory went
	}
	if fv.dir, err = decodeDir(fv.dirRaw); err != nil {
		return fv, sys.EIO
	}
	for _, kv := range r.pairs {
		k, err := parseFileKey(kv.Key)
		if err != nil || k.kind != 'k' || k.ino != f.ino {
			continue
		}
		rec, err := decodeChunk(kv.Value)
		if err != nil {
			return fv, sys.EIO
		}
		fv.chunks[k.idx] = chunkView{raw: kv.Value, rec: rec}
	}
	if raw := lookup(r.pairs, keySize(f.ino)); raw != "" {
		if fv.size, err = decodeSize(raw); err != nil {
			return fv, sys.EIO
		}
	}
	return fv, 0
}

// Size.

func (s *Service) startSize(v *Storage, req sys.ReqID, f *openFile) {
	s.readFile(f, 1, 0, func(fv fileView, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case !fv.dir.mayRead(v.user):
			v.fail(req, sys.EACCES)
		default:
			v.finish(req, sys.Reply{Val: fv.size})
		}
	})
}

// Read: one metadata read, then every chunk of the range from a replica
// holding its committed generation (checksum verified); holes read as
// zeros. If no replica of a chunk gives a good copy, the metadata is read
// again (repair may have moved it), a bounded number of times.

// readAttemptsMax bounds the metadata reads of one READ.
const readAttemptsMax = 4

func (s *Service) startRead(v *Storage, req sys.ReqID, f *openFile, off, n uint64) {
	cs := uint64(f.chunkSize)
	if end := (off/cs + ChunksPerReadMax) * cs; off+n > end {
		n = end - off // a short read: the chunk records of one read are bounded
	}
	s.readAttempt(v, req, f, off, n, 1)
}

func (s *Service) readAttempt(v *Storage, req sys.ReqID, f *openFile, off, n uint64, attempt int) {
	cs := uint64(f.chunkSize)
	a, b := off/cs, (off+max(n, 1)-1)/cs
	if n == 0 {
		a, b = 1, 0
	}
	s.readFile(f, a, b, func(fv fileView, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case !fv.dir.mayRead(v.user):
			v.fail(req, sys.EACCES)
		case off >= fv.size || n == 0:
			v.finish(req, sys.Reply{})
		default:
			s.readChunks(v, req, f, off, n, min(n, fv.size-off), fv, attempt)
		}
	})
}

// readChunks reads got bytes at off (n were asked: an attempt again asks
// for them all, since the size may have changed).
func (s *Service) readChunks(v *Storage, req sys.ReqID, f *openFile, off, asked, n uint64, fv fileView, attempt int) {
	cs := uint64(f.chunkSize)
	buf := make([]byte, n)
	var idxs []uint64
	for idx := off / cs; idx*cs < off+n; idx++ {
		if _, ok := fv.chunks[idx]; ok {
			idxs = append(idxs, idx) // the others are holes: zeros
		}
	}
	waiting, failed := len(idxs), false
	if waiting == 0 {
		v.finish(req, sys.Reply{Val: n, Data: buf})
		return
	}
	for _, idx := range idxs {
		rec := fv.chunks[idx].rec
		s.fetch(chunkRef{ino: f.ino, idx: idx, gen: rec.gen}, rec, func(data []byte, ok bool) {
			waiting--
			if ok {
				copyChunk(buf, off, idx*cs, data)
			}
			failed = failed || !ok
			if waiting > 0 {
				return
			}
			switch {
			case !failed:
				s.stats.Reads++
				s.stats.ReadBytes += n
				v.finish(req, sys.Reply{Val: n, Data: buf})
			case attempt < readAttemptsMax:
				s.readAttempt(v, req, f, off, asked, attempt+1)
			default:
				v.fail(req, sys.EIO)
			}
		})
	}
}

// copyChunk copies the part of a chunk starting at file offset start that
// falls in buf, which holds the file from offset off.
func copyChunk(buf []byte, off, start uint64, data []byte) {
	lo, hi := max(off, start), min(off+uint64(len(buf)), start+uint64(len(data)))
	if lo < hi {
		copy(buf[lo-off:hi-off], data[lo-start:hi-start])
	}
}

// fetch gets a generation from its replicas: this machine first, the
// others up in a random order, the ones believed down last.
func (s *Service) fetch(ref chunkRef, rec chunkRecord, done func([]byte, bool)) {
	s.fetchFrom(ref, rec, s.readOrder(rec.replicas), done)
}

func (s *Service) readOrder(replicas []uint64) []uint64 {
	var self, up, down []uint64
	for _, m := range replicas {
		switch {
		case m == s.self:
			self = append(self, m)
		case s.isUp(m):
			up = append(up, m)
		default:
			down = append(down, m)
		}
	}
	s.cfg.Rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	if s.buggify("dfs.read-remote-first") {
		return append(append(up, self...), down...)
	}
	return append(append(self, up...), down...)
}

func (s *Service) fetchFrom(ref chunkRef, rec chunkRecord, order []uint64, done func([]byte, bool)) {
	if len(order) == 0 {
		done(nil, false)
		return
	}
	m, rest := order[0], order[1:]
	if m == s.self {
		data, st := s.store.read(ref, rec.crc)
		if st == storeOK && s.verified(data, rec.crc, rec.length) {
			done(data, true)
			return
		}
		s.noteUnreadable(ref, st)
		s.fetchFrom(ref, rec, rest, done)
		return
	}
	get := message{kind: msgGet, ref: ref, length: rec.length, crc: rec.crc}
	s.call(m, get, func(ack *message) {
		if ack != nil && ack.status == ackOK && ack.ref == ref && s.verified(ack.data, rec.crc, rec.length) {
			done(ack.data, true)
			return
		}
		s.fetchFrom(ref, rec, rest, done)
	})
}
