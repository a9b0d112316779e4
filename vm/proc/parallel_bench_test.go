package proc

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
)

// bigParsum fills and sums a global array of n words with t threads: each
// thread writes its own slice (so filling is parallel too) and then sums
// it; the main thread adds the partial sums.
const bigParsum = `
const N = %d
const T = %d

fn worker(part []int, base int) int {
    for i in 0..len(part) {
        part[i] = base + i + 1
    }
    var sum = 0
    for _, v in part {
        sum += v
    }
    return sum
}

fn main() {
    arr := global new [N]int
    var tids [T]thread
    for k in 0..T {
        tids[k] = spawn worker(arr[k * N / T:(k + 1) * N / T], k * N / T)
    }
    var total = 0
    for _, t in tids {
        total += join(t)
    }
    println(total)
}
`

// localCompute: t threads each run a loop of n/t iterations on their own
// stack and locals (no global memory but the result), the main thread adds
// the results.
const localCompute = `
const N = %d
const T = %d

fn worker(from int, to int) int {
    var sum = 0
    for i in from..to {
        sum += i %% 7 + i
    }
    return sum
}

fn main() {
    var tids [T]thread
    for k in 0..T {
        tids[k] = spawn worker(k * N / T, (k + 1) * N / T)
    }
    var total = 0
    for _, t in tids {
        total += join(t)
    }
    println(total)
}
`

// parsumCase is one parallel workload and the output it must print.
type parsumCase struct {
	name string
	src  string
	want string
}

// parsumCases are the workloads: the large global sum, the thread-local
// loop, and examples/parsum.fl as it is (100000 words filled by the main
// thread alone, then summed by 16 threads: about half of it is serial).
func parsumCases(b testing.TB) []parsumCase {
	const n, threads = 4000000, 4
	var compute uint64
	for i := uint64(0); i < 20*n; i++ {
		compute += i%7 + i
	}
	return []parsumCase{
		{"global", fmt.Sprintf(bigParsum, n, threads), fmt.Sprintf("%d\n", uint64(n)*(n+1)/2)},
		{"compute", fmt.Sprintf(localCompute, 20*n, threads), fmt.Sprintf("%d\n", compute)},
		{"example", string(readExample(b, "parsum.fl")), "5000050000\n"},
	}
}

func compileSource(b testing.TB, name, src string) *isa.Program {
	p, err := Compile(name, []byte(src), nil, LoadOptions{})
	if err != nil {
		b.Fatalf("compile %s: %v", name, err)
	}
	return p
}

// runOnCores runs prog to its end on cores cores (in parallel if more than
// one) and returns its output.
func runOnCores(b testing.TB, prog *isa.Program, cores int) string {
	out, _ := runOnCoresBalance(b, prog, cores)
	return out
}

// runOnCoresBalance is runOnCores that also reports how evenly the work
// spread: the ticks run on all cores over the ticks of the busiest one
// (cores: perfectly even; 1: all on one core). It bounds the speedup
// whatever the machine's load.
func runOnCoresBalance(b testing.TB, prog *isa.Program, cores int) (string, float64) {
	var out strings.Builder
	vm := New(Config{Cores: cores, Parallel: cores > 1}, nullStorage{}, nil, io.Discard)
	pid, err := vm.Start(prog, nil, &out)
	if err != nil {
		b.Fatal(err)
	}
	vm.Run()
	if s, _ := vm.Status(pid); s.Trap != nil {
		b.Fatal(s.Trap)
	}
	var total, busiest int64
	for i := range cores {
		n := vm.cores.CoreTicks(i)
		total, busiest = total+n, max(busiest, n)
	}
	return out.String(), float64(total) / float64(max(busiest, 1))
}

// BenchmarkParsumCores1 and BenchmarkParsumCores2 run each parallel
// workload once per op on one core and on two parallel cores (4 threads
// in both): the speedup is the ratio of their ns/op.
func BenchmarkParsumCores1(b *testing.B) { benchParsumCores(b, 1) }
func BenchmarkParsumCores2(b *testing.B) { benchParsumCores(b, 2) }

func benchParsumCores(b *testing.B, cores int) {
	for _, c := range parsumCases(b) {
		b.Run(c.name, func(b *testing.B) {
			prog := compileSource(b, c.name+".fl", c.src)
			for b.Loop() {
				if out := runOnCores(b, prog, cores); out != c.want {
					b.Fatalf("%s on %d cores printed %q, want %q", c.name, cores, out, c.want)
				}
			}
		})
	}
}

// BenchmarkParsumSpeedup runs each workload on one and on two cores
// alternately, b.N times each, and reports the ratio of their fastest wall
// times (speedup: 1 core / 2 cores): interleaving and the minimum keep the
// ratio meaningful on a machine other work shares. It also reports, from
// the fastest runs, the CPU time two cores spend over what one spends
// (cpu-2/1: the cost of running in parallel; 1.0 is free) and how many
// cores the two-core run kept busy (busy-cores: its CPU time over its wall
// time; below 2 when the workload is serial somewhere or the machine is
// busy with other work), and how evenly the ticks of the last two-core run
// spread over the cores (tick-balance: 2 is even), which no load changes.
func BenchmarkParsumSpeedup(b *testing.B) {
	for _, c := range parsumCases(b) {
		b.Run(c.name, func(b *testing.B) {
			prog := compileSource(b, c.name+".fl", c.src)
			best := [2]time.Duration{1 << 62, 1 << 62}
			bestCPU := [2]time.Duration{1 << 62, 1 << 62}
			var busy, balance float64
			for range b.N {
				for k, cores := range []int{1, 2} {
					start, startCPU := time.Now(), cpuTime(b)
					out, bal := runOnCoresBalance(b, prog, cores)
					if out != c.want {
						b.Fatalf("%s on %d cores printed %q, want %q", c.name, cores, out, c.want)
					}
					if k == 1 {
						balance = bal
					}
					wall, cpu := time.Since(start), cpuTime(b)-startCPU
					if wall < best[k] && k == 1 {
						busy = float64(cpu) / float64(wall)
					}
					best[k], bestCPU[k] = min(best[k], wall), min(bestCPU[k], cpu)
				}
			}
			b.ReportMetric(float64(best[0])/float64(best[1]), "speedup")
			b.ReportMetric(float64(bestCPU[1])/float64(bestCPU[0]), "cpu-2/1")
			b.ReportMetric(busy, "busy-cores")
			b.ReportMetric(balance, "tick-balance")
			b.ReportMetric(float64(best[0])/1e6, "1core-ms")
			b.ReportMetric(float64(best[1])/1e6, "2cores-ms")
		})
	}
}

// BenchmarkSpawnJoinParallel is BenchmarkSpawnJoin on two parallel cores:
// the cost of SPAWN + the thread's life + JOIN when the child may run on
// the other core (its wake-up included).
func BenchmarkSpawnJoinParallel(b *testing.B) {
	prog, err := asm.Assemble("spawn.flasm", []byte(fmt.Sprintf(spawnJoin, b.N)), asm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	runOnCores(b, prog, 2)
}
