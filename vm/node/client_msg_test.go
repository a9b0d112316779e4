package node

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

func sampleClientMsgs() []*ClientMsg {
	return []*ClientMsg{
		{Kind: ClientRun, Seq: 1, Data: []byte{1, 2, 3}, Args: []string{"a", "b c"}},
		{Kind: ClientAck, PID: 7, Offset: 1 << 40, Flag: true},
		{Kind: ClientReply, Seq: 9, Code: CodeDenied, Text: "no"},
		{Kind: ClientEnded, PID: 3, Offset: 12, Status: kernel.Status{Trap: &interp.TrapError{PID: 3, TID: 2, PC: 17, Kind: sys.TrapKilled, Detail: "x"}}},
		{Kind: ClientEnded, PID: 4, Status: kernel.Status{Lost: &kernel.LostError{PID: 4, Machine: 2, Incarnation: 5, What: "thread 3"}}},
		{Kind: ClientToken, Seq: 2, Uses: 3, TTL: 3600},
		{Kind: ClientReply, Seq: 4, Leader: 2, Voters: []uint64{1, 2, 3}, Text: "no answer from n3",
			Procs: []ProcessEntry{{PID: 1, Parent: 0, Home: 2, User: "alice", Program: "p.fl", Threads: 4, Status: kernel.Status{Code: 9}, Done: true}},
			Nodes: []MachineStatus{{ID: 1, State: "alive", Incarnation: 2, Provide: Resources{Cores: 3, RAMBytes: 1 << 30, DiskPercent: 50},
				LeaseAgeTicks: 4, Reported: true, Address: "127.0.0.1:7070", ReportedIncarnation: 2, Joined: true, Voter: true, Cores: 3,
				Threads: 5, Processes: 1, Raft: RaftStatus{State: "leader", Term: 3, Leader: 1, Commit: 40, Applied: 40},
				ThreadsStarted: 10, ThreadsPlacedRemote: 4, ProcessesStarted: 2, ProcessesLost: 1, MemoryBytes: 1 << 20, Failure: "f", MetaFailure: "m"}}},
		{Kind: clientQuery, Seq: 5, Query: queryKill, PID: 8, Text: "bob"},
		{Kind: ClientFile, Seq: 6, FileOp: FilePut, Key: "alice/notes.txt", Data: []byte("hello\n")},
		{Kind: ClientFile, Seq: 7, FileOp: FileSetAttr, Key: "alice", Text: "readers=alice,bob\nredundancy=3"},
		{Kind: ClientReply, Seq: 8, Code: CodeDenied, Errno: 13, Text: "read alice/notes.txt: permission denied"},
	}
}

func TestClientMsgRoundTrip(t *testing.T) {
	for _, m := range sampleClientMsgs() {
		b := AppendClientMsg(nil, m)
		got, err := DecodeClientMsg(b)
		if err != nil {
			t.Fatalf("DecodeClientMsg(AppendClientMsg(%v)) error = %v", m.Kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("DecodeClientMsg(AppendClientMsg(%+v)) = %+v", m, got)
		}
	}
}

func TestDecodeClientMsgRejects(t *testing.T) {
	good := AppendClientMsg(nil, &ClientMsg{Kind: ClientKill, Seq: 1, PID: 2})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, good[1:]...)},
		{"kind 0", append([]byte{1, 0}, good[2:]...)},
		{"kind unknown", append([]byte{1, byte(numClientKinds)}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"flag 2", flagTwo()},
		{"file op unknown", withTail(good, byte(numFileOps), 0)},
		{"errno too large", withTail(good, 0, 0xff, 0x7f)},
	}
	for _, tc := range tests {
		if _, err := DecodeClientMsg(tc.b); !errors.Is(err, errClientMsg) {
			t.Errorf("DecodeClientMsg(%s) error = %v, want errClientMsg", tc.name, err)
		}
	}
}

// withTail replaces the last two bytes of b (file op 0, errno 0) with tail.
func withTail(b []byte, tail ...byte) []byte {
	return append(bytes.Clone(b[:len(b)-2]), tail...)
}

// flagTwo is an ack whose flag is 2 (version, kind, seq, pid, offset, flag).
func flagTwo() []byte {
	b := AppendClientMsg(nil, &ClientMsg{Kind: ClientAck})
	b[5] = 2
	return b
}

func FuzzDecodeClientMsg(f *testing.F) {
	for _, m := range sampleClientMsgs() {
		f.Add(AppendClientMsg(nil, m))
	}
	f.Add([]byte{1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMsg(b)
		if err != nil {
			return
		}
		again, err := DecodeClientMsg(AppendClientMsg(nil, m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("DecodeClientMsg(%x) = %+v; re-encoded and decoded %+v, %v", b, m, again, err)
		}
	})
}

// TestClientOutputOverrun: a client that acknowledges nothing gets at most
// the window in flight, and beyond what is kept the program's writes fail.
func TestClientOutputOverrun(t *testing.T) {
	n := &Node{}
	n.ConfigureClients(ClientConfig{OutputChunkBytes: 4, OutputWindowBytes: 8, OutputKeptBytesMax: 16})
	var sent []*ClientMsg
	n.cfg.Transport = transportFunc(func(_ netmodel.NodeID, payload []byte) {
		_, body, err := DecodeHeader(payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeClientMsg(body)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	})
	n.inc = 1
	r := &clientRun{pid: 5, client: 1 << 63}
	n.clients.runs[r.pid] = r
	out := &clientOutput{n: n, r: r}
	for i := range 4 {
		if _, err := out.Write([]byte("abcd")); err != nil {
			t.Fatalf("Write #%d = %v, want nil (16 bytes fit)", i, err)
		}
	}
	if _, err := out.Write([]byte("e")); !errors.Is(err, errOutputOverrun) {
		t.Errorf("Write beyond the kept bytes = %v, want errOutputOverrun", err)
	}
	n.flushRun(r)
	if len(sent) != 2 || r.sent != 8 {
		t.Errorf("flushRun sent %d messages, offset %d; want 2 messages up to the window, 8", len(sent), r.sent)
	}
	s := &clientSession{id: 1 << 63}
	n.clients.sessions[s.id] = s
	n.clientAck(s, &ClientMsg{Kind: ClientAck, PID: 5, Offset: 8})
	if r.acked != 8 || r.sent != 16 || len(r.buf) != 8 {
		t.Errorf("after an ack of 8: acked %d sent %d kept %d; want 8, 16, 8", r.acked, r.sent, len(r.buf))
	}
	if _, err := out.Write([]byte("efgh")); err != nil {
		t.Errorf("Write after the ack freed room = %v", err)
	}
}

type transportFunc func(to netmodel.NodeID, payload []byte)

func (f transportFunc) Send(to netmodel.NodeID, payload []byte) { f(to, payload) }
