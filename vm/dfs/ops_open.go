package dfs

import (
	"github.com/flockvm/flock/vm/sys"
)

// Open: resolve the parent and the name; open the file if it exists (read
// its record for the chunk size), else create it with a Txn that compares
// the parent's record (write permission checked against it) and the
// name's absence. A lost race starts again.

func (s *Service) startOpen(v *Storage, req sys.ReqID, comps []string, mode sys.OpenMode) {
	s.whenRootReady(func() { s.openAttempt(v, req, comps, mode, 1) })
}

func (s *Service) openAttempt(v *Storage, req sys.ReqID, comps []string, mode sys.OpenMode, attempt int) {
	s.resolve(v.user, comps, func(res resolved, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case res.exists && res.ent.isDir:
			v.fail(req, sys.EISDIR)
		case res.exists && mode == sys.CreateExclusive:
			v.fail(req, sys.EEXIST)
		case res.exists:
			s.openExisting(v, req, comps, mode, res, attempt)
		case mode == sys.OpenExisting:
			v.fail(req, sys.ENOENT)
		case !res.parentRec.mayWrite(v.user):
			v.fail(req, sys.EACCES)
		default:
			s.create(v, req, comps, mode, res, attempt)
		}
	})
}

func (s *Service) openExisting(v *Storage, req sys.ReqID, comps []string, mode sys.OpenMode, res resolved, attempt int) {
	s.meta.read([]rangeSpec{exactRange(keyFile(res.ent.ino))}, func(r metaResult) {
		if r.err != nil {
			v.fail(req, r.errno())
			return
		}
		raw := lookup(r.pairs, keyFile(res.ent.ino))
		if raw == "" {
			// Removed or replaced since the lookup: the name may never
			// have been free, so look it up again.
			s.retry(v, req, attempt, func(a int) { s.openAttempt(v, req, comps, mode, a) })
			return
		}
		rec, err := decodeFile(raw)
		if err != nil {
			v.fail(req, sys.EIO)
			return
		}
		s.opened(v, req, &openFile{ino: res.ent.ino, dir: rec.dir, chunkSize: rec.chunkSizeBytes})
	})
}

func (s *Service) opened(v *Storage, req sys.ReqID, f *openFile) {
	if v.released || len(v.files) >= FilesPerProcessMax {
		v.fail(req, sys.EMFILE)
		return
	}
	v.finish(req, sys.Reply{Val: v.addFile(f)})
}

func (s *Service) create(v *Storage, req sys.ReqID, comps []string, mode sys.OpenMode, res resolved, attempt int) {
	ino := s.newID()
	rec := fileRecord{dir: res.parent, owner: v.user, chunkSizeBytes: uint32(s.cfg.ChunkSizeBytes)}
	t := txnIf(cmpEqual(keyDir(res.parent), res.parentRaw), cmpAbsent(keyEntry(res.parent, res.name))).
		then(put(keyEntry(res.parent, res.name), entry{ino: ino}.encode()), put(keyFile(ino), rec.encode()))
	s.meta.txn(t, func(r metaResult) {
		switch {
		case r.err != nil:
			v.fail(req, r.errno())
		case r.swapped:
			s.opened(v, req, &openFile{ino: ino, dir: res.parent, chunkSize: rec.chunkSizeBytes})
		case attempt >= s.cfg.WriteAttemptsMax:
			v.fail(req, sys.EAGAIN)
		default:
			s.stats.Conflicts++
			s.openAttempt(v, req, comps, mode, attempt+1)
		}
	})
}

// Mkdir: like a create, with the new directory's record inherited from
// its parent's (owner: the creator).

func (s *Service) startMkdir(v *Storage, req sys.ReqID, comps []string) {
	s.whenRootReady(func() { s.mkdirAttempt(v, req, comps, 1) })
}

func (s *Service) mkdirAttempt(v *Storage, req sys.ReqID, comps []string, attempt int) {
	s.resolve(v.user, comps, func(res resolved, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case res.root || res.exists:
			v.fail(req, sys.EEXIST)
		case !res.parentRec.mayWrite(v.user):
			v.fail(req, sys.EACCES)
		default:
			s.mkdir(v, req, comps, res, attempt)
		}
	})
}

func (s *Service) mkdir(v *Storage, req sys.ReqID, comps []string, res resolved, attempt int) {
	ino := s.newID()
	rec := res.parentRec
	rec.owner = v.user
	t := txnIf(cmpEqual(keyDir(res.parent), res.parentRaw), cmpAbsent(keyEntry(res.parent, res.name))).
		then(put(keyEntry(res.parent, res.name), entry{isDir: true, ino: ino}.encode()), put(keyDir(ino), rec.encode()))
	s.meta.txn(t, func(r metaResult) {
		switch {
		case r.err != nil:
			v.fail(req, r.errno())
		case r.swapped:
			v.finish(req, sys.Reply{})
		case attempt >= s.cfg.WriteAttemptsMax:
			v.fail(req, sys.EAGAIN)
		default:
			s.stats.Conflicts++
			s.mkdirAttempt(v, req, comps, attempt+1)
		}
	})
}
