package raftkv

import (
	"fmt"
	"strings"

	"github.com/google/btree"
	pb "go.etcd.io/raft/v3/raftpb"
)

// KV is one key and its value.
type KV struct{ Key, Value string }

// ApplyKind says what applying an entry did.
type ApplyKind uint8

const (
	// ApplyNoop: the entry carries no request (a new leader's empty entry).
	ApplyNoop ApplyKind = iota
	// ApplyExecuted: the request took effect (a read was executed).
	ApplyExecuted
	// ApplyDuplicate: the session's last request again: answered from the
	// session table (a write) or by reading afresh (a read), never re-applied.
	ApplyDuplicate
	// ApplyRejected: not executed: expired session, stale sequence number,
	// malformed request, or a write to a full store.
	ApplyRejected
	// ApplySnapshot: the state was replaced by a snapshot up to Index; the
	// entries before it are not observed one by one.
	ApplySnapshot
)

var applyKindNames = [...]string{"noop", "executed", "duplicate", "rejected", "snapshot"}

func (k ApplyKind) String() string {
	if int(k) < len(applyKindNames) {
		return applyKindNames[k]
	}
	return fmt.Sprintf("apply-kind(%d)", uint8(k))
}

// cachedReply is what the session table keeps of a session's last write:
// enough to answer its retry exactly as the first time.
type cachedReply struct {
	status  status
	found   bool
	swapped bool
	index   uint64
}

type session struct {
	id        uint64 // the index of the entry that registered it
	lastSeq   uint64 // highest seq applied
	lastIndex uint64 // index of the last entry that touched it: LRU order
	last      cachedReply
}

// lruItem orders sessions by their last use; lastIndex values are unique
// because one entry touches one session.
type lruItem struct{ lastIndex, id uint64 }

func lruLess(a, b lruItem) bool { return a.lastIndex < b.lastIndex }

func kvLess(a, b KV) bool { return a.Key < b.Key }

const btreeDegree = 32

// pairOverheadBytes is what a pair costs beyond its key and value. It is
// counted against StateSizeMax so that the encoded snapshot (two varint
// lengths per pair) never outgrows the limit, whatever the key sizes.
const pairOverheadBytes = 16

func pairSize(key, value string) int64 { return int64(len(key) + len(value) + pairOverheadBytes) }

// stateMachine is the replicated state: the key-value map, the session
// table and the configuration. Every replica applies the same entries to
// it in the same order with the same limits, and must end in the same
// state.
type stateMachine struct {
	lim         limits
	kv          *btree.BTreeG[KV]
	sizeBytes   int64 // sum of pairSize over the pairs
	sessions    map[uint64]*session
	lru         *btree.BTreeG[lruItem]
	applied     uint64
	appliedTerm uint64
	// conf is the configuration as of applied (raft's ConfState, sorted;
	// never mutated, replaced), made by the entry at confIndex.
	conf      *pb.ConfState
	confIndex uint64
}

func newStateMachine(lim limits) *stateMachine {
	return &stateMachine{
		lim:      lim,
		kv:       btree.NewG(btreeDegree, kvLess),
		sessions: make(map[uint64]*session),
		lru:      btree.NewG(btreeDegree, lruLess),
		conf:     pb.EnsureConfState(nil),
	}
}

func (sm *stateMachine) membership() *Membership {
	m := membershipOf(sm.conf, sm.confIndex)
	return &m
}

// advance moves the applied index to index, which must be the next one.
func (sm *stateMachine) advance(index, term uint64) {
	if index != sm.applied+1 {
		panic(fmt.Sprintf("raftkv: applying index %d after %d: applied index must grow by one", index, sm.applied))
	}
	if term < sm.appliedTerm {
		panic(fmt.Sprintf("raftkv: entry %d has term %d below the previous entry's %d", index, term, sm.appliedTerm))
	}
	sm.applied, sm.appliedTerm = index, term
}

// applyNoop applies an entry that carries no request.
func (sm *stateMachine) applyNoop(index, term uint64) { sm.advance(index, term) }

// apply applies the request of entry index. bypassSessions is the
// apply-retry-twice bug: the session table no longer filters retries. The
// answer to a configuration change names the configuration it left (for a
// duplicate, the current one).
func (sm *stateMachine) apply(index, term uint64, r *request, bypassSessions bool) (ApplyKind, reply) {
	kind, rep := sm.applyRequest(index, term, r, bypassSessions)
	if r.op == OpChangeMembers {
		rep.members = sm.membership()
	}
	return kind, rep
}

func (sm *stateMachine) applyRequest(index, term uint64, r *request, bypassSessions bool) (ApplyKind, reply) {
	sm.advance(index, term)
	rep := reply{session: r.session, seq: r.seq, attempt: r.attempt, index: index}
	if err := validateRequest(r, sm.lim); err != nil {
		rep.status = statusInvalid
		return ApplyRejected, rep
	}
	if r.op == OpRegister {
		sm.register(index)
		return ApplyExecuted, rep
	}
	s := sm.sessions[r.session]
	if s == nil {
		rep.status = statusSessionExpired
		return ApplyRejected, rep
	}
	sm.touch(s, index)
	if !bypassSessions {
		if r.seq < s.lastSeq {
			rep.status = statusStale
			return ApplyRejected, rep
		}
		if r.seq == s.lastSeq {
			if !r.op.isWrite() {
				sm.read(r, &rep)
				return ApplyDuplicate, rep
			}
			rep.status, rep.found, rep.swapped, rep.index = s.last.status, s.last.found, s.last.swapped, s.last.index
			return ApplyDuplicate, rep
		}
	}
	s.lastSeq = max(s.lastSeq, r.seq)
	if !r.op.isWrite() {
		sm.read(r, &rep)
		return ApplyExecuted, rep
	}
	sm.write(r, &rep)
	s.last = cachedReply{status: rep.status, found: rep.found, swapped: rep.swapped, index: index}
	if rep.status != statusOK {
		return ApplyRejected, rep
	}
	return ApplyExecuted, rep
}

// register opens the session index, evicting the least recently used one
// if the table is full.
func (sm *stateMachine) register(index uint64) {
	if len(sm.sessions) >= sm.lim.sessionsMax {
		oldest, ok := sm.lru.DeleteMin()
		if !ok {
			panic(fmt.Sprintf("raftkv: session table holds %d sessions but its LRU is empty", len(sm.sessions)))
		}
		delete(sm.sessions, oldest.id)
	}
	s := &session{id: index, lastIndex: index}
	sm.sessions[index] = s
	sm.lru.ReplaceOrInsert(lruItem{lastIndex: index, id: index})
}

func (sm *stateMachine) touch(s *session, index uint64) {
	if _, ok := sm.lru.Delete(lruItem{lastIndex: s.lastIndex}); !ok {
		panic(fmt.Sprintf("raftkv: session %d (last used at %d) missing from the LRU", s.id, s.lastIndex))
	}
	s.lastIndex = index
	sm.lru.ReplaceOrInsert(lruItem{lastIndex: index, id: s.id})
}

func (sm *stateMachine) read(r *request, rep *reply) {
	switch r.op {
	case OpGet:
		item, ok := sm.kv.Get(KV{Key: r.key})
		rep.found, rep.value = ok, item.Value
	case OpScan:
		rep.pairs, rep.more = sm.scan(r.key, int(r.limit))
	case OpRanges:
		rs := r.ranges
		if rs == nil {
			var err error
			if rs, err = decodeRanges(r.value, sm.lim); err != nil {
				panic(fmt.Sprintf("raftkv: ranges passed validation, then: %v", err))
			}
		}
		sm.readRanges(rs, rep)
	case OpMembers:
		rep.members = sm.membership()
	default:
		panic(fmt.Sprintf("raftkv: read of a %v request", r.op))
	}
}

// scan returns up to limit pairs (and at most lim.scanBytesMax bytes) whose
// keys start with prefix, and whether more match.
func (sm *stateMachine) scan(prefix string, limit int) ([]KV, bool) {
	var pairs []KV
	bytes, more := 0, false
	sm.kv.AscendGreaterOrEqual(KV{Key: prefix}, func(item KV) bool {
		if !strings.HasPrefix(item.Key, prefix) {
			return false
		}
		size := len(item.Key) + len(item.Value)
		if len(pairs) == limit || (len(pairs) > 0 && bytes+size > sm.lim.scanBytesMax) {
			more = true
			return false
		}
		pairs = append(pairs, item)
		bytes += size
		return true
	})
	return pairs, more
}

func (sm *stateMachine) write(r *request, rep *reply) {
	old, found := sm.kv.Get(KV{Key: r.key})
	rep.found = found
	switch r.op {
	case OpPut:
		sm.set(r.key, r.value, old, found, rep)
	case OpDelete:
		if found {
			sm.kv.Delete(old)
			sm.sizeBytes -= pairSize(old.Key, old.Value)
		}
	case OpCAS:
		if found != r.expectedFound || (found && old.Value != r.expected) {
			return
		}
		if sm.set(r.key, r.value, old, found, rep) {
			rep.swapped = true
		}
	case OpTxn:
		t := r.txn
		if t == nil {
			d, err := decodeTxn(r.value, sm.lim)
			if err != nil {
				panic(fmt.Sprintf("raftkv: txn passed validation, then: %v", err))
			}
			t = &d
		}
		rep.found = false
		sm.applyTxn(t, rep)
	case OpChangeMembers:
		rep.found = false
		sm.changeMembers(rep.index, r, rep)
	default:
		panic(fmt.Sprintf("raftkv: write of a %v request", r.op))
	}
}

// set stores key=value unless the store would grow past its limit.
func (sm *stateMachine) set(key, value string, old KV, found bool, rep *reply) bool {
	size := sm.sizeBytes + pairSize(key, value)
	if found {
		size -= pairSize(old.Key, old.Value)
	}
	if size > sm.lim.stateSizeMax {
		rep.status = statusStateFull
		return false
	}
	sm.kv.ReplaceOrInsert(KV{Key: key, Value: value})
	sm.sizeBytes = size
	return true
}

// validateRequest checks a request against the limits. It runs where a
// request enters (server, client) and again at apply, where every replica
// reaches the same verdict.
func validateRequest(r *request, lim limits) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v: %s", ErrInvalid, r.op, fmt.Sprintf(format, args...))
	}
	switch {
	case len(r.key) > lim.keySizeMax:
		return bad("key of %d bytes exceeds %d", len(r.key), lim.keySizeMax)
	case len(r.value) > lim.valueSizeMax || len(r.expected) > lim.valueSizeMax:
		return bad("value of %d or expected value of %d bytes exceeds %d", len(r.value), len(r.expected), lim.valueSizeMax)
	}
	needsKey := r.op == OpGet || r.op == OpPut || r.op == OpDelete || r.op == OpCAS
	carriesValue := r.op == OpPut || r.op == OpCAS || r.op == OpTxn || r.op == OpRanges || r.op == OpChangeMembers
	keyless := r.op == OpRegister || r.op == OpTxn || r.op == OpRanges || r.op == OpChangeMembers || r.op == OpMembers
	switch {
	case needsKey && r.key == "":
		return bad("empty key")
	case keyless && r.key != "":
		return bad("unexpected key")
	case !carriesValue && r.value != "":
		return bad("unexpected value")
	case r.op != OpCAS && (r.expected != "" || r.expectedFound):
		return bad("unexpected expected value")
	case r.op == OpCAS && !r.expectedFound && r.expected != "":
		return bad("expected value for an absent key")
	case r.op == OpScan && (r.limit == 0 || r.limit > uint64(lim.scanLimitMax)):
		return bad("limit %d outside [1, %d]", r.limit, lim.scanLimitMax)
	case r.op != OpScan && r.limit != 0:
		return bad("unexpected limit")
	case r.op != OpRegister && r.session == 0 && !r.op.isRead():
		return bad("no session")
	case r.op == OpTxn:
		t, err := decodeTxn(r.value, lim)
		if err != nil {
			return bad("%v", err)
		}
		r.txn = &t
	case r.op == OpRanges:
		rs, err := decodeRanges(r.value, lim)
		if err != nil {
			return bad("%v", err)
		}
		r.ranges = rs
	case r.op == OpChangeMembers:
		if _, err := decodeMemberChanges(r.value); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// changeMembers applies a configuration change at index: the next
// configuration by raft's rules, unless the change was made against
// another configuration or raft would refuse it. The server then hands
// the change to raft (Server.applyConf).
func (sm *stateMachine) changeMembers(index uint64, r *request, rep *reply) {
	mc, err := decodeMemberChanges(r.value)
	if err != nil {
		panic(fmt.Sprintf("raftkv: member changes passed validation, then: %v", err))
	}
	if mc.ifIndex != 0 && mc.ifIndex != sm.confIndex {
		rep.status = statusMembersChanged
		return
	}
	next, err := nextConfState(sm.conf, confChangeOf(mc, r))
	if err != nil {
		rep.status = statusConfRefused
		return
	}
	sm.conf, sm.confIndex = next, index
}

// leaveJoint applies raft's own entry that leaves a joint configuration
// (empty, no request). It reports whether the configuration changed: an
// entry that finds no joint configuration to leave (raft proposes one
// only when it holds one) changes nothing.
func (sm *stateMachine) leaveJoint(index, term uint64) bool {
	sm.advance(index, term)
	next, err := nextConfState(sm.conf, &pb.ConfChangeV2{})
	if err != nil {
		return false
	}
	sm.conf, sm.confIndex = next, index
	return true
}
