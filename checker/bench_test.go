package checker

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// genOp is one operation of a generated concurrent history.
type genOp struct {
	rec             kvRec
	lin             int64 // when it takes effect
	unknown, effect bool
}

// concurrentKV generates a linearizable history: clients overlap, each
// operation takes effect at a random point inside its interval, and a
// fraction unknownPct of the operations have unknown outcome (half of those
// took effect). It returns the operations in call order.
func concurrentKV(seed uint64, n, keys, clients, unknownPct int) []kvRec {
	rng := rand.New(rand.NewPCG(seed, 0))
	free := make([]int64, clients)
	ops := make([]genOp, n)
	for i := range ops {
		c := rng.IntN(clients)
		call := free[c] + rng.Int64N(20)
		ret := call + 1 + rng.Int64N(100)
		free[c] = ret + 1
		key := "k" + strconv.Itoa(rng.IntN(keys))
		var in KVInput
		switch p := rng.IntN(10); {
		case p < 5:
			in = get(key)
		case p < 8:
			in = put(key, strconv.Itoa(i))
		case p < 9:
			in = del(key)
		default:
			in = cas(key, strconv.Itoa(rng.IntN(i+1)), strconv.Itoa(i))
		}
		op := genOp{rec: kvRec{client: c, in: in, call: call, ret: ret}, lin: call + rng.Int64N(ret-call+1)}
		if rng.IntN(100) < unknownPct {
			op.unknown, op.effect = true, rng.IntN(2) == 0
			op.rec.ret = unknownRet
		}
		ops[i] = op
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ops[a].lin, ops[b].lin) })
	state := map[string]string{}
	for _, i := range order {
		if !ops[i].unknown || ops[i].effect {
			ops[i].rec.out = applyKV(state, ops[i].rec.in)
		}
	}
	slices.SortStableFunc(ops, func(a, b genOp) int { return cmp.Compare(a.rec.call, b.rec.call) })
	recs := make([]kvRec, n)
	for i, op := range ops {
		recs[i] = op.rec
	}
	return recs
}

// corruptRead makes the last definite get return a value never written:
// a violation found without a search.
func corruptRead(recs []kvRec) []kvRec {
	recs = slices.Clone(recs)
	recs[lastGet(recs)].out = found(neverWritten)
	return recs
}

// staleRead makes the last definite get that can be made stale return a
// value its key held earlier, definitely overwritten before the get was
// called (values are unique): a violation only a search finds.
func staleRead(recs []kvRec) []kvRec {
	recs = slices.Clone(recs)
	definitePut := func(r kvRec, key string) bool {
		return r.in.Kind == KVPut && r.in.Key == key && r.ret != unknownRet
	}
	for g := len(recs) - 1; g >= 0; g-- {
		get := recs[g]
		if get.in.Kind != KVGet || get.ret == unknownRet {
			continue
		}
		for _, p := range recs {
			if !definitePut(p, get.in.Key) {
				continue
			}
			for _, d := range recs {
				if definitePut(d, get.in.Key) && d.call > p.ret && d.ret < get.call {
					recs[g].out = found(p.in.Value)
					return recs
				}
			}
		}
	}
	panic("no get can be made stale")
}

func lastGet(recs []kvRec) int {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].in.Kind == KVGet && recs[i].ret != unknownRet {
			return i
		}
	}
	panic("no definite get")
}

func TestConcurrentHistoriesCheck(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		recs := concurrentKV(seed, 2000, 16, 16, 10)
		if res := CheckKV(build(recs), Options{}); !res.OK {
			t.Fatalf("seed %d: CheckKV(generated linearizable history).OK = false; violation:\n%s", seed, res.Violation)
		}
		for name, corrupt := range map[string]func([]kvRec) []kvRec{"garbage": corruptRead, "stale": staleRead} {
			if res := CheckKV(build(corrupt(recs)), Options{}); res.OK {
				t.Fatalf("seed %d: CheckKV(history with a %s read).OK = true, want false", seed, name)
			}
		}
	}
}

func TestConcurrentWordHistoriesCheck(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		recs := concurrentWords(seed, 2000, 16, 16, 10)
		if res := CheckWords(build(recs), Options{}); !res.OK {
			t.Fatalf("seed %d: CheckWords(generated linearizable history).OK = false; violation:\n%s", seed, res.Violation)
		}
		last := len(recs) - 1
		for recs[last].in.Kind != WordRead || recs[last].ret == unknownRet {
			last--
		}
		recs[last].out.Value += 1 << 40
		if res := CheckWords(build(recs), Options{}); res.OK {
			t.Fatalf("seed %d: CheckWords(history with a corrupted last read).OK = true, want false", seed)
		}
	}
}

func BenchmarkCheckKV(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		h := build(concurrentKV(1, n, 16, 16, 10))
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			for b.Loop() {
				if res := CheckKV(h, Options{}); !res.OK {
					b.Fatalf("CheckKV().OK = false: %s", res.Violation)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkCheckKVViolation measures the failing path on a stale read
// (found only by search): the searches, the shrinking and the description.
func BenchmarkCheckKVViolation(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		h := build(staleRead(concurrentKV(1, n, 16, 16, 10)))
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			for b.Loop() {
				if res := CheckKV(h, Options{}); res.OK {
					b.Fatal("CheckKV().OK = true, want false")
				}
			}
		})
	}
}

// concurrentWords is concurrentKV for global memory: reads, writes of
// unique values, CASes and fetch-adds over addrs words.
func concurrentWords(seed uint64, n, addrs, clients, unknownPct int) []wordRec {
	rng := rand.New(rand.NewPCG(seed, 1))
	free := make([]int64, clients)
	recs := make([]wordRec, n)
	lins := make([]int64, n)
	applies := make([]bool, n)
	for i := range recs {
		c := rng.IntN(clients)
		call := free[c] + rng.Int64N(20)
		ret := call + 1 + rng.Int64N(100)
		free[c] = ret + 1
		addr := gaddr + 8*uint64(rng.IntN(addrs))
		var in WordInput
		switch p := rng.IntN(10); {
		case p < 5:
			in = rd(addr)
		case p < 7:
			in = wr(addr, uint64(i+1))
		case p < 8:
			in = wcas(addr, uint64(rng.IntN(i+1)), uint64(i+1))
		default:
			in = fadd(addr, 1)
		}
		recs[i] = wordRec{client: c, in: in, call: call, ret: ret}
		lins[i] = call + rng.Int64N(ret-call+1)
		applies[i] = true
		if rng.IntN(100) < unknownPct {
			recs[i].ret = unknownRet
			applies[i] = rng.IntN(2) == 0
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(lins[a], lins[b]) })
	state := map[uint64]uint64{}
	for _, i := range order {
		if applies[i] {
			in := recs[i].in
			old := state[in.Addr]
			recs[i].out = WordOutput{Value: old, Swapped: in.Kind == WordCAS && old == in.Expect}
			state[in.Addr] = wordEffect(old, in)
		}
	}
	slices.SortStableFunc(recs, func(a, b wordRec) int { return cmp.Compare(a.call, b.call) })
	return recs
}

func BenchmarkCheckWords(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		h := build(concurrentWords(1, n, 16, 16, 10))
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			for b.Loop() {
				if res := CheckWords(h, Options{}); !res.OK {
					b.Fatalf("CheckWords().OK = false: %s", res.Violation)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
