package proc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInstructions runs the golden cases in testdata/instructions three
// ways (superinstructions, none, every answer delayed); all must agree.
func TestInstructions(t *testing.T) {
	datadriven.RunTest(t, "testdata/instructions", func(t *testing.T, d *datadriven.TestData) string {
		src := "main:\n" + d.Input + "\nPUSH 0\nEXIT\n"
		var outs []string
		for _, o := range []runOpts{{}, {noOpt: true}, {delayed: true, seed: 3, delayMax: 3, quantum: 2}} {
			outs = append(outs, describe(runProgram(t, "case.flasm", []byte(src), o)))
		}
		if outs[1] != outs[0] || outs[2] != outs[0] {
			t.Errorf("runs disagree:\noptimized:   %q\nunoptimized: %q\ndelayed:     %q", outs[0], outs[1], outs[2])
		}
		return outs[0]
	})
}

func describe(r result) string {
	var sb strings.Builder
	sb.WriteString(r.out)
	switch {
	case r.status.Trap != nil:
		if r.out != "" && !strings.HasSuffix(r.out, "\n") {
			sb.WriteByte('\n')
		}
		where := r.status.Trap.Where
		line := where[strings.Index(where, ":")+1:]
		line = line[:strings.Index(line, ":")]
		fmt.Fprintf(&sb, "trap: %s at line %s", r.status.Trap.Kind, line)
	case r.status.Code != 0:
		fmt.Fprintf(&sb, "exit %d", r.status.Code)
	}
	return sb.String()
}
