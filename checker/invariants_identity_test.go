package checker

import (
	"errors"
	"strings"
	"testing"
)

func withIdentity(a Applied, id string) Applied {
	a.Identity = id
	return a
}

func TestAtMostOnceByIdentity(t *testing.T) {
	put := withIdentity(entry(2, 1, req(1, 1)), "c0-1")
	tests := []struct {
		name string
		logs map[uint64][]Applied
		want string // in the error; "" for none
	}{
		{"no identities", cleanLogs(), ""},
		{"one application, seen by every replica and after a restart", map[uint64][]Applied{
			1: {put}, 2: {put, rebooted(put, 1)}, 3: {put},
		}, ""},
		{"retried under a new sequence number", map[uint64][]Applied{
			1: {put, withIdentity(entry(5, 1, req(1, 2)), "c0-1")},
		}, `operation "c0-1" applied at index 2 (request 1#1) by replica 1 and at index 5 (request 1#2) by replica 1`},
		{"retried in a new session, seen by another replica", map[uint64][]Applied{
			1: {put},
			2: {put, withIdentity(entry(9, 2, req(7, 1)), "c0-1")},
		}, "at index 9 (request 7#1) by replica 2"},
		{"other identities differ", map[uint64][]Applied{
			1: {put, withIdentity(entry(3, 1, req(1, 2)), "c0-2")},
		}, ""},
	}
	for _, tt := range tests {
		err := AtMostOnceByIdentity(tt.logs)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: AtMostOnceByIdentity = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !errors.Is(err, ErrLogicalAppliedTwice) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: AtMostOnceByIdentity = %v, want ErrLogicalAppliedTwice containing %q", tt.name, err, tt.want)
		}
	}
}

// AtMostOnce cannot see a retry under a new id; AtMostOnceByIdentity can.
func TestIdentityCatchesWhatRequestIDsMiss(t *testing.T) {
	logs := map[uint64][]Applied{1: {
		withIdentity(entry(2, 1, req(1, 1)), "c0-1"),
		withIdentity(entry(4, 1, req(1, 2)), "c0-1"),
	}}
	if err := AtMostOnce(logs); err != nil {
		t.Fatalf("AtMostOnce = %v, want nil: the two requests have different ids", err)
	}
	if err := AtMostOnceByIdentity(logs); !errors.Is(err, ErrLogicalAppliedTwice) {
		t.Errorf("AtMostOnceByIdentity = %v, want ErrLogicalAppliedTwice", err)
	}
}
