package raftkv

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
)

// TestTxnInteraction runs the scripts in testdata/txn: the commands of
// TestInteraction, plus
//
//	txn client=C          one compare or write per input line:
//	                      if equal|absent|present|no-prefix K [V]
//	                      then|else put|delete|delete-prefix|max K [V]
//	ranges client=C       one range per input line: START END LIMIT ("-": empty)
//	retry client=C        RetryUnknown
//	txnlog from=I to=J    the agreed log, transactions decoded
//	txncheck              replay the agreed log through the map model: every
//	                      result and every live server's state must match, and
//	                      no request may execute twice
//
// Regenerate with go test ./vm/raftkv -run TestTxnInteraction -rewrite.
func TestTxnInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/txn", func(t *testing.T, path string) {
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
			runTxnCommand(t, h, d)
			h.out = nil
			return out.String()
		})
	})
}

func runTxnCommand(t *testing.T, h *harness, d *datadriven.TestData) {
	var c int
	switch d.Cmd {
	case "txn":
		d.ScanArgs(t, "client", &c)
		txn := parseScriptTxn(t, d)
		startScript(t, h, c, describeTxn(txn), func(cl *Client, done func(Result)) error { return cl.Txn(txn, done) })
	case "ranges":
		d.ScanArgs(t, "client", &c)
		rs := parseScriptRanges(t, d)
		startScript(t, h, c, fmt.Sprintf("ranges %v", rs), func(cl *Client, done func(Result)) error { return cl.Ranges(rs, done) })
	case "retry":
		d.ScanArgs(t, "client", &c)
		startScript(t, h, c, "retry", func(cl *Client, done func(Result)) error { return cl.RetryUnknown(done) })
	case "txnlog":
		var from, to uint64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		for i := from; i <= to; i++ {
			if ev, ok := h.canon[i]; ok {
				h.logf("%d: %s", i, describeTxnApply(ev))
			}
		}
	case "txncheck":
		if v := h.txnViolation(); v != "" {
			h.logf("violation: %s", v)
		} else {
			h.logf("ok")
		}
	default:
		runCommand(t, h, d)
	}
}

func startScript(t *testing.T, h *harness, c int, what string, start func(*Client, func(Result)) error) {
	cl := h.client(c)
	id := netmodel.NodeID(clientBase + c)
	err := start(cl, func(r Result) {
		h.logf("%v: %s -> %s", id, what, describeTxnResult(r))
	})
	if err != nil {
		h.logf("%v: %s: %v", id, what, err)
	}
}

func parseScriptTxn(t *testing.T, d *datadriven.TestData) Txn {
	var txn Txn
	compares := map[string]CompareKind{"equal": CompareEqual, "absent": CompareAbsent, "present": ComparePresent, "no-prefix": CompareNoPrefix}
	writes := map[string]TxnOpKind{"put": TxnPut, "delete": TxnDelete, "delete-prefix": TxnDeletePrefix, "max": TxnMax}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("%s: txn line %q: want: if|then|else KIND KEY [VALUE]", d.Pos, line)
		}
		value := ""
		if len(f) > 3 {
			value = f[3]
		}
		switch f[0] {
		case "if":
			txn.If = append(txn.If, Compare{Kind: compares[f[1]], Key: f[2], Value: value})
		case "then":
			txn.Then = append(txn.Then, TxnOp{Kind: writes[f[1]], Key: f[2], Value: value})
		case "else":
			txn.Else = append(txn.Else, TxnOp{Kind: writes[f[1]], Key: f[2], Value: value})
		default:
			t.Fatalf("%s: txn line %q", d.Pos, line)
		}
	}
	return txn
}

func parseScriptRanges(t *testing.T, d *datadriven.TestData) []Range {
	var rs []Range
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		var r Range
		if _, err := fmt.Sscanf(line, "%s %s %d", &r.Start, &r.End, &r.Limit); err != nil {
			t.Fatalf("%s: ranges line %q: %v", d.Pos, line, err)
		}
		if r.Start == "-" {
			r.Start = ""
		}
		if r.End == "-" {
			r.End = ""
		}
		rs = append(rs, r)
	}
	return rs
}

func describeTxn(t Txn) string {
	var parts []string
	for _, c := range t.If {
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("%v %s %s", c.Kind, c.Key, c.Value)))
	}
	s := "txn if [" + strings.Join(parts, ", ") + "]"
	for _, branch := range []struct {
		name string
		ops  []TxnOp
	}{{"then", t.Then}, {"else", t.Else}} {
		parts = parts[:0]
		for _, op := range branch.ops {
			parts = append(parts, strings.TrimSpace(fmt.Sprintf("%v %s %s", op.Kind, op.Key, op.Value)))
		}
		s += " " + branch.name + " [" + strings.Join(parts, ", ") + "]"
	}
	return s
}

func describeTxnResult(r Result) string {
	if r.Err != nil {
		return "error: " + r.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ok swapped=%v", r.Swapped)
	for _, p := range r.Pairs {
		fmt.Fprintf(&b, " %s=%s", p.Key, p.Value)
	}
	if r.More {
		b.WriteString(" more")
	}
	fmt.Fprintf(&b, " (index %d, session %d seq %d)", r.Index, r.Session, r.Seq)
	return b.String()
}

func describeTxnApply(ev ApplyEvent) string {
	if ev.Op != OpTxn {
		return describeApply(ev)
	}
	txn, err := ev.Txn()
	what := describeTxn(txn)
	if err != nil {
		what = "undecodable txn: " + err.Error()
	}
	return fmt.Sprintf("term %d %v s%d#%d %s -> %s", ev.Term, ev.Kind, ev.Session, ev.Seq, what, describeTxnResult(ev.Result))
}

// txnViolation replays the agreed log (puts, deletes and transactions)
// through the map model and returns the first disagreement, "" if none.
func (h *harness) txnViolation() string {
	ref := &txnRef{kv: map[string]string{}, max: h.lim.stateSizeMax}
	executed := map[requestID]uint64{}
	last := uint64(0)
	for idx := range h.canon {
		last = max(last, idx)
	}
	for idx := uint64(2); idx <= last; idx++ {
		ev, ok := h.canon[idx]
		if !ok {
			return fmt.Sprintf("no replica applied index %d", idx)
		}
		if ev.Kind != ApplyExecuted || !ev.Op.isWrite() {
			continue
		}
		id := requestID{ev.Session, ev.Seq}
		if at, twice := executed[id]; twice {
			return fmt.Sprintf("s%d#%d executed at %d and %d", ev.Session, ev.Seq, at, idx)
		}
		executed[id] = idx
		txn := Txn{}
		switch ev.Op {
		case OpPut:
			txn.Then = []TxnOp{{Kind: TxnPut, Key: ev.Key, Value: ev.Value}}
		case OpDelete:
			txn.Then = []TxnOp{{Kind: TxnDelete, Key: ev.Key}}
		case OpTxn:
			var err error
			if txn, err = ev.Txn(); err != nil {
				return fmt.Sprintf("index %d: %v", idx, err)
			}
		default:
			return fmt.Sprintf("index %d: the txn model has no %v", idx, ev.Op)
		}
		swapped, _ := ref.apply(txn)
		if ev.Op == OpTxn && swapped != ev.Result.Swapped {
			return fmt.Sprintf("index %d: %s, the model says swapped=%v", idx, describeTxnApply(ev), swapped)
		}
	}
	for _, id := range h.ids {
		s := h.servers[id]
		if s == nil || s.sm.applied != last {
			continue
		}
		got := map[string]string{}
		s.sm.kv.Ascend(func(kv KV) bool { got[kv.Key] = kv.Value; return true })
		if !maps.Equal(got, ref.kv) {
			return fmt.Sprintf("%v holds %v, the model %v", id, got, ref.kv)
		}
	}
	return ""
}
