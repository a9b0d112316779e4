package raftkv

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
)

// refModel is a reference implementation of the replicated state machine,
// written apart from stateMachine: replaying the agreed log through it must
// give the results every replica reported.
type refModel struct {
	lim      limits
	kv       map[string]string
	size     int64
	sessions map[uint64]*refSession
	conf     *refConf
}

type refSession struct {
	lastSeq, lastIndex uint64
	last               Result
}

func newRefModel(lim limits, voters []netmodel.NodeID) *refModel {
	return &refModel{lim: lim, kv: make(map[string]string), sessions: make(map[uint64]*refSession), conf: newRefConf(voters)}
}

func (m *refModel) apply(ev ApplyEvent) (ApplyKind, Result) {
	if ev.LeaveJoint {
		next, err := m.conf.leaveJoint(ev.Index)
		if err != nil {
			return ApplyRejected, Result{Members: m.conf.membership()}
		}
		m.conf = next
		return ApplyNoop, Result{Members: m.conf.membership()}
	}
	if ev.Op == 0 {
		return ApplyNoop, Result{}
	}
	kind, res := m.applyRequest(ev)
	if ev.Op == OpChangeMembers {
		res.Members = m.conf.membership()
	}
	return kind, res
}

func (m *refModel) applyRequest(ev ApplyEvent) (ApplyKind, Result) {
	res := Result{Session: ev.Session, Seq: ev.Seq, Index: ev.Index}
	if ev.Op == OpRegister {
		if len(m.sessions) >= m.lim.sessionsMax {
			oldest := uint64(0)
			for id, s := range m.sessions { // order-independent: the minimum is unique
				if oldest == 0 || s.lastIndex < m.sessions[oldest].lastIndex {
					oldest = id
				}
			}
			delete(m.sessions, oldest)
		}
		m.sessions[ev.Index] = &refSession{lastIndex: ev.Index}
		return ApplyExecuted, res
	}
	s := m.sessions[ev.Session]
	if s == nil {
		res.Err = ErrSessionExpired
		return ApplyRejected, res
	}
	s.lastIndex = ev.Index
	isWrite := ev.Op == OpPut || ev.Op == OpDelete || ev.Op == OpCAS || ev.Op == OpChangeMembers
	switch {
	case ev.Seq < s.lastSeq:
		res.Err = ErrStaleRequest
		return ApplyRejected, res
	case ev.Seq == s.lastSeq && isWrite:
		return ApplyDuplicate, s.last
	case ev.Seq == s.lastSeq:
		m.read(ev, &res)
		return ApplyDuplicate, res
	}
	s.lastSeq = ev.Seq
	if !isWrite {
		m.read(ev, &res)
		return ApplyExecuted, res
	}
	old, found := m.kv[ev.Key]
	res.Found = found
	kind := ApplyExecuted
	switch ev.Op {
	case OpPut:
		kind = m.set(ev.Key, ev.Value, &res)
	case OpDelete:
		if found {
			delete(m.kv, ev.Key)
			m.size -= int64(len(ev.Key) + len(old) + 16)
		}
	case OpCAS:
		if found == ev.ExpectedFound && (!found || old == ev.Expected) {
			kind = m.set(ev.Key, ev.Value, &res)
			res.Swapped = kind == ApplyExecuted
		}
	case OpChangeMembers:
		res.Found = false
		kind = m.applyChange(ev, &res)
	}
	s.last = res
	return kind, res
}

func (m *refModel) set(key, value string, res *Result) ApplyKind {
	size := m.size + int64(len(key)+len(value)+16)
	if old, ok := m.kv[key]; ok {
		size -= int64(len(key) + len(old) + 16)
	}
	if size > m.lim.stateSizeMax {
		res.Err = ErrStateFull
		return ApplyRejected
	}
	m.kv[key], m.size = value, size
	return ApplyExecuted
}

func (m *refModel) read(ev ApplyEvent, res *Result) {
	if ev.Op == OpMembers {
		res.Members = m.conf.membership()
		return
	}
	if ev.Op == OpGet {
		res.Value, res.Found = m.kv[ev.Key]
		return
	}
	keys := slices.Sorted(maps.Keys(m.kv))
	bytes := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, ev.Key) {
			continue
		}
		size := len(k) + len(m.kv[k])
		if len(res.Pairs) == ev.Limit || (len(res.Pairs) > 0 && bytes+size > m.lim.scanBytesMax) {
			res.More = true
			return
		}
		res.Pairs = append(res.Pairs, KV{Key: k, Value: m.kv[k]})
		bytes += size
	}
}

type requestID struct{ session, seq uint64 }

// check verifies a finished run: the agreed log replays through the model
// with the results replicas reported; no write applied twice; every
// acknowledged write is in the log; client results are the log's results,
// and a read served without a log entry got the model's answer at the
// index it read; operations that did not overlap are ordered by the log as
// in real time; every server holds the model's state; and the history of
// gets, puts, deletes and CASes is linearizable (porcupine, which trusts no
// index a server reported).
func (h *harness) check() {
	h.t.Helper()
	model := newRefModel(h.lim, h.peers)
	executed := make(map[requestID]uint64) // write -> index it took effect at
	last := uint64(0)
	for idx := range h.canon {
		last = max(last, idx)
	}
	states := h.readStates(last)
	for idx := uint64(2); idx <= last; idx++ {
		ev, ok := h.canon[idx]
		if !ok {
			h.t.Fatalf("no replica reported applying index %d (of %d)", idx, last)
		}
		if ev.Op.isWrite() && ev.Kind == ApplyExecuted {
			id := requestID{ev.Session, ev.Seq}
			if at, twice := executed[id]; twice {
				h.t.Fatalf("write s%d#%d applied twice: at %d and %d", ev.Session, ev.Seq, at, idx)
			}
			executed[id] = idx
		}
		kind, res := model.apply(ev)
		if kind != ev.Kind || ((ev.Op != 0 || ev.LeaveJoint) && !sameResult(res, ev.Result)) {
			h.t.Fatalf("index %d: replicas applied %s; the model says %v -> %s",
				idx, describeApply(ev), kind, describeResult(ev.Op, res))
		}
		if _, ok := states[idx]; ok {
			states[idx] = modelState{kv: maps.Clone(model.kv), conf: model.conf.membership()}
		}
	}
	h.checkSessionlessReads(states)
	h.checkClients(executed)
	h.checkServers(model, last)
	h.checkLinearizable()
}

// sessionless: a read served by ReadIndex, outside the log.
func (o *opRecord) sessionless() bool { return o.op.isRead() && o.res.Session == 0 }

// modelState is the model's state after an index.
type modelState struct {
	kv   map[string]string
	conf Membership
}

// readStates lists the indexes that reads without a log entry say they
// read; check fills in the model's state after each.
func (h *harness) readStates(last uint64) map[uint64]modelState {
	h.t.Helper()
	states := make(map[uint64]modelState)
	for _, o := range h.ops {
		if !o.done || o.res.Err != nil || !o.sessionless() {
			continue
		}
		if o.res.Index > last {
			h.t.Fatalf("%v: %s read at index %d, beyond the agreed log's last %d", o.client, o, o.res.Index, last)
		}
		// Indexes 0 and 1 (bootstrap): empty.
		states[o.res.Index] = modelState{kv: map[string]string{}, conf: newRefConf(h.peers).membership()}
	}
	return states
}

func (h *harness) checkSessionlessReads(states map[uint64]modelState) {
	h.t.Helper()
	for _, o := range h.ops {
		if !o.done || o.res.Err != nil || !o.sessionless() {
			continue
		}
		st := states[o.res.Index]
		m := &refModel{lim: h.lim, kv: st.kv}
		want := Result{Index: o.res.Index}
		if o.op == OpMembers {
			want.Members = st.conf
		} else {
			m.read(ApplyEvent{Op: o.op, Key: o.key, Limit: o.limit}, &want)
		}
		if !sameResult(want, o.res) {
			h.t.Fatalf("%v: %s got %s; the state at index %d says %s",
				o.client, o, describeResult(o.op, o.res), o.res.Index, describeResult(o.op, want))
		}
	}
}

func (h *harness) checkClients(executed map[requestID]uint64) {
	h.t.Helper()
	type placed struct {
		o      *opRecord
		index  uint64
		logged bool // an entry of the log; else a read of the state after index
	}
	var known []placed
	for _, o := range h.ops {
		if o.done && o.res.Err == nil && o.op.isWrite() {
			if _, ok := executed[requestID{o.res.Session, o.res.Seq}]; !ok {
				h.t.Fatalf("%v: acknowledged %s (s%d#%d) is not in the log: an acknowledged write was lost",
					o.client, o, o.res.Session, o.res.Seq)
			}
		}
	}
	for _, o := range h.ops {
		if !o.done || o.res.Err != nil && !errors.Is(o.res.Err, ErrStateFull) {
			continue
		}
		if o.sessionless() {
			known = append(known, placed{o: o, index: o.res.Index})
			continue
		}
		id := requestID{o.res.Session, o.res.Seq}
		index := o.res.Index
		if o.op.isWrite() && o.res.Err == nil {
			index = executed[id]
		}
		ev, ok := h.canon[index]
		if !ok || ev.Session != id.session || ev.Seq != id.seq {
			h.t.Fatalf("%v: %s answered from index %d, which holds s%d#%d, not s%d#%d",
				o.client, o, index, ev.Session, ev.Seq, id.session, id.seq)
		}
		if !sameResult(ev.Result, o.res) && !h.answeredByRetry(o) {
			h.t.Fatalf("%v: %s got %s, the log says %s", o.client, o, describeResult(o.op, o.res), describeResult(ev.Op, ev.Result))
		}
		known = append(known, placed{o: o, index: index, logged: true})
	}
	// a before b in real time needs a.index < b.index, or equal when b only
	// read the state after a's entry.
	for _, a := range known {
		for _, b := range known {
			if a.o.end < b.o.start && (a.index > b.index || a.index == b.index && b.logged) {
				h.t.Fatalf("%v %s (index %d) completed before %v %s (index %d) started, but the log orders it after",
					a.o.client, a.o, a.index, b.o.client, b.o, b.index)
			}
		}
	}
}

// checkLinearizable checks the gets, puts, deletes and CASes with
// porcupine (scans are left out: the checker has no model of them, and
// dropping reads keeps a linearizable history linearizable).
func (h *harness) checkLinearizable() {
	h.t.Helper()
	var hist checker.KVHistory
	for _, o := range h.ops {
		in := checker.KVInput{Key: o.key, Value: o.value}
		switch o.op {
		case OpGet:
			in.Kind = checker.KVGet
		case OpPut:
			in.Kind = checker.KVPut
		case OpDelete:
			in.Kind = checker.KVDelete
		case OpCAS:
			in.Kind, in.Expect, in.ExpectAbsent = checker.KVCAS, o.expected, !o.expectedFound
		default:
			continue
		}
		// Ends come before starts within a step: a later start is after.
		id := hist.Call(int(o.client), in, int64(2*o.start+1))
		switch {
		case !o.done || errors.Is(o.res.Err, ErrUnknownOutcome):
			hist.Unknown(id)
		case o.res.Err != nil:
			hist.Return(id, checker.KVOutput{Err: o.res.Err.Error()}, int64(2*o.end))
		default:
			hist.Return(id, checker.KVOutput{Found: o.res.Found, Value: o.res.Value, Swapped: o.res.Swapped}, int64(2*o.end))
		}
	}
	if res := checker.CheckKV(&hist, checker.Options{MaxSteps: 1_000_000}); !res.OK {
		h.t.Fatalf("linearizability (porcupine): %s (timed out: %v)", res.Violation, res.TimedOut)
	}
}

func (h *harness) checkServers(model *refModel, last uint64) {
	h.t.Helper()
	final := model.conf.membership()
	for _, id := range h.ids {
		s := h.servers[id]
		if s == nil || !final.IsMember(id) {
			continue // a removed server, or a spare never added, has stopped following
		}
		if s.sm.applied < last {
			h.t.Fatalf("%v applied up to %d, but index %d was applied before: committed entries were lost", id, s.sm.applied, last)
		}
		if s.sm.applied != last {
			continue
		}
		if !sameMembership(s.Status().Members, final) {
			h.t.Fatalf("%v holds configuration %v, the model %v", id, s.Status().Members, final)
		}
		got := make(map[string]string)
		s.sm.kv.Ascend(func(kv KV) bool {
			got[kv.Key] = kv.Value
			return true
		})
		if !maps.Equal(got, model.kv) {
			h.t.Fatalf("%v at index %d holds %v, the model %v", id, last, got, model.kv)
		}
		if len(s.sm.sessions) != len(model.sessions) {
			h.t.Fatalf("%v holds %d sessions, the model %d", id, len(s.sm.sessions), len(model.sessions))
		}
		for sid, ms := range model.sessions {
			if ss := s.sm.sessions[sid]; ss == nil || ss.lastSeq != ms.lastSeq || ss.lastIndex != ms.lastIndex {
				h.t.Fatalf("%v: session %d = %+v, the model %+v", id, sid, ss, ms)
			}
		}
	}
}

// settle heals the world (restarts every server, reconnects every link)
// and runs it until every client is idle and every server has applied the
// same committed log; it fails the test if that takes more than maxTicks.
func (h *harness) settle(maxTicks int) {
	h.t.Helper()
	clear(h.cut)
	for _, id := range h.ids {
		h.restart(id)
	}
	for i := 0; i < maxTicks; i++ {
		h.tick()
		h.deliverAll()
		if h.settled() {
			return
		}
	}
	var lines []string
	for _, id := range h.ids {
		lines = append(lines, h.statusLine(id), "    "+h.confLine(id))
	}
	busy := 0
	for _, c := range h.clients {
		if c.Busy() {
			busy++
		}
	}
	h.t.Fatalf("not settled after %d ticks (%d clients busy):\n%s", maxTicks, busy, strings.Join(lines, "\n"))
}

func (h *harness) settled() bool {
	for _, c := range h.clients {
		if c.Busy() {
			return false
		}
	}
	if h.leader() == 0 {
		return false
	}
	var applied uint64
	for i, id := range h.members() {
		st := h.servers[id].Status()
		if st.Applied != st.Commit || st.Applied != st.LastIndex || (i > 0 && st.Applied != applied) {
			return false
		}
		applied = st.Applied
	}
	return true
}

// answeredByRetry: a configuration change's answer names the configuration
// when the entry that answered it applied, which for a retry answered from
// the session table is the retry's entry, not the first one.
func (h *harness) answeredByRetry(o *opRecord) bool {
	if o.op != OpChangeMembers {
		return false
	}
	for _, ev := range h.canon {
		if ev.Kind == ApplyDuplicate && ev.Session == o.res.Session && ev.Seq == o.res.Seq && sameResult(ev.Result, o.res) {
			return true
		}
	}
	return false
}
