package proc

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/interp"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/storage"
	"pgregory.net/rapid"
)

// robustConfig keeps random programs small and short.
var robustConfig = Config{
	Machine:        interp.Config{QuantumTicks: 50, StackWordsMax: 256, CallDepthMax: 64},
	MemoryBytesMax: 8 << 20,
	ThreadsMax:     16,
	BudgetTicks:    5000,
	ProcessesMax:   4,
}

// runAny runs any valid program to its end; it fails only by panicking.
func runAny(t testing.TB, root string, p *isa.Program) {
	disk, err := osdisk.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	var diag bytes.Buffer
	vm := New(robustConfig, st, LoadFile(st.ReadFile), &diag)
	// Output is counted, not kept: a random loop may print gigabytes.
	pid, err := vm.Start(p, []string{"7", "x"}, &countingWriter{})
	if err != nil {
		return
	}
	for range 1000 {
		if vm.Live() == 0 {
			break
		}
		vm.Drive(10000, func() bool { return false })
	}
	if _, ok := vm.Status(pid); !ok {
		t.Fatalf("process still running after its budget")
	}
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// programFromBytes turns arbitrary bytes into a valid program: 8 bytes per
// instruction (opcode, A, B), operands folded into range.
func programFromBytes(data []byte) *isa.Program {
	n := len(data) / 8
	if n == 0 {
		return nil
	}
	p := &isa.Program{File: "fuzz.flasm", ROData: []byte("abc\x00def"), Data: make([]byte, 64)}
	for i := range n {
		c := data[8*i : 8*i+8]
		op := isa.Op(c[0] % byte(isa.NumOps))
		in := isa.Instr{Op: op, A: int32(c[1]), B: int64(int16(binary.LittleEndian.Uint16(c[2:4])))}
		if c[4]&1 == 1 {
			in.B = int64(binary.LittleEndian.Uint32(c[4:8])) << 1 // large values and addresses
		}
		switch op.Info().Operands {
		case isa.OperSlot, isa.OperCount, isa.OperSlotImm, isa.OperSlotSlot, isa.OperEnter:
			in.A = int32(c[1] % 8)
			if op.Info().Operands == isa.OperSlotSlot || op.Info().Operands == isa.OperEnter {
				in.B = int64(c[2] % 8)
			}
		case isa.OperSlotSlotL:
			in.B = isa.PackSlots(int32(c[2]%8), int32(c[3]%8))
		case isa.OperSlotImmL:
			in.B = isa.PackSlotImm(int32(c[2]%8), int32(int8(c[3])))
		}
		if op.HasTarget() {
			in.A = int32(int(c[1]) % n)
		}
		p.Code = append(p.Code, in)
		p.Pos = append(p.Pos, isa.Pos{Line: int32(i + 1), Col: 1})
	}
	if p.Validate() != nil {
		return nil
	}
	return p
}

// TestRandomBytecodeNeverPanics runs random valid programs, every opcode
// with random operands: each ends (exit, trap, deadlock or budget) without
// a Go panic.
func TestRandomBytecodeNeverPanics(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		data := rapid.SliceOfN(rapid.Byte(), 8, 8*60).Draw(rt, "code")
		if p := programFromBytes(data); p != nil {
			runAny(t, root, p)
		}
	})
}

// FuzzRun: arbitrary bytes made into a program never make the VM panic.
func FuzzRun(f *testing.F) {
	f.Add([]byte{byte(isa.PUSH), 0, 5, 0, 0, 0, 0, 0, byte(isa.PRINT), 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{byte(isa.PUSH), 0, 0, 0, 0, 0, 0, 0, byte(isa.SPAWN), 0, 0, 0, 0, 0, 0, 0, byte(isa.JOIN), 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{byte(isa.PUSH), 0, 8, 0, 0, 0, 0, 0, byte(isa.GALLOC), 0, 0, 0, 0, 0, 0, 0, byte(isa.PUSH), 0, 0, 0, 0, 0, 0, 0, byte(isa.WAIT), 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{byte(isa.ENTER), 0, 2, 0, 0, 0, 0, 0, byte(isa.CondBranch(isa.FormLL, isa.CondLT)), 0, 1, 0, 0, 0, 0, 0})
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8*200 {
			return
		}
		if p := programFromBytes(data); p != nil {
			runAny(t, root, p)
		}
	})
}

// sourceLine draws one line of plausible-but-random .flasm source: a label, a
// directive or an instruction with random operands, all from a vocabulary
// that makes most programs assemble.
func sourceLine(t *rapid.T) string {
	names := []string{"a", "b", "c", "main", "s", "z", "w"}
	operand := rapid.OneOf(
		rapid.Map(rapid.Int64Range(-3, 20), func(v int64) string { return strconv.FormatInt(v, 10) }),
		rapid.SampledFrom(names),
		rapid.SampledFrom([]string{"len(s)", "len(z)", "0x8000000000000000", "-1", "'x'", "4096"}),
	)
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return rapid.SampledFrom(names).Draw(t, "label") + ":"
	case 1:
		return rapid.SampledFrom([]string{`.string s "hi\n"`, ".zero z 64", ".words w 1, 2", ".const c 3", ".entry main"}).Draw(t, "directive")
	default:
		op := isa.Op(rapid.IntRange(0, int(isa.NumOps)-1).Draw(t, "op"))
		n := op.Info().Operands.Count()
		if rapid.IntRange(0, 9).Draw(t, "arity error") == 0 {
			n = rapid.IntRange(0, 3).Draw(t, "n")
		}
		ops := make([]string, n)
		for i := range ops {
			ops[i] = operand.Draw(t, "operand")
		}
		return op.String() + " " + strings.Join(ops, ", ")
	}
}

// TestRandomSourceNeverPanics: random source either fails to assemble with
// file:line:col errors, or runs to its end; never a panic.
func TestRandomSourceNeverPanics(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		lines := rapid.SliceOfN(rapid.Custom(sourceLine), 1, 40).Draw(rt, "lines")
		src := strings.Join(lines, "\n")
		p, err := asm.Assemble("r.flasm", []byte(src), asm.Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "r.flasm:") {
				rt.Fatalf("assembly error without a position: %v", err)
			}
			return
		}
		runAny(t, root, p)
	})
}

// FuzzRunSource: arbitrary source never makes the assembler or the VM panic.
func FuzzRunSource(f *testing.F) {
	for _, name := range []string{"hello.flasm", "fib.flasm", "counter_cas.flasm", "prodcons.flasm"} {
		f.Add(string(readExample(f, name)))
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, src string) {
		p, err := asm.Assemble("f.flasm", []byte(src), asm.Options{})
		if err != nil {
			return
		}
		runAny(t, root, p)
	})
}
