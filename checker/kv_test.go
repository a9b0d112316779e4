package checker

import (
	"strings"
	"testing"
)

func TestCheckKV(t *testing.T) {
	tests := []struct {
		name string
		ops  []kvRec
		want bool
		// failing names the partition a violation must mention.
		failing string
	}{
		{name: "empty", want: true},
		{name: "put then get", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), found("1"), 20, 30},
		}},
		{name: "get before any put sees absent", want: true, ops: []kvRec{
			{0, get("a"), absent, 0, 10},
			{1, put("a", "1"), ok, 20, 30},
		}},
		{name: "stale read after put returned", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), absent, 20, 30},
		}},
		{name: "read of a value never written", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), found("2"), 20, 30},
		}},
		{name: "concurrent put may be seen", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 100},
			{1, get("a"), found("1"), 10, 20},
		}},
		{name: "concurrent put may be missed", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 100},
			{1, get("a"), absent, 10, 20},
		}},
		{name: "new then old during one put", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 100},
			{1, get("a"), found("1"), 10, 20},
			{1, get("a"), absent, 30, 40},
		}},
		{name: "closed intervals: call at the instant of a return is concurrent", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, get("a"), absent, 10, 20},
		}},
		{name: "unknown put that happened", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{1, get("a"), found("1"), 50, 60},
		}},
		{name: "unknown put that never happened", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{1, get("a"), absent, 50, 60},
			{1, get("a"), absent, 70, 80},
		}},
		{name: "unknown put seen then unseen", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{1, get("a"), found("1"), 50, 60},
			{1, get("a"), absent, 70, 80},
		}},
		{name: "unknown put seen before its call", want: false, failing: `key "a"`, ops: []kvRec{
			{1, get("a"), found("1"), 0, 10},
			{0, put("a", "1"), ok, 20, unknownRet},
		}},
		{name: "client continues after unknown", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{0, put("a", "2"), ok, 10, 20},
			{1, get("a"), found("2"), 30, 40},
			{1, get("a"), found("1"), 50, 60}, // the unknown put landed late
		}},
		{name: "pending op counts as unknown", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, pendingRet},
			{1, get("a"), found("1"), 10, 20},
		}},
		{name: "unknown get constrains nothing", want: true, ops: []kvRec{
			{0, get("a"), found("zzz"), 0, unknownRet},
		}},
		{name: "definite error is dropped", want: true, ops: []kvRec{
			{0, put("a", "9"), KVOutput{Err: "value too large"}, 0, 10},
			{1, get("a"), absent, 20, 30},
		}},
		{name: "definite error had no effect", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "9"), KVOutput{Err: "value too large"}, 0, 10},
			{1, get("a"), found("9"), 20, 30},
		}},
		{name: "delete", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, del("a"), ok, 20, 30},
			{1, get("a"), absent, 40, 50},
		}},
		{name: "read after delete sees old value", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, del("a"), ok, 20, 30},
			{1, get("a"), found("1"), 40, 50},
		}},
		{name: "cas swaps on match", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "1", "2"), swapped, 20, 30},
			{1, get("a"), found("2"), 40, 50},
		}},
		{name: "cas fails on mismatch", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "7", "2"), failed, 20, 30},
			{1, get("a"), found("1"), 40, 50},
		}},
		{name: "cas failed although it matched", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "1", "2"), failed, 20, 30},
		}},
		{name: "cas swapped on an absent key", want: false, failing: `key "a"`, ops: []kvRec{
			{0, cas("a", "", "2"), swapped, 0, 10},
		}},
		{name: "cas expecting absent", want: true, ops: []kvRec{
			{0, casAbsent("a", "1"), swapped, 0, 10},
			{1, casAbsent("a", "2"), failed, 20, 30},
			{1, get("a"), found("1"), 40, 50},
		}},
		{name: "two put-if-absent both win", want: false, failing: `key "a"`, ops: []kvRec{
			{0, casAbsent("a", "1"), swapped, 0, 100},
			{1, casAbsent("a", "2"), swapped, 0, 100},
		}},
		{name: "cas of unknown outcome, applied", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "1", "2"), ok, 20, unknownRet},
			{1, get("a"), found("2"), 40, 50},
		}},
		{name: "cas of unknown outcome, not applied", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "1", "2"), ok, 20, unknownRet},
			{1, get("a"), found("1"), 40, 50},
		}},
		{name: "unknown cas cannot apply when it does not match", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{0, cas("a", "7", "2"), ok, 20, unknownRet},
			{1, get("a"), found("2"), 40, 50},
		}},
		{name: "unknown cas that needs an unknown put", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{1, cas("a", "1", "2"), ok, 10, unknownRet},
			{2, get("a"), found("2"), 20, 30},
		}},
		{name: "failed cas that needs an unknown put", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, put("a", "2"), ok, 20, unknownRet},
			{2, cas("a", "1", "3"), failed, 30, 40},
		}},
		{name: "failed put-if-absent that needs an unknown put", want: true, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{2, casAbsent("a", "3"), failed, 30, 40},
		}},
		{name: "unknown put seen late bounds nothing it should not", want: false, failing: `key "a"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, unknownRet},
			{1, get("a"), found("1"), 10, 20},
			{1, put("a", "2"), ok, 30, 40},
			{2, get("a"), found("1"), 50, 60},
		}},
		{name: "keys are independent; the bad one is named", want: false, failing: `key "b"`, ops: []kvRec{
			{0, put("a", "1"), ok, 0, 10},
			{1, put("b", "2"), ok, 0, 10},
			{0, get("a"), found("1"), 20, 30},
			{1, get("b"), found("1"), 20, 30},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := CheckKV(build(tt.ops), Options{})
			if res.OK != tt.want {
				t.Fatalf("CheckKV().OK = %v, want %v; violation:\n%s", res.OK, tt.want, res.Violation)
			}
			if res.TimedOut {
				t.Errorf("CheckKV().TimedOut = true, want false")
			}
			if tt.want && res.Violation != "" {
				t.Errorf("CheckKV().Violation = %q, want empty", res.Violation)
			}
			if !tt.want && !strings.Contains(res.Violation, tt.failing) {
				t.Errorf("CheckKV().Violation = %q, want it to name %s", res.Violation, tt.failing)
			}
			if !tt.want && res.Err() == nil {
				t.Errorf("CheckKV().Err() = nil, want an error")
			}
		})
	}
}

func TestCheckKVOpsCount(t *testing.T) {
	h := build([]kvRec{
		{0, put("a", "1"), ok, 0, 10},
		{1, get("a"), found("1"), 20, 30},
		{2, get("a"), absent, 20, unknownRet},                 // unknown read: left out
		{3, put("a", "x"), KVOutput{Err: "rejected"}, 40, 50}, // definite error: left out
		{4, put("b", "2"), ok, 40, unknownRet},                // unknown write: kept
	})
	res := CheckKV(h, Options{})
	if !res.OK || res.Ops != 4 {
		t.Errorf("CheckKV() = {OK: %v, Ops: %d}, want {OK: true, Ops: 4}; violation: %s", res.OK, res.Ops, res.Violation)
	}
}

func TestDescribeKVOp(t *testing.T) {
	tests := []struct {
		in      KVInput
		out     KVOutput
		unknown bool
		want    string
	}{
		{get("a"), found("1"), false, `get("a") -> "1"`},
		{get("a"), absent, false, `get("a") -> absent`},
		{put("a", "1"), ok, false, `put("a", "1")`},
		{put("a", "1"), ok, true, `put("a", "1") -> ?`},
		{del("a"), ok, false, `delete("a")`},
		{cas("a", "1", "2"), swapped, false, `cas("a", "1" -> "2") -> swapped`},
		{casAbsent("a", "2"), failed, false, `cas("a", absent -> "2") -> failed`},
		{put("k", strings.Repeat("x", 40)), ok, false, `put("k", "` + strings.Repeat("x", 32) + `"...(40 bytes))`},
	}
	for _, tt := range tests {
		if got := describeKVOp(tt.in, tt.out, tt.unknown); got != tt.want {
			t.Errorf("describeKVOp(%+v, %+v, %v) = %q, want %q", tt.in, tt.out, tt.unknown, got, tt.want)
		}
	}
}

func TestCheckKVInvalidKindPanics(t *testing.T) {
	h := build([]kvRec{{0, KVInput{Kind: 99, Key: "a"}, ok, 0, 10}})
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "invalid input") {
			t.Errorf("CheckKV(invalid kind) panic = %v, want a panic naming the invalid input", r)
		}
	}()
	CheckKV(h, Options{})
}
