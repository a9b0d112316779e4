package checker

import (
	"fmt"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// KVKind is the kind of a key-value operation.
type KVKind uint8

// Key-value operation kinds.
const (
	KVGet    KVKind = iota + 1 // Output: Found, Value
	KVPut                      // sets Key to Value; output carries nothing
	KVDelete                   // removes Key; output carries nothing
	// KVCAS sets Key to Value if Key holds Expect (or, with ExpectAbsent,
	// if Key is absent); Output.Swapped says whether it did.
	KVCAS
)

func (k KVKind) String() string {
	switch k {
	case KVGet:
		return "get"
	case KVPut:
		return "put"
	case KVDelete:
		return "delete"
	case KVCAS:
		return "cas"
	}
	return fmt.Sprintf("KVKind(%d)", uint8(k))
}

// KVInput is a key-value operation as a client called it.
type KVInput struct {
	Kind         KVKind
	Key          string
	Value        string // KVPut: the value; KVCAS: the new value
	Expect       string // KVCAS: the value required (unless ExpectAbsent)
	ExpectAbsent bool   // KVCAS: require the key to be absent (put-if-absent)
}

// KVOutput is what the client received.
type KVOutput struct {
	Found   bool   // KVGet: the key was present
	Value   string // KVGet: its value
	Swapped bool   // KVCAS: the swap happened
	// Err, when non-empty, is a definite error: the store guarantees the
	// operation had no effect (rejected, invalid). Such operations are left
	// out of the check. Ambiguous errors are recorded with History.Unknown.
	Err string
}

func (o KVOutput) definiteErr() string { return o.Err }

// KVHistory records key-value operations.
type KVHistory = History[KVInput, KVOutput]

// kvState is the model state of one key.
type kvState struct {
	value   string
	present bool
}

var kvSpec = spec[KVInput, KVOutput, kvState, string]{
	family:      "kv",
	key:         func(in KVInput) string { return in.Key },
	describeKey: func(k string) string { return "key " + strconv.Quote(k) },
	step:        kvStep,
	effect:      kvEffect,
	valid:       func(in KVInput) bool { return in.Kind >= KVGet && in.Kind <= KVCAS },
	readOnly:    func(in KVInput) bool { return in.Kind == KVGet },
	blind:       func(in KVInput) bool { return in.Kind == KVPut || in.Kind == KVDelete },
	changes: func(in KVInput, out KVOutput) bool {
		return in.Kind == KVPut || in.Kind == KVDelete || (in.Kind == KVCAS && out.Swapped)
	},
	describeOp:    describeKVOp,
	describeState: describeKVState,
	reduce:        &kvReduce,
}

// CheckKV checks that h is linearizable for a key-value store whose keys
// start absent. Each key is checked on its own (a history is linearizable
// if and only if each key's sub-history is). It panics on an operation with
// an invalid Kind.
func CheckKV(h *KVHistory, opts Options) Result {
	return check(&kvSpec, h, opts)
}

// kvVal is a value, or absence (whatever string came with it).
func kvVal(s string, absent bool) stateVal {
	if absent {
		return stateVal{absent: true}
	}
	return stateVal{s: s}
}

func kvExpected(in KVInput) stateVal { return kvVal(in.Expect, in.ExpectAbsent) }

var kvReduce = reduceHooks[KVInput, KVOutput]{
	initial: stateVal{absent: true},
	writes: func(in KVInput) (stateVal, bool) {
		switch in.Kind {
		case KVPut, KVCAS:
			return stateVal{s: in.Value}, true
		case KVDelete:
			return stateVal{absent: true}, true
		}
		return stateVal{}, false
	},
	sets: func(in KVInput, out KVOutput) (stateVal, bool) {
		switch {
		case in.Kind == KVPut || (in.Kind == KVCAS && out.Swapped):
			return stateVal{s: in.Value}, true
		case in.Kind == KVDelete:
			return stateVal{absent: true}, true
		}
		return stateVal{}, false
	},
	expects: func(in KVInput) (stateVal, bool) {
		return kvExpected(in), in.Kind == KVCAS
	},
	observes: func(in KVInput, out KVOutput) []stateVal {
		switch {
		case in.Kind == KVGet:
			return []stateVal{kvVal(out.Value, !out.Found)}
		case in.Kind == KVCAS && out.Swapped:
			return []stateVal{kvExpected(in)}
		}
		return nil
	},
	negative: func(in KVInput, out KVOutput) (stateVal, bool) {
		return kvExpected(in), in.Kind == KVCAS && !out.Swapped
	},
	reducible: func([]porcupine.Operation) bool { return true },
}

func kvCASMatches(s kvState, in KVInput) bool {
	if in.ExpectAbsent {
		return !s.present
	}
	return s.present && s.value == in.Expect
}

func kvStep(s kvState, in KVInput, out KVOutput) (bool, kvState) {
	switch in.Kind {
	case KVGet:
		return out.Found == s.present && (!out.Found || out.Value == s.value), s
	case KVCAS:
		return out.Swapped == kvCASMatches(s, in), kvEffect(s, in)
	}
	return true, kvEffect(s, in)
}

func kvEffect(s kvState, in KVInput) kvState {
	switch in.Kind {
	case KVGet:
		return s
	case KVPut:
		return kvState{value: in.Value, present: true}
	case KVDelete:
		return kvState{}
	case KVCAS:
		if kvCASMatches(s, in) {
			return kvState{value: in.Value, present: true}
		}
		return s
	}
	panic(fmt.Sprintf("checker: kv op on key %q has invalid kind %d", in.Key, in.Kind))
}

func describeKVOp(in KVInput, out KVOutput, unknown bool) string {
	var call, ret string
	switch in.Kind {
	case KVGet:
		call = fmt.Sprintf("get(%s)", quote(in.Key))
		ret = "absent"
		if out.Found {
			ret = quote(out.Value)
		}
	case KVPut:
		call = fmt.Sprintf("put(%s, %s)", quote(in.Key), quote(in.Value))
	case KVDelete:
		call = fmt.Sprintf("delete(%s)", quote(in.Key))
	case KVCAS:
		expect := "absent"
		if !in.ExpectAbsent {
			expect = quote(in.Expect)
		}
		call = fmt.Sprintf("cas(%s, %s -> %s)", quote(in.Key), expect, quote(in.Value))
		ret = "failed"
		if out.Swapped {
			ret = "swapped"
		}
	default:
		call = fmt.Sprintf("%v(%s)", in.Kind, quote(in.Key))
	}
	switch {
	case unknown:
		return call + " -> ?"
	case ret == "":
		return call
	}
	return call + " -> " + ret
}

func describeKVState(s kvState) string {
	if !s.present {
		return "absent"
	}
	return quote(s.value)
}

// quote renders a key or value, shortened: values can be large.
func quote(s string) string {
	const shownMax = 32
	if len(s) > shownMax {
		return strconv.Quote(s[:shownMax]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}
