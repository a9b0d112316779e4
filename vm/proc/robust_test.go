package proc

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/flockvm/flock/diskmodel/osdisk"
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
	var out, diag bytes.Buffer
	vm := New(robustConfig, st, LoadFile(st.ReadFile), &diag)
	pid, err := vm.Start(p, []string{"7", "x"}, &out)
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

// programFromBytes turns arbitrary bytes into a valid program: 8 bytes per
// instruction (opcode, A, B), operands folded into range.
func programFromBytes(data []byte) *isa.Program {
	n := len(data) / 8
	if n == 0 {
		return nil
	}
	p := &isa.Program{File: "fuzz.fl", ROData: []byte("abc\x00def"), Data: make([]byte, 64)}
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
