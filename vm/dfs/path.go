package dfs

import (
	"slices"
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
//
// A step also reads the steps after it whose directories this machine
// has seen before (dirGuesses): the read carries their records and
// entries too, and each guessed step is taken from it only if the entry
// read in the step before names the guessed directory. All of it is read
// at one index, so this is the walk with several steps served at the same
// moment, which the walk one read at a time may also see; a wrong guess
// costs only the extra ranges, and the walk goes on from the truth read.
func (s *Service) resolve(user string, comps []string, done func(resolved, sys.Errno)) {
	s.resolveStep(user, comps, 0, RootIno, nil, done)
}

func (s *Service) resolveStep(user string, comps []string, i int, cur ID, chain []link, done func(resolved, sys.Errno)) {
	rs := []rangeSpec{exactRange(keyDir(cur))}
	if len(comps) > 0 {
		rs = append(rs, exactRange(keyEntry(cur, comps[i])))
	}
	guesses := s.dirs.guess(comps, i, cur)
	if len(guesses) > 0 {
		for j, dir := range guesses {
			rs = append(rs, exactRange(keyDir(dir)), exactRange(keyEntry(dir, comps[i+1+j])))
		}
		rs = sortedExactRanges(rs)
	}
	s.meta.read(rs, func(r metaResult) {
		if r.err != nil {
			done(resolved{}, r.errno())
			return
		}
		s.resolveRead(user, comps, i, cur, chain, guesses, r, done)
	})
}

// resolveRead takes step i, and the guessed steps after it that hold,
// from one read.
func (s *Service) resolveRead(user string, comps []string, i int, cur ID, chain []link, guesses []ID, r metaResult, done func(resolved, sys.Errno)) {
	for {
		res, e := s.resolveAt(user, comps, i, cur, chain, r)
		if e != 0 || res.root || i == len(comps)-1 {
			done(res, e)
			return
		}
		if !res.exists || !res.ent.isDir {
			s.dirs.forget(cur, comps[i])
			e := sys.ENOENT
			if res.exists {
				e = sys.ENOTDIR
			}
			done(res, e)
			return
		}
		s.dirs.note(cur, comps[i], res.ent.ino)
		next := append(chain[:len(chain):len(chain)], link{dir: cur, name: comps[i], raw: res.entRaw})
		if len(guesses) == 0 || guesses[0] != res.ent.ino {
			if len(guesses) > 0 {
				s.stats.GuessesWrong++
			}
			s.resolveStep(user, comps, i+1, res.ent.ino, next, done)
			return
		}
		s.stats.GuessesTaken++
		i, cur, chain, guesses = i+1, res.ent.ino, next, guesses[1:]
	}
}

// sortedExactRanges orders single-key ranges by key without repeats, as
// a read's ranges must be (a stale guess may name a directory twice).
func sortedExactRanges(rs []rangeSpec) []rangeSpec {
	slices.SortFunc(rs, func(a, b rangeSpec) int { return strings.Compare(a.start, b.start) })
	return slices.CompactFunc(rs, func(a, b rangeSpec) bool { return a.start == b.start })
}

// dirGuesses remembers, for the walk, which directory a name in a
// directory led to when last read here. A guess is only ever a hint that
// one read verifies (resolveRead): a stale one costs extra ranges, never
// a wrong answer.
type dirGuesses struct {
	m map[dirName]ID
}

// dirName is a name in a directory.
type dirName struct {
	dir  ID
	name string
}

// dirGuessesMax bounds the table; a full table starts again empty.
const dirGuessesMax = 4096

// guessStepsMax bounds the steps one read guesses.
const guessStepsMax = 8

// guess returns the directories the walk from cur at step i would pass,
// as far as they are known: guess[j] is the directory comps[i+j] names,
// for the steps after i that have a name after them.
func (g *dirGuesses) guess(comps []string, i int, cur ID) []ID {
	var out []ID
	for j := i; j+1 < len(comps) && len(out) < guessStepsMax; j++ {
		next, ok := g.m[dirName{cur, comps[j]}]
		if !ok {
			break
		}
		out = append(out, next)
		cur = next
	}
	return out
}

func (g *dirGuesses) note(dir ID, name string, child ID) {
	if g.m == nil || len(g.m) >= dirGuessesMax {
		g.m = make(map[dirName]ID)
	}
	g.m[dirName{dir, name}] = child
}

func (g *dirGuesses) forget(dir ID, name string) { delete(g.m, dirName{dir, name}) }

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
