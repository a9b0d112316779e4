package checker

import (
	"fmt"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// WordKind is the kind of an operation on a global-memory word.
type WordKind uint8

// Word operation kinds.
const (
	WordRead  WordKind = iota + 1 // Output.Value: the word read
	WordWrite                     // stores Value; output carries nothing
	// WordCAS stores Value if the word holds Expect. Output.Swapped says
	// whether it did and Output.Value is the value the CAS found (equal to
	// Expect when it swapped): both are checked.
	WordCAS
	// WordFetchAdd adds Delta (wrapping) and returns the previous value in
	// Output.Value.
	WordFetchAdd
)

func (k WordKind) String() string {
	switch k {
	case WordRead:
		return "read"
	case WordWrite:
		return "write"
	case WordCAS:
		return "cas"
	case WordFetchAdd:
		return "fetch-add"
	}
	return fmt.Sprintf("WordKind(%d)", uint8(k))
}

// WordInput is an operation on the aligned 64-bit word at Addr.
type WordInput struct {
	Kind   WordKind
	Addr   uint64
	Value  uint64 // WordWrite: the value; WordCAS: the new value
	Expect uint64 // WordCAS: the value required
	Delta  uint64 // WordFetchAdd: the addend (two's complement to subtract)
}

// WordOutput is what the thread received.
type WordOutput struct {
	// Value: WordRead the word; WordCAS and WordFetchAdd the word before.
	Value   uint64
	Swapped bool // WordCAS
	// FoundUnknown, for a WordCAS that did not swap, says the caller only
	// knows the word was not Expect (an ISA CAS pushes 0 or 1, not the value
	// it found): Value is then ignored.
	FoundUnknown bool
	// Err, when non-empty, is a definite error that guarantees no effect
	// (a misaligned-address trap, say): the operation is left out of the
	// check. Ambiguous failures are recorded with History.Unknown.
	Err string
}

func (o WordOutput) definiteErr() string { return o.Err }

// WordHistory records operations on global-memory words.
type WordHistory = History[WordInput, WordOutput]

var wordSpec = spec[WordInput, WordOutput, uint64, uint64]{
	family:      "words",
	key:         func(in WordInput) uint64 { return in.Addr },
	describeKey: func(a uint64) string { return fmt.Sprintf("address %#x", a) },
	step:        wordStep,
	effect:      wordEffect,
	valid:       func(in WordInput) bool { return in.Kind >= WordRead && in.Kind <= WordFetchAdd },
	readOnly:    func(in WordInput) bool { return in.Kind == WordRead },
	blind:       func(in WordInput) bool { return in.Kind == WordWrite },
	changes: func(in WordInput, out WordOutput) bool {
		switch in.Kind {
		case WordWrite:
			return true
		case WordCAS:
			return out.Swapped
		case WordFetchAdd:
			return in.Delta != 0
		}
		return false
	},
	describeOp:    describeWordOp,
	describeState: func(v uint64) string { return fmt.Sprint(v) },
	reduce:        &wordReduce,
}

// CheckWords checks that h is linearizable for global memory in which every
// aligned word is an atomic register that starts at 0. Each address is
// checked on its own. It panics on an operation with an invalid Kind.
func CheckWords(h *WordHistory, opts Options) Result {
	return check(&wordSpec, h, opts)
}

func wordVal(v uint64) stateVal { return stateVal{s: strconv.FormatUint(v, 10)} }

var wordReduce = reduceHooks[WordInput, WordOutput]{
	initial: wordVal(0),
	writes: func(in WordInput) (stateVal, bool) {
		return wordVal(in.Value), in.Kind == WordWrite || in.Kind == WordCAS
	},
	sets: func(in WordInput, out WordOutput) (stateVal, bool) {
		return wordVal(in.Value), in.Kind == WordWrite || (in.Kind == WordCAS && out.Swapped)
	},
	expects: func(in WordInput) (stateVal, bool) {
		return wordVal(in.Expect), in.Kind == WordCAS
	},
	observes: func(in WordInput, out WordOutput) []stateVal {
		if in.Kind == WordWrite || (in.Kind == WordCAS && out.FoundUnknown && !out.Swapped) {
			return nil
		}
		return []stateVal{wordVal(out.Value)}
	},
	// A word CAS reports the value it found, so it proves only "not e" when
	// that value is unknown.
	negative: func(in WordInput, out WordOutput) (stateVal, bool) {
		return wordVal(in.Expect), in.Kind == WordCAS && out.FoundUnknown && !out.Swapped
	},
	// A fetch-add makes values out of other values: none is unique.
	reducible: func(part []porcupine.Operation) bool {
		for _, op := range part {
			if op.Input.(WordInput).Kind == WordFetchAdd {
				return false
			}
		}
		return true
	},
}

func wordStep(s uint64, in WordInput, out WordOutput) (bool, uint64) {
	switch in.Kind {
	case WordRead:
		return out.Value == s, s
	case WordCAS:
		if out.FoundUnknown && !out.Swapped {
			return s != in.Expect, s
		}
		return out.Value == s && out.Swapped == (s == in.Expect), wordEffect(s, in)
	case WordFetchAdd:
		return out.Value == s, wordEffect(s, in)
	}
	return true, wordEffect(s, in)
}

func wordEffect(s uint64, in WordInput) uint64 {
	switch in.Kind {
	case WordRead:
		return s
	case WordWrite:
		return in.Value
	case WordCAS:
		if s == in.Expect {
			return in.Value
		}
		return s
	case WordFetchAdd:
		return s + in.Delta
	}
	panic(fmt.Sprintf("checker: word op at %#x has invalid kind %d", in.Addr, in.Kind))
}

func describeWordOp(in WordInput, out WordOutput, unknown bool) string {
	var call, ret string
	switch in.Kind {
	case WordRead:
		call = fmt.Sprintf("read(%#x)", in.Addr)
		ret = fmt.Sprint(out.Value)
	case WordWrite:
		call = fmt.Sprintf("write(%#x, %d)", in.Addr, in.Value)
	case WordCAS:
		call = fmt.Sprintf("cas(%#x, %d -> %d)", in.Addr, in.Expect, in.Value)
		ret = fmt.Sprintf("failed, found %d", out.Value)
		if out.FoundUnknown {
			ret = fmt.Sprintf("failed, found not %d", in.Expect)
		}
		if out.Swapped {
			ret = fmt.Sprintf("swapped, found %d", out.Value)
		}
	case WordFetchAdd:
		call = fmt.Sprintf("fetch-add(%#x, %d)", in.Addr, int64(in.Delta))
		ret = fmt.Sprint(out.Value)
	default:
		call = fmt.Sprintf("%v(%#x)", in.Kind, in.Addr)
	}
	switch {
	case unknown:
		return call + " -> ?"
	case ret == "":
		return call
	}
	return call + " -> " + ret
}
