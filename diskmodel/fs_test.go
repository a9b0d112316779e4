package diskmodel

import (
	"io/fs"
	"path"
	"strings"
	"testing"
)

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

// validNameReference is ValidName as first written, spelled out rule by
// rule: the fast ValidName must agree with it on every name.
func validNameReference(name string) bool {
	if name == "." {
		return true
	}
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." || elem == "." {
			return false
		}
	}
	return fs.ValidPath(name)
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{".", "a", "wal/0001.log", "", "/a", "a/", "a//b", "../a", "a/../b", "./a", "a/.", "a\\b", "a\x00b", "..", "a/b/c", "\xff", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := ValidName(name), validNameReference(name); got != want {
			t.Fatalf("ValidName(%q) = %v, want %v", name, got, want)
		}
	})
}
