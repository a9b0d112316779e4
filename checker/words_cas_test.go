package checker

import "testing"

// A CAS that only knows it failed (FoundUnknown) is legal exactly when the
// word was not its expected value.
func TestWordCASFoundUnknown(t *testing.T) {
	failedBlind := WordOutput{FoundUnknown: true}
	tests := []struct {
		name string
		ops  func(h *WordHistory)
		ok   bool
	}{
		{"fails while the word differs", func(h *WordHistory) {
			h.Return(h.Call(1, wr(8, 5), 0), val(0), 1)
			h.Return(h.Call(1, wcas(8, 3, 9), 2), failedBlind, 3)
			h.Return(h.Call(1, rd(8), 4), val(5), 5)
		}, true},
		{"fails while the word equals expected", func(h *WordHistory) {
			h.Return(h.Call(1, wr(8, 3), 0), val(0), 1)
			h.Return(h.Call(1, wcas(8, 3, 9), 2), failedBlind, 3)
		}, false},
		{"concurrent with the write that made it differ", func(h *WordHistory) {
			h.Return(h.Call(1, wr(8, 3), 0), val(0), 1)
			w := h.Call(2, wr(8, 4), 2)
			h.Return(h.Call(1, wcas(8, 3, 9), 3), failedBlind, 5)
			h.Return(w, val(0), 6)
		}, true},
	}
	for _, tc := range tests {
		h := &WordHistory{}
		tc.ops(h)
		if got := CheckWords(h, Options{}).OK; got != tc.ok {
			t.Errorf("%s: CheckWords OK = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
