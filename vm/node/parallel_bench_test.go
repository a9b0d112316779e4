package node

import (
	"fmt"
	"testing"
	"time"
)

// pagesProgram: T threads each increment a word of a page of their own
// K times with a plain load and store (no atomics), then main prints the
// sum: every access is a global one, on pages the machine holds.
const pagesProgram = `
.const T %d
.const K %d
.zero base 8
.zero tids T*8

main:
    ENTER 0, 1
    PUSH T*4096
    GALLOC
    PUSH base
    STORE
    PUSH 0
    SET 0
spawn:
    GET 0
    PUSH T
    LT
    JZ spawned
    GET 0
    PUSH 4096
    MUL
    PUSH base
    LOAD
    ADD
    SPAWN worker
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    STORE
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP spawn
spawned:
    PUSH 0
    SET 0
join:
    GET 0
    PUSH T
    LT
    JZ joined
    GET 0
    PUSH 8
    MUL
    PUSH tids
    ADD
    LOAD
    JOIN
    DROP
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP join
joined:
    PUSH 0
    SET 0
    PUSH 0
sum:
    GET 0
    PUSH T
    LT
    JZ summed
    GET 0
    PUSH 4096
    MUL
    PUSH base
    LOAD
    ADD
    LOAD
    ADD
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP sum
summed:
    PRINT
    PUSH '\n'
    PUTC
    PUSH 0
    EXIT

worker:
    ENTER 1, 1              ; local 0 = the thread's word, 1 = i
    PUSH 0
    SET 1
next:
    GET 1
    PUSH K
    LT
    JZ done
    GET 0
    GET 0
    LOAD
    PUSH 1
    ADD
    SWAP
    STORE
    GET 1
    PUSH 1
    ADD
    SET 1
    JMP next
done:
    PUSH 0
    TEXIT
`

// BenchmarkNodeParallelHeldPages runs pagesProgram (4 threads, global
// loads and stores on pages of their own) on one machine with coherent
// memory and parallel cores, on 1 core and on 2, and reports the
// wall-time speedup (best of b.N runs each): with the direct path the two
// cores share held pages without the node's lock.
func BenchmarkNodeParallelHeldPages(b *testing.B) {
	const threads, adds = 4, 400_000
	src := fmt.Sprintf(pagesProgram, threads, adds)
	best := [2]time.Duration{1 << 62, 1 << 62}
	for range b.N {
		for k, cores := range []int{1, 2} {
			c := newClusterParallel(b, 1, 5, func(cfg *Config) {
				coherentMemory(cfg)
				cfg.Provide.Cores = cores
			})
			if !c.runUntil(c.allJoinedLocked, 40000) {
				b.Fatalf("node did not join")
			}
			start := time.Now()
			out := runProgramParallel(b, c, src)
			best[k] = min(best[k], time.Since(start))
			if want := fmt.Sprintf("%d\n", threads*adds); out != want {
				b.Fatalf("on %d cores: output %q, want %q", cores, out, want)
			}
		}
	}
	b.ReportMetric(float64(best[0])/float64(best[1]), "speedup")
	b.ReportMetric(float64(best[0])/1e6, "1core-ms")
	b.ReportMetric(float64(best[1])/1e6, "2cores-ms")
}
