package diag

import "testing"

func TestRender(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.fl", Line: 2, Col: 5, Msg: "bad", Source: "    x := y"}, "a.fl:2:5: bad\n        x := y\n        ^"},
		{Error{File: "a.fl", Line: 1, Col: 3, Msg: "tabs", Source: "\t\tz"}, "a.fl:1:3: tabs\n    \t\tz\n    \t\t^"},
		{Error{File: "a.fl", Line: 1, Col: 1, Msg: "no source"}, "a.fl:1:1: no source"},
		{Error{File: "a.fl", Line: 1, Col: 9, Msg: "past the end", Source: "ab\r"}, "a.fl:1:9: past the end\n    ab\n      ^"},
	}
	for _, tc := range tests {
		if got := tc.e.Render(); got != tc.want {
			t.Errorf("Render(%v) =\n%q\nwant\n%q", tc.e, got, tc.want)
		}
	}
}

func TestSortAndBudget(t *testing.T) {
	var l List
	s := NewSink("b.fl", []byte("one\ntwo\nthree"), &l)
	s.Errorf(3, 1, "third")
	s.Errorf(1, 2, "first")
	s.Errorf(1, 2, "first")
	s.Errorf(2, 1, "second")
	l = l.Sort()
	if len(l) != 3 || l[0].Msg != "first" || l[1].Msg != "second" || l[2].Msg != "third" || l[2].Source != "three" {
		t.Errorf("Sort = %v, want first, second, third once each", l)
	}
	for range 2 * ErrorsMax {
		s.Errorf(1, 1, "more")
	}
	if len(l) != ErrorsMax || !s.Full() {
		t.Errorf("%d errors kept, want the budget %d", len(l), ErrorsMax)
	}
}
