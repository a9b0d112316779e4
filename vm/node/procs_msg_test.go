package node

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/kernel"
	"github.com/flockvm/flock/vm/sys"
)

func sampleMsgs() []*procMsg {
	req := sys.ReqID{Machine: 3, Incarnation: 2, Core: 1, Seq: 99}
	return []*procMsg{
		{kind: msgPrepare, req: req, pid: 7, where: 3, parent: 2, user: "alice", args: []string{"a", ""}, data: []byte("prog")},
		{kind: msgCommit, req: req, pid: 7, span: []uint64{1, 3, 5}, spanInc: []uint64{1, 2, 9}},
		{kind: msgEnd, req: req, pid: 7, status: kernel.Status{Trap: &interp.TrapError{PID: 7, TID: 2, PC: 5, Op: isa.DIV, Kind: sys.TrapDivZero, Where: "x.flasm:3:1"}}},
		{kind: msgEnded, req: req, pid: 7, status: kernel.Status{Lost: &kernel.LostError{PID: 7, Machine: 4, Incarnation: 1, What: "thread 9"}}},
		{kind: msgReply, req: req, value: 42, hasTrap: true, trap: sys.TrapBadThread, data: []byte{1, 2}},
		{kind: msgEnd, req: req, pid: 7, status: kernel.Status{Trap: &interp.TrapError{PID: 7, PC: -1, Kind: sys.TrapDeadlock}}},
		{kind: msgFetchPages, req: req, pid: 7, value: 3, where: 2, span: []uint64{5, 6, 1 << 27}},
		{kind: msgReleasePin, req: req, pid: 7, value: 3, where: 2},
	}
}

func TestProcMsgRoundTrip(t *testing.T) {
	for _, m := range sampleMsgs() {
		b := encodeProcMsg(nil, m)
		got, err := decodeProcMsg(b)
		if err != nil {
			t.Fatalf("decodeProcMsg(encode(%v)) error = %v", m.kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("decodeProcMsg(encode(%+v)) = %+v", m, got)
		}
	}
}

func TestDecodeProcMsgRejectsTruncationAndTrailing(t *testing.T) {
	for _, m := range sampleMsgs() {
		b := encodeProcMsg(nil, m)
		for n := 0; n < len(b); n++ {
			if _, err := decodeProcMsg(b[:n]); err == nil {
				t.Fatalf("decodeProcMsg(%v truncated to %d of %d bytes) = nil error", m.kind, n, len(b))
			}
		}
		if _, err := decodeProcMsg(append(bytes.Clone(b), 0)); err == nil {
			t.Errorf("decodeProcMsg(%v with a trailing byte) = nil error", m.kind)
		}
	}
}

func FuzzDecodeProcMsg(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(encodeProcMsg(nil, m))
	}
	f.Add([]byte{procMsgVersion, byte(msgReply)})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeProcMsg(b)
		if err != nil {
			return
		}
		again, err := decodeProcMsg(encodeProcMsg(nil, m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("decodeProcMsg(%x) = %+v, which does not survive a round trip (%v)", b, m, err)
		}
	})
}
