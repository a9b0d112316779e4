package raftkv

import "testing"

func TestIsReply(t *testing.T) {
	reply := encodeReplyEnvelope(&reply{})
	if !IsReply(reply) {
		t.Errorf("IsReply(an encoded reply) = false")
	}
	for _, b := range [][]byte{nil, {wireVersion}, {wireVersion, kindRaft}, {wireVersion + 1, kindReply}} {
		if IsReply(b) {
			t.Errorf("IsReply(%v) = true", b)
		}
	}
}
