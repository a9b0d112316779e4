package checker

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestHistoryRecords(t *testing.T) {
	var h KVHistory
	a := h.Call(0, put("a", "1"), 0)
	b := h.Call(1, get("a"), 5)
	c := h.Call(2, put("a", "2"), 6)
	h.Return(a, ok, 10)
	h.Unknown(b)
	d := h.Call(3, put("a", "3"), 7)
	h.Return(d, KVOutput{Err: "rejected"}, 8)

	if got := h.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	if got, want := h.Pending(), []OpID{c}; !slices.Equal(got, want) {
		t.Errorf("Pending() = %v, want %v", got, want)
	}
	tests := []struct {
		id     OpID
		status Status
		ret    int64
	}{
		{a, StatusReturned, 10},
		{b, StatusUnknown, math.MaxInt64},
		{c, StatusPending, math.MaxInt64},
		{d, StatusFailed, 8},
	}
	for _, tt := range tests {
		op := h.Op(tt.id)
		if op.Status != tt.status || op.Return != tt.ret {
			t.Errorf("Op(%d) = {Status: %v, Return: %d}, want {%v, %d}", tt.id, op.Status, op.Return, tt.status, tt.ret)
		}
	}
	if got := len(h.Ops()); got != 4 {
		t.Errorf("len(Ops()) = %d, want 4", got)
	}
}

// After Unknown a client's next operation must run under a new porcupine
// client id: the unknown one never ends.
func TestHistoryUnknownMovesClientToNewSlot(t *testing.T) {
	var h KVHistory
	a := h.Call(7, put("a", "1"), 0)
	h.Return(a, ok, 1)
	b := h.Call(7, put("a", "2"), 2)
	h.Unknown(b)
	c := h.Call(7, put("a", "3"), 3)
	h.Return(c, ok, 4)
	ops := kvSpec.operations(&h, nil)
	if ops[0].ClientId != ops[1].ClientId {
		t.Errorf("slots before Unknown = %d, %d, want equal", ops[0].ClientId, ops[1].ClientId)
	}
	if ops[1].ClientId == ops[2].ClientId {
		t.Errorf("slot after Unknown = %d, want a new one (was %d)", ops[2].ClientId, ops[1].ClientId)
	}
	for i, op := range ops {
		if m := op.Metadata.(opMeta); m.client != 7 || m.id != OpID(i) {
			t.Errorf("ops[%d].Metadata = %+v, want client 7 op %d", i, m, i)
		}
	}
}

func TestHistoryMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		do   func(h *KVHistory)
		want string
	}{
		{"call while pending", func(h *KVHistory) {
			h.Call(0, get("a"), 0)
			h.Call(0, get("a"), 1)
		}, "is pending"},
		{"time goes back for a client", func(h *KVHistory) {
			h.Return(h.Call(0, get("a"), 10), absent, 20)
			h.Call(0, get("a"), 15)
		}, "before its previous event"},
		{"return before call", func(h *KVHistory) {
			h.Return(h.Call(0, get("a"), 10), absent, 5)
		}, "returns at 5"},
		{"return twice", func(h *KVHistory) {
			id := h.Call(0, get("a"), 10)
			h.Return(id, absent, 11)
			h.Return(id, absent, 12)
		}, "not pending"},
		{"unknown after return", func(h *KVHistory) {
			id := h.Call(0, get("a"), 10)
			h.Return(id, absent, 11)
			h.Unknown(id)
		}, "not pending"},
		{"no such op", func(h *KVHistory) { h.Op(3) }, "no op 3"},
		{"negative client", func(h *KVHistory) { h.Call(-1, get("a"), 0) }, "negative"},
		{"time out of range", func(h *KVHistory) { h.Call(0, get("a"), math.MaxInt64) }, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panic = %v, want one containing %q", r, tt.want)
				}
			}()
			tt.do(&KVHistory{})
		})
	}
}
