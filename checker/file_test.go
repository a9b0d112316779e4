package checker

import (
	"slices"
	"strings"
	"testing"
)

type fileRec = rec[FileInput, FileOutput]
type dirRec = rec[DirInput, DirOutput]

func fAttr(readers, writers string) FileInput {
	return FileInput{Kind: FileDirAttr, File: "f", Readers: strings.Split(readers, ","), Writers: strings.Split(writers, ","),
		SetReaders: true, SetWriters: true}
}
func fWrite(user string, off uint64, data string) FileInput {
	return FileInput{Kind: FileWrite, File: "f", User: user, Off: off, Data: data}
}
func fRead(user string, off, n uint64) FileInput {
	return FileInput{Kind: FileRead, File: "f", User: user, Off: off, N: n}
}
func fSize(user string) FileInput { return FileInput{Kind: FileSize, File: "f", User: user} }

var (
	fOK     = FileOutput{}
	fDenied = FileOutput{Result: ResultDenied}
	fGone   = FileOutput{Result: ResultGone}
)

func fData(s string) FileOutput { return FileOutput{Data: s} }
func fN(n uint64) FileOutput    { return FileOutput{N: n} }

func TestCheckFiles(t *testing.T) {
	init := fileRec{client: 9, in: fAttr("alice,bob", "alice"), out: fOK, call: 0, ret: 0}
	tests := []struct {
		name string
		ops  []fileRec
		ok   bool
	}{
		{"write then read", []fileRec{init,
			{0, fWrite("alice", 2, "xy"), fN(2), 1, 2},
			{1, fRead("bob", 0, 10), fData("\x00\x00xy"), 3, 4},
			{1, fSize("bob"), fN(4), 5, 6}}, true},
		{"overwrite in the middle", []fileRec{init,
			{0, fWrite("alice", 0, "abcdef"), fN(6), 1, 2},
			{0, fWrite("alice", 2, "XY"), fN(2), 3, 4},
			{1, fRead("bob", 1, 4), fData("bXYe"), 5, 6}}, true},
		{"stale read", []fileRec{init,
			{0, fWrite("alice", 0, "new"), fN(3), 1, 2},
			{1, fRead("bob", 0, 10), fData(""), 3, 4}}, false},
		{"concurrent read may see either", []fileRec{init,
			{0, fWrite("alice", 0, "new"), fN(3), 1, 4},
			{1, fRead("bob", 0, 10), fData(""), 2, 3}}, true},
		{"a writer that may not write", []fileRec{init,
			{1, fWrite("bob", 0, "mine"), fN(4), 1, 2}}, false},
		{"denied write", []fileRec{init,
			{1, fWrite("bob", 0, "mine"), fDenied, 1, 2},
			{0, fRead("alice", 0, 9), fData(""), 3, 4}}, true},
		{"a reader that may not read", []fileRec{init,
			{2, fRead("carol", 0, 9), fData(""), 1, 2}}, false},
		{"root reads anything", []fileRec{init,
			{2, fRead("root", 0, 9), fData(""), 1, 2}}, true},
		{"revoked before the read", []fileRec{init,
			{3, fAttr("alice", "alice"), fOK, 1, 2},
			{1, fRead("bob", 0, 9), fData(""), 3, 4}}, false},
		{"revoked during the read", []fileRec{init,
			{3, fAttr("alice", "alice"), fOK, 1, 4},
			{1, fRead("bob", 0, 9), fData(""), 2, 3}}, true},
		{"unknown write may have landed", []fileRec{init,
			{0, fWrite("alice", 0, "maybe"), fOK, 1, unknownRet},
			{1, fRead("bob", 0, 9), fData("maybe"), 3, 4},
			{1, fRead("bob", 0, 9), fData("maybe"), 5, 6}}, true},
		{"data after removal", []fileRec{init,
			{0, fWrite("alice", 0, "x"), fN(1), 1, 2},
			{1, fRead("bob", 0, 9), fGone, 3, 4},
			{1, fRead("bob", 0, 9), fData("x"), 5, 6}}, false},
		{"removal, then gone everywhere", []fileRec{init,
			{1, fRead("bob", 0, 9), fGone, 3, 4},
			{0, fSize("alice"), fGone, 5, 6}}, true},
		// An unknown write may take effect at the instant a concurrent
		// write returns, before it: the read sees the gap it left.
		{"unknown write before a write returning at its call", []fileRec{init,
			{0, fWrite("alice", 0, "abcd"), fN(4), 1, 5},
			{1, fWrite("alice", 2, "xy"), fOK, 5, unknownRet},
			{2, fRead("bob", 0, 2), fData("\x00\x00"), 5, 6}}, true},
		{"a read returning at an unknown write's call sees it", []fileRec{init,
			{0, fWrite("alice", 0, "abcd"), fN(4), 1, 2},
			{1, fWrite("alice", 1, "x"), fOK, 5, unknownRet},
			{2, fRead("bob", 0, 4), fData("axcd"), 3, 5}}, true},
		{"before the directory's attributes only root", []fileRec{
			{0, fWrite("alice", 0, "x"), fN(1), 1, 2}}, false},
	}
	for _, tc := range tests {
		res := CheckFiles(build(tc.ops), Options{MaxSteps: 100000})
		if res.OK != tc.ok || res.TimedOut {
			t.Errorf("%s: CheckFiles = ok %v (timed out %v): %s; want ok %v", tc.name, res.OK, res.TimedOut, res.Violation, tc.ok)
		}
	}
}

func dInit(readers, writers string) DirInput {
	return DirInput{Kind: DirInit, Dir: "/d", Owner: "alice", Redundancy: 2,
		Readers: strings.Split(readers, ","), Writers: strings.Split(writers, ",")}
}
func dOpen(user, name string, mode int) DirInput {
	return DirInput{Kind: DirOpen, Dir: "/d", User: user, Name: name, Mode: mode}
}
func dOp(kind DirKind, user, name string) DirInput {
	return DirInput{Kind: kind, Dir: "/d", User: user, Name: name}
}
func dRename(user, from, to string) DirInput {
	return DirInput{Kind: DirRename, Dir: "/d", User: user, Name: from, NewName: to}
}

func dFile(id string) DirOutput { return DirOutput{File: id} }
func dRes(r string) DirOutput   { return DirOutput{Result: r} }
func dNames(s string) DirOutput { return DirOutput{Names: s} }

func TestCheckDirs(t *testing.T) {
	init := dirRec{client: 9, in: dInit("alice,bob", "alice"), out: DirOutput{}, call: 0, ret: 0}
	tests := []struct {
		name string
		ops  []dirRec
		ok   bool
	}{
		{"create, open, list", []dirRec{init,
			{0, dOpen("alice", "f", OpenOrCreate), dFile("i1"), 1, 2},
			{1, dOpen("bob", "f", OpenExisting), dFile("i1"), 3, 4},
			{1, dOp(DirMkdir, "alice", "s"), dRes(""), 5, 6},
			{1, dOp(DirList, "bob", ""), dNames("f\ns/\n"), 7, 8}}, true},
		{"open finds another file", []dirRec{init,
			{0, dOpen("alice", "f", OpenOrCreate), dFile("i1"), 1, 2},
			{1, dOpen("bob", "f", OpenExisting), dFile("i2"), 3, 4}}, false},
		{"rename moves the file", []dirRec{init,
			{0, dOpen("alice", "a", OpenOrCreate), dFile("i1"), 1, 2},
			{0, dRename("alice", "a", "b"), dRes(""), 3, 4},
			{1, dOpen("bob", "b", OpenExisting), dFile("i1"), 5, 6},
			{1, dOpen("bob", "a", OpenExisting), dRes(ResultGone), 7, 8}}, true},
		{"rename replaces a file", []dirRec{init,
			{0, dOpen("alice", "a", OpenOrCreate), dFile("i1"), 1, 2},
			{0, dOpen("alice", "b", OpenOrCreate), dFile("i2"), 3, 4},
			{0, dRename("alice", "a", "b"), dRes(""), 5, 6},
			{1, dOpen("bob", "b", OpenExisting), dFile("i2"), 7, 8}}, false},
		{"a non-writer creates", []dirRec{init,
			{1, dOpen("bob", "f", OpenOrCreate), dFile("i9"), 1, 2}}, false},
		{"denied, not told the name is missing", []dirRec{init,
			{2, dOpen("carol", "f", OpenExisting), dRes(ResultGone), 1, 2}}, false},
		{"denied", []dirRec{init,
			{2, dOpen("carol", "f", OpenExisting), dRes(ResultDenied), 1, 2},
			{1, dOp(DirRemove, "bob", "f"), dRes(ResultGone), 3, 4}}, true},
		{"list by a non-reader", []dirRec{init,
			{2, dOp(DirList, "carol", ""), dNames(""), 1, 2}}, false},
		{"setattr by the owner, then by another", []dirRec{init,
			{0, DirInput{Kind: DirSetAttr, Dir: "/d", User: "alice", Readers: []string{"*"}, SetReaders: true}, dRes(""), 1, 2},
			{2, dOp(DirList, "carol", ""), dNames(""), 3, 4},
			{1, DirInput{Kind: DirSetAttr, Dir: "/d", User: "bob", Redundancy: 3}, dRes(ResultDenied), 5, 6},
			{1, dOp(DirGetAttr, "bob", ""), DirOutput{Owner: "alice", Redundancy: 2, Readers: []string{"*"}, Writers: []string{"alice"}}, 7, 8}}, true},
		{"unknown create bound by a later open", []dirRec{init,
			{0, dOpen("alice", "f", CreateExclusive), dFile(""), 1, unknownRet},
			{1, dOpen("bob", "f", OpenExisting), dFile("i7"), 3, 4},
			{1, dOpen("bob", "f", OpenExisting), dFile("i7"), 5, 6}}, true},
		{"exclusive create twice", []dirRec{init,
			{0, dOpen("alice", "f", CreateExclusive), dFile("i1"), 1, 2},
			{0, dOpen("alice", "f", CreateExclusive), dFile("i2"), 3, 4}}, false},
		{"remove of a subdirectory never finds it non-empty", []dirRec{init,
			{0, dOp(DirMkdir, "alice", "s"), dRes(""), 1, 2},
			{0, dOp(DirRemove, "alice", "s"), dRes(ResultNotEmpty), 3, 4}}, false},
	}
	for _, tc := range tests {
		res := CheckDirs(build(tc.ops), Options{MaxSteps: 100000})
		if res.OK != tc.ok || res.TimedOut {
			t.Errorf("%s: CheckDirs = ok %v (timed out %v): %s; want ok %v", tc.name, res.OK, res.TimedOut, res.Violation, tc.ok)
		}
	}
}

// Many unknown writes that only a size at the end observes (a client that
// crashed again and again): the reduction leaves the one write that could
// have changed the size, and the search is short. Without it, porcupine
// tries every subset of the writes (2^21 here).
func TestCheckFilesManyUnknownWrites(t *testing.T) {
	ops := []fileRec{
		{9, fAttr("alice,bob", "alice"), fOK, 0, 0},
		{0, fWrite("alice", 0, strings.Repeat("a", 400)), fN(400), 1, 2},
	}
	for i := range 20 {
		data := strings.Repeat(string(rune('b'+i)), 20)
		ops = append(ops, fileRec{1, fWrite("alice", uint64(10*i), data), fOK, int64(3 + i), unknownRet})
	}
	ops = append(ops, fileRec{1, fWrite("alice", 390, "zzzzzzzzzzzzzzzzzzzz"), fOK, 30, unknownRet}) // would make it 410
	for _, tc := range []struct {
		size uint64
		ok   bool
	}{{400, true}, {410, true}, {405, false}} {
		h := build(append(slices.Clone(ops), fileRec{2, fSize("bob"), fN(tc.size), 100, 101}))
		res := CheckFiles(h, Options{MaxSteps: 100_000})
		if res.OK != tc.ok || res.TimedOut {
			t.Errorf("CheckFiles(size %d at the end) = ok %v (timed out %v), want ok %v: %s", tc.size, res.OK, res.TimedOut, tc.ok, res.Violation)
		}
	}
}
