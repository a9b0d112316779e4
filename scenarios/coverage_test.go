package scenarios

import (
	"slices"
	"strings"
	"testing"
)

func TestSilentFaults(t *testing.T) {
	torn := Report{FaultsOn: []string{"disk-torn", "net-drop"}, Outcomes: map[string]int64{"writes_torn": 0, "msgs_dropped": 3}, Faults: map[string]int64{}}
	tornAgain := Report{FaultsOn: []string{"disk-torn"}, Outcomes: map[string]int64{}, Faults: map[string]int64{}}
	crash := Report{FaultsOn: []string{"crash"}, Outcomes: map[string]int64{}, Faults: map[string]int64{"crash": 2}}
	tests := []struct {
		name    string
		reports []Report
		want    []string // prefixes of the silent kinds
	}{
		{"nothing on", []Report{{}}, nil},
		{"a kind that never acted", []Report{torn, tornAgain}, []string{"disk-torn: on in 2 seeds"}},
		{"a kind that acted once is enough", []Report{torn, {FaultsOn: []string{"disk-torn"}, Outcomes: map[string]int64{"writes_torn": 1}}}, nil},
		{"an injection counted in Faults", []Report{crash}, nil},
	}
	for _, tt := range tests {
		got := SilentFaults(tt.reports)
		if len(got) != len(tt.want) {
			t.Errorf("%s: SilentFaults = %q, want %d entries starting %q", tt.name, got, len(tt.want), tt.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("%s: SilentFaults[%d] = %q, want it to start %q", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestMissingMarks(t *testing.T) {
	sc := Scenario{RequiredMarks: []string{"wal/segment-rotated", "wal/torn-tail-truncated", "nosuch/mark"}}
	got := MissingMarks(sc, map[string]int64{"wal/segment-rotated": 4})
	want := []string{"nosuch/mark (not declared)", "wal/torn-tail-truncated"}
	if !slices.Equal(got, want) {
		t.Errorf("MissingMarks = %q, want %q", got, want)
	}
}

// Every registered scenario's required marks are declared.
func TestRequiredMarksDeclared(t *testing.T) {
	for _, sc := range All() {
		all := map[string]int64{}
		for _, name := range sc.RequiredMarks {
			all[name] = 1
		}
		if missing := MissingMarks(sc, all); len(missing) > 0 {
			t.Errorf("scenario %s requires marks that are not declared: %v", sc.Name, missing)
		}
	}
}
