package raftkv

import (
	"reflect"
	"slices"
	"testing"
)

func seedTxns() []Txn {
	return []Txn{
		{},
		{If: []Compare{{Kind: CompareEqual, Key: "fs/n/1/a", Value: "7"}, {Kind: CompareAbsent, Key: "fs/n/1/b"}},
			Then: []TxnOp{{Kind: TxnDelete, Key: "fs/n/1/a"}, {Kind: TxnPut, Key: "fs/n/1/b", Value: "7"}},
			Else: []TxnOp{{Kind: TxnPut, Key: "x", Value: ""}}},
		{If: []Compare{{Kind: CompareNoPrefix, Key: "d/"}, {Kind: ComparePresent, Key: "k"}},
			Then: []TxnOp{{Kind: TxnDeletePrefix, Key: "i/"}, {Kind: TxnMax, Key: "size", Value: "4096"}}},
	}
}

// FuzzDecodeTxn: a decoded transaction is valid and survives a round trip
// (bytes may differ: varints need not be minimal).
func FuzzDecodeTxn(f *testing.F) {
	for _, txn := range seedTxns() {
		f.Add([]byte(encodeTxn(&txn)))
	}
	f.Add([]byte{1, 9, 1, 'k', 0, 0, 0})
	lim := Config{}.testLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		txn, err := decodeTxn(string(data), lim)
		if err != nil {
			return
		}
		if err := txn.validate(lim); err != nil {
			t.Fatalf("decodeTxn accepted an invalid txn: %v", err)
		}
		back, err := decodeTxn(encodeTxn(&txn), lim)
		if err != nil || !reflect.DeepEqual(back, txn) {
			t.Fatalf("decodeTxn(encodeTxn(%+v)) = %+v, %v", txn, back, err)
		}
	})
}

// FuzzDecodeRanges: decoded ranges are valid and round-trip.
func FuzzDecodeRanges(f *testing.F) {
	f.Add([]byte(encodeRanges([]Range{PrefixRange("fs/n/", 100)})))
	f.Add([]byte(encodeRanges([]Range{{Start: "a", End: "b", Limit: 1}, {Start: "c", Limit: 9}})))
	f.Add([]byte{1, 0, 0, 0})
	lim := Config{}.testLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := decodeRanges(string(data), lim)
		if err != nil {
			return
		}
		back, err := decodeRanges(encodeRanges(rs), lim)
		if err != nil || !slices.Equal(back, rs) {
			t.Fatalf("decodeRanges(encodeRanges(%v)) = %v, %v", rs, back, err)
		}
	})
}

// FuzzTxnCommand: transaction and ranges requests as log entries; a
// command that decodes validates or is rejected at apply, never panics.
func FuzzTxnCommand(f *testing.F) {
	for _, txn := range seedTxns() {
		r := request{op: OpTxn, session: 3, seq: 4, value: encodeTxn(&txn)}
		f.Add(encodeCommand(&r))
	}
	r := request{op: OpRanges, seq: 2, value: encodeRanges([]Range{{Start: "a", Limit: 3}})}
	f.Add(encodeCommand(&r))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeCommand(data)
		if err != nil {
			return
		}
		sm := txnState(t, "a", "1", "b", "2")
		req.session, req.seq = 2, sm.sessions[2].lastSeq+1
		if req.op == OpRegister {
			req.session = 0
		}
		sm.apply(sm.applied+1, 1, &req, false)
	})
}
