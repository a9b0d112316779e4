package diskmodel

import "testing"

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{".", true},
		{"a", true},
		{"wal/0001.log", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"../a", false},
		{"a/../b", false},
		{"./a", false},
		{"a\\b", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
