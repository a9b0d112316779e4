package checker

import (
	"errors"
	"strings"
	"testing"
)

func req(session, seq uint64) RequestID { return RequestID{Session: session, Seq: seq} }

// entry is an applied entry whose digest follows from its request, so that
// equal requests make equal entries unless a test says otherwise.
func entry(index, term uint64, r RequestID) Applied {
	return Applied{Index: index, Term: term, Digest: r.Session<<32 | r.Seq, Request: r}
}

func rebooted(a Applied, boot uint64) Applied {
	a.Boot = boot
	return a
}

// cleanLogs: three replicas; 3 lags, 2 restarted and re-applied 2..3 from
// its snapshot at 1, and index 1 is an empty entry without a request.
func cleanLogs() map[uint64][]Applied {
	e1 := entry(1, 1, RequestID{})
	e2 := entry(2, 1, req(1, 1))
	e3 := entry(3, 2, req(2, 1))
	e4 := entry(4, 2, req(1, 2))
	return map[uint64][]Applied{
		1: {e1, e2, e3, e4},
		2: {e1, e2, e3, rebooted(e2, 1), rebooted(e3, 1), rebooted(e4, 1)},
		3: {e1, e2},
	}
}

func TestAppliedLogsAgree(t *testing.T) {
	e2 := entry(2, 1, req(1, 1))
	tests := []struct {
		name    string
		mutate  func(logs map[uint64][]Applied)
		wantErr error
		want    []string // substrings of the error
	}{
		{name: "clean", mutate: func(map[uint64][]Applied) {}},
		{name: "snapshot gap is fine", mutate: func(logs map[uint64][]Applied) {
			logs[3] = []Applied{entry(1, 1, RequestID{}), entry(4, 2, req(1, 2))}
		}},
		{name: "different digest at one index", wantErr: ErrLogsDiverge,
			want: []string{"index 2", "replica 3", "replica 1", "digest 0x0000000000000bad", "digest 0x0000000100000001"},
			mutate: func(logs map[uint64][]Applied) {
				logs[3][1].Digest = 0xbad
			}},
		{name: "different term at one index", wantErr: ErrLogsDiverge, want: []string{"index 2", "term 7"},
			mutate: func(logs map[uint64][]Applied) {
				logs[3][1].Term = 7
			}},
		{name: "different request at one index", wantErr: ErrLogsDiverge, want: []string{"index 2", "request 9#9", "request 1#1"},
			mutate: func(logs map[uint64][]Applied) {
				logs[3][1].Request = req(9, 9)
			}},
		{name: "re-application after restart differs", wantErr: ErrLogsDiverge,
			want: []string{"index 3", "replica 2 (boot 1)", "replica 1 (boot 0)"},
			mutate: func(logs map[uint64][]Applied) {
				logs[2][4].Digest = 0xbad
			}},
		{name: "index repeated without restart", wantErr: ErrApplyOrder,
			want: []string{"replica 3 (boot 0) applied index 2 after index 2"},
			mutate: func(logs map[uint64][]Applied) {
				logs[3] = append(logs[3], e2)
			}},
		{name: "index goes back without restart", wantErr: ErrApplyOrder,
			want: []string{"replica 1 (boot 0) applied index 2 after index 4"},
			mutate: func(logs map[uint64][]Applied) {
				logs[1] = append(logs[1], e2)
			}},
		{name: "boot goes back", wantErr: ErrApplyOrder, want: []string{"replica 2", "boots went backwards"},
			mutate: func(logs map[uint64][]Applied) {
				logs[2] = append(logs[2], entry(5, 2, req(3, 1)))
			}},
		{name: "several violations are counted", wantErr: ErrLogsDiverge, want: []string{"and 1 more violations"},
			mutate: func(logs map[uint64][]Applied) {
				logs[3][0].Digest = 1
				logs[3][1].Digest = 1
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := cleanLogs()
			tt.mutate(logs)
			checkInvariantErr(t, "AppliedLogsAgree", AppliedLogsAgree(logs), tt.wantErr, tt.want)
		})
	}
}

func TestAckedWritesApplied(t *testing.T) {
	tests := []struct {
		name    string
		acked   []RequestID
		mutate  func(logs map[uint64][]Applied)
		wantErr error
		want    []string
	}{
		{name: "all acked writes applied", acked: []RequestID{req(1, 1), req(2, 1), req(1, 2), req(1, 1)}},
		{name: "lagging replica without the write is fine", acked: []RequestID{req(1, 2)},
			mutate: func(logs map[uint64][]Applied) { logs[3] = logs[3][:1] }},
		{name: "snapshot that skipped the index is not judged", acked: []RequestID{req(1, 1)},
			mutate: func(logs map[uint64][]Applied) {
				logs[3] = []Applied{entry(1, 1, RequestID{}), entry(4, 2, req(1, 2))}
			}},
		{name: "acked write applied nowhere", acked: []RequestID{req(1, 1), req(5, 5)}, wantErr: ErrAckedWriteLost,
			want: []string{"request 5#5 is in no replica's applied log", "replica 1: 4, replica 2: 4, replica 3: 2"}},
		{name: "acked write overwritten on one replica", acked: []RequestID{req(2, 1)}, wantErr: ErrAckedWriteLost,
			want: []string{"request 2#1 was applied at index 3 by replica 1", "replica 2 applied index 3 as term 3"},
			mutate: func(logs map[uint64][]Applied) {
				logs[2][2] = entry(3, 3, req(8, 1))
			}},
		{name: "zero id is a caller error", acked: []RequestID{{}}, want: []string{"acked[0] is the zero request id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := cleanLogs()
			if tt.mutate != nil {
				tt.mutate(logs)
			}
			err := AckedWritesApplied(tt.acked, logs)
			if tt.wantErr == nil && len(tt.want) > 0 { // caller error: not a violation kind
				if err == nil || errors.Is(err, ErrAckedWriteLost) {
					t.Fatalf("AckedWritesApplied() = %v, want a caller error", err)
				}
			}
			checkInvariantErr(t, "AckedWritesApplied", err, tt.wantErr, tt.want)
		})
	}
}

func TestAtMostOnce(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(logs map[uint64][]Applied)
		wantErr error
		want    []string
	}{
		{name: "clean, including re-application after restart", mutate: func(map[uint64][]Applied) {}},
		{name: "empty entries may repeat", mutate: func(logs map[uint64][]Applied) {
			logs[1] = append(logs[1], entry(5, 2, RequestID{}))
		}},
		{name: "retry applied at a second index", wantErr: ErrAppliedTwice,
			want: []string{"request 1#1 applied at index 2 (term 1) by replica 1 and at index 5 (term 2) by replica 1"},
			mutate: func(logs map[uint64][]Applied) {
				logs[1] = append(logs[1], entry(5, 2, req(1, 1)))
			}},
		{name: "same duplicate on every replica is reported once", wantErr: ErrAppliedTwice,
			want: []string{"index 5"},
			mutate: func(logs map[uint64][]Applied) {
				for _, r := range []uint64{1, 2, 3} {
					logs[r] = append(logs[r], entry(5, 2, req(1, 1)))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := cleanLogs()
			tt.mutate(logs)
			err := AtMostOnce(logs)
			checkInvariantErr(t, "AtMostOnce", err, tt.wantErr, tt.want)
			if err != nil && strings.Contains(err.Error(), "more violations") {
				t.Errorf("AtMostOnce() = %v, want a single violation", err)
			}
		})
	}
}

func checkInvariantErr(t *testing.T, fn string, err, wantErr error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("%s() = %v, want nil", fn, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s() = nil, want an error containing %q", fn, want)
	}
	if wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("%s() = %v, want it to wrap %v", fn, err, wantErr)
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s() = %q, want it to contain %q", fn, err, s)
		}
	}
}
