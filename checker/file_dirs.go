package checker

import (
	"fmt"
	"slices"
	"strings"
)

// Directories: the history of one directory's namespace operations is
// checked against a model whose state is the directory's entries (name,
// kind, file identity) and its attributes (owner, redundancy, readers,
// writers), mirroring the filesystem's rules and the order of its checks
// (docs/storage.md): a name is looked up only by a user who may read or
// write the directory, so a denied operation says nothing about names.
// Each directory is checked on its own, so the model covers what stays
// inside one directory: renames within it, and subdirectories that stay
// empty (their removal never fails with ENOTEMPTY).
//
// Record a DirInit at time 0 for every directory (its attributes as the
// run starts; before it only root may do anything).

// DirKind is the kind of a directory operation.
type DirKind uint8

// Directory operation kinds.
const (
	DirInit    DirKind = iota + 1 // the directory's attributes as the run starts (Owner, Redundancy, Readers, Writers)
	DirOpen                       // Name, Mode; Output.File: the file's identity
	DirMkdir                      // Name
	DirRemove                     // Name
	DirRename                     // Name -> NewName
	DirList                       // Output.Names: "name\n" per file, "name/\n" per directory, sorted
	DirGetAttr                    // Output: Owner, Redundancy, Readers, Writers
	DirSetAttr                    // Redundancy (0: keep), Readers/Writers (Set...: replace)
)

var dirKindNames = [...]string{"", "init", "open", "mkdir", "remove", "rename", "list", "getattr", "setattr"}

func (k DirKind) String() string {
	if k >= DirInit && k <= DirSetAttr {
		return dirKindNames[k]
	}
	return fmt.Sprintf("DirKind(%d)", uint8(k))
}

// Open modes of DirOpen, as sys.OpenMode numbers them.
const (
	OpenExisting = iota
	OpenOrCreate
	CreateExclusive
)

// Results a directory operation may have besides ResultOK, ResultDenied
// and ResultGone (no such name).
const (
	ResultExists   = "EEXIST"
	ResultIsDir    = "EISDIR"
	ResultNotEmpty = "ENOTEMPTY"
)

// DirInput is a namespace operation on the directory Dir.
type DirInput struct {
	Kind             DirKind
	Dir              string // the directory's path: the partition
	User             string
	Name, NewName    string
	Mode             int
	Owner            string // DirInit
	Redundancy       int
	Readers, Writers []string
	SetReaders       bool
	SetWriters       bool
}

// DirOutput is what the process received.
type DirOutput struct {
	Result           string // ResultOK or an error the model knows
	File             string // open: the file's identity
	Names            string // list
	Owner            string // getattr
	Redundancy       int
	Readers, Writers []string
	Err              string // a definite error that guarantees no effect: left out
}

func (o DirOutput) definiteErr() string { return o.Err }

// DirHistory records directory operations.
type DirHistory = History[DirInput, DirOutput]

// dirState is one directory's model state: entries sorted by name, each
// "name\x00kind\x00id" joined by "\x01" (kind 'f' or 'd'; id "?" for a
// file created with an unknown outcome, bound by the first open that
// names it).
type dirState struct {
	entries    string
	owner      string
	redundancy int
	readers    string
	writers    string
}

type dirEntry struct{ name, kind, id string }

func (s dirState) list() []dirEntry {
	if s.entries == "" {
		return nil
	}
	var out []dirEntry
	for _, e := range strings.Split(s.entries, "\x01") {
		f := strings.SplitN(e, "\x00", 3)
		out = append(out, dirEntry{name: f[0], kind: f[1], id: f[2]})
	}
	return out
}

func (s dirState) with(es []dirEntry) dirState {
	slices.SortFunc(es, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.name + "\x00" + e.kind + "\x00" + e.id
	}
	s.entries = strings.Join(parts, "\x01")
	return s
}

func (s dirState) find(name string) (dirEntry, int) {
	for i, e := range s.list() {
		if e.name == name {
			return e, i
		}
	}
	return dirEntry{}, -1
}

func (s dirState) lookUp(user string) bool { return allows(s.readers, user) || allows(s.writers, user) }

var dirSpec = spec[DirInput, DirOutput, dirState, string]{
	family:      "dirs",
	key:         func(in DirInput) string { return in.Dir },
	describeKey: func(k string) string { return "directory " + k },
	step:        dirStep,
	effect: func(s dirState, in DirInput) dirState {
		_, next := dirApply(s, in, DirOutput{}, true)
		return next
	},
	valid:    func(in DirInput) bool { return in.Kind >= DirInit && in.Kind <= DirSetAttr },
	readOnly: func(in DirInput) bool { return in.Kind == DirList || in.Kind == DirGetAttr },
	blind:    func(DirInput) bool { return false },
	changes: func(in DirInput, out DirOutput) bool {
		return out.Result == ResultOK && in.Kind != DirList && in.Kind != DirGetAttr
	},
	describeOp:    describeDirOp,
	describeState: describeDirState,
}

// CheckDirs checks that h is linearizable, directory by directory.
func CheckDirs(h *DirHistory, opts Options) Result {
	return check(&dirSpec, h, opts)
}

func dirStep(s dirState, in DirInput, out DirOutput) (bool, dirState) {
	return dirApply(s, in, out, false)
}

// dirApply runs one operation in the model: the result it must have, in
// the implementation's order of checks, and the state after. With unknown
// set the output is not known: any effect the operation can have is
// applied.
func dirApply(s dirState, in DirInput, out DirOutput, unknown bool) (bool, dirState) {
	want := func(result string) (bool, dirState) { return unknown || out.Result == result, s }
	switch in.Kind {
	case DirInit:
		s.owner, s.redundancy = in.Owner, in.Redundancy
		s.readers, s.writers = joinUsers(in.Readers), joinUsers(in.Writers)
		return true, s
	case DirList:
		if !allows(s.readers, in.User) {
			return want(ResultDenied)
		}
		return unknown || out.Result == ResultOK && out.Names == s.names(), s
	case DirGetAttr:
		return unknown || out.Result == ResultOK && out.Owner == s.owner && out.Redundancy == s.redundancy &&
			joinUsers(out.Readers) == s.readers && joinUsers(out.Writers) == s.writers, s
	case DirSetAttr:
		if in.User != "root" && in.User != s.owner {
			return want(ResultDenied)
		}
		if in.Redundancy != 0 {
			s.redundancy = in.Redundancy
		}
		if in.SetReaders {
			s.readers = joinUsers(in.Readers)
		}
		if in.SetWriters {
			s.writers = joinUsers(in.Writers)
		}
		return unknown || out.Result == ResultOK, s
	}
	if !s.lookUp(in.User) {
		return want(ResultDenied)
	}
	switch in.Kind {
	case DirOpen:
		return s.open(in, out, unknown)
	case DirMkdir:
		return s.mkdir(in, out, unknown)
	case DirRemove:
		return s.remove(in, out, unknown)
	}
	return s.rename(in, out, unknown)
}

func (s dirState) names() string {
	var b strings.Builder
	for _, e := range s.list() {
		b.WriteString(e.name)
		if e.kind == "d" {
			b.WriteByte('/')
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (s dirState) open(in DirInput, out DirOutput, unknown bool) (bool, dirState) {
	e, i := s.find(in.Name)
	want := func(result string) (bool, dirState) { return unknown || out.Result == result, s }
	switch {
	case i >= 0 && e.kind == "d":
		return want(ResultIsDir)
	case i >= 0 && in.Mode == CreateExclusive:
		return want(ResultExists)
	case i >= 0:
		if unknown {
			return true, s
		}
		if out.Result != ResultOK || (e.id != "?" && e.id != out.File) {
			return false, s
		}
		es := s.list()
		es[i].id = out.File // binds a file created with an unknown outcome
		return true, s.with(es)
	case in.Mode == OpenExisting:
		return want(ResultGone)
	case !allows(s.writers, in.User):
		return want(ResultDenied)
	}
	id := "?"
	if !unknown {
		if out.Result != ResultOK {
			return false, s
		}
		id = out.File
	}
	return true, s.with(append(s.list(), dirEntry{name: in.Name, kind: "f", id: id}))
}

func (s dirState) mkdir(in DirInput, out DirOutput, unknown bool) (bool, dirState) {
	want := func(result string) (bool, dirState) { return unknown || out.Result == result, s }
	switch _, i := s.find(in.Name); {
	case i >= 0:
		return want(ResultExists)
	case !allows(s.writers, in.User):
		return want(ResultDenied)
	}
	return unknown || out.Result == ResultOK, s.with(append(s.list(), dirEntry{name: in.Name, kind: "d", id: "-"}))
}

func (s dirState) remove(in DirInput, out DirOutput, unknown bool) (bool, dirState) {
	want := func(result string) (bool, dirState) { return unknown || out.Result == result, s }
	_, i := s.find(in.Name)
	switch {
	case i < 0:
		return want(ResultGone)
	case !allows(s.writers, in.User):
		return want(ResultDenied)
	}
	es := s.list()
	return unknown || out.Result == ResultOK, s.with(slices.Delete(es, i, i+1))
}

func (s dirState) rename(in DirInput, out DirOutput, unknown bool) (bool, dirState) {
	want := func(result string) (bool, dirState) { return unknown || out.Result == result, s }
	src, i := s.find(in.Name)
	dst, j := s.find(in.NewName)
	switch {
	case i < 0:
		return want(ResultGone)
	case !allows(s.writers, in.User):
		return want(ResultDenied)
	case in.Name == in.NewName:
		return want(ResultOK)
	case j >= 0 && (src.kind == "d" || dst.kind == "d"):
		return want(ResultExists)
	}
	var es []dirEntry
	for _, e := range s.list() {
		if e.name != in.Name && e.name != in.NewName {
			es = append(es, e)
		}
	}
	src.name = in.NewName
	return unknown || out.Result == ResultOK, s.with(append(es, src))
}

func describeDirOp(in DirInput, out DirOutput, unknown bool) string {
	var call string
	switch in.Kind {
	case DirInit:
		call = fmt.Sprintf("init(owner=%s, r=%d, readers=%s, writers=%s)", in.Owner, in.Redundancy, joinUsers(in.Readers), joinUsers(in.Writers))
	case DirOpen:
		call = fmt.Sprintf("%s: open(%s, mode %d)", in.User, quote(in.Name), in.Mode)
	case DirRename:
		call = fmt.Sprintf("%s: rename(%s, %s)", in.User, quote(in.Name), quote(in.NewName))
	case DirSetAttr:
		call = fmt.Sprintf("%s: setattr(r=%d, readers=%v %s, writers=%v %s)", in.User, in.Redundancy,
			in.SetReaders, joinUsers(in.Readers), in.SetWriters, joinUsers(in.Writers))
	default:
		call = fmt.Sprintf("%s: %v(%s)", in.User, in.Kind, quote(in.Name))
	}
	switch {
	case unknown:
		return call + " -> ?"
	case out.Result != ResultOK:
		return call + " -> " + out.Result
	case in.Kind == DirOpen:
		return call + " -> file " + out.File
	case in.Kind == DirList:
		return call + " -> " + quote(out.Names)
	case in.Kind == DirGetAttr:
		return fmt.Sprintf("%s -> owner=%s r=%d readers=%s writers=%s", call, out.Owner, out.Redundancy, joinUsers(out.Readers), joinUsers(out.Writers))
	}
	return call + " -> ok"
}

func describeDirState(s dirState) string {
	var names []string
	for _, e := range s.list() {
		names = append(names, e.name+"="+e.kind+":"+e.id)
	}
	return fmt.Sprintf("[%s] owner=%s r=%d readers=%s writers=%s", strings.Join(names, " "), s.owner, s.redundancy, s.readers, s.writers)
}
