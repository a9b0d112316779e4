package coherence

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

const fuzzPage = 512

// sampleMsgs is one message of every kind, with every field set.
func sampleMsgs() []msg {
	words := make(pageData, fuzzPage)
	binary.LittleEndian.PutUint64(words[24:], 0xdeadbeef)
	req := sys.ReqID{Machine: 2, Incarnation: 3, Core: 1, Seq: 99}
	return []msg{
		{kind: kGetS, pid: 1, vpn: 8, seq: 5},
		{kind: kGetM, pid: 1, vpn: 8, seq: 6, aux: 4},
		{kind: kData, pid: 1, vpn: 8, seq: 6, epoch: 7, flags: flagExclusive, hasPage: true, page: words},
		{kind: kData, pid: 1, vpn: 8, seq: 6, epoch: 7, hasPage: true},
		{kind: kData, pid: 1, vpn: 8, seq: 6, epoch: 7, flags: flagExclusive},
		{kind: kInv, pid: 1, vpn: 8, epoch: 9, seq: 2},
		{kind: kInvAck, pid: 1, vpn: 8, epoch: 9},
		{kind: kFwd, pid: 1, vpn: 8, epoch: 10, seq: 6, flags: flagExclusive, target: 3, targetInc: 1, targetSeq: 4},
		{kind: kXfer, pid: 1, vpn: 8, epoch: 10, aux: 7, flags: flagExclusive, hasPage: true, page: words},
		{kind: kXferAck, pid: 1, vpn: 8, aux: 7},
		{kind: kNotHeld, pid: 1, vpn: 8, epoch: 10},
		{kind: kDenied, pid: 1, vpn: 8, seq: 5, aux: denyLost, target: 3},
		{kind: kOp, seq: 11, pid: 1, op: opWrite, addr: gbit | 0x1000, a: 1, b: 2, req: req, hasBytes: true, bytes: []byte("abc")},
		{kind: kOp, seq: 12, pid: 1, op: opFAA, addr: gbit | 0x1008, a: 1, req: req},
		{kind: kOpReply, seq: 11, val: 5, trap: sys.TrapLost, target: 3},
		{kind: kOpReply, seq: 12, val: 5, hasBytes: true, bytes: []byte{1, 2}},
		{kind: kWake, pid: 1, seq: 13, target: 2},
		{kind: kWakeAck, seq: 13},
		{kind: kStale},
	}
}

func samplePayload(msgs ...msg) []byte {
	b := appendHeader(nil, 2, 1, 3, len(msgs))
	for i := range msgs {
		b = encodeMsg(b, &msgs[i])
	}
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	msgs := sampleMsgs()
	env, err := decodeEnvelope(samplePayload(msgs...), fuzzPage)
	if err != nil {
		t.Fatalf("decodeEnvelope(sample) error = %v", err)
	}
	if env.fromInc != 2 || env.toInc != 1 || env.ackBelow != 3 || len(env.msgs) != len(msgs) {
		t.Fatalf("decodeEnvelope header = %+v with %d messages, want 2, 1, 3 and %d", env, len(env.msgs), len(msgs))
	}
	for i := range msgs {
		if !reflect.DeepEqual(env.msgs[i], msgs[i]) {
			t.Errorf("message %d: decoded %+v, want %+v", i, env.msgs[i], msgs[i])
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := samplePayload(sampleMsgs()[0])
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, good[1:]...)},
		{"no messages", appendHeader(nil, 2, 1, 3, 0)},
		{"sender incarnation 0", append(appendHeader(nil, 0, 1, 3, 1), good[5:]...)},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"truncated", good[:len(good)-1]},
		{"unknown kind", append(appendHeader(nil, 2, 1, 3, 1), 200)},
		{"page of the wrong size", samplePayload(msg{kind: kData, hasPage: true, page: make(pageData, fuzzPage/2)})},
		{"xfer without data", samplePayload(msg{kind: kXfer})},
		{"bad flags", append(appendHeader(nil, 2, 1, 3, 1), byte(kData), 1, 1, 1, 1, 0x80)},
	}
	for _, tt := range tests {
		if _, err := decodeEnvelope(tt.payload, fuzzPage); err == nil {
			t.Errorf("decodeEnvelope(%s) = nil error, want an error", tt.name)
		}
	}
}

// FuzzDecodeEnvelope: garbage is rejected with an error, never a panic,
// and whatever decodes re-encodes to the same messages.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(samplePayload(m))
	}
	f.Add(samplePayload(sampleMsgs()...))
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := decodeEnvelope(data, fuzzPage)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(samplePayloadOf(env), fuzzPage)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if !reflect.DeepEqual(env, again) {
			t.Fatalf("decode(encode(decode(x))) = %+v, want %+v", again, env)
		}
	})
}

func samplePayloadOf(env envelope) []byte {
	b := appendHeader(nil, env.fromInc, env.toInc, env.ackBelow, len(env.msgs))
	for i := range env.msgs {
		b = encodeMsg(b, &env.msgs[i])
	}
	return b
}

// FuzzAgentReceive: an agent that is home of a process with memory in use
// takes any payload from a peer without panicking, and keeps serving its
// own threads afterwards.
func FuzzAgentReceive(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(samplePayload(m))
	}
	f.Add(samplePayload(sampleMsgs()...))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t, harnessOptions{n: 2, cfg: Config{PageBytes: fuzzPage}})
		x := h.alloc(1, 3*fuzzPage)
		h.store(2, x+fuzzPage, 7)
		h.settle()
		h.agents[1].Receive(netmodel.NodeID(2), data)
		h.agents[2].Receive(netmodel.NodeID(1), data)
		h.checkAll()
		// What the garbage provoked runs its course: no panic, and the
		// bookkeeping stays consistent (a malicious peer may still
		// wedge what it takes part in).
		h.load(1, x)
		h.load(2, x+2*fuzzPage)
		h.settleQuietly()
		h.checkAll()
	})
}
