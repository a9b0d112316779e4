package dfs

import (
	"strings"

	"github.com/flockvm/flock/vm/sys"
)

// splitPath turns a program's path into its names: a leading "/" is
// optional, a trailing one allowed; "" and "/" name the root (no names).
func splitPath(p string) ([]string, sys.Errno) {
	if len(p) > PathBytesMax {
		return nil, sys.ENAMETOOLONG
	}
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return nil, 0
	}
	comps := strings.Split(p, "/")
	if len(comps) > PathDepthMax {
		return nil, sys.ENAMETOOLONG
	}
	for _, c := range comps {
		switch {
		case c == "" || c == "." || c == ".." || strings.ContainsRune(c, 0):
			return nil, sys.EINVAL
		case len(c) > NameBytesMax:
			return nil, sys.ENAMETOOLONG
		}
	}
	return comps, 0
}

// link is one step of a resolved path: the entry name holds in dir.
type link struct {
	dir  ID
	name string
	raw  string
}

// resolved is where a path leads: the directory holding its last name
// (with that directory's record as read), and the entry of the name if it
// exists. For the root ("/"), root is set and parent is the root itself.
type resolved struct {
	root      bool
	parent    ID
	parentRaw string
	parentRec dirRecord
	name      string
	exists    bool
	ent       entry
	entRaw    string
	chain     []link // the entries from the root down to parent
}

// resolve walks the path one directory at a time; each step reads the
// directory's record and the next entry at one index, and checks that
// user may look names up there before saying anything about the name.
func (s *Service) resolve(user string, comps []string, done func(resolved, sys.Errno)) {
	s.resolveStep(user, comps, 0, RootIno, nil, done)
}

func (s *Service) resolveStep(user string, comps []string, i int, cur ID, chain []link, done func(resolved, sys.Errno)) {
	rs := []rangeSpec{exactRange(keyDir(cur))}
	if len(comps) > 0 {
		rs = append(rs, exactRange(keyEntry(cur, comps[i])))
	}
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			done(resolved{}, r.errno())
			return
		}
		res, e := s.resolveAt(user, comps, i, cur, chain, r)
		if e != 0 || res.root || i == len(comps)-1 {
			done(res, e)
			return
		}
		if !res.exists {
			done(res, sys.ENOENT)
			return
		}
		if !res.ent.isDir {
			done(res, sys.ENOTDIR)
			return
		}
		next := append(chain[:len(chain):len(chain)], link{dir: cur, name: comps[i], raw: res.entRaw})
		s.resolveStep(user, comps, i+1, res.ent.ino, next, done)
	})
}

// resolveAt interprets one step's read.
func (s *Service) resolveAt(user string, comps []string, i int, cur ID, chain []link, r metaResult) (resolved, sys.Errno) {
	res := resolved{parent: cur, chain: chain, root: len(comps) == 0}
	res.parentRaw = lookup(r.pairs, keyDir(cur))
	if res.parentRaw == "" {
		if cur == RootIno {
			return res, sys.EAGAIN // the root is being created
		}
		return res, sys.ENOENT // removed while we walked
	}
	rec, err := decodeDir(res.parentRaw)
	if err != nil {
		return res, sys.EIO
	}
	res.parentRec = rec
	if res.root {
		return res, 0
	}
	if !rec.mayLookUp(user) {
		return res, sys.EACCES
	}
	res.name = comps[i]
	if res.entRaw = lookup(r.pairs, keyEntry(cur, comps[i])); res.entRaw != "" {
		ent, err := decodeEntry(res.entRaw)
		if err != nil {
			return res, sys.EIO
		}
		res.exists, res.ent = true, ent
	}
	return res, 0
}
