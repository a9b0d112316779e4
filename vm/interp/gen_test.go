package interp

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/isa"
)

// condExpr is Go for condition c on words x and y.
func condExpr(c isa.Cond, x, y string) string {
	switch c {
	case isa.CondEQ:
		return x + " == " + y
	case isa.CondNE:
		return x + " != " + y
	case isa.CondLT, isa.CondLE, isa.CondGT, isa.CondGE:
		op := map[isa.Cond]string{isa.CondLT: "<", isa.CondLE: "<=", isa.CondGT: ">", isa.CondGE: ">="}[c]
		return "int64(" + x + ") " + op + " int64(" + y + ")"
	}
	op := map[isa.Cond]string{isa.CondLTU: "<", isa.CondLEU: "<=", isa.CondGTU: ">", isa.CondGEU: ">="}[c]
	return x + " " + op + " " + y
}

const branchTaken = `				tgt := int(in.A)
				if tgt <= pc {
					budget -= pc - tgt + 1
					if budget <= 0 {
						pc = tgt
						goto quantum
					}
				}
				pc = tgt
			} else {
				pc++
			}
`

// memoryCases is the dispatch code for word accesses to memory: the
// thread-local fast path, then global memory held on this machine through
// the TLB (refilled once from the process's Table on a miss) or, for a
// process whose global memory is all on this machine (mem.LocalGlobal),
// through its page store, else the slow path (exitSlow: slowOp asks
// sys.Global, or the local memory, and traps).
const memoryCases = `		case isa.LOAD:
			if sp < 1 {
				goto underflow
			}
			if a := st[sp-1]; a&isa.GlobalBit == 0 {
				if v, ok := t.local.Word(a); ok {
					st[sp-1] = v
					pc++
					break
				}
			} else if gt != nil {
				v, ok := tlb.Load64(gt, a)
				if !ok && tlb.Fill(gt, a) {
					v, ok = tlb.Load64(gt, a)
				}
				if ok {
					st[sp-1] = v
					pc++
					break
				}
			} else if gp != nil {
				if v, ok := gp.Load64(a); ok {
					st[sp-1] = v
					pc++
					break
				}
			}
			why = exitSlow
			goto save
		case isa.STORE:
			if sp < 2 {
				goto underflow
			}
			if a := st[sp-1]; a&isa.GlobalBit == 0 {
				if a&7 == 0 && t.local.SetWord(a, st[sp-2]) {
					sp -= 2
					pc++
					break
				}
			} else if gt != nil {
				ok := tlb.Store64(gt, a, st[sp-2])
				if !ok && tlb.Fill(gt, a) {
					ok = tlb.Store64(gt, a, st[sp-2])
				}
				if ok {
					sp -= 2
					pc++
					break
				}
			} else if gp != nil && gp.Store64(a, st[sp-2]) {
				sp -= 2
				pc++
				break
			}
			why = exitSlow
			goto save
		case isa.FAA:
			if sp >= 2 && (gt != nil || gp != nil) {
				var old uint64
				var ok bool
				if gt != nil {
					old, ok = tlb.FetchAdd(gt, st[sp-2], st[sp-1])
					if !ok && tlb.Fill(gt, st[sp-2]) {
						old, ok = tlb.FetchAdd(gt, st[sp-2], st[sp-1])
					}
				} else {
					old, ok = gp.FetchAdd(st[sp-2], st[sp-1])
				}
				if ok {
					sp--
					st[sp-1] = old
					pc++
					break
				}
			}
			why = exitSlow
			goto save
		case isa.CAS:
			if sp >= 3 && (gt != nil || gp != nil) {
				var swapped, ok bool
				if gt != nil {
					swapped, ok = tlb.CompareAndSwap(gt, st[sp-3], st[sp-2], st[sp-1])
					if !ok && tlb.Fill(gt, st[sp-3]) {
						swapped, ok = tlb.CompareAndSwap(gt, st[sp-3], st[sp-2], st[sp-1])
					}
				} else {
					swapped, ok = gp.CompareAndSwap(st[sp-3], st[sp-2], st[sp-1])
				}
				if ok {
					var r uint64
					if swapped {
						r = 1
					}
					sp -= 2
					st[sp-1] = r
					pc++
					break
				}
			}
			why = exitSlow
			goto save
`

// generatedCases is the dispatch code for memory accesses, comparisons and
// fused branches, kept in exec.go between the GENERATED markers.
func generatedCases() string {
	var sb strings.Builder
	sb.WriteString(memoryCases)
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	for c := isa.Cond(0); c < isa.NumConds; c++ {
		op, _ := isa.CondOfCompare(isa.EQ + isa.Op(c))
		w("\t\tcase isa.%s:\n", (isa.EQ + isa.Op(op)).String())
		w("\t\t\tif sp < 2 {\n\t\t\t\tgoto underflow\n\t\t\t}\n\t\t\tsp--\n\t\t\tvar r uint64\n")
		w("\t\t\tif %s {\n\t\t\t\tr = 1\n\t\t\t}\n\t\t\tst[sp-1] = r\n\t\t\tpc++\n", condExpr(c, "st[sp-1]", "st[sp]"))
	}
	for f := isa.BranchForm(0); f < isa.NumForms; f++ {
		for c := isa.Cond(0); c < isa.NumConds; c++ {
			w("\t\tcase isa.%s:\n", isa.CondBranch(f, c))
			var cond string
			switch f {
			case isa.FormSS:
				w("\t\t\tif sp < 2 {\n\t\t\t\tgoto underflow\n\t\t\t}\n\t\t\tsp -= 2\n")
				cond = condExpr(c, "st[sp]", "st[sp+1]")
			case isa.FormSI:
				w("\t\t\tif sp < 1 {\n\t\t\t\tgoto underflow\n\t\t\t}\n\t\t\tsp--\n")
				cond = condExpr(c, "st[sp]", "uint64(in.B)")
			case isa.FormDI:
				w("\t\t\tif sp < 1 {\n\t\t\t\tgoto underflow\n\t\t\t}\n")
				cond = condExpr(c, "st[sp-1]", "uint64(in.B)")
			case isa.FormLL:
				w("\t\t\ta, b := int(isa.Lo(in.B)), int(isa.Hi(in.B))\n")
				w("\t\t\tif a >= fl || b >= fl {\n\t\t\t\tgoto badLocal\n\t\t\t}\n")
				cond = condExpr(c, "st[fp+a]", "st[fp+b]")
			case isa.FormLI:
				w("\t\t\ta := int(isa.Lo(in.B))\n")
				w("\t\t\tif a >= fl {\n\t\t\t\tgoto badLocal\n\t\t\t}\n")
				cond = condExpr(c, "st[fp+a]", "uint64(int64(isa.Hi(in.B)))")
			}
			w("\t\t\tif %s {\n%s", cond, branchTaken)
		}
	}
	return sb.String()
}

const (
	genBegin = "// BEGIN GENERATED"
	genEnd   = "\t\t// END GENERATED"
)

// TestGenerated checks that exec.go holds the current generated cases;
// FLOCK_UPDATE_GEN=1 rewrites them.
func TestGenerated(t *testing.T) {
	src, err := os.ReadFile("exec.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	b := strings.Index(s, genBegin)
	e := strings.Index(s, genEnd)
	if b < 0 || e < b {
		t.Fatal("exec.go: GENERATED markers missing")
	}
	b += strings.Index(s[b:], "\n") + 1
	want := generatedCases()
	if s[b:e] == want {
		return
	}
	if os.Getenv("FLOCK_UPDATE_GEN") == "1" {
		if err := os.WriteFile("exec.go", []byte(s[:b]+want+s[e:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("exec.go: generated cases are stale; run FLOCK_UPDATE_GEN=1 go test -run TestGenerated ./vm/interp")
}
