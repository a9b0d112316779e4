package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

// sharedFileProgram writes a file on its home, then a thread placed on
// another machine tries the home's descriptor (descriptors belong to the
// machine a thread runs on: EBADF there), opens the file by its path and
// prints what it reads; back on the home, the main thread reads it through
// its own descriptor.
const sharedFileProgram = `
.string dir "shared"
.string path "shared/note.txt"
.string text "written on the home\n"
.zero fd 8
.zero buf 64
main:
    PUSH dir
    PUSH len(dir)
    MKDIR
    DROP
    PUSH path
    PUSH len(path)
    PUSH 2
    OPEN
    PUSH fd
    STORE
    PUSH fd
    LOAD
    PUSH 0
    PUSH text
    PUSH len(text)
    WRITE
    DROP
    PUSH 0
    SPAWN reader
    JOIN
    DROP
    PUSH fd
    LOAD
    PUSH 0
    PUSH buf
    PUSH 64
    READ
    PUSH buf
    SWAP
    PRINTS
    PUSH 0
    EXIT
reader:
    DROP
    PUSH fd
    LOAD
    PUSH 0
    PUSH buf
    PUSH 64
    READ
    PRINT
    PUSH ' '
    PUTC
    PUSH path
    PUSH len(path)
    PUSH 0
    OPEN
    PUSH fd
    STORE
    PUSH fd
    LOAD
    PUSH 0
    PUSH buf
    PUSH 64
    READ
    PUSH buf
    SWAP
    PRINTS
    PUSH 0
    TEXIT
`

func TestFileWrittenHereReadThere(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		t.Run(fmt.Sprintf("parallel=%v", parallel), func(t *testing.T) { testFileWrittenHereReadThere(t, parallel) })
	}
}

func testFileWrittenHereReadThere(t *testing.T, parallel bool) {
	c := newCluster(t, 0, 0, 7)
	c.parallel = parallel
	c.tweak = func(cfg *Config) { cfg.PlaceLocalPerCore = 1 }
	c.bootVoters(3)
	c.putFile(1, "root", "warmup", "") // the filesystem is up
	prog, err := asm.Assemble("t.flasm", []byte(sharedFileProgram), asm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, end := &lockedBuffer{}, &answer{}
	c.nodes[1].Start(Run{Program: prog, User: "root", Out: out}, func(uint64, error) {},
		func(_ uint64, st kernel.Status) { end.set(nil, st.Err()) })
	if !c.runUntil(func() bool { done, _, _ := end.get(); return done }, 400000) {
		t.Fatalf("program did not end\n%s", c.dump())
	}
	_, _, perr := end.get()
	want := "-9 written on the home\nwritten on the home\n"
	if got := out.String(); perr != nil || got != want {
		t.Fatalf("program: error %v output %q, want output %q", perr, got, want)
	}
	if got := c.nodes[1].Stats().ThreadsPlacedRemote; got == 0 {
		t.Errorf("ThreadsPlacedRemote = 0, want the reader away from the home")
	}
	if got, err := c.readFile(3, "root", "shared/note.txt"); err != nil || got != "written on the home\n" {
		t.Errorf("ReadFile on n3 = %q, %v, want the program's text", got, err)
	}
}

func TestFilePermissionsAcrossMachines(t *testing.T) {
	c := newCluster(t, 3, 3, 11)
	if !c.runUntil(c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	c.putFile(1, "root", "warmup", "")
	if _, err := c.file(1, FileMkdir, "root", "alice", nil, sys.AttrChange{}); err != nil {
		t.Fatalf("mkdir alice: %v", err)
	}
	change := sys.AttrChange{Readers: []string{"alice"}, Writers: []string{"alice"}, SetReaders: true, SetWriters: true, Redundancy: 2}
	if _, err := c.file(2, FileSetAttr, "root", "alice", nil, change); err != nil {
		t.Fatalf("setattr alice: %v", err)
	}
	c.putFile(3, "alice", "alice/diary", "dear diary\n")
	tests := []struct {
		on    netmodel.NodeID
		user  string
		want  string
		errno sys.Errno
	}{
		{1, "alice", "dear diary\n", 0},
		{2, "root", "dear diary\n", 0},
		{2, "bob", "", sys.EACCES},
		{3, "bob", "", sys.EACCES},
	}
	for _, tc := range tests {
		got, err := c.readFile(tc.on, tc.user, "alice/diary")
		var fe *FileError
		switch {
		case tc.errno == 0 && (err != nil || got != tc.want):
			t.Errorf("ReadFile(%v as %s) = %q, %v, want %q", tc.on, tc.user, got, err, tc.want)
		case tc.errno != 0 && (!errors.As(err, &fe) || fe.Errno != tc.errno):
			t.Errorf("ReadFile(%v as %s) = %q, %v, want errno %d", tc.on, tc.user, got, err, tc.errno)
		}
	}
}

// FuzzReceiveStorage: whatever arrives under the filesystem's services
// (chunk messages, metadata sessions' requests and replies) is dropped or
// handled, never a panic.
func FuzzReceiveStorage(f *testing.F) {
	c := newCluster(f, 1, 1, 3)
	for _, s := range []Service{ServiceStorage, ServiceStorageMeta, ServiceStorageMetaReply} {
		h := AppendHeader(nil, Header{Service: s, Incarnation: 1})
		f.Add(h)
		f.Add(append(h, 0))
		f.Add(append(h, 1, 2, 3))
		f.Add(append(h, storageMetaSlots+1, 1))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c.nodes[1].Receive(2, b)
		c.run(2, 1)
	})
}
