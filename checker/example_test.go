package checker_test

import (
	"fmt"

	"github.com/flockvm/flock/checker"
)

// A put acknowledged at t=200 and a get called after it that still sees
// the key absent: a stale read.
func ExampleCheckKV() {
	var h checker.KVHistory
	put := h.Call(0, checker.KVInput{Kind: checker.KVPut, Key: "x", Value: "1"}, 100)
	h.Return(put, checker.KVOutput{}, 200)
	get := h.Call(1, checker.KVInput{Kind: checker.KVGet, Key: "x"}, 300)
	h.Return(get, checker.KVOutput{Found: false}, 400)

	res := checker.CheckKV(&h, checker.Options{})
	fmt.Println("ok:", res.OK, "ops:", res.Ops)
	fmt.Println(res.Violation)
	// Output:
	// ok: false ops: 2
	// kv: not linearizable on 1 of 1 partitions: key "x"
	// key "x": 2 ops, not linearizable:
	//   client 0 op 0:     [100, 200] put("x", "1")
	//   client 1 op 1:     [300, 400] get("x") -> absent
	// longest legal order found (1 of 2 ops), state after each:
	//   client 0 op 0:     put("x", "1")  => "1"
	// then none of the 1 remaining ops can come next; the first of them to return:
	//   client 1 op 1:     [300, 400] get("x") -> absent
}

// A thread's fetch-add timed out: its outcome is unknown. The thread keeps
// its client id; the history moves it to a fresh porcupine client.
func ExampleHistory_Unknown() {
	const addr = 1 << 63
	var h checker.WordHistory
	add := h.Call(7, checker.WordInput{Kind: checker.WordFetchAdd, Addr: addr, Delta: 1}, 0)
	h.Unknown(add) // no reply before the timeout
	read := h.Call(7, checker.WordInput{Kind: checker.WordRead, Addr: addr}, 50)
	h.Return(read, checker.WordOutput{Value: 1}, 60) // the add did happen

	res := checker.CheckWords(&h, checker.Options{MaxSteps: 1_000_000})
	fmt.Println("ok:", res.OK, "pending:", len(h.Pending()), "status:", h.Op(add).Status)
	// Output:
	// ok: true pending: 0 status: unknown
}

func ExampleAppliedLogsAgree() {
	logs := map[uint64][]checker.Applied{
		1: {{Index: 1, Term: 1, Digest: 0xa1}, {Index: 2, Term: 1, Digest: 0xb2}},
		2: {{Index: 1, Term: 1, Digest: 0xa1}, {Index: 2, Term: 2, Digest: 0xc3}},
	}
	fmt.Println(checker.AppliedLogsAgree(logs))
	// Output:
	// applied logs diverge: index 2: replica 2 (boot 0) applied term 2, digest 0x00000000000000c3, no request, but replica 1 (boot 0) applied term 1, digest 0x00000000000000b2, no request
}
