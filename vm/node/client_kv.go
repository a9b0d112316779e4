package node

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/flockvm/flock/vm/raftkv"
)

// The users' key-value namespaces: each user has its own, in the metadata
// store under u/<user>/, linearizable like the store itself. It is what a
// program's operator keeps beside the VM (a job's configuration, a lock, a
// counter), and what the cluster tests check with porcupine.

const keyUserPrefix = "u/"

// Bounds of a user's key-value operation.
const (
	kvKeyBytesMax   = 512
	kvValueBytesMax = 60 << 10 // under the store's value limit
	kvListMax       = 1000
)

func userKey(user, key string) string { return keyUserPrefix + user + "/" + key }

// validKVKey reports why a user's key cannot be used, or "".
func validKVKey(key string, prefix bool) string {
	switch {
	case key == "" && !prefix:
		return "an empty key"
	case len(key) > kvKeyBytesMax:
		return fmt.Sprintf("a key of %d bytes (at most %d)", len(key), kvKeyBytesMax)
	case strings.ContainsFunc(key, unicode.IsControl):
		return "a key with a control character"
	}
	return ""
}

func (n *Node) clientKV(s *clientSession, m *ClientMsg) {
	seq := m.Seq
	bad := func(why string) { n.answer(s, seq, &ClientMsg{Code: CodeBadRequest, Text: why}) }
	if why := validKVKey(m.Key, m.Op == KVList); why != "" {
		bad(why)
		return
	}
	if len(m.Value) > kvValueBytesMax || len(m.Expect) > kvValueBytesMax {
		bad(fmt.Sprintf("a value of more than %d bytes", kvValueBytesMax))
		return
	}
	if !n.joined {
		n.answer(s, seq, n.notJoined())
		return
	}
	key := userKey(s.user, m.Key)
	var start func(c *raftkv.Client, done func(raftkv.Result)) error
	switch m.Op {
	case KVGet:
		start = func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Get(key, done) }
	case KVPut:
		start = func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, m.Value, done) }
	case KVDelete:
		start = func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Delete(key, done) }
	case KVCAS:
		start = func(c *raftkv.Client, done func(raftkv.Result)) error {
			return c.CAS(key, m.Expect, !m.Flag, m.Value, done)
		}
	case KVList:
		start = func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Scan(key, kvListMax, done) }
	default:
		bad(fmt.Sprintf("kv operation %v", m.Op))
		return
	}
	op, prefix := m.Op, userKey(s.user, "")
	n.pushClientMeta(s, seq, "client-kv", start, func(res raftkv.Result) {
		n.answer(s, seq, kvReply(op, prefix, res))
	})
}

// kvReply is the answer a store result gives, with whether an error means
// the operation had no effect (unavailable, refused) or may have had one
// (unknown).
func kvReply(op KVOp, prefix string, res raftkv.Result) *ClientMsg {
	switch {
	case res.Err == nil:
	case errors.Is(res.Err, raftkv.ErrUnknownOutcome):
		return &ClientMsg{Code: CodeUnknown, Text: fmt.Sprintf("kv %v: the store did not say whether it happened: %v", op, res.Err)}
	case errors.Is(res.Err, raftkv.ErrUnavailable), errors.Is(res.Err, errMetaQueueFull):
		return &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("kv %v: %v", op, res.Err)}
	default:
		return &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf("kv %v: %v", op, res.Err)}
	}
	rep := &ClientMsg{Flag: res.Found, Value: res.Value, Swapped: res.Swapped}
	if op == KVList {
		for _, kv := range res.Pairs {
			rep.Keys = append(rep.Keys, strings.TrimPrefix(kv.Key, prefix))
			rep.Args = append(rep.Args, kv.Value)
		}
		rep.Flag = res.More
	}
	return rep
}
