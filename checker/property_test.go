package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const neverWritten = "never-written"

// kvSequential draws a sequential execution (no two operations overlap) of
// a key-value map, with some writes of unknown outcome that did or did not
// take effect. It ends with a get so that there is always a read to corrupt.
func kvSequential(t *rapid.T) []kvRec {
	n := rapid.IntRange(0, 40).Draw(t, "n")
	state := map[string]string{}
	var recs []kvRec
	now := int64(0)
	for i := 0; i <= n; i++ {
		kind := KVGet
		if i < n {
			kind = rapid.SampledFrom([]KVKind{KVGet, KVPut, KVDelete, KVCAS}).Draw(t, "kind")
		}
		in := KVInput{
			Kind:  kind,
			Key:   rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key"),
			Value: rapid.SampledFrom([]string{"1", "2", "3"}).Draw(t, "value"),
		}
		if kind == KVCAS {
			in.ExpectAbsent = rapid.Bool().Draw(t, "expectAbsent")
			in.Expect = rapid.SampledFrom([]string{"1", "2", "3"}).Draw(t, "expect")
		}
		unknown := kind != KVGet && i < n && rapid.IntRange(0, 4).Draw(t, "unknown") == 0
		call := now + rapid.Int64Range(1, 10).Draw(t, "gap")
		ret := call + rapid.Int64Range(0, 10).Draw(t, "duration")
		now = ret
		r := kvRec{client: rapid.IntRange(0, 3).Draw(t, "client"), in: in, call: call, ret: ret}
		if unknown {
			r.ret = unknownRet
			if !rapid.Bool().Draw(t, "tookEffect") {
				recs = append(recs, r)
				continue
			}
		}
		r.out = applyKV(state, in)
		recs = append(recs, r)
	}
	return recs
}

// applyKV is the obvious sequential map model, written independently of kvStep.
func applyKV(state map[string]string, in KVInput) KVOutput {
	v, present := state[in.Key]
	switch in.Kind {
	case KVGet:
		return KVOutput{Found: present, Value: v}
	case KVPut:
		state[in.Key] = in.Value
	case KVDelete:
		delete(state, in.Key)
	case KVCAS:
		if (in.ExpectAbsent && !present) || (!in.ExpectAbsent && present && v == in.Expect) {
			state[in.Key] = in.Value
			return KVOutput{Swapped: true}
		}
	}
	return KVOutput{}
}

func TestPropertySequentialKVIsLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := kvSequential(t)
		if res := CheckKV(build(recs), Options{}); !res.OK {
			t.Fatalf("CheckKV(sequential execution).OK = false, want true; violation:\n%s", res.Violation)
		}
		var gets []int
		for i, r := range recs {
			if r.in.Kind == KVGet && r.ret != unknownRet {
				gets = append(gets, i)
			}
		}
		i := rapid.SampledFrom(gets).Draw(t, "corrupted")
		recs[i].out = found(neverWritten)
		res := CheckKV(build(recs), Options{})
		if res.OK || res.TimedOut {
			t.Fatalf("CheckKV(read %d returns a value never written) = {OK: %v, TimedOut: %v}, want a violation",
				i, res.OK, res.TimedOut)
		}
		if want := fmt.Sprintf("key %q", recs[i].in.Key); !strings.Contains(res.Violation, want) ||
			!strings.Contains(res.Violation, neverWritten) {
			t.Fatalf("CheckKV().Violation = %q, want it to name %s and the bad read", res.Violation, want)
		}
	})
}

func TestPropertySequentialWordsAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "n")
		state := map[uint64]uint64{}
		var recs []wordRec
		now := int64(0)
		for i := 0; i <= n; i++ {
			kind := WordRead
			if i < n {
				kind = rapid.SampledFrom([]WordKind{WordRead, WordWrite, WordCAS, WordFetchAdd}).Draw(t, "kind")
			}
			in := WordInput{
				Kind:   kind,
				Addr:   gaddr + 8*rapid.Uint64Range(0, 2).Draw(t, "word"),
				Value:  rapid.Uint64Range(0, 3).Draw(t, "value"),
				Expect: rapid.Uint64Range(0, 3).Draw(t, "expect"),
				Delta:  rapid.Uint64Range(0, 3).Draw(t, "delta"),
			}
			call := now + rapid.Int64Range(1, 10).Draw(t, "gap")
			now = call + rapid.Int64Range(0, 10).Draw(t, "duration")
			r := wordRec{client: rapid.IntRange(0, 3).Draw(t, "client"), in: in, call: call, ret: now}
			if kind != WordRead && i < n && rapid.IntRange(0, 4).Draw(t, "unknown") == 0 {
				r.ret = unknownRet
				if !rapid.Bool().Draw(t, "tookEffect") {
					recs = append(recs, r)
					continue
				}
			}
			old := state[in.Addr]
			r.out = WordOutput{Value: old}
			switch kind {
			case WordWrite:
				state[in.Addr] = in.Value
			case WordCAS:
				r.out.Swapped = old == in.Expect
				if r.out.Swapped {
					state[in.Addr] = in.Value
				}
			case WordFetchAdd:
				state[in.Addr] = old + in.Delta
			}
			recs = append(recs, r)
		}
		if res := CheckWords(build(recs), Options{}); !res.OK {
			t.Fatalf("CheckWords(sequential execution).OK = false, want true; violation:\n%s", res.Violation)
		}
		recs[len(recs)-1].out.Value = 1 << 60 // no sum of small values reaches it
		if res := CheckWords(build(recs), Options{}); res.OK {
			t.Fatalf("CheckWords(last read returns a value never written).OK = true, want false")
		}
	})
}

// drawConcurrentKV draws a small concurrent history: overlapping intervals,
// effects at random points inside them, unknown outcomes, few values (so
// they repeat) and, sometimes, a corrupted output. Some are linearizable,
// some are not.
func drawConcurrentKV(t *rapid.T) []kvRec {
	n := rapid.IntRange(1, 10).Draw(t, "n")
	free := make([]int64, 3)
	type pending struct {
		rec     kvRec
		lin     int64
		applies bool
	}
	ops := make([]pending, n)
	for i := range ops {
		c := rapid.IntRange(0, 2).Draw(t, "client")
		call := free[c] + rapid.Int64Range(0, 5).Draw(t, "gap")
		ret := call + rapid.Int64Range(0, 10).Draw(t, "duration")
		in := KVInput{
			Kind:  rapid.SampledFrom([]KVKind{KVGet, KVPut, KVDelete, KVCAS}).Draw(t, "kind"),
			Key:   rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key"),
			Value: rapid.SampledFrom([]string{"1", "2", "3", "4", "5"}).Draw(t, "value"),
		}
		if in.Kind == KVCAS {
			in.ExpectAbsent = rapid.Bool().Draw(t, "expectAbsent")
			in.Expect = rapid.SampledFrom([]string{"1", "2", "3"}).Draw(t, "expect")
		}
		p := pending{rec: kvRec{client: c, in: in, call: call, ret: ret}, applies: true}
		p.lin = call + rapid.Int64Range(0, ret-call).Draw(t, "lin")
		if rapid.IntRange(0, 3).Draw(t, "unknown") == 0 {
			p.rec.ret = unknownRet
			p.applies = rapid.Bool().Draw(t, "applies")
		}
		free[c] = ret + 1
		ops[i] = p
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ops[a].lin, ops[b].lin) })
	state := map[string]string{}
	for _, i := range order {
		if ops[i].applies {
			ops[i].rec.out = applyKV(state, ops[i].rec.in)
		}
	}
	recs := make([]kvRec, n)
	for i, p := range ops {
		recs[i] = p.rec
		if rapid.IntRange(0, 9).Draw(t, "corrupt") == 0 {
			recs[i].out = KVOutput{Found: true, Value: rapid.SampledFrom([]string{"1", "2", "9"}).Draw(t, "corruptValue"), Swapped: rapid.Bool().Draw(t, "corruptSwapped")}
		}
	}
	return recs
}

// The reduction of unknown outcomes must never change a verdict.
func TestPropertyReductionIsExact(t *testing.T) {
	plain := kvSpec
	plain.reduce = nil
	reductionIsExact(t, &kvSpec, &plain, drawConcurrentKV)
}

// reductionIsExact checks, on histories draw makes, that sp (with a
// reduction) and plain (the same spec without it) give the same verdict.
func reductionIsExact[I any, O outcome, S comparable, K cmp.Ordered](t *testing.T, sp, plain *spec[I, O, S, K], draw func(*rapid.T) []rec[I, O]) {
	rapid.Check(t, func(t *rapid.T) {
		recs := draw(t)
		h := build(recs)
		got, want := check(sp, h, Options{}).OK, check(plain, h, Options{}).OK
		if got != want {
			t.Fatalf("check with reduction OK = %v, without = %v; history:\n%s", got, want, describeRecs(sp, recs))
		}
	})
}

func describeRecs[I any, O outcome, S comparable, K cmp.Ordered](sp *spec[I, O, S, K], recs []rec[I, O]) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  c%d [%d, %d] %s\n", r.client, r.call, r.ret, sp.describeOp(r.in, r.out, r.ret == unknownRet))
	}
	return b.String()
}

// drawConcurrentWords is drawConcurrentKV for words: few values, so they
// repeat, and fetch-adds in some histories.
func drawConcurrentWords(t *rapid.T) []wordRec {
	recs, _, _ := drawConcurrentWordsWithPoints(t)
	return recs
}

// drawConcurrentWordsWithPoints is drawConcurrentWords with the moment
// each operation took effect in the drawn run, and whether it did (an
// unknown one may not have).
func drawConcurrentWordsWithPoints(t *rapid.T) ([]wordRec, []int64, []bool) {
	n := rapid.IntRange(1, 10).Draw(t, "n")
	kinds := []WordKind{WordRead, WordWrite, WordCAS}
	if rapid.Bool().Draw(t, "fetchAdds") {
		kinds = append(kinds, WordFetchAdd)
	}
	recs, lins, applies, order := drawRun[WordInput, WordOutput](t, n, 0, 4, func(t *rapid.T) WordInput {
		return WordInput{
			Kind:   rapid.SampledFrom(kinds).Draw(t, "kind"),
			Addr:   gaddr + 8*rapid.Uint64Range(0, 1).Draw(t, "word"),
			Value:  rapid.Uint64Range(0, 4).Draw(t, "value"),
			Expect: rapid.Uint64Range(0, 2).Draw(t, "expect"),
			Delta:  rapid.Uint64Range(0, 2).Draw(t, "delta"),
		}
	})
	state := map[uint64]uint64{}
	for _, i := range order {
		if !applies[i] {
			continue
		}
		in := recs[i].in
		old := state[in.Addr]
		recs[i].out = WordOutput{Value: old, Swapped: in.Kind == WordCAS && old == in.Expect}
		state[in.Addr] = wordEffect(old, in)
	}
	for i := range recs {
		if rapid.IntRange(0, 9).Draw(t, "corrupt") == 0 {
			recs[i].out = WordOutput{Value: rapid.Uint64Range(0, 5).Draw(t, "corruptValue"), Swapped: rapid.Bool().Draw(t, "corruptSwapped")}
		}
	}
	return recs, lins, applies
}

// drawRun draws n operations of input by three sequential clients from
// time start on, with overlapping intervals, the moment inside its
// interval each took effect (lins), one in unknownOneIn of unknown outcome
// (which took effect or not: applies), and the order the effects happened
// in. The outputs are left for the caller to compute in that order.
func drawRun[I, O any](t *rapid.T, n int, start int64, unknownOneIn int, input func(*rapid.T) I) (recs []rec[I, O], lins []int64, applies []bool, order []int) {
	free := []int64{start, start, start}
	recs, lins, applies, order = make([]rec[I, O], n), make([]int64, n), make([]bool, n), make([]int, n)
	for i := range recs {
		c := rapid.IntRange(0, 2).Draw(t, "client")
		call := free[c] + rapid.Int64Range(0, 5).Draw(t, "gap")
		ret := call + rapid.Int64Range(0, 10).Draw(t, "duration")
		recs[i] = rec[I, O]{client: c, in: input(t), call: call, ret: ret}
		lins[i] = call + rapid.Int64Range(0, ret-call).Draw(t, "lin")
		applies[i] = true
		if rapid.IntRange(0, unknownOneIn-1).Draw(t, "unknown") == 0 {
			recs[i].ret = unknownRet
			applies[i] = rapid.Bool().Draw(t, "applies")
		}
		free[c] = ret + 1
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(lins[a], lins[b]) })
	return recs, lins, applies, order
}

func TestPropertyWordReductionIsExact(t *testing.T) {
	plain := wordSpec
	plain.reduce = nil
	reductionIsExact(t, &wordSpec, &plain, drawConcurrentWords)
}

// drawConcurrentFile draws a small concurrent history of one file: writes
// of few bytes from a two-letter alphabet at small offsets (so bytes repeat
// and reads often see a write's byte by chance), reads, sizes, effects at
// random points inside the intervals, unknown outcomes and, sometimes, a
// corrupted output. The directory lets everyone read and write.
func drawConcurrentFile(t *rapid.T) []fileRec {
	n := rapid.IntRange(1, 10).Draw(t, "n")
	// After the directory's attributes, at 0.
	recs, _, applies, order := drawRun[FileInput, FileOutput](t, n, 1, 3, func(t *rapid.T) FileInput {
		in := FileInput{Kind: rapid.SampledFrom([]FileKind{FileRead, FileWrite, FileWrite, FileSize}).Draw(t, "kind"), File: "f", User: "u",
			Off: rapid.Uint64Range(0, 4).Draw(t, "off"), N: rapid.Uint64Range(0, 5).Draw(t, "n")}
		switch in.Kind {
		case FileWrite:
			in.N = 0
			in.Data = rapid.StringMatching(`[ab]{0,3}`).Draw(t, "data")
		case FileSize:
			in.Off, in.N = 0, 0
		}
		return in
	})
	s := fileState{readers: "*", writers: "*"}
	for _, i := range order {
		if !applies[i] {
			continue
		}
		in := recs[i].in
		switch in.Kind {
		case FileRead:
			recs[i].out = FileOutput{Data: readRange(s.content, in.Off, in.N)}
		case FileWrite:
			recs[i].out = FileOutput{N: uint64(len(in.Data))}
		case FileSize:
			recs[i].out = FileOutput{N: uint64(len(s.content))}
		}
		s = fileEffect(s, in)
	}
	for i := range recs {
		if rapid.IntRange(0, 9).Draw(t, "corrupt") == 0 {
			recs[i].out = FileOutput{Data: rapid.StringMatching(`[ab\x00]{0,3}`).Draw(t, "corruptData"), N: rapid.Uint64Range(0, 7).Draw(t, "corruptN")}
		}
	}
	init := fileRec{client: 9, in: fAttr("*", "*"), out: fOK, call: 0, ret: 0}
	return append([]fileRec{init}, recs...)
}

// Dropping a file's unknown writes (file_reduce.go) must never change a
// verdict.
func TestPropertyFileReductionIsExact(t *testing.T) {
	plain := fileSpec
	plain.dropUnknowns = nil
	reductionIsExact(t, &fileSpec, &plain, drawConcurrentFile)
}
