package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/flockvm/flock/vm/isa"
)

// compileExample compiles examples/<name> by its extension (.fl or .flasm).
func compileExample(b *testing.B, name string) *isa.Program {
	path := filepath.Join("../../examples", name)
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(path, src, os.ReadFile, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkLoopLang and BenchmarkLoopAsm run the sum loop with N = b.N in
// the language (examples/loop.fl) and in hand-written assembly
// (examples/loop.flasm): ns/op is ns per iteration.
func BenchmarkLoopLang(b *testing.B) { benchLoop(b, "loop.fl") }
func BenchmarkLoopAsm(b *testing.B)  { benchLoop(b, "loop.flasm") }

func benchLoop(b *testing.B, name string) {
	prog := compileExample(b, name)
	b.ResetTimer()
	out := runBench(b, prog, []string{strconv.Itoa(b.N)})
	n := uint64(b.N)
	if want := fmt.Sprintf("%d\n", n*(n-1)/2); out != want {
		b.Fatalf("%s %d printed %q, want %q", name, b.N, out, want)
	}
}

// BenchmarkFib30Lang and BenchmarkFib30Asm compute fib(30) by plain
// recursion once per op.
func BenchmarkFib30Lang(b *testing.B) { benchFib(b, "fib.fl") }
func BenchmarkFib30Asm(b *testing.B)  { benchFib(b, "fib.flasm") }

func benchFib(b *testing.B, name string) {
	prog := compileExample(b, name)
	b.ResetTimer()
	for range b.N {
		if out := runBench(b, prog, []string{"30"}); out != "832040\n" {
			b.Fatalf("%s printed %q", name, out)
		}
	}
}

// BenchmarkParsumLang and BenchmarkParsumAsm run the parallel sum (fill a
// global array of 100000 words, 16 threads each sum a part) once per op.
func BenchmarkParsumLang(b *testing.B) { benchParsum(b, "parsum.fl") }
func BenchmarkParsumAsm(b *testing.B)  { benchParsum(b, "parsum.flasm") }

func benchParsum(b *testing.B, name string) {
	prog := compileExample(b, name)
	b.ResetTimer()
	for range b.N {
		if out := runBench(b, prog, nil); out != "5000050000\n" {
			b.Fatalf("%s printed %q", name, out)
		}
	}
}

// BenchmarkLangVsAsm runs the language and assembly versions of each
// program alternately, b.N times each, and reports the ratio of their
// fastest runs (lang/asm) in CPU time (what the process got, so other load
// on the machine does not count) and in wall time: interleaving and the
// minimum make the ratio stable on a busy machine, where two separate
// benchmarks are not.
func BenchmarkLangVsAsm(b *testing.B) {
	type pair struct {
		name string
		args []string
		want string
	}
	for _, pr := range []pair{
		{"loop", []string{"20000000"}, "199999990000000\n"},
		{"fib", []string{"30"}, "832040\n"},
		{"parsum", nil, "5000050000\n"},
	} {
		b.Run(pr.name, func(b *testing.B) {
			progs := [2]*isa.Program{compileExample(b, pr.name+".fl"), compileExample(b, pr.name+".flasm")}
			best := [2]time.Duration{1 << 62, 1 << 62}
			bestCPU := [2]time.Duration{1 << 62, 1 << 62}
			for range b.N {
				for k, p := range progs {
					start, startCPU := time.Now(), cpuTime(b)
					if out := runBench(b, p, pr.args); out != pr.want {
						b.Fatalf("%s printed %q, want %q", pr.name, out, pr.want)
					}
					best[k] = min(best[k], time.Since(start))
					bestCPU[k] = min(bestCPU[k], cpuTime(b)-startCPU)
				}
			}
			b.ReportMetric(float64(bestCPU[0])/float64(bestCPU[1]), "lang/asm-cpu")
			b.ReportMetric(float64(best[0])/float64(best[1]), "lang/asm-wall")
			b.ReportMetric(float64(bestCPU[0].Microseconds()), "lang-cpu-µs")
			b.ReportMetric(float64(bestCPU[1].Microseconds()), "asm-cpu-µs")
		})
	}
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
