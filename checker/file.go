package checker

import (
	"fmt"
	"slices"
	"strings"
)

// Files: the history of one file's data (read, write and size by
// descriptor) is checked against a model whose state is the file's bytes,
// whether the file still exists, and the permissions of its directory, so
// that an operation by a user who lacked permission at every moment it
// could have taken effect is a violation like a wrong read. A file is
// named by its identity (an inode id, stable across renames), and each
// file is checked on its own.
//
// Permissions come from the directory: a FileDirAttr operation sets the
// readers and writers the file's operations are checked against. Record
// one at time 0 with the directory's initial lists for every file (before
// it, only root may do anything), and one for every change of the
// directory's lists during the run, with its real call and return (or
// unknown outcome): the same change then appears in the history of every
// file of the directory, which is sound (a linearizable run projects to a
// linearizable history of each file) though weaker than one joint check.
//
// A file that was removed (or replaced by a rename) fails every later
// operation with FileGone; the model lets the file vanish at any moment
// and then accepts nothing else. The directory history (CheckDirs) checks when removals happened.

// FileKind is the kind of a file operation.
type FileKind uint8

// File operation kinds.
const (
	FileRead    FileKind = iota + 1 // Output: Data (Off, N: the range asked)
	FileWrite                       // Data at Off; Output.N: bytes written
	FileSize                        // Output.N: the size
	FileDirAttr                     // the directory's readers and writers become Readers and Writers
)

func (k FileKind) String() string {
	switch k {
	case FileRead:
		return "read"
	case FileWrite:
		return "write"
	case FileSize:
		return "size"
	case FileDirAttr:
		return "dir-attr"
	}
	return fmt.Sprintf("FileKind(%d)", uint8(k))
}

// Outcomes a model checks (FileOutput.Result, DirOutput.Result), besides
// OK. Others errors are definite failures (Err) or unknown outcomes.
const (
	ResultOK     = ""
	ResultDenied = "EACCES" // the user lacks the permission: nothing happened, nothing revealed
	ResultGone   = "ENOENT" // file: it was removed; directory: no such name
)

// FileInput is a file operation as a process called it.
type FileInput struct {
	Kind FileKind
	File string // the file's identity
	User string // the user the process runs as; "root" passes every check
	Off  uint64 // read, write
	N    uint64 // read: bytes asked
	Data string // write
	// FileDirAttr: the lists after the change (a change that set only one
	// list carries the other as it was; SetReaders/SetWriters say which).
	Readers, Writers       []string
	SetReaders, SetWriters bool
}

// FileOutput is what the process received.
type FileOutput struct {
	Result string // ResultOK, ResultDenied or ResultGone
	Data   string // read
	N      uint64 // write: bytes written; size: the size
	// Err, when non-empty, is a definite error that guarantees no effect
	// (no room, too busy, data unreadable): left out of the check.
	Err string
}

func (o FileOutput) definiteErr() string { return o.Err }

// FileHistory records file operations.
type FileHistory = History[FileInput, FileOutput]

// fileState is one file's model state; lists are comma-joined, sorted.
// sum is a hash of content: porcupine compares the states it has cached
// many times, and two different contents almost always differ in it, so
// the comparison rarely reaches the bytes.
type fileState struct {
	gone    bool
	sum     uint64
	content string
	readers string
	writers string
}

// contentSum is FNV-1a of s.
func contentSum(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

var fileSpec = spec[FileInput, FileOutput, fileState, string]{
	family:      "files",
	key:         func(in FileInput) string { return in.File },
	describeKey: func(k string) string { return "file " + k },
	step:        fileStep,
	effect:      fileEffect,
	valid:       func(in FileInput) bool { return in.Kind >= FileRead && in.Kind <= FileDirAttr },
	readOnly:    func(in FileInput) bool { return in.Kind == FileRead || in.Kind == FileSize },
	blind:       func(FileInput) bool { return false },
	changes: func(in FileInput, out FileOutput) bool {
		return out.Result == ResultGone || in.Kind == FileDirAttr || (in.Kind == FileWrite && out.Result == ResultOK)
	},
	describeOp:    describeFileOp,
	describeState: describeFileState,
	dropUnknowns:  fileDropUnknowns,
}

// CheckFiles checks that h is linearizable, file by file, for files that
// start empty in a directory whose lists the first FileDirAttr sets. It
// panics on an operation with an invalid Kind.
func CheckFiles(h *FileHistory, opts Options) Result {
	return check(&fileSpec, h, opts)
}

// allows mirrors the filesystem's rule: root, everyone ("*"), or a listed user.
func allows(list, user string) bool {
	if user == "root" {
		return true
	}
	for _, u := range strings.Split(list, ",") {
		if u == "*" || u == user {
			return true
		}
	}
	return false
}

func joinUsers(users []string) string {
	users = slices.Clone(users)
	slices.Sort(users)
	return strings.Join(slices.Compact(users), ",")
}

func fileStep(s fileState, in FileInput, out FileOutput) (bool, fileState) {
	if in.Kind == FileDirAttr {
		return out.Result == ResultOK, fileEffect(s, in)
	}
	switch {
	case s.gone:
		return out.Result == ResultGone, s
	case out.Result == ResultGone:
		return true, fileState{gone: true} // removed just before
	case in.Kind == FileWrite && !allows(s.writers, in.User), in.Kind != FileWrite && !allows(s.readers, in.User):
		return out.Result == ResultDenied, s
	case out.Result != ResultOK:
		return false, s
	}
	switch in.Kind {
	case FileRead:
		return out.Data == readRange(s.content, in.Off, in.N), s
	case FileWrite:
		return out.N == uint64(len(in.Data)), fileEffect(s, in)
	}
	return out.N == uint64(len(s.content)), s
}

func fileEffect(s fileState, in FileInput) fileState {
	switch in.Kind {
	case FileDirAttr:
		if in.SetReaders {
			s.readers = joinUsers(in.Readers)
		}
		if in.SetWriters {
			s.writers = joinUsers(in.Writers)
		}
	case FileWrite:
		if !s.gone && allows(s.writers, in.User) {
			s.content = writeAt(s.content, in.Off, in.Data)
			s.sum = contentSum(s.content)
		}
	case FileRead, FileSize:
	default:
		panic(fmt.Sprintf("checker: file op on %s has invalid kind %d", in.File, in.Kind))
	}
	return s
}

// readRange is what a read of n bytes at off returns: the bytes that exist.
func readRange(content string, off, n uint64) string {
	if off >= uint64(len(content)) {
		return ""
	}
	return content[off:min(uint64(len(content)), off+n)]
}

// writeAt overwrites at off, filling a gap past the end with zeros.
func writeAt(content string, off uint64, data string) string {
	if gap := int64(off) - int64(len(content)); gap > 0 {
		content += strings.Repeat("\x00", int(gap))
	}
	end := off + uint64(len(data))
	if end >= uint64(len(content)) {
		return content[:off] + data
	}
	return content[:off] + data + content[end:]
}

func describeFileOp(in FileInput, out FileOutput, unknown bool) string {
	var call string
	switch in.Kind {
	case FileRead:
		call = fmt.Sprintf("%s: read(%d, %d)", in.User, in.Off, in.N)
	case FileWrite:
		call = fmt.Sprintf("%s: write(%d, %s)", in.User, in.Off, quote(in.Data))
	case FileSize:
		call = in.User + ": size()"
	case FileDirAttr:
		call = fmt.Sprintf("dir-attr(readers=%s, writers=%s)", joinUsers(in.Readers), joinUsers(in.Writers))
	default:
		call = fmt.Sprintf("%v(%s)", in.Kind, in.File)
	}
	switch {
	case unknown:
		return call + " -> ?"
	case out.Result != ResultOK:
		return call + " -> " + out.Result
	case in.Kind == FileRead:
		return call + " -> " + quote(out.Data)
	case in.Kind == FileSize || in.Kind == FileWrite:
		return fmt.Sprintf("%s -> %d", call, out.N)
	}
	return call
}

func describeFileState(s fileState) string {
	if s.gone {
		return "removed"
	}
	return fmt.Sprintf("%s (readers %s, writers %s)", quote(s.content), s.readers, s.writers)
}
