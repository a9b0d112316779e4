package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

// msgKind is the kind of a process-service message (docs/node.md, "The
// vproc switch"). Requests carry the id of the request; every reply carries
// the id of the request it answers.
type msgKind uint8

const (
	msgPrepare     msgKind = iota + 1 // home → span: install a process (program, args, user)
	msgCommit                         // home → span: the span is final; the process may run
	msgRegister                       // spawner → home: thread tid runs at where
	msgStartThread                    // spawner → target: run this thread image
	msgJoin                           // → home: wait for thread tid
	msgExited                         // → home: thread tid ended with value
	msgEnd                            // → home: end the process with status (EXIT, trap, loss)
	msgEnded                          // home → span: the process ended; drop its threads
	msgOutput                         // → home: append data to the process's output
	msgWait                           // → home: wait for processes
	msgStartChild                     // → parent's home: PSTART path args
	msgReply                          // the answer to any request
	msgMigrate                        // → target: run this thread image, which moved from the sender
	msgMoved                          // → home: thread tid now runs at where
	msgFetchPages                     // holder → source: pages span of pinned snapshot value (pinned by incarnation where)
	msgReleasePin                     // holder → source: snapshot value (incarnation where) is no longer needed
	numMsgKinds
)

var msgKindNames = [numMsgKinds]string{"", "prepare", "commit", "register", "start-thread", "join", "exited",
	"end", "ended", "output", "wait", "start-child", "reply", "migrate", "moved", "fetch-pages", "release-pin"}

func (k msgKind) String() string {
	if k > 0 && k < numMsgKinds {
		return msgKindNames[k]
	}
	return fmt.Sprintf("msgKind(%d)", uint8(k))
}

// procMsg is every field any process-service message may carry; each kind
// uses some of them (unused ones are zero and cost a byte or two).
type procMsg struct {
	kind msgKind
	req  sys.ReqID
	// low: every request of req's origin (machine, incarnation, core) with
	// a lower sequence number has been answered and will not be sent
	// again; a receiver forgets their answers and drops them as stale.
	low     uint64
	pid     uint64
	tid     uint64
	where   uint64 // register: the machine the thread runs on; prepare: the home
	parent  uint64 // prepare: the parent process
	value   uint64 // exited: the value; reply: Val
	errno   uint64 // reply: a definite failure (replyEnded, replyLimit, ...)
	status  kernel.Status
	user    string
	path    string
	args    []string
	span    []uint64
	spanInc []uint64 // commit: the incarnation of each span member
	data    []byte   // start-thread: the image; prepare: the program; output: bytes; reply: Data
	hasTrap bool     // reply: Trap is set
	trap    sys.Trap
}

// Reply failure codes (procMsg.errno on a msgReply).
const (
	replyOK       = 0
	replyEnded    = 1 // the process has ended or is ending: the asking thread goes with it
	replyLimit    = 2 // a limit refused it (threads, memory, waiters)
	replyBadImage = 3 // the thread image or the program did not decode
	replyNotHere  = 4 // the process is not installed here: this incarnation is not the one of its span
	replyNoPin    = 5 // fetch-pages: no such snapshot is pinned here (released, or another incarnation's)
)

const procMsgVersion = 1

// Bounds on decoded messages: whatever a peer sends, a node allocates at
// most about one frame.
const (
	msgStringMax = 1 << 12
	msgListMax   = 1 << 12
	msgDataMax   = 16 << 20
)

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStatus(b []byte, st kernel.Status) []byte {
	b = binary.AppendUvarint(b, st.Code)
	switch {
	case st.Trap != nil:
		t := st.Trap
		b = append(b, 1)
		for _, v := range []uint64{t.PID, t.TID, uint64(int64(t.PC)), uint64(t.Op), uint64(t.Kind)} {
			b = binary.AppendUvarint(b, v)
		}
		b = appendStr(b, t.Detail)
		b = appendStr(b, t.Where)
	case st.Lost != nil:
		l := st.Lost
		b = append(b, 2)
		for _, v := range []uint64{l.PID, l.Machine, l.Incarnation} {
			b = binary.AppendUvarint(b, v)
		}
		b = appendStr(b, l.What)
	default:
		b = append(b, 0)
	}
	return b
}

// encodeProcMsg is the service payload of m (the node header comes first).
func encodeProcMsg(dst []byte, m *procMsg) []byte {
	b := append(dst, procMsgVersion, byte(m.kind))
	for _, v := range []uint64{m.req.Machine, uint64(m.req.Incarnation), uint64(m.req.Core), m.req.Seq, m.low,
		m.pid, m.tid, m.where, m.parent, m.value, m.errno} {
		b = binary.AppendUvarint(b, v)
	}
	b = appendStatus(b, m.status)
	b = appendStr(b, m.user)
	b = appendStr(b, m.path)
	b = binary.AppendUvarint(b, uint64(len(m.args)))
	for _, a := range m.args {
		b = appendStr(b, a)
	}
	b = binary.AppendUvarint(b, uint64(len(m.span)))
	for _, s := range m.span {
		b = binary.AppendUvarint(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.spanInc)))
	for _, s := range m.spanInc {
		b = binary.AppendUvarint(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.data)))
	b = append(b, m.data...)
	if m.hasTrap {
		return append(b, 1, byte(m.trap))
	}
	return append(b, 0)
}

var errMsgDecode = errors.New("node: malformed process message")

type msgDecoder struct {
	b   []byte
	err error
}

func (d *msgDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errMsgDecode, what)
	}
}

func (d *msgDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *msgDecoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *msgDecoder) bytes(max uint64, what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > max || n > uint64(len(d.b)) {
		d.fail(what + ": length")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *msgDecoder) str(what string) string { return string(d.bytes(msgStringMax, what)) }

func (d *msgDecoder) u32(what string) uint32 {
	v := d.uvarint(what)
	if v > 1<<32-1 {
		d.fail(what + ": range")
	}
	return uint32(v)
}

func (d *msgDecoder) status() kernel.Status {
	st := kernel.Status{Code: d.uvarint("status code")}
	switch d.byte1("status kind") {
	case 0:
	case 1:
		t := &interp.TrapError{PID: d.uvarint("trap pid"), TID: d.uvarint("trap tid")}
		t.PC = int(int64(d.uvarint("trap pc")))
		op, kind := d.uvarint("trap op"), d.uvarint("trap kind")
		if op > uint64(isa.NumOps) || kind >= uint64(sys.NumTraps) {
			d.fail("trap fields")
		}
		t.Op, t.Kind = isa.Op(op), sys.Trap(kind)
		t.Detail, t.Where = d.str("trap detail"), d.str("trap where")
		st.Trap = t
	case 2:
		l := &kernel.LostError{PID: d.uvarint("lost pid"), Machine: d.uvarint("lost machine"), Incarnation: d.uvarint("lost incarnation")}
		l.What = d.str("lost what")
		st.Lost = l
	default:
		d.fail("status kind")
	}
	return st
}

// decodeProcMsg parses a process-service payload. Input is untrusted: any
// garbage is an error, never a panic, and nothing decoded exceeds the
// message's own length.
func decodeProcMsg(b []byte) (*procMsg, error) {
	d := &msgDecoder{b: b}
	if v := d.byte1("version"); d.err == nil && v != procMsgVersion {
		return nil, fmt.Errorf("%w: version %d", errMsgDecode, v)
	}
	m := &procMsg{kind: msgKind(d.byte1("kind"))}
	if d.err == nil && (m.kind == 0 || m.kind >= numMsgKinds) {
		return nil, fmt.Errorf("%w: kind %d", errMsgDecode, m.kind)
	}
	m.req.Machine = d.uvarint("req machine")
	m.req.Incarnation = d.u32("req incarnation")
	m.req.Core = d.u32("req core")
	m.req.Seq = d.uvarint("req seq")
	m.low = d.uvarint("low")
	m.pid, m.tid, m.where = d.uvarint("pid"), d.uvarint("tid"), d.uvarint("where")
	m.parent, m.value, m.errno = d.uvarint("parent"), d.uvarint("value"), d.uvarint("errno")
	m.status = d.status()
	m.user, m.path = d.str("user"), d.str("path")
	if n := d.uvarint("args"); n > msgListMax {
		d.fail("args: count")
	} else {
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.args = append(m.args, d.str("arg"))
		}
	}
	if n := d.uvarint("span"); n > msgListMax {
		d.fail("span: count")
	} else {
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.span = append(m.span, d.uvarint("span member"))
		}
	}
	if n := d.uvarint("span incarnations"); n > msgListMax {
		d.fail("span incarnations: count")
	} else {
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.spanInc = append(m.spanInc, d.uvarint("span incarnation"))
		}
	}
	m.data = d.bytes(msgDataMax, "data")
	switch d.byte1("trap flag") {
	case 0:
	case 1:
		m.hasTrap = true
		if m.trap = sys.Trap(d.byte1("trap")); m.trap >= sys.NumTraps {
			d.fail("trap")
		}
	default:
		d.fail("trap flag")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}
