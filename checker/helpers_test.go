package checker

import "math"

// unknownRet marks a test operation whose outcome is unknown.
const unknownRet = math.MaxInt64

// pendingRet marks a test operation left pending.
const pendingRet = -1

// rec is one operation of a table-driven test history.
type rec[I, O any] struct {
	client    int
	in        I
	out       O
	call, ret int64 // ret: unknownRet or pendingRet for no definite result
}

// build records ops into a history in the order given.
func build[I any, O outcome](ops []rec[I, O]) *History[I, O] {
	h := &History[I, O]{}
	for _, op := range ops {
		id := h.Call(op.client, op.in, op.call)
		switch op.ret {
		case unknownRet:
			h.Unknown(id)
		case pendingRet:
		default:
			h.Return(id, op.out, op.ret)
		}
	}
	return h
}

type kvRec = rec[KVInput, KVOutput]
type wordRec = rec[WordInput, WordOutput]

func get(key string) KVInput       { return KVInput{Kind: KVGet, Key: key} }
func put(key, v string) KVInput    { return KVInput{Kind: KVPut, Key: key, Value: v} }
func del(key string) KVInput       { return KVInput{Kind: KVDelete, Key: key} }
func cas(key, e, v string) KVInput { return KVInput{Kind: KVCAS, Key: key, Expect: e, Value: v} }
func casAbsent(key, v string) KVInput {
	return KVInput{Kind: KVCAS, Key: key, ExpectAbsent: true, Value: v}
}

var (
	absent  = KVOutput{}
	ok      = KVOutput{}
	swapped = KVOutput{Swapped: true}
	failed  = KVOutput{}
)

func found(v string) KVOutput { return KVOutput{Found: true, Value: v} }

func rd(addr uint64) WordInput    { return WordInput{Kind: WordRead, Addr: addr} }
func wr(addr, v uint64) WordInput { return WordInput{Kind: WordWrite, Addr: addr, Value: v} }
func wcas(addr, e, v uint64) WordInput {
	return WordInput{Kind: WordCAS, Addr: addr, Expect: e, Value: v}
}
func fadd(addr, delta uint64) WordInput {
	return WordInput{Kind: WordFetchAdd, Addr: addr, Delta: delta}
}
func val(v uint64) WordOutput               { return WordOutput{Value: v} }
func casOut(old uint64, sw bool) WordOutput { return WordOutput{Value: old, Swapped: sw} }
