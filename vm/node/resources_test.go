package node

import (
	"strings"
	"testing"
)

func TestParseResources(t *testing.T) {
	tests := []struct {
		in   string
		want Resources
	}{
		{"cpu:3,disk:32GiB,ram:95%", Resources{Cores: 3, DiskBytes: 32 << 30, RAMPercent: 95}},
		{"cpu:1", Resources{Cores: 1}},
		{" ram : 512MiB , cpu:2 ", Resources{Cores: 2, RAMBytes: 512 << 20}},
		{"disk:1TB", Resources{DiskBytes: 1e12}},
		{"disk:100%", Resources{DiskPercent: 100}},
		{"ram:4096B", Resources{RAMBytes: 4096}},
		{"ram:2G", Resources{RAMBytes: 2 << 30}},
		{"CPU:4", Resources{Cores: 4}},
	}
	for _, tc := range tests {
		got, err := ParseResources(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseResources(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseResourcesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"gpu:1", "unknown resource"},
		{"cpu:0", "at least one"},
		{"cpu:-2", "at least one"},
		{"cpu:x", "not a number"},
		{"ram:101%", "at most 100"},
		{"ram:0%", "above 0"},
		{"disk:32", "no unit"},
		{"disk:32PB", "not a size"},
		{"disk:0GiB", "above zero"},
		{"disk:99999999999TiB", "overflows"},
		{"cpu:2,cpu:3", "given twice"},
		{"cpu", "key:amount"},
		{strings.Repeat("cpu:1,", 100), "longer than"},
	}
	for _, tc := range tests {
		_, err := ParseResources(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseResources(%q) error = %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

func TestResourcesResolveAndString(t *testing.T) {
	r, err := ParseResources("cpu:3,disk:50%,ram:25%")
	if err != nil {
		t.Fatal(err)
	}
	got := r.Resolve(16<<30, 200<<30)
	if got.RAMBytes != 4<<30 || got.DiskBytes != 100<<30 {
		t.Errorf("Resolve = %+v, want ram 4GiB disk 100GiB", got)
	}
	if s := got.String(); s != "cpu:3,disk:100GiB,ram:4GiB" {
		t.Errorf("String() = %q, want cpu:3,disk:100GiB,ram:4GiB", s)
	}
	if s := r.String(); s != "cpu:3,disk:50%,ram:25%" {
		t.Errorf("String() = %q, want cpu:3,disk:50%%,ram:25%%", s)
	}
}

// FuzzParseResources: no input panics, and whatever parses prints as text
// that parses to the same value.
func FuzzParseResources(f *testing.F) {
	for _, s := range []string{"cpu:3,disk:32GiB,ram:95%", "ram:1B", "disk:7TB", "cpu:", ":", ",,", "ram:1e3%", "ram:NaN%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResources(s)
		if err != nil {
			return
		}
		if r.String() == "" {
			return
		}
		again, err := ParseResources(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseResources(%q) = %+v; its String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
