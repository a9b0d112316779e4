package dfs

import (
	"testing"

	"github.com/flockvm/flock/vm/sys"
)

// TestWalkGuesses: a machine that walked a path before takes the later
// steps of the next walk from its first read (GuessesTaken), and a guess
// the namespace no longer holds (a directory renamed away and another made
// under its name, elsewhere) is caught by that read: the walk goes on from
// what was read and never reaches the old directory.
func TestWalkGuesses(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 3, rootR: 1})
	h.run(40)
	p := h.proc(1, 1, "alice")
	okReply := func(what string, r sys.Reply) {
		t.Helper()
		if int64(r.Val) < 0 {
			t.Fatalf("%s = %s", what, describeReply(r))
		}
	}
	for _, d := range []string{"/a", "/a/b", "/a/b/c", "/x"} {
		okReply("Mkdir("+d+")", h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Mkdir(c, d) }))
	}
	open := func(path string, mode sys.OpenMode) sys.Reply {
		return h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Open(c, path, mode) })
	}
	okReply("Open(/a/b/c/f, create)", open("/a/b/c/f", sys.OpenOrCreate))
	stats := func() Stats { return h.svcs[1].Stats() }

	before := stats()
	okReply("Open(/a/b/c/f)", open("/a/b/c/f", sys.OpenExisting))
	if got, want := stats().GuessesTaken-before.GuessesTaken, uint64(3); got != want {
		t.Errorf("guessed steps of a walk of /a/b/c/f done before = %d, want %d (a, b and c from one read)", got, want)
	}
	if got := stats().GuessesWrong - before.GuessesWrong; got != 0 {
		t.Errorf("wrong guesses on an unchanged namespace = %d, want 0", got)
	}

	// /a/b goes to /x/b, and a new, empty /a/b takes its name: the guess
	// (a, b) -> old b is now wrong.
	okReply("Rename(/a/b, /x/b)", h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Rename(c, "/a/b", "/x/b") }))
	okReply("Mkdir(/a/b)", h.do(p, func(c sys.Caller) (sys.Reply, bool) { return p.view.Mkdir(c, "/a/b") }))
	before = stats()
	if r := open("/a/b/c/f", sys.OpenExisting); int64(r.Val) != -int64(sys.ENOENT) {
		t.Errorf("Open(/a/b/c/f) after /a/b was replaced = %s, want -ENOENT", describeReply(r))
	}
	if got := stats().GuessesWrong - before.GuessesWrong; got == 0 {
		t.Errorf("wrong guesses after /a/b was replaced = 0, want the stale one caught")
	}
	okReply("Open(/x/b/c/f) after the rename", open("/x/b/c/f", sys.OpenExisting))
}
