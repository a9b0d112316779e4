package raftkv

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestInteraction runs the scripts in testdata/interaction (etcd raft's
// style). Regenerate the expected output with
//
//	go test ./vm/raftkv -run TestInteraction -rewrite
//
// and read the diff. Commands:
//
//	start n=3 [spares=N] [seed=1] [snapshot=N] [sessions=N] [lose=P] [bug=name]
//	                              spares: servers n+1.. opened as new members (no Peers)
//	tick [n=1] [deliver=true]     tick every node n times, delivering after each
//	deliver [n=N] [verbose]       deliver the first N queued messages, or all until quiet
//	stall n=N                     tick n times delivering nothing
//	put|get|delete client=C key=K [value=V]
//	readfrom client=C id=A        client C sends reads to server A first (0: none)
//	cas client=C key=K [expected=V | absent] value=V
//	scan client=C [prefix=P] limit=N
//	change client=C steps=(l4,v4,r2) [if=I]   ChangeMembers: l add learner, v add voter, r remove
//	members client=C              read the configuration
//	conf                          every server's applied configuration (and a leader's progress)
//	stats id=A                    some of A's counters
//	cut from=A to=B | connect from=A to=B | isolate id=A | heal
//	hold from=A to=B type=MsgApp  keep such raft messages queued (deliver skips them)
//	release                       stop holding messages
//	dropqueue [to=A]              lose every queued message (to A)
//	crash id=A | restart id=A
//	campaign id=A                 make A campaign now
//	status | kv id=A | log from=I to=J | check
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = startFromScript(t, d)
				return ""
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.t = t
			var out strings.Builder
			h.out = &out
			runCommand(t, h, d)
			h.out = nil
			return out.String()
		})
	})
}

func startFromScript(t *testing.T, d *datadriven.TestData) *harness {
	o := harnessOptions{n: 3, seed: 1}
	d.MaybeScanArgs(t, "n", &o.n)
	d.MaybeScanArgs(t, "spares", &o.spares)
	d.MaybeScanArgs(t, "seed", &o.seed)
	d.MaybeScanArgs(t, "snapshot", &o.snapshotEntries)
	d.MaybeScanArgs(t, "sessions", &o.sessionsMax)
	d.MaybeScanArgs(t, "lose", &o.faults.LoseUnsyncedProb)
	if o.faults.LoseUnsyncedProb > 0 {
		o.faults.TornWrites = true
	}
	var bug string
	if d.MaybeScanArgs(t, "bug", &bug) {
		b, err := ParseBug(bug)
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		o.bugs = b
	}
	return newHarness(t, o)
}

func nodeArg(t *testing.T, d *datadriven.TestData, key string) netmodel.NodeID {
	var id uint64
	d.ScanArgs(t, key, &id)
	return netmodel.NodeID(id)
}

func runCommand(t *testing.T, h *harness, d *datadriven.TestData) {
	switch d.Cmd {
	case "tick":
		n, deliver := 1, true
		d.MaybeScanArgs(t, "n", &n)
		d.MaybeScanArgs(t, "deliver", &deliver)
		for i := 0; i < n; i++ {
			h.tick()
			if deliver {
				h.deliverAll()
			}
		}
	case "stall":
		n := 1
		d.MaybeScanArgs(t, "n", &n)
		for i := 0; i < n; i++ {
			h.tick()
		}
	case "deliver":
		h.verbose = d.HasArg("verbose")
		if d.HasArg("n") {
			var n int
			d.ScanArgs(t, "n", &n)
			for ; n > 0 && h.nextDeliverable() >= 0; n-- {
				h.deliverAt(h.nextDeliverable())
			}
		} else {
			h.deliverAll()
		}
		h.verbose = false
	case "put", "get", "delete", "cas", "scan", "change", "members":
		startScriptOp(t, h, d)
	case "conf":
		for _, id := range h.ids {
			h.logf("%s", h.confLine(id))
		}
	case "stats":
		id := nodeArg(t, d, "id")
		if s := h.servers[id]; s != nil {
			st := s.Stats()
			h.logf("%v: from-non-members=%d campaigns=%d conf-changes=%d conf-pending=%d snapshots-installed=%d",
				id, st.FromNonMembers, st.Campaigns, st.ConfChanges, st.ConfChangesPending, st.SnapshotsInstalled)
		}
	case "readfrom":
		var c int
		d.ScanArgs(t, "client", &c)
		h.setReadFrom(c, nodeArg(t, d, "id"))
	case "cut":
		h.setCut(nodeArg(t, d, "from"), nodeArg(t, d, "to"), true)
	case "connect":
		h.setCut(nodeArg(t, d, "from"), nodeArg(t, d, "to"), false)
	case "hold":
		var typ string
		d.ScanArgs(t, "type", &typ)
		v, ok := pb.MessageType_value[typ]
		if !ok {
			t.Fatalf("%s: unknown raft message type %q", d.Pos, typ)
		}
		h.held[heldKind{link{nodeArg(t, d, "from"), nodeArg(t, d, "to")}, pb.MessageType(v)}] = true
	case "release":
		clear(h.held)
	case "isolate":
		h.isolate(nodeArg(t, d, "id"), true)
	case "heal":
		clear(h.cut)
	case "dropqueue":
		to := netmodel.NodeID(0)
		if d.HasArg("to") {
			to = nodeArg(t, d, "to")
		}
		kept := h.queue[:0]
		for _, m := range h.queue {
			if to != 0 && m.to != to {
				kept = append(kept, m)
			}
		}
		h.logf("dropped %d messages", len(h.queue)-len(kept))
		h.queue = kept
	case "crash":
		h.crash(nodeArg(t, d, "id"))
	case "restart":
		h.restart(nodeArg(t, d, "id"))
	case "campaign":
		s := h.servers[nodeArg(t, d, "id")]
		if err := s.rn.Campaign(); err != nil {
			t.Fatalf("%s: campaign: %v", d.Pos, err)
		}
		s.process()
	case "status":
		for _, id := range h.ids {
			h.logf("%s", h.statusLine(id))
		}
	case "kv":
		printKV(h, nodeArg(t, d, "id"))
	case "log":
		var from, to uint64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		for i := from; i <= to; i++ {
			if ev, ok := h.canon[i]; ok {
				h.logf("%d: %s", i, describeApply(ev))
			}
		}
	case "check":
		if v := h.checkViolation(); v != "" {
			h.logf("violation: %s", v)
		} else {
			h.logf("ok")
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

func startScriptOp(t *testing.T, h *harness, d *datadriven.TestData) {
	var c int
	d.ScanArgs(t, "client", &c)
	o := &opRecord{}
	switch d.Cmd {
	case "put":
		o.op = OpPut
		d.ScanArgs(t, "value", &o.value)
	case "get":
		o.op = OpGet
	case "delete":
		o.op = OpDelete
	case "cas":
		o.op = OpCAS
		d.ScanArgs(t, "value", &o.value)
		o.expectedFound = d.MaybeScanArgs(t, "expected", &o.expected)
	case "scan":
		o.op = OpScan
		d.MaybeScanArgs(t, "prefix", &o.key)
		d.ScanArgs(t, "limit", &o.limit)
	case "change":
		o.op = OpChangeMembers
		o.changes = scanChanges(t, d)
		d.MaybeScanArgs(t, "if", &o.ifIndex)
	case "members":
		o.op = OpMembers
	}
	if o.op != OpScan && o.op != OpChangeMembers && o.op != OpMembers {
		d.ScanArgs(t, "key", &o.key)
	}
	if !h.startOp(c, o) {
		h.logf("%v busy", netmodel.NodeID(clientBase+c))
	}
}

// scanChanges reads steps=(l4,v4,r2): add learner 4, add voter 4, remove 2.
func scanChanges(t *testing.T, d *datadriven.TestData) []MemberChange {
	kinds := map[byte]MemberChangeKind{'l': MemberAddLearner, 'v': MemberAddVoter, 'r': MemberRemove}
	var out []MemberChange
	for _, arg := range d.CmdArgs {
		if arg.Key != "steps" {
			continue
		}
		for _, v := range arg.Vals {
			var id uint64
			kind, ok := kinds[v[0]]
			if _, err := fmt.Sscan(v[1:], &id); err != nil || !ok {
				t.Fatalf("%s: step %q: want l<id>, v<id> or r<id>", d.Pos, v)
			}
			out = append(out, MemberChange{Kind: kind, ID: netmodel.NodeID(id)})
		}
	}
	return out
}

func (h *harness) confLine(id netmodel.NodeID) string {
	s := h.servers[id]
	if s == nil {
		return fmt.Sprintf("%v: down", id)
	}
	st := s.Status()
	line := fmt.Sprintf("%v: %v", id, st.Members)
	for _, p := range st.Progress {
		kind := "voter"
		if p.Learner {
			kind = "learner"
		}
		line += fmt.Sprintf(" %v:%s@%d", p.ID, kind, p.Match)
	}
	return line
}

func printKV(h *harness, id netmodel.NodeID) {
	s := h.servers[id]
	if s == nil {
		h.logf("%v: down", id)
		return
	}
	var pairs []string
	s.sm.kv.Ascend(func(kv KV) bool {
		pairs = append(pairs, kv.Key+"="+kv.Value)
		return true
	})
	var sessions []string
	for _, sid := range slices.Sorted(maps.Keys(s.sm.sessions)) {
		sessions = append(sessions, fmt.Sprintf("%d:seq=%d", sid, s.sm.sessions[sid].lastSeq))
	}
	h.logf("%v applied=%d kv=[%s] sessions=[%s]", id, s.sm.applied, strings.Join(pairs, " "), strings.Join(sessions, " "))
}

// violation is what a recordingFataler panics with.
type violation string

// recordingFataler turns a failed check into a value, so scripts and bug
// tests can show what a check found.
type recordingFataler struct{}

func (recordingFataler) Helper() {}
func (recordingFataler) Fatalf(format string, args ...any) {
	panic(violation(fmt.Sprintf(format, args...)))
}

// checkViolation runs check and returns what it found, "" if nothing.
func (h *harness) checkViolation() (found string) {
	saved := h.t
	h.t = recordingFataler{}
	defer func() {
		h.t = saved
		if r := recover(); r != nil {
			v, ok := r.(violation)
			if !ok {
				panic(r)
			}
			found = string(v)
		}
	}()
	h.check()
	return ""
}
