package scenarios

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkKVScenario runs one seed of the kv scenario per iteration (seeds
// 0, 1, 2, ...) and reports time compression (simulated time per wall time),
// simulated events per wall second and seeds per minute on one core.
func BenchmarkKVScenario(b *testing.B) { benchScenario(b, kvScenarioName) }

// BenchmarkVMScenario is BenchmarkKVScenario for the vm scenario (Flock
// programs on a simulated VM).
func BenchmarkVMScenario(b *testing.B) { benchScenario(b, vmScenarioName) }

// benchScenario runs seeds 0, 1, 2, ... of a scenario, one per iteration,
// each of which must pass, and reports time compression (simulated time
// per wall second, and per CPU second, which other load on the machine
// does not distort), simulated events and checked operations per wall
// second, and seeds per wall and per CPU minute.
func benchScenario(b *testing.B, name string) {
	var simNs, events, ops int64
	start, cpu0 := time.Now(), cpuTime()
	for i := range b.N {
		r, err := Run(name, Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Result != ResultPass {
			b.Fatalf("seed %d: %s: %s", i, r.Failure, r.Violation)
		}
		simNs += r.SimNs
		events += int64(r.Events)
		ops += int64(r.Ops)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(simNs)/float64(wall.Nanoseconds()), "x-compression")
	b.ReportMetric(float64(simNs)/float64(cpu.Nanoseconds()), "x-compression-cpu")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(ops)/wall.Seconds(), "ops/s")
	b.ReportMetric(float64(b.N)/wall.Minutes(), "seeds/min")
	b.ReportMetric(float64(b.N)/cpu.Minutes(), "seeds/cpu-min")
}

// cpuTime is the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
