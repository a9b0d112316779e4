package interp

import (
	"testing"

	"github.com/flockvm/flock/vm/isa"
)

// TestEverySlowOpHasItsOwnHandler: every instruction of a group that
// reaches outside the thread is in opHandlers, so adding one without a
// handler fails here instead of running another operation's code.
func TestEverySlowOpHasItsOwnHandler(t *testing.T) {
	slowGroups := map[string]bool{"memory": true, "atomic": true, "thread": true, "process": true, "output": true, "storage": true}
	for op := isa.Op(0); op < isa.NumOps; op++ {
		if slowGroups[op.Info().Group] && opHandlers[op] == nil {
			t.Errorf("opHandlers[%s] = nil, want a handler for every %s instruction", op, op.Info().Group)
		}
	}
}
