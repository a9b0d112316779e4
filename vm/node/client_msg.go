package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/kernel"
)

// ClientKind is the kind of a client-service message (docs/client.md).
type ClientKind uint8

// Client → node requests, node → client answers and streams, and the
// node → node fan-out of ps, status and kill.
const (
	ClientRun     ClientKind = iota + 1 // seq, program (Data), args
	ClientKill                          // seq, pid
	ClientPS                            // seq, all (Flag)
	ClientStatus                        // seq
	ClientToken                         // seq, uses, ttl seconds
	ClientUserAdd                       // seq, name (Text), public key (Data)
	ClientLeave                         // seq
	ClientKV                            // seq, op, key, value, expect, absent (Flag): the user's key-value namespace
	ClientHello                         // seq: the node's incarnation, in the reply's header
	ClientAck                           // pid, offset, ended (Flag)
	ClientReply                         // seq, code, text, pid, processes, machines, data
	ClientOutput                        // pid, offset, data
	ClientEnded                         // pid, status, total (Offset)
	ClientAlive                         // pid, total (Offset)
	ClientUnknown                       // pid
	clientQuery                         // qid (Seq), what (Query), pid, user (Text), all (Flag)
	clientAnswer                        // qid (Seq), code, text, processes, machines
	ClientFile                          // seq, file op, path (Key), data, attributes (Text): the filesystem (client_files.go)
	numClientKinds
)

var clientKindNames = [numClientKinds]string{"", "run", "kill", "ps", "status", "token", "user-add", "leave", "kv", "hello",
	"ack", "reply", "output", "ended", "alive", "unknown", "query", "answer", "file"}

func (k ClientKind) String() string {
	if k > 0 && k < numClientKinds {
		return clientKindNames[k]
	}
	return fmt.Sprintf("ClientKind(%d)", uint8(k))
}

// IsRequest reports whether a client sends k to a node.
func (k ClientKind) IsRequest() bool { return k >= ClientRun && k <= ClientAck || k == ClientFile }

// ReplyCode is the outcome a reply carries.
type ReplyCode uint8

// Reply codes.
const (
	CodeOK          ReplyCode = iota
	CodeRefused               // Text says why
	CodeUnavailable           // retry later: not joined, no metadata leader, too busy
	CodeDenied                // the user may not do this
	CodeNoProcess             // no such process (running)
	CodeBadRequest            // a program that does not decode, a bad name
	CodeUnknown               // the operation may or may not have taken effect (kv: the store did not say)
	numReplyCodes
)

var replyCodeNames = [numReplyCodes]string{"ok", "refused", "unavailable", "denied", "no-process", "bad-request", "unknown"}

// KVOp is the operation of a ClientKV request.
type KVOp uint8

// Key-value operations.
const (
	KVGet    KVOp = iota + 1 // Found, Value
	KVPut                    // Key = Value
	KVDelete                 // remove Key; Found: it existed
	KVCAS                    // Key = Value if it holds Expect (or is absent, with Flag); Swapped
	KVList                   // the keys under Key (a prefix), with their values: Keys, Values
	numKVOps
)

var kvOpNames = [numKVOps]string{"", "get", "put", "delete", "cas", "list"}

func (o KVOp) String() string {
	if o > 0 && o < numKVOps {
		return kvOpNames[o]
	}
	return fmt.Sprintf("KVOp(%d)", uint8(o))
}

// FileOp is the operation of a ClientFile request.
type FileOp uint8

// File operations, each executed as the client's user.
const (
	FileList    FileOp = iota + 1 // Data: the names in directory Key, '\n'-terminated, directories ending in '/'
	FileRead                      // Data: the file Key
	FilePut                       // the file Key holds Data, replacing it atomically
	FileMkdir                     // make the directory Key
	FileRemove                    // remove the file or empty directory Key
	FileGetAttr                   // Data: directory Key's attributes (sys.Attr.Format)
	FileSetAttr                   // change directory Key's attributes: Text as sys.ParseAttrChange reads it
	numFileOps
)

var fileOpNames = [numFileOps]string{"", "list", "read", "put", "mkdir", "remove", "getattr", "setattr"}

func (o FileOp) String() string {
	if o > 0 && o < numFileOps {
		return fileOpNames[o]
	}
	return fmt.Sprintf("FileOp(%d)", uint8(o))
}

func (c ReplyCode) String() string {
	if c < numReplyCodes {
		return replyCodeNames[c]
	}
	return fmt.Sprintf("ReplyCode(%d)", uint8(c))
}

// queryKind is what a clientQuery asks a peer.
type queryKind uint8

const (
	queryPS queryKind = iota + 1
	queryStatus
	queryKill
	numQueryKinds
)

var queryKindNames = [numQueryKinds]string{"", "ps", "status", "kill"}

func (q queryKind) String() string {
	if q > 0 && q < numQueryKinds {
		return queryKindNames[q]
	}
	return fmt.Sprintf("queryKind(%d)", uint8(q))
}

// ClientMsg is every field any client-service message may carry; each kind
// uses some of them (docs/client.md, "Messages").
type ClientMsg struct {
	Kind ClientKind
	Op   KVOp // kv: the operation
	// NodeInc, on a request: the node's incarnation the client last heard
	// (0: none yet). A node of another incarnation does not apply it: it
	// cannot know whether its previous life did.
	NodeInc uint64
	Seq     uint64 // request number (replies: of the request answered); query/answer: the query id
	PID     uint64
	Offset  uint64   // ack, output: an offset in the output; ended, alive: the total
	Flag    bool     // ps: all; ack: the end was seen; kv: cas expects the key absent, get/delete: found
	Swapped bool     // kv: the cas swapped
	Key     string   // kv: the key (list: the prefix)
	Value   string   // kv: the value written or read
	Expect  string   // kv: the value cas expects
	Keys    []string // kv list: the keys found (values in Args)
	Code    ReplyCode
	Query   queryKind
	Text    string // reply: why not, or the token; user-add: the name; query: the user
	Args    []string
	Data    []byte // run: bytecode; output: bytes; user-add: public key; reply: certificate
	Uses    uint64 // token: machines that may join with it
	TTL     uint64 // token: seconds it is valid
	Leader  uint64 // status reply: the metadata leader (0: unknown)
	Voters  []uint64
	Status  kernel.Status
	Procs   []ProcessEntry
	Nodes   []MachineStatus
	FileOp  FileOp // file: the operation
	Errno   uint64 // file reply: the filesystem's errno (sys.Errno) when it failed
}

// ProcessEntry is one process in a ps reply.
type ProcessEntry struct {
	PID, Parent uint64
	Home        netmodel.NodeID
	User        string
	Program     string
	Threads     uint64
	Done        bool
	Status      kernel.Status
}

// RaftStatus is a metadata replica's raft view.
type RaftStatus struct {
	State                         string // follower, candidate, leader, ...
	Term, Leader, Commit, Applied uint64
}

// MachineStatus is one machine in a status reply: what the contacted node's
// membership view says of it, and what the machine said of itself.
type MachineStatus struct {
	ID netmodel.NodeID
	// The contacted node's view (from the metadata store).
	State         string // alive, dead, left; "" when not in the view
	Incarnation   uint64
	Provide       Resources
	LeaseAgeTicks uint64 // ticks since its lease was last seen to move
	// The machine's own report; Reported is false if it did not answer.
	Reported            bool
	Address             string
	ReportedIncarnation uint64
	Joined, Voter       bool
	Cores, Threads      uint64
	Processes           uint64 // running processes homed there
	Raft                RaftStatus
	Failure             string
	MetaFailure         string
	ThreadsStarted      uint64
	ThreadsPlacedRemote uint64
	ProcessesStarted    uint64
	ProcessesLost       uint64
	MemoryBytes         uint64 // thread memory of processes on this machine
}

const clientMsgVersion = 1

// Bounds of decoded client messages (a frame bounds the total).
const (
	clientListMax   = 1 << 12
	clientArgsMax   = 1 << 12
	clientDataMax   = 16 << 20
	clientVotersMax = 16
	clientValueMax  = 1 << 20 // a kv value or a program argument
	errnoMax        = 4095    // Linux's largest errno
)

// appendBytesStr appends a string that may be longer than msgStringMax.
func appendBytesStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errClientMsg wraps every decoding error of a client-service message.
var errClientMsg = errors.New("node: malformed client message")

// AppendClientMsg appends m's service payload (the node header goes
// first, see AppendClientPayload).
func AppendClientMsg(dst []byte, m *ClientMsg) []byte {
	b := append(dst, clientMsgVersion, byte(m.Kind))
	for _, v := range []uint64{m.Seq, m.PID, m.Offset, b2u(m.Flag), uint64(m.Code), uint64(m.Query), m.Uses, m.TTL, m.Leader,
		uint64(m.Op), b2u(m.Swapped), m.NodeInc} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendStr(b, m.Text)
	b = appendStr(b, m.Key)
	b = appendBytesStr(b, m.Value)
	b = appendBytesStr(b, m.Expect)
	b = binary.AppendUvarint(b, uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = appendStr(b, k)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Args)))
	for _, a := range m.Args {
		b = appendBytesStr(b, a)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Data)))
	b = append(b, m.Data...)
	b = binary.AppendUvarint(b, uint64(len(m.Voters)))
	for _, v := range m.Voters {
		b = binary.AppendUvarint(b, v)
	}
	b = appendStatus(b, m.Status)
	b = binary.AppendUvarint(b, uint64(len(m.Procs)))
	for i := range m.Procs {
		b = appendProcessEntry(b, &m.Procs[i])
	}
	b = binary.AppendUvarint(b, uint64(len(m.Nodes)))
	for i := range m.Nodes {
		b = appendMachineStatus(b, &m.Nodes[i])
	}
	b = binary.AppendUvarint(b, uint64(m.FileOp))
	return binary.AppendUvarint(b, m.Errno)
}

// AppendClientPayload appends a whole client-service payload: the node
// header (service client, the sender's incarnation) and m.
func AppendClientPayload(dst []byte, incarnation uint64, m *ClientMsg) []byte {
	dst = AppendHeader(dst, Header{Service: ServiceClient, Incarnation: incarnation})
	return AppendClientMsg(dst, m)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func appendProcessEntry(b []byte, p *ProcessEntry) []byte {
	for _, v := range []uint64{p.PID, p.Parent, uint64(p.Home), p.Threads, b2u(p.Done)} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendStr(b, p.User)
	b = appendStr(b, p.Program)
	return appendStatus(b, p.Status)
}

func appendResources(b []byte, r Resources) []byte {
	for _, v := range []uint64{uint64(r.Cores), r.RAMBytes, r.DiskBytes, math.Float64bits(r.RAMPercent), math.Float64bits(r.DiskPercent)} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func appendMachineStatus(b []byte, s *MachineStatus) []byte {
	b = binary.AppendUvarint(b, uint64(s.ID))
	b = appendStr(b, s.State)
	b = binary.AppendUvarint(b, s.Incarnation)
	b = appendResources(b, s.Provide)
	for _, v := range []uint64{s.LeaseAgeTicks, b2u(s.Reported), s.ReportedIncarnation, b2u(s.Joined), b2u(s.Voter),
		s.Cores, s.Threads, s.Processes, s.Raft.Term, s.Raft.Leader, s.Raft.Commit, s.Raft.Applied,
		s.ThreadsStarted, s.ThreadsPlacedRemote, s.ProcessesStarted, s.ProcessesLost, s.MemoryBytes} {
		b = binary.AppendUvarint(b, v)
	}
	for _, str := range []string{s.Address, s.Raft.State, s.Failure, s.MetaFailure} {
		b = appendStr(b, str)
	}
	return b
}

// DecodeClientMsg parses a client-service payload (after the node
// header). Input is untrusted: garbage is an error, never a panic, and
// nothing decoded exceeds the payload's own length.
func DecodeClientMsg(b []byte) (*ClientMsg, error) {
	d := &msgDecoder{b: b}
	if v := d.byte1("version"); d.err == nil && v != clientMsgVersion {
		return nil, fmt.Errorf("%w: version %d", errClientMsg, v)
	}
	m := &ClientMsg{Kind: ClientKind(d.byte1("kind"))}
	if d.err == nil && (m.Kind == 0 || m.Kind >= numClientKinds) {
		return nil, fmt.Errorf("%w: kind %d", errClientMsg, m.Kind)
	}
	m.Seq, m.PID, m.Offset = d.uvarint("seq"), d.uvarint("pid"), d.uvarint("offset")
	m.Flag = d.flag("flag")
	if c := d.uvarint("code"); c >= uint64(numReplyCodes) {
		d.fail("code")
	} else {
		m.Code = ReplyCode(c)
	}
	if q := d.uvarint("query"); q >= uint64(numQueryKinds) {
		d.fail("query")
	} else {
		m.Query = queryKind(q)
	}
	m.Uses, m.TTL, m.Leader = d.uvarint("uses"), d.uvarint("ttl"), d.uvarint("leader")
	if op := d.uvarint("op"); op >= uint64(numKVOps) {
		d.fail("op")
	} else {
		m.Op = KVOp(op)
	}
	m.Swapped = d.flag("swapped")
	m.NodeInc = d.uvarint("node incarnation")
	m.Text = d.str("text")
	m.Key = d.str("key")
	m.Value = string(d.bytes(clientValueMax, "value"))
	m.Expect = string(d.bytes(clientValueMax, "expect"))
	n := d.count(clientListMax, "keys")
	for i := 0; i < n && d.err == nil; i++ {
		m.Keys = append(m.Keys, d.str("key"))
	}
	n = d.count(clientArgsMax, "args")
	for i := 0; i < n && d.err == nil; i++ {
		m.Args = append(m.Args, string(d.bytes(clientValueMax, "arg")))
	}
	m.Data = d.bytes(clientDataMax, "data")
	n = d.count(clientVotersMax, "voters")
	for i := 0; i < n && d.err == nil; i++ {
		m.Voters = append(m.Voters, d.uvarint("voter"))
	}
	m.Status = d.status()
	n = d.count(clientListMax, "processes")
	for i := 0; i < n && d.err == nil; i++ {
		m.Procs = append(m.Procs, d.processEntry())
	}
	n = d.count(clientListMax, "machines")
	for i := 0; i < n && d.err == nil; i++ {
		m.Nodes = append(m.Nodes, d.machineStatus())
	}
	if op := d.uvarint("file op"); op >= uint64(numFileOps) {
		d.fail("file op")
	} else {
		m.FileOp = FileOp(op)
	}
	if m.Errno = d.uvarint("errno"); m.Errno > errnoMax {
		d.fail("errno")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %s", errClientMsg, strings.TrimPrefix(d.err.Error(), errMsgDecode.Error()+": "))
	}
	return m, nil
}

// flag reads a boolean encoded as 0 or 1.
func (d *msgDecoder) flag(what string) bool {
	switch d.uvarint(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(what)
	return false
}

// count reads a list length no larger than max.
func (d *msgDecoder) count(max int, what string) int {
	n := d.uvarint(what)
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(what + ": count")
		return 0
	}
	return int(n)
}

func (d *msgDecoder) processEntry() ProcessEntry {
	p := ProcessEntry{PID: d.uvarint("pid"), Parent: d.uvarint("parent"), Home: netmodel.NodeID(d.uvarint("home")),
		Threads: d.uvarint("threads"), Done: d.flag("done")}
	p.User, p.Program = d.str("user"), d.str("program")
	p.Status = d.status()
	return p
}

func (d *msgDecoder) resources() Resources {
	cores := d.uvarint("cores")
	if cores > 1<<16 {
		d.fail("cores")
	}
	r := Resources{Cores: int(cores), RAMBytes: d.uvarint("ram"), DiskBytes: d.uvarint("disk")}
	r.RAMPercent = math.Float64frombits(d.uvarint("ram percent"))
	r.DiskPercent = math.Float64frombits(d.uvarint("disk percent"))
	for _, p := range []float64{r.RAMPercent, r.DiskPercent} {
		if math.IsNaN(p) || p < 0 || p > 100 {
			d.fail("percent")
		}
	}
	return r
}

func (d *msgDecoder) machineStatus() MachineStatus {
	s := MachineStatus{ID: netmodel.NodeID(d.uvarint("id")), State: d.str("state"), Incarnation: d.uvarint("incarnation")}
	s.Provide = d.resources()
	s.LeaseAgeTicks = d.uvarint("lease age")
	s.Reported = d.flag("reported")
	s.ReportedIncarnation = d.uvarint("reported incarnation")
	s.Joined, s.Voter = d.flag("joined"), d.flag("voter")
	s.Cores, s.Threads, s.Processes = d.uvarint("cores"), d.uvarint("threads"), d.uvarint("processes")
	s.Raft.Term, s.Raft.Leader, s.Raft.Commit, s.Raft.Applied = d.uvarint("term"), d.uvarint("leader"), d.uvarint("commit"), d.uvarint("applied")
	s.ThreadsStarted, s.ThreadsPlacedRemote = d.uvarint("threads started"), d.uvarint("threads placed remote")
	s.ProcessesStarted, s.ProcessesLost = d.uvarint("processes started"), d.uvarint("processes lost")
	s.MemoryBytes = d.uvarint("memory bytes")
	s.Address, s.Raft.State, s.Failure, s.MetaFailure = d.str("address"), d.str("raft state"), d.str("failure"), d.str("meta failure")
	return s
}
