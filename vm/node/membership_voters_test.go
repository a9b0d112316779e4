package node

import (
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
)

func ids(v ...uint64) []netmodel.NodeID {
	out := make([]netmodel.NodeID, len(v))
	for i, x := range v {
		out[i] = netmodel.NodeID(x)
	}
	return out
}

// TestDecideVoters: the rules of docs/node.md, "Metadata voters", one case
// each.
func TestDecideVoters(t *testing.T) {
	alive := machineView{state: stateAlive}
	leaving := machineView{state: stateAlive, leaving: true}
	dead := machineView{state: stateDead}
	left := machineView{state: stateLeft}
	caughtUp := func(v ...uint64) []raftkv.MemberProgress {
		var out []raftkv.MemberProgress
		for _, id := range v {
			out = append(out, raftkv.MemberProgress{ID: netmodel.NodeID(id), Match: 1000})
		}
		return out
	}
	machines := func(views ...machineView) map[netmodel.NodeID]machineView {
		out := map[netmodel.NodeID]machineView{}
		for i, m := range views {
			if m.state != "" {
				out[netmodel.NodeID(i+1)] = m
			}
		}
		return out
	}
	tests := []struct {
		name     string
		voters   []netmodel.NodeID
		learners []netmodel.NodeID
		progress []raftkv.MemberProgress
		machines map[netmodel.NodeID]machineView
		want     string // "" for no change
	}{
		{"a joined machine becomes a learner", ids(1, 2, 3), nil, nil, machines(alive, alive, alive, alive), "add-learner n4"},
		{"one voter: the two oldest caught-up learners are promoted at once", ids(1), ids(2, 3, 4), caughtUp(2, 3, 4), machines(alive, alive, alive, alive), "add-voter n2 + add-voter n3"},
		{"one voter, one learner: no even group", ids(1), ids(2), caughtUp(2), machines(alive, alive), ""},
		{"two voters: one promotion", ids(1, 2), ids(3), caughtUp(3), machines(alive, alive, alive), "add-voter n3"},
		{"a lagging learner waits", ids(1, 2), ids(3), []raftkv.MemberProgress{{ID: 3, Match: 10}}, machines(alive, alive, alive), ""},
		{"a learner that never answered waits, however short the log", ids(1, 2), ids(3), []raftkv.MemberProgress{{ID: 3, Match: 0}}, machines(alive, alive, alive), ""},
		{"lagging oldest: the next caught-up one", ids(1, 2), ids(3, 4), []raftkv.MemberProgress{{ID: 3, Match: 10}, {ID: 4, Match: 1000}}, machines(alive, alive, alive, alive), "add-voter n4"},
		{"three voters below five alive: enough", ids(1, 2, 3), ids(4), caughtUp(4), machines(alive, alive, alive, alive), ""},
		{"five alive: five voters", ids(1, 2, 3), ids(4, 5), caughtUp(4, 5), machines(alive, alive, alive, alive, alive), "add-voter n4 + add-voter n5"},
		{"a dead voter is replaced by a caught-up learner in one change", ids(1, 2, 3), ids(4), caughtUp(4), machines(alive, dead, alive, alive), "remove n2 + add-voter n4"},
		{"a dead voter of an odd group stays without a learner (it may come back)", ids(1, 2, 3), nil, nil, machines(alive, dead, alive), ""},
		{"a dead voter of an even group is removed alone (the quorum shrinks)", ids(1, 2, 3, 4), nil, nil, machines(alive, dead, alive, alive), "remove n2"},
		{"a left voter is removed", ids(1, 2, 3), nil, nil, machines(alive, alive, left), "remove n3"},
		{"never the last voter", ids(1), nil, nil, machines(dead), ""},
		{"a learner asking to leave (its replica stopped for good) is removed", ids(1, 2, 3), ids(4), nil, machines(alive, alive, alive, leaving), "remove n4"},
		{"a dead learner is removed first", ids(1, 2, 3), ids(4), nil, machines(dead, alive, alive, dead), "remove n4"},
		{"a leaving voter is replaced in one change", ids(1, 2, 3), ids(4), caughtUp(4), machines(leaving, alive, alive, alive), "remove n1 + add-voter n4"},
		{"then removed", ids(1, 2, 3, 4), nil, nil, machines(leaving, alive, alive, alive), "remove n1"},
		{"waits for its replacement to catch up", ids(1, 2, 3), ids(4), nil, machines(leaving, alive, alive, alive), ""},
		{"no learner at all: removed", ids(1, 2, 3), nil, nil, machines(leaving, alive, alive), "remove n1"},
		{"a leaving machine is not added", ids(1), nil, nil, machines(alive, leaving), ""},
		{"a voter without a record (not joined yet) stays", ids(1, 2, 3), nil, nil, machines(alive), ""},
	}
	for _, tc := range tests {
		conf := raftkv.Membership{Voters: tc.voters, Learners: tc.learners, Index: 7}
		d, ok := decideVoters(voterView{conf: conf, progress: tc.progress, commit: commitOf(tc.name), machines: tc.machines})
		got := ""
		if ok {
			got = d.String()
		}
		if got != tc.want {
			t.Errorf("%s: decideVoters(%v, %v) = %q, want %q", tc.name, conf, tc.machines, got, tc.want)
		}
	}
}

// TestDecideVotersWaits: nothing is decided on a joint configuration or
// before one is applied.
func TestDecideVotersWaits(t *testing.T) {
	ms := map[netmodel.NodeID]machineView{1: {state: stateAlive}, 2: {state: stateAlive}}
	for _, conf := range []raftkv.Membership{
		{Voters: ids(1), Index: 0},
		{Voters: ids(1, 2), VotersOutgoing: ids(1), Index: 9},
	} {
		if d, ok := decideVoters(voterView{conf: conf, machines: ms}); ok {
			t.Errorf("decideVoters(%v) = %v, want none", conf, d)
		}
	}
}

func TestMetaServersRoundTrip(t *testing.T) {
	for _, in := range [][]netmodel.NodeID{ids(1), ids(1, 2, 3), ids(4, 90, 1<<40)} {
		got, err := parseMetaServers(formatMetaServers(in))
		if err != nil || !slices.Equal(got, in) {
			t.Errorf("parseMetaServers(formatMetaServers(%v)) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "\n", "1 2 00000000\n", "2 1 " + string(formatMetaServers(ids(2, 1))[4:])} {
		if got, err := parseMetaServers([]byte(bad)); err == nil {
			t.Errorf("parseMetaServers(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParseMetaServers: garbage never panics; what parses formats back to
// the same bytes.
func FuzzParseMetaServers(f *testing.F) {
	f.Add(formatMetaServers(ids(1, 2, 3)))
	f.Add([]byte("1 2 3 deadbeef\n"))
	f.Add([]byte("0 00000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseMetaServers(data)
		if err != nil {
			return
		}
		if again := formatMetaServers(got); string(again) != string(data) && string(again) != string(data)+"\n" {
			t.Fatalf("parseMetaServers(%q) = %v, formats back to %q", data, got, again)
		}
	})
}

// commitOf is the leader's commit in a case: short logs for the case that
// needs one.
func commitOf(name string) uint64 {
	if name == "a learner that never answered waits, however short the log" {
		return 20
	}
	return 1000
}
