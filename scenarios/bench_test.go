package scenarios

import (
	"testing"
	"time"
)

// BenchmarkKVScenario runs one seed of the kv scenario per iteration (seeds
// 0, 1, 2, ...) and reports time compression (simulated time per wall time),
// simulated events per wall second and seeds per minute on one core.
func BenchmarkKVScenario(b *testing.B) {
	var simNs, events int64
	start := time.Now()
	for i := range b.N {
		r, err := Run("kv", Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Result != ResultPass {
			b.Fatalf("seed %d: %s: %s", i, r.Failure, r.Violation)
		}
		simNs += r.SimNs
		events += int64(r.Events)
	}
	wall := time.Since(start)
	b.ReportMetric(float64(simNs)/float64(wall.Nanoseconds()), "x-compression")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/wall.Minutes(), "seeds/min")
}
