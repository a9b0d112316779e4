package dfs

import (
	"bytes"
	"slices"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// retry runs attempt again after a conflict, or answers EAGAIN when the
// attempts are spent.
func (s *Service) retry(v *Storage, req sys.ReqID, attempt int, again func(int)) {
	if attempt >= s.cfg.WriteAttemptsMax {
		v.fail(req, sys.EAGAIN)
		return
	}
	s.stats.Conflicts++
	again(attempt + 1)
}

// answerTxn answers a namespace Txn: done on success, attempt again on a
// conflict.
func (s *Service) answerTxn(v *Storage, req sys.ReqID, attempt int, again func(int)) func(metaResult) {
	return func(r metaResult) {
		switch {
		case r.err != nil:
			v.fail(req, r.errno())
		case r.swapped:
			v.finish(req, sys.Reply{})
		default:
			s.retry(v, req, attempt, again)
		}
	}
}

// announceGone wraps a Txn's answer: once the Txn removed file ino, every
// machine up is told, so that its collector looks at the file's chunk
// files now rather than when its walk reaches them (minutes on a full
// disk). The message is a hint: lost, the walk still finds the files; the
// collector deletes nothing the metadata does not say is gone.
func (s *Service) announceGone(ino ID, answer func(metaResult)) func(metaResult) {
	return func(r metaResult) {
		if r.err == nil && r.swapped {
			s.stats.GoneAnnounced++
			m := message{kind: msgGone, ref: chunkRef{ino: ino}}
			payload := m.encode()
			for _, to := range s.upMachines() {
				if to == s.self {
					s.collect.removed(ino)
					continue
				}
				s.cfg.Transport.Send(netmodel.NodeID(to), bytes.Clone(payload))
			}
		}
		answer(r)
	}
}

// announceReplaced is announceGone for the file a rename replaces, if any.
func (s *Service) announceReplaced(dst resolved, answer func(metaResult)) func(metaResult) {
	if !dst.exists || dst.ent.isDir {
		return answer
	}
	return s.announceGone(dst.ent.ino, answer)
}

// Remove: a file's entry and everything under its inode go at once; a
// directory goes only if nothing is in it.

func (s *Service) startRemove(v *Storage, req sys.ReqID, comps []string) {
	if len(comps) == 0 {
		v.finish(req, sys.ErrReply(sys.EINVAL))
		return
	}
	s.whenRootReady(func() { s.removeAttempt(v, req, comps, 1) })
}

func (s *Service) removeAttempt(v *Storage, req sys.ReqID, comps []string, attempt int) {
	again := func(a int) { s.removeAttempt(v, req, comps, a) }
	s.resolve(v.user, comps, func(res resolved, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case !res.exists:
			v.fail(req, sys.ENOENT)
		case !res.parentRec.mayWrite(v.user):
			v.fail(req, sys.EACCES)
		case res.ent.isDir:
			s.removeDir(v, req, res, attempt, again)
		default:
			t := txnIf(cmpEqual(keyDir(res.parent), res.parentRaw), cmpEqual(keyEntry(res.parent, res.name), res.entRaw)).
				then(del(keyEntry(res.parent, res.name)), delPrefix(keyFile(res.ent.ino)))
			s.meta.txn(t, s.announceGone(res.ent.ino, s.answerTxn(v, req, attempt, again)))
		}
	})
}

func (s *Service) removeDir(v *Storage, req sys.ReqID, res resolved, attempt int, again func(int)) {
	t := txnIf(cmpEqual(keyDir(res.parent), res.parentRaw), cmpEqual(keyEntry(res.parent, res.name), res.entRaw),
		cmpEmpty(keyEntries(res.ent.ino))).
		then(del(keyEntry(res.parent, res.name)), del(keyDir(res.ent.ino)))
	s.meta.txn(t, func(r metaResult) {
		if r.err != nil || r.swapped {
			s.answerTxn(v, req, attempt, again)(r)
			return
		}
		// Find out whether it failed for the entries in the directory.
		s.meta.read([]rangeSpec{exactRange(keyEntry(res.parent, res.name)), prefixRange(keyEntries(res.ent.ino), 1)}, func(r metaResult) {
			switch {
			case r.err != nil:
				v.fail(req, r.errno())
			case lookup(r.pairs, keyEntry(res.parent, res.name)) == res.entRaw && len(r.pairs) > 1:
				v.fail(req, sys.ENOTEMPTY)
			default:
				s.retry(v, req, attempt, again)
			}
		})
	})
}

// Rename: both names resolved, write permission on both directories, then
// one Txn comparing both directories' records, both entries and, when a
// directory moves, every entry on the way to its new parent (so it can
// never end up under itself).

func (s *Service) startRename(v *Storage, req sys.ReqID, from, to []string) {
	s.whenRootReady(func() { s.renameAttempt(v, req, from, to, 1) })
}

func (s *Service) renameAttempt(v *Storage, req sys.ReqID, from, to []string, attempt int) {
	s.resolve(v.user, from, func(src resolved, e sys.Errno) {
		if e != 0 {
			v.fail(req, e)
			return
		}
		s.resolve(v.user, to, func(dst resolved, e sys.Errno) {
			if e != 0 {
				v.fail(req, e)
				return
			}
			s.renameReread(v, req, from, to, src, dst, attempt)
		})
	})
}

// renameReread reads both directories' records and both entries again at
// one index: the two walks ran at different moments, and the checks must
// see one state.
func (s *Service) renameReread(v *Storage, req sys.ReqID, from, to []string, src, dst resolved, attempt int) {
	keys := []string{keyDir(src.parent), keyDir(dst.parent), keyEntry(src.parent, src.name), keyEntry(dst.parent, dst.name)}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	rs := make([]rangeSpec, len(keys))
	for i, k := range keys {
		rs[i] = exactRange(k)
	}
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			v.fail(req, r.errno())
			return
		}
		var e1, e2 sys.Errno
		src, e1 = s.resolveAt(v.user, []string{src.name}, 0, src.parent, src.chain, r)
		dst, e2 = s.resolveAt(v.user, []string{dst.name}, 0, dst.parent, dst.chain, r)
		switch {
		case e1 != 0:
			v.fail(req, e1)
		case e2 != 0:
			v.fail(req, e2)
		default:
			s.rename(v, req, from, to, src, dst, attempt)
		}
	})
}

func (s *Service) rename(v *Storage, req sys.ReqID, from, to []string, src, dst resolved, attempt int) {
	again := func(a int) { s.renameAttempt(v, req, from, to, a) }
	switch {
	case !src.exists:
		v.fail(req, sys.ENOENT)
	case !src.parentRec.mayWrite(v.user) || !dst.parentRec.mayWrite(v.user):
		v.fail(req, sys.EACCES)
	case src.parent == dst.parent && src.name == dst.name:
		v.finish(req, sys.Reply{})
	case dst.exists && (src.ent.isDir || dst.ent.isDir):
		v.fail(req, sys.EEXIST)
	case src.ent.isDir && (dst.parent == src.ent.ino || slices.ContainsFunc(dst.chain, func(l link) bool { return l.dir == src.ent.ino })):
		v.fail(req, sys.EINVAL)
	case src.ent.isDir || src.parent == dst.parent:
		s.meta.txn(renameTxn(src, dst, "", ""), s.announceReplaced(dst, s.answerTxn(v, req, attempt, again)))
	default:
		s.renameFile(v, req, src, dst, attempt, again)
	}
}

// renameFile moves a file to another directory: its record names the new
// directory, whose permissions then apply.
func (s *Service) renameFile(v *Storage, req sys.ReqID, src, dst resolved, attempt int, again func(int)) {
	s.meta.read([]rangeSpec{exactRange(keyFile(src.ent.ino))}, func(r metaResult) {
		if r.err != nil {
			v.fail(req, r.errno())
			return
		}
		raw := lookup(r.pairs, keyFile(src.ent.ino))
		rec, err := decodeFile(raw)
		if err != nil {
			s.retry(v, req, attempt, again) // removed meanwhile: the entry compare will say so
			return
		}
		rec.dir = dst.parent
		s.meta.txn(renameTxn(src, dst, raw, rec.encode()), s.announceReplaced(dst, s.answerTxn(v, req, attempt, again)))
	})
}

func renameTxn(src, dst resolved, fileRaw, newFileRaw string) txnBuilder {
	t := txnIf(cmpEqual(keyDir(src.parent), src.parentRaw), cmpEqual(keyEntry(src.parent, src.name), src.entRaw))
	if dst.parent != src.parent {
		t = t.and(cmpEqual(keyDir(dst.parent), dst.parentRaw))
	}
	t = t.and(cmpIs(keyEntry(dst.parent, dst.name), dst.entRaw))
	if src.ent.isDir {
		for _, l := range dst.chain {
			t = t.and(cmpEqual(keyEntry(l.dir, l.name), l.raw))
		}
	}
	t = t.then(del(keyEntry(src.parent, src.name)), put(keyEntry(dst.parent, dst.name), src.entRaw))
	if dst.exists {
		t = t.then(delPrefix(keyFile(dst.ent.ino))) // the replaced file
	}
	if fileRaw != "" {
		t = t.and(cmpEqual(keyFile(src.ent.ino), fileRaw)).then(put(keyFile(src.ent.ino), newFileRaw))
	}
	return t
}

// target resolves a path that must name a directory, and returns its inode.
func (s *Service) targetDir(v *Storage, comps []string, done func(ID, resolved, sys.Errno)) {
	s.resolve(v.user, comps, func(res resolved, e sys.Errno) {
		switch {
		case e != 0:
			done(ID{}, res, e)
		case res.root:
			done(RootIno, res, 0)
		case !res.exists:
			done(ID{}, res, sys.ENOENT)
		case !res.ent.isDir:
			done(ID{}, res, sys.ENOTDIR)
		default:
			done(res.ent.ino, res, 0)
		}
	})
}

// List: the directory's record and its entries, one range read per page
// of listPageEntries (the first page at one index with the permission
// check).

func (s *Service) startList(v *Storage, req sys.ReqID, comps []string) {
	s.whenRootReady(func() {
		s.targetDir(v, comps, func(dir ID, _ resolved, e sys.Errno) {
			if e != 0 {
				v.fail(req, e)
				return
			}
			s.listPage(v, req, dir, keyEntries(dir), nil, true)
		})
	})
}

func (s *Service) listPage(v *Storage, req sys.ReqID, dir ID, from string, out []byte, first bool) {
	prefix := keyEntries(dir)
	rs := []rangeSpec{{start: from, end: prefixRange(prefix, 1).end, limit: listPageEntries}}
	if first {
		rs = append([]rangeSpec{exactRange(keyDir(dir))}, rs...)
	}
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			v.fail(req, r.errno())
			return
		}
		if first {
			raw := lookup(r.pairs, keyDir(dir))
			rec, err := decodeDir(raw)
			switch {
			case raw == "":
				v.fail(req, sys.ENOENT)
				return
			case err != nil:
				v.fail(req, sys.EIO)
				return
			case !rec.mayRead(v.user) && !s.cfg.Bugs.SkipListPermission:
				v.fail(req, sys.EACCES)
				return
			}
		}
		last := ""
		for _, kv := range r.pairs {
			if !strings.HasPrefix(kv.Key, prefix) {
				continue
			}
			ent, err := decodeEntry(kv.Value)
			if err != nil {
				v.fail(req, sys.EIO)
				return
			}
			out = append(out, kv.Key[len(prefix):]...)
			if ent.isDir {
				out = append(out, '/')
			}
			out = append(out, '\n')
			last = kv.Key
		}
		switch {
		case !r.more:
			v.finish(req, sys.Reply{Val: uint64(len(out)), Data: out})
		case strings.Count(string(out), "\n") >= ListEntriesMax:
			v.fail(req, sys.EFBIG)
		default:
			s.listPage(v, req, dir, last+"\x00", out, false)
		}
	})
}

// GetAttr and SetAttr: a directory's attributes; only its owner and root
// may change them.

func (s *Service) startGetAttr(v *Storage, req sys.ReqID, comps []string) {
	s.whenRootReady(func() {
		s.dirRecordOf(v, comps, func(_ ID, _ string, rec dirRecord, e sys.Errno) {
			if e != 0 {
				v.fail(req, e)
				return
			}
			text := rec.attr().Format()
			v.finish(req, sys.Reply{Val: uint64(len(text)), Data: text})
		})
	})
}

// dirRecordOf resolves a directory and reads its record.
func (s *Service) dirRecordOf(v *Storage, comps []string, done func(ID, string, dirRecord, sys.Errno)) {
	s.targetDir(v, comps, func(dir ID, res resolved, e sys.Errno) {
		if e != 0 {
			done(dir, "", dirRecord{}, e)
			return
		}
		if res.root {
			done(dir, res.parentRaw, res.parentRec, 0)
			return
		}
		s.meta.read([]rangeSpec{exactRange(keyDir(dir))}, func(r metaResult) {
			raw := lookup(r.pairs, keyDir(dir))
			rec, err := decodeDir(raw)
			switch {
			case r.err != nil:
				done(dir, "", dirRecord{}, r.errno())
			case raw == "":
				done(dir, "", dirRecord{}, sys.ENOENT)
			case err != nil:
				done(dir, "", dirRecord{}, sys.EIO)
			default:
				done(dir, raw, rec, 0)
			}
		})
	})
}

func (s *Service) startSetAttr(v *Storage, req sys.ReqID, comps []string, change sys.AttrChange) {
	s.whenRootReady(func() { s.setAttrAttempt(v, req, comps, change, 1) })
}

func (s *Service) setAttrAttempt(v *Storage, req sys.ReqID, comps []string, change sys.AttrChange, attempt int) {
	again := func(a int) { s.setAttrAttempt(v, req, comps, change, a) }
	s.dirRecordOf(v, comps, func(dir ID, raw string, rec dirRecord, e sys.Errno) {
		switch {
		case e != 0:
			v.fail(req, e)
		case !rec.mayChange(v.user):
			v.fail(req, sys.EACCES)
		default:
			next := dirFromAttr(change.Apply(rec.attr()))
			t := txnIf(cmpEqual(keyDir(dir), raw)).then(put(keyDir(dir), next.encode()))
			s.meta.txn(t, s.answerTxn(v, req, attempt, again))
		}
	})
}
