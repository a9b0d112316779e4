package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// TestTrapNamesTheRightPlace: a trap names the thread that trapped, the
// instruction it was at and that instruction's source line.
func TestTrapNamesTheRightPlace(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		cfg       Config
		wantKind  sys.Trap
		wantTID   uint64
		wantOp    isa.Op
		wantWhere string
	}{
		{"budget in a spawned thread", "main:\n PUSH 0\n SPAWN worker\n JOIN\n EXIT\nworker:\n JMP worker\n",
			Config{BudgetTicks: 100000}, sys.TrapBudget, 2, isa.JMP, "t.flasm:7:2"},
		{"past the last instruction", "main:\n PUSH 1\n DROP\n", Config{}, sys.TrapBadJump, 1, isa.DROP, "t.flasm:3:2"},
	}
	for _, tc := range tests {
		r := runProgram(t, "t.flasm", []byte(tc.src), runOpts{cfg: tc.cfg, noOpt: true})
		trap := r.status.Trap
		if trap == nil {
			t.Errorf("%s: no trap, want %s", tc.name, tc.wantKind)
			continue
		}
		if trap.Kind != tc.wantKind || trap.TID != tc.wantTID || trap.Op != tc.wantOp || trap.Where != tc.wantWhere {
			t.Errorf("%s: trap %s in thread %d at %s (%s), want %s in thread %d at %s (%s)",
				tc.name, trap.Kind, trap.TID, trap.Where, trap.Op, tc.wantKind, tc.wantTID, tc.wantWhere, tc.wantOp)
		}
	}
}

// TestChildTrapReachesTheUser: the parent sees -1 from PWAIT, and the
// child's trap message (thread, instruction, pc, file:line) is written to
// the VM's diagnostics.
func TestChildTrapReachesTheUser(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bad.flasm"), []byte("main:\n PUSH 1\n PUSH 0\n DIV\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
.string path "bad.flasm"
.zero pids 8
main:
    PUSH path
    PUSH len(path)
    PUSH 0
    PUSH 0
    PSTART
    PUSH pids
    STORE
    PUSH pids
    PUSH 1
    PWAIT
    PUSH pids
    LOAD
    PRINT
    PUSH 0
    EXIT
`
	r := runProgram(t, "parent.flasm", []byte(src), runOpts{root: root})
	if r.out != "-1" {
		t.Errorf("parent printed %q, want -1", r.out)
	}
	for _, want := range []string{"bad.flasm:4:2", "division by zero", "thread 1 of process 2", "DIV", "started by process 1"} {
		if !strings.Contains(r.diag, want) {
			t.Errorf("diagnostics %q lack %q", r.diag, want)
		}
	}
}
