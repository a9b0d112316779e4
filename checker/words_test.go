package checker

import (
	"math"
	"strings"
	"testing"
)

const gaddr = 1 << 63 // a process-global address

func TestCheckWords(t *testing.T) {
	a, b := uint64(gaddr), uint64(gaddr+8)
	tests := []struct {
		name    string
		ops     []wordRec
		want    bool
		failing string
	}{
		{name: "words start at zero", want: true, ops: []wordRec{
			{0, rd(a), val(0), 0, 10},
		}},
		{name: "read of a value never written", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, rd(a), val(7), 0, 10},
		}},
		{name: "write then read", want: true, ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{1, rd(a), val(5), 20, 30},
		}},
		{name: "stale read", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{1, rd(a), val(0), 20, 30},
		}},
		{name: "concurrent fetch-adds get distinct values", want: true, ops: []wordRec{
			{0, fadd(a, 1), val(1), 0, 100},
			{1, fadd(a, 1), val(0), 0, 100},
			{2, rd(a), val(2), 200, 210},
		}},
		{name: "two fetch-adds both saw zero", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, fadd(a, 1), val(0), 0, 100},
			{1, fadd(a, 1), val(0), 0, 100},
		}},
		{name: "lost increment", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, fadd(a, 1), val(0), 0, 10},
			{1, fadd(a, 1), val(1), 20, 30},
			{2, rd(a), val(1), 40, 50},
		}},
		{name: "fetch-add of unknown outcome, applied", want: true, ops: []wordRec{
			{0, fadd(a, 1), WordOutput{}, 0, unknownRet},
			{1, rd(a), val(1), 20, 30},
		}},
		{name: "fetch-add of unknown outcome, not applied", want: true, ops: []wordRec{
			{0, fadd(a, 1), WordOutput{}, 0, unknownRet},
			{1, rd(a), val(0), 20, 30},
		}},
		{name: "fetch-add of unknown outcome applied twice", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, fadd(a, 1), WordOutput{}, 0, unknownRet},
			{1, rd(a), val(2), 20, 30},
		}},
		{name: "fetch-add wraps", want: true, ops: []wordRec{
			{0, fadd(a, math.MaxUint64), val(0), 0, 10}, // -1
			{1, rd(a), val(math.MaxUint64), 20, 30},
		}},
		{name: "cas swaps on match", want: true, ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{0, wcas(a, 5, 6), casOut(5, true), 20, 30},
			{1, rd(a), val(6), 40, 50},
		}},
		{name: "cas fails and reports what it found", want: true, ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{0, wcas(a, 4, 6), casOut(5, false), 20, 30},
			{1, rd(a), val(5), 40, 50},
		}},
		{name: "cas reports a wrong old value", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{0, wcas(a, 4, 6), casOut(3, false), 20, 30},
		}},
		{name: "cas swapped on mismatch", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, wr(a, 5), WordOutput{}, 0, 10},
			{0, wcas(a, 4, 6), casOut(5, true), 20, 30},
		}},
		{name: "two cas win the same expected value", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, wcas(a, 0, 1), casOut(0, true), 0, 100},
			{1, wcas(a, 0, 2), casOut(0, true), 0, 100},
		}},
		{name: "cas of unknown outcome", want: true, ops: []wordRec{
			{0, wcas(a, 0, 9), WordOutput{}, 0, unknownRet},
			{1, rd(a), val(9), 20, 30},
			{1, rd(a), val(9), 40, 50},
		}},
		{name: "unknown cas that needs an unknown write", want: true, ops: []wordRec{
			{0, wr(a, 1), WordOutput{}, 0, unknownRet},
			{1, wcas(a, 1, 2), WordOutput{}, 10, unknownRet},
			{2, rd(a), val(2), 20, 30},
		}},
		{name: "unknown write is bounded by its first reader", want: false, failing: "address 0x8000000000000000", ops: []wordRec{
			{0, wr(a, 1), WordOutput{}, 0, unknownRet},
			{1, rd(a), val(1), 10, 20},
			{2, rd(a), val(0), 30, 40},
		}},
		{name: "trap is dropped", want: true, ops: []wordRec{
			{0, wr(a, 5), WordOutput{Err: "misaligned"}, 0, 10},
			{1, rd(a), val(0), 20, 30},
		}},
		{name: "addresses are independent; the bad one is named", want: false, failing: "address 0x8000000000000008", ops: []wordRec{
			{0, wr(a, 1), WordOutput{}, 0, 10},
			{1, rd(b), val(1), 20, 30},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := CheckWords(build(tt.ops), Options{})
			if res.OK != tt.want {
				t.Fatalf("CheckWords().OK = %v, want %v; violation:\n%s", res.OK, tt.want, res.Violation)
			}
			if !tt.want && !strings.Contains(res.Violation, tt.failing) {
				t.Errorf("CheckWords().Violation = %q, want it to name %s", res.Violation, tt.failing)
			}
		})
	}
}

func TestDescribeWordOp(t *testing.T) {
	tests := []struct {
		in      WordInput
		out     WordOutput
		unknown bool
		want    string
	}{
		{rd(16), val(3), false, "read(0x10) -> 3"},
		{wr(16, 3), WordOutput{}, false, "write(0x10, 3)"},
		{wcas(16, 1, 2), casOut(1, true), false, "cas(0x10, 1 -> 2) -> swapped, found 1"},
		{wcas(16, 1, 2), casOut(7, false), false, "cas(0x10, 1 -> 2) -> failed, found 7"},
		{fadd(16, math.MaxUint64), val(4), false, "fetch-add(0x10, -1) -> 4"},
		{fadd(16, 1), WordOutput{}, true, "fetch-add(0x10, 1) -> ?"},
	}
	for _, tt := range tests {
		if got := describeWordOp(tt.in, tt.out, tt.unknown); got != tt.want {
			t.Errorf("describeWordOp(%+v, %+v, %v) = %q, want %q", tt.in, tt.out, tt.unknown, got, tt.want)
		}
	}
}
