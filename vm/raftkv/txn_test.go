package raftkv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// txnState is a state machine holding pairs, with one session (id 2).
func txnState(t fataler, pairs ...string) *stateMachine {
	t.Helper()
	sm := newStateMachine(Config{}.testLimits())
	sm.applied, sm.appliedTerm = 1, 1
	reg := request{op: OpRegister, seq: 1}
	sm.apply(2, 1, &reg, false)
	for i := 0; i+1 < len(pairs); i += 2 {
		put := request{op: OpPut, session: 2, seq: sm.sessions[2].lastSeq + 1, key: pairs[i], value: pairs[i+1]}
		if kind, rep := sm.apply(sm.applied+1, 1, &put, false); kind != ApplyExecuted {
			t.Fatalf("seeding put %s=%s: %v %v", pairs[i], pairs[i+1], kind, rep.status)
		}
	}
	return sm
}

func applyTestTxn(sm *stateMachine, t Txn) (ApplyKind, reply) {
	r := request{op: OpTxn, session: 2, seq: sm.sessions[2].lastSeq + 1, value: encodeTxn(&t)}
	return sm.apply(sm.applied+1, 1, &r, false)
}

func pairsOf(sm *stateMachine) string {
	var out []string
	sm.kv.Ascend(func(kv KV) bool {
		out = append(out, kv.Key+"="+kv.Value)
		return true
	})
	return strings.Join(out, " ")
}

func TestTxnApply(t *testing.T) {
	put := func(k, v string) TxnOp { return TxnOp{Kind: TxnPut, Key: k, Value: v} }
	tests := []struct {
		name    string
		txn     Txn
		swapped bool
		want    string
	}{
		{"no compares runs then", Txn{Then: []TxnOp{put("x", "1")}}, true, "a=1 ab=2 b=3 x=1"},
		{"equal holds", Txn{If: []Compare{{Kind: CompareEqual, Key: "a", Value: "1"}}, Then: []TxnOp{put("a", "9")}}, true, "a=9 ab=2 b=3"},
		{"equal fails runs else", Txn{If: []Compare{{Kind: CompareEqual, Key: "a", Value: "2"}},
			Then: []TxnOp{put("a", "9")}, Else: []TxnOp{put("e", "1")}}, false, "a=1 ab=2 b=3 e=1"},
		{"equal on an absent key fails", Txn{If: []Compare{{Kind: CompareEqual, Key: "z"}}, Then: []TxnOp{put("z", "1")}}, false, "a=1 ab=2 b=3"},
		{"absent and present", Txn{If: []Compare{{Kind: CompareAbsent, Key: "z"}, {Kind: ComparePresent, Key: "b"}},
			Then: []TxnOp{put("z", "1"), {Kind: TxnDelete, Key: "b"}}}, true, "a=1 ab=2 z=1"},
		{"one failing compare of several", Txn{If: []Compare{{Kind: ComparePresent, Key: "a"}, {Kind: CompareAbsent, Key: "b"}},
			Then: []TxnOp{put("z", "1")}}, false, "a=1 ab=2 b=3"},
		{"no-prefix fails on a prefix in use", Txn{If: []Compare{{Kind: CompareNoPrefix, Key: "a"}}, Then: []TxnOp{put("z", "1")}}, false, "a=1 ab=2 b=3"},
		{"no-prefix holds", Txn{If: []Compare{{Kind: CompareNoPrefix, Key: "ac"}}, Then: []TxnOp{put("z", "1")}}, true, "a=1 ab=2 b=3 z=1"},
		{"delete prefix", Txn{Then: []TxnOp{{Kind: TxnDeletePrefix, Key: "a"}}}, true, "b=3"},
		{"delete absent", Txn{Then: []TxnOp{{Kind: TxnDelete, Key: "q"}}}, true, "a=1 ab=2 b=3"},
		{"writes apply in order", Txn{Then: []TxnOp{put("a", "5"), {Kind: TxnDelete, Key: "a"}, put("a", "6")}}, true, "a=6 ab=2 b=3"},
		{"max raises", Txn{Then: []TxnOp{{Kind: TxnMax, Key: "b", Value: "10"}}}, true, "a=1 ab=2 b=10"},
		{"max keeps a larger value", Txn{Then: []TxnOp{{Kind: TxnMax, Key: "b", Value: "2"}}}, true, "a=1 ab=2 b=3"},
		{"max sets an absent key", Txn{Then: []TxnOp{{Kind: TxnMax, Key: "n", Value: "0"}}}, true, "a=1 ab=2 b=3 n=0"},
	}
	for _, tc := range tests {
		sm := txnState(t, "a", "1", "ab", "2", "b", "3")
		kind, rep := applyTestTxn(sm, tc.txn)
		if kind != ApplyExecuted || rep.status != statusOK || rep.swapped != tc.swapped || pairsOf(sm) != tc.want {
			t.Errorf("%s: apply = %v %v swapped=%v state %q; want executed ok swapped=%v state %q",
				tc.name, kind, rep.status, rep.swapped, pairsOf(sm), tc.swapped, tc.want)
		}
	}
}

// A Txn that would outgrow the store is rolled back whole, and its retry
// answers the same from the session table.
func TestTxnStateFullRollsBack(t *testing.T) {
	sm := txnState(t, "a", "1", "b", "2")
	sm.lim.stateSizeMax = sm.sizeBytes + 20
	before, size := pairsOf(sm), sm.sizeBytes
	txn := Txn{Then: []TxnOp{{Kind: TxnDelete, Key: "a"}, {Kind: TxnPut, Key: "b", Value: "x"}, {Kind: TxnPut, Key: "c", Value: strings.Repeat("v", 30)}}}
	kind, rep := applyTestTxn(sm, txn)
	if kind != ApplyRejected || rep.status != statusStateFull || pairsOf(sm) != before || sm.sizeBytes != size {
		t.Fatalf("apply = %v %v, state %q (%d bytes); want rejected state-full, state %q (%d bytes)",
			kind, rep.status, pairsOf(sm), sm.sizeBytes, before, size)
	}
	retry := request{op: OpTxn, session: 2, seq: sm.sessions[2].lastSeq, value: encodeTxn(&txn)}
	if kind, rep := sm.apply(sm.applied+1, 1, &retry, false); kind != ApplyDuplicate || rep.status != statusStateFull {
		t.Errorf("retry = %v %v, want duplicate state-full", kind, rep.status)
	}
	// Shrinking an over-full store is allowed.
	sm.lim.stateSizeMax = 1
	if kind, rep := applyTestTxn(sm, Txn{Then: []TxnOp{{Kind: TxnDelete, Key: "a"}}}); kind != ApplyExecuted || rep.status != statusOK {
		t.Errorf("delete in an over-full store = %v %v, want executed ok", kind, rep.status)
	}
}

func TestTxnValidate(t *testing.T) {
	lim := Config{}.testLimits()
	many := make([]TxnOp, TxnItemsMax+1)
	for i := range many {
		many[i] = TxnOp{Kind: TxnDelete, Key: "k"}
	}
	tests := []struct {
		name string
		txn  Txn
		ok   bool
	}{
		{"empty", Txn{}, true},
		{"unknown compare", Txn{If: []Compare{{Kind: compareEnd, Key: "k"}}}, false},
		{"compare without key", Txn{If: []Compare{{Kind: CompareAbsent}}}, false},
		{"absent with value", Txn{If: []Compare{{Kind: CompareAbsent, Key: "k", Value: "v"}}}, false},
		{"equal to empty", Txn{If: []Compare{{Kind: CompareEqual, Key: "k"}}}, true},
		{"unknown write", Txn{Then: []TxnOp{{Kind: 0, Key: "k"}}}, false},
		{"delete with value", Txn{Else: []TxnOp{{Kind: TxnDelete, Key: "k", Value: "v"}}}, false},
		{"delete prefix without key", Txn{Then: []TxnOp{{Kind: TxnDeletePrefix}}}, false},
		{"max of a non-number", Txn{Then: []TxnOp{{Kind: TxnMax, Key: "k", Value: "01"}}}, false},
		{"long key", Txn{Then: []TxnOp{{Kind: TxnPut, Key: strings.Repeat("k", lim.keySizeMax+1)}}}, false},
		{"long value", Txn{Then: []TxnOp{{Kind: TxnPut, Key: "k", Value: strings.Repeat("v", lim.valueSizeMax+1)}}}, false},
		{"too many items", Txn{Then: many}, false},
	}
	for _, tc := range tests {
		err := tc.txn.validate(lim)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: validate = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil {
			continue
		}
		back, err := decodeTxn(encodeTxn(&tc.txn), lim)
		if err != nil || encodeTxn(&back) != encodeTxn(&tc.txn) {
			t.Errorf("%s: decodeTxn(encodeTxn) = %+v, %v", tc.name, back, err)
		}
	}
}

func TestRanges(t *testing.T) {
	sm := txnState(t, "a", "1", "ab", "2", "b", "3", "ba", "4", "c", "5")
	tests := []struct {
		name   string
		ranges []Range
		want   string
		more   bool
	}{
		{"prefix", []Range{PrefixRange("a", 10)}, "a=1 ab=2", false},
		{"two ranges", []Range{{Start: "a", End: "ab", Limit: 5}, {Start: "b", End: "c", Limit: 5}}, "a=1 b=3 ba=4", false},
		{"limit", []Range{{Start: "a", End: "c", Limit: 2}, {Start: "c", Limit: 3}}, "a=1 ab=2 c=5", true},
		{"unbounded", []Range{{Start: "b", Limit: 10}}, "b=3 ba=4 c=5", false},
		{"empty range", []Range{{Start: "bb", End: "bz", Limit: 1}}, "", false},
	}
	for _, tc := range tests {
		if err := validateRanges(tc.ranges, sm.lim); err != nil {
			t.Fatalf("%s: validateRanges = %v", tc.name, err)
		}
		rep := reply{}
		sm.readRanges(tc.ranges, &rep)
		var got []string
		for _, p := range rep.pairs {
			got = append(got, p.Key+"="+p.Value)
		}
		if strings.Join(got, " ") != tc.want || rep.more != tc.more {
			t.Errorf("%s: readRanges = %q more=%v, want %q more=%v", tc.name, strings.Join(got, " "), rep.more, tc.want, tc.more)
		}
		split := SplitRanges(tc.ranges, rep.pairs)
		for i, part := range split {
			for _, p := range part {
				if !tc.ranges[i].contains(p.Key) {
					t.Errorf("%s: SplitRanges put %q in range %d %+v", tc.name, p.Key, i, tc.ranges[i])
				}
			}
		}
	}
	// The byte bound leaves the later ranges out.
	sm.lim.scanBytesMax = 5
	rep := reply{}
	sm.readRanges([]Range{{Start: "a", End: "b", Limit: 10}, {Start: "c", Limit: 10}}, &rep)
	if len(rep.pairs) != 2 || !rep.more {
		t.Errorf("readRanges under a 5-byte bound = %v more=%v, want a=1 ab=2 and more", rep.pairs, rep.more)
	}
}

func TestValidateRanges(t *testing.T) {
	lim := Config{}.testLimits()
	tests := []struct {
		name   string
		ranges []Range
		ok     bool
	}{
		{"none", nil, false},
		{"zero limit", []Range{{Start: "a", Limit: 0}}, false},
		{"limit over max", []Range{{Start: "a", Limit: lim.scanLimitMax + 1}}, false},
		{"end before start", []Range{{Start: "b", End: "a", Limit: 1}}, false},
		{"overlap", []Range{{Start: "a", End: "c", Limit: 1}, {Start: "b", End: "d", Limit: 1}}, false},
		{"after unbounded", []Range{{Start: "a", Limit: 1}, {Start: "b", Limit: 1}}, false},
		{"adjacent", []Range{{Start: "a", End: "b", Limit: 1}, {Start: "b", Limit: 1}}, true},
		{"whole store", []Range{{Limit: 1}}, true},
	}
	for _, tc := range tests {
		err := validateRanges(tc.ranges, lim)
		if (err == nil) != tc.ok {
			t.Errorf("%s: validateRanges = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil {
			continue
		}
		back, err := decodeRanges(encodeRanges(tc.ranges), lim)
		if err != nil || !slices.Equal(back, tc.ranges) {
			t.Errorf("%s: decodeRanges(encodeRanges) = %v, %v", tc.name, back, err)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want string }{{"a", "b"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"", ""}, {"fs/i/", "fs/i0"}}
	for _, tc := range tests {
		if got := prefixEnd(tc.in); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// txnRef is the reference model of transactions: a plain map.
type txnRef struct {
	kv   map[string]string
	size int64
	max  int64
}

func (m *txnRef) apply(t Txn) (swapped, full bool) {
	ok := true
	for _, c := range t.If {
		v, found := m.kv[c.Key]
		switch c.Kind {
		case CompareEqual:
			ok = ok && found && v == c.Value
		case CompareAbsent:
			ok = ok && !found
		case ComparePresent:
			ok = ok && found
		case CompareNoPrefix:
			for k := range m.kv {
				ok = ok && !strings.HasPrefix(k, c.Key)
			}
		}
	}
	ops := t.Then
	if !ok {
		ops = t.Else
	}
	next := maps.Clone(m.kv)
	for _, op := range ops {
		switch op.Kind {
		case TxnPut:
			next[op.Key] = op.Value
		case TxnDelete:
			delete(next, op.Key)
		case TxnDeletePrefix:
			for k := range next {
				if strings.HasPrefix(k, op.Key) {
					delete(next, k)
				}
			}
		case TxnMax:
			want, _ := strconv.ParseUint(op.Value, 10, 64)
			cur, err := strconv.ParseUint(next[op.Key], 10, 64)
			_, found := next[op.Key]
			if !found || err != nil || strconv.FormatUint(cur, 10) != next[op.Key] || cur < want {
				next[op.Key] = op.Value
			}
		}
	}
	size := int64(0)
	for k, v := range next {
		size += pairSize(k, v)
	}
	if size > m.max && size > m.size {
		return false, true
	}
	m.kv, m.size = next, size
	return ok, false
}

var txnTestKeys = []string{"a", "ab", "abc", "b", "ba", "c"}

func drawTxnOp(t *rapid.T, label string) TxnOp {
	op := TxnOp{Kind: rapid.SampledFrom([]TxnOpKind{TxnPut, TxnPut, TxnDelete, TxnDeletePrefix, TxnMax}).Draw(t, label+"kind")}
	op.Key = rapid.SampledFrom(txnTestKeys).Draw(t, label+"key")
	switch op.Kind {
	case TxnPut:
		op.Value = rapid.SampledFrom([]string{"", "1", "7", "x", "long-value"}).Draw(t, label+"value")
	case TxnMax:
		op.Value = strconv.Itoa(rapid.IntRange(0, 12).Draw(t, label+"max"))
	}
	return op
}

func drawTxn(t *rapid.T) Txn {
	var txn Txn
	for i := range rapid.IntRange(0, 3).Draw(t, "compares") {
		c := Compare{Kind: rapid.SampledFrom([]CompareKind{CompareEqual, CompareAbsent, ComparePresent, CompareNoPrefix}).Draw(t, fmt.Sprintf("c%dkind", i))}
		c.Key = rapid.SampledFrom(txnTestKeys).Draw(t, fmt.Sprintf("c%dkey", i))
		if c.Kind == CompareEqual {
			c.Value = rapid.SampledFrom([]string{"1", "7", "x"}).Draw(t, fmt.Sprintf("c%dvalue", i))
		}
		txn.If = append(txn.If, c)
	}
	for i := range rapid.IntRange(0, 4).Draw(t, "then") {
		txn.Then = append(txn.Then, drawTxnOp(t, fmt.Sprintf("t%d", i)))
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "else") {
		txn.Else = append(txn.Else, drawTxnOp(t, fmt.Sprintf("e%d", i)))
	}
	return txn
}

// TestTxnMatchesModel cross-checks the state machine's transactions and
// multi-range reads against the plain-map model, under a small store limit
// so that rollbacks happen.
func TestTxnMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sm := txnState(t)
		sm.lim.stateSizeMax = int64(rapid.IntRange(40, 400).Draw(t, "stateSizeMax"))
		ref := &txnRef{kv: map[string]string{}, max: sm.lim.stateSizeMax}
		for range rapid.IntRange(1, 30).Draw(t, "txns") {
			txn := drawTxn(t)
			kind, rep := applyTestTxn(sm, txn)
			swapped, full := ref.apply(txn)
			if full != (rep.status == statusStateFull) || (!full && (kind != ApplyExecuted || rep.swapped != swapped)) {
				t.Fatalf("txn %+v: state machine %v %v swapped=%v, model full=%v swapped=%v", txn, kind, rep.status, rep.swapped, full, swapped)
			}
			got := map[string]string{}
			sm.kv.Ascend(func(kv KV) bool { got[kv.Key] = kv.Value; return true })
			if !maps.Equal(got, ref.kv) || sm.sizeBytes != ref.size {
				t.Fatalf("after %+v: state %v (%d bytes), model %v (%d bytes)", txn, got, sm.sizeBytes, ref.kv, ref.size)
			}
			prefix := rapid.SampledFrom([]string{"a", "ab", "b", "z"}).Draw(t, "prefix")
			rep = reply{}
			sm.readRanges([]Range{PrefixRange(prefix, 100)}, &rep)
			var want []KV
			for _, k := range slices.Sorted(maps.Keys(ref.kv)) {
				if strings.HasPrefix(k, prefix) {
					want = append(want, KV{k, ref.kv[k]})
				}
			}
			if !slices.Equal(rep.pairs, want) {
				t.Fatalf("ranges of prefix %q = %v, model %v", prefix, rep.pairs, want)
			}
		}
	})
}

func TestRetryUnknownNeedsAnUnknownOutcome(t *testing.T) {
	h := newHarness(t, harnessOptions{seed: 5})
	cl := h.client(1)
	if err := cl.RetryUnknown(func(Result) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("RetryUnknown on a fresh client = %v, want ErrInvalid", err)
	}
	if err := cl.Txn(Txn{Then: []TxnOp{{Kind: TxnPut, Key: "k", Value: "v"}}}, func(Result) {}); err != nil {
		t.Fatalf("Txn = %v", err)
	}
	if err := cl.RetryUnknown(func(Result) {}); !errors.Is(err, ErrBusy) {
		t.Errorf("RetryUnknown while busy = %v, want ErrBusy", err)
	}
	if err := cl.Txn(Txn{Then: []TxnOp{{Kind: TxnMax, Key: "k", Value: "-1"}}}, func(Result) {}); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrBusy) {
		t.Errorf("Txn of a bad max = %v, want an error", err)
	}
	if err := cl.Ranges(nil, func(Result) {}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Ranges(nil) = %v, want ErrInvalid", err)
	}
}

// TestStringEncoders: the encoders that grow a string to its size first
// write exactly what appending field by field writes (the old encoders,
// kept here as the reference), and uvarintBytes is the uvarint's length.
func TestStringEncoders(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		if got, want := uvarintBytes(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintBytes(%d) = %d, want %d", v, got, want)
		}
	}
	long := strings.Repeat("k", 200)
	txns := []*Txn{
		{},
		{If: []Compare{{Kind: CompareEqual, Key: "a", Value: long}}, Then: []TxnOp{{Kind: TxnPut, Key: long, Value: "v"}}},
		{Then: []TxnOp{{Kind: TxnPut, Key: "x", Value: ""}}, Else: []TxnOp{{Kind: TxnPut, Key: long, Value: long}}},
	}
	for i, tx := range txns {
		if got, want := encodeTxn(tx), referenceTxnEncoding(tx); got != want {
			t.Errorf("encodeTxn(txns[%d]) = %q, want %q", i, got, want)
		}
	}
	for i, rs := range [][]Range{nil, {{Start: "a", End: long, Limit: 300}, {Start: long + "x", End: long + "y", Limit: 1}}} {
		if got, want := encodeRanges(rs), referenceRangesEncoding(rs); got != want {
			t.Errorf("encodeRanges(ranges[%d]) = %q, want %q", i, got, want)
		}
	}
}

func referenceTxnEncoding(t *Txn) string {
	b := binary.AppendUvarint(nil, uint64(len(t.If)))
	for _, c := range t.If {
		b = appendString(appendString(append(b, byte(c.Kind)), c.Key), c.Value)
	}
	for _, ops := range [][]TxnOp{t.Then, t.Else} {
		b = binary.AppendUvarint(b, uint64(len(ops)))
		for _, op := range ops {
			b = appendString(appendString(append(b, byte(op.Kind)), op.Key), op.Value)
		}
	}
	return string(b)
}

func referenceRangesEncoding(rs []Range) string {
	b := binary.AppendUvarint(nil, uint64(len(rs)))
	for _, r := range rs {
		b = binary.AppendUvarint(appendString(appendString(b, r.Start), r.End), uint64(r.Limit))
	}
	return string(b)
}
