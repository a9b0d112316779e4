package proc

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// nullStorage refuses every operation: benchmarks need no disk.
type nullStorage struct{}

func (nullStorage) Open(sys.Caller, string, sys.OpenMode) (sys.Reply, bool) {
	return sys.ErrReply(sys.EACCES), true
}
func (nullStorage) Close(sys.Caller, uint64) (sys.Reply, bool) { return sys.ErrReply(sys.EBADF), true }
func (nullStorage) Read(sys.Caller, uint64, uint64, uint64) (sys.Reply, bool) {
	return sys.ErrReply(sys.EBADF), true
}
func (nullStorage) Write(sys.Caller, uint64, uint64, []byte) (sys.Reply, bool) {
	return sys.ErrReply(sys.EBADF), true
}
func (nullStorage) Size(sys.Caller, uint64) (sys.Reply, bool) { return sys.ErrReply(sys.EBADF), true }
func (nullStorage) List(sys.Caller, string) (sys.Reply, bool) { return sys.ErrReply(sys.EACCES), true }
func (nullStorage) Remove(sys.Caller, string) (sys.Reply, bool) {
	return sys.ErrReply(sys.EACCES), true
}
func (nullStorage) Mkdir(sys.Caller, string) (sys.Reply, bool) { return sys.ErrReply(sys.EACCES), true }
func (nullStorage) Rename(sys.Caller, string, string) (sys.Reply, bool) {
	return sys.ErrReply(sys.EACCES), true
}
func (nullStorage) GetAttr(sys.Caller, string) (sys.Reply, bool) {
	return sys.ErrReply(sys.EACCES), true
}
func (nullStorage) SetAttr(sys.Caller, string, sys.AttrChange) (sys.Reply, bool) {
	return sys.ErrReply(sys.EACCES), true
}
func (nullStorage) Release(uint64) {}

func assembleExample(b *testing.B, name string) *isa.Program {
	p, err := asm.Assemble(name, readExample(b, name), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// runBench runs prog to its end and returns its output.
func runBench(b testing.TB, prog *isa.Program, args []string) string {
	var out bytes.Buffer
	vm := New(Config{}, nullStorage{}, nil, io.Discard)
	pid, err := vm.Start(prog, args, &out)
	if err != nil {
		b.Fatal(err)
	}
	vm.Run()
	if s, _ := vm.Status(pid); s.Trap != nil {
		b.Fatal(s.Trap)
	}
	return out.String()
}

// BenchmarkLoop runs examples/loop.flasm with N = b.N: ns/op is ns per loop
// iteration.
func BenchmarkLoop(b *testing.B) {
	prog := assembleExample(b, "loop.flasm")
	b.ResetTimer()
	out := runBench(b, prog, []string{strconv.Itoa(b.N)})
	n := uint64(b.N)
	if want := fmt.Sprintf("%d\n", n*(n-1)/2); out != want {
		b.Fatalf("loop.flasm %d printed %q, want %q", b.N, out, want)
	}
}

// BenchmarkFib30 runs examples/fib.flasm (fib(30) by plain recursion) once per
// op.
func BenchmarkFib30(b *testing.B) {
	prog := assembleExample(b, "fib.flasm")
	b.ResetTimer()
	for range b.N {
		if out := runBench(b, prog, nil); out != "832040\n" {
			b.Fatalf("fib.flasm printed %q", out)
		}
	}
}

const spawnJoin = `
main:
    ENTER 0, 1
    ARGC
    JZ go
go:
loop:
    GET 0
    PUSH %d
    LT
    JZ done
    PUSH 0
    SPAWN child
    JOIN
    DROP
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP loop
done:
    PUSH 0
    EXIT
child:
    RET
`

// BenchmarkSpawnJoin: the cost of SPAWN + the thread's life + JOIN.
func BenchmarkSpawnJoin(b *testing.B) {
	prog, err := asm.Assemble("spawn.flasm", []byte(fmt.Sprintf(spawnJoin, b.N)), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	runBench(b, prog, nil)
}

const idleThreads = `
.zero word 8
main:
    ENTER 0, 1
    PUSH 8
    GALLOC
    PUSH word
    STORE
loop:
    GET 0
    PUSH %d
    LT
    JZ done
    PUSH 0
    SPAWN idle
    DROP
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP loop
done:
idle:
    PUSH word
    LOAD
    PUSH 0
    WAIT
    RET
`

// BenchmarkIdleThreads reports the Go heap bytes one idle thread (parked
// in WAIT) costs, measured over 10000 threads.
func BenchmarkIdleThreads(b *testing.B) {
	const n = 10000
	prog, err := asm.Assemble("idle.flasm", []byte(fmt.Sprintf(idleThreads, n)), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		vm := New(Config{}, nullStorage{}, nil, io.Discard)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := vm.Start(prog, nil, io.Discard); err != nil {
			b.Fatal(err)
		}
		// Run until every thread, main included, waits.
		vm.Machine().Run(1 << 30)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := vm.Machine().Threads(); got != n+1 {
			b.Fatalf("%d threads live, want %d", got, n+1)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/thread")
		runtime.KeepAlive(vm)
	}
}

const globalLoads = `
main:
    ENTER 0, 2
    PUSH 8
    GALLOC
    SET 1
loop:
    GET 0
    PUSH %d
    LT
    JZ done
    GET 1
    LOAD
    DROP
    INCL 0, 1
    JMP loop
done:
    PUSH 0
    EXIT
`

// BenchmarkGlobalLoad: one LOAD of a global word (through sys.Global,
// answered at once by the local implementation) per op.
func BenchmarkGlobalLoad(b *testing.B) {
	prog, err := asm.Assemble("gload.flasm", []byte(fmt.Sprintf(globalLoads, b.N)), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	runBench(b, prog, nil)
}
