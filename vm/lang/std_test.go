package lang_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/lang/format"
	"github.com/flockvm/flock/vm/lang/std"
)

// TestStdModules: every standard module compiles on its own and is in the
// canonical layout.
func TestStdModules(t *testing.T) {
	mods := std.Modules()
	if len(mods) < 10 {
		t.Fatalf("std.Modules() = %v: the library is missing modules", mods)
	}
	for _, name := range mods {
		src := fmt.Sprintf("import %q\n\nfn main() {}\n", name)
		if _, err := lang.Compile("m.fl", []byte(src), nil, lang.Options{}); err != nil {
			t.Errorf("import %q: %v", name, err)
		}
		text, _ := std.Source(name)
		out, err := format.Source(name+".fl", text)
		if err != nil {
			t.Errorf("std %s: %v", name, err)
			continue
		}
		if !bytes.Equal(out, text) {
			t.Errorf("std %s is not in the canonical layout (flock fmt)", name)
		}
	}
	if _, ok := std.Source("../etc/passwd"); ok {
		t.Errorf("std.Source accepted a path")
	}
}
