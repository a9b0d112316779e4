package checker

import (
	"cmp"
	"slices"

	"github.com/anishathalye/porcupine"
)

// Unknown writes to a file are what makes a file's check expensive, as
// unknown writes to a key are for a key (reduce.go): each is pending to the
// end, its bytes make the contents of every order of them a different
// state, so porcupine's cache hardly helps, and a history whose only
// observation of many of them is one size at the end costs 2^k (a file of
// 48 operations, 16 of them unknown writes by a client that crashed again
// and again, took more than a million steps). File data are not unique
// values, so the key-value rules do not apply; this one does, and it is
// exact.
//
// Let w be an unknown write of data d at offset off, ending at end = off +
// len(d), and drop it when both hold:
//
//   - It cannot change the file's length: a definite write that succeeded
//     and ended at end or beyond returned before w was called. Files only
//     grow (no operation truncates), so the length is at least end from
//     before w's call on, whenever w takes effect, and w fills no gap.
//   - Its bytes are never seen: for every definite read that succeeded and
//     returned after w's call, at every position that the read returned and
//     d covers, the byte returned differs from d's byte there.
//
// Legal without w implies legal with w: put w last. Legal with w implies
// legal without: the length is the same at every point either way; a read
// linearized after w would fail at any position where one of w's bytes was
// still there (the second rule), so at every position it returned w's
// bytes had been overwritten, and overwritten bytes are the same with or
// without w; sizes see only the length; writes answer their length
// whatever the contents; permissions and removal do not depend on data.
// The rules are checked against a bounded amount of work per file; past it
// nothing more is dropped (the safe answer).

// fileDropWorkMax bounds the byte comparisons of fileDropUnknowns per file.
const fileDropWorkMax = 1 << 24

// fileDropUnknowns marks in drop the unknown writes of one file's
// operations that the rules above drop.
func fileDropUnknowns(part []porcupine.Operation, drop map[OpID]bool) {
	type ended struct{ ret, end int64 }
	var grown []ended // definite successful writes, by return
	var reads []porcupine.Operation
	for _, op := range part {
		in, r := op.Input.(FileInput), op.Output.(result[FileOutput])
		if r.unknown || r.out.Result != ResultOK {
			continue
		}
		switch in.Kind {
		case FileWrite:
			grown = append(grown, ended{op.Return, int64(in.Off) + int64(len(in.Data))})
		case FileRead:
			if len(r.out.Data) > 0 {
				reads = append(reads, op)
			}
		}
	}
	slices.SortFunc(grown, func(a, b ended) int { return cmp.Compare(a.ret, b.ret) })
	for i := 1; i < len(grown); i++ {
		grown[i].end = max(grown[i].end, grown[i-1].end) // the longest so far
	}
	work := 0
	for _, op := range part {
		in := op.Input.(FileInput)
		if !op.Output.(result[FileOutput]).unknown || in.Kind != FileWrite {
			continue
		}
		// The definite writes that returned before op's call.
		n, _ := slices.BinarySearchFunc(grown, op.Call, func(e ended, call int64) int { return cmp.Compare(e.ret, call) })
		if n == 0 || grown[n-1].end < int64(in.Off)+int64(len(in.Data)) {
			continue
		}
		if seenAnywhere(in, op.Call, reads, &work) {
			continue
		}
		drop[op.Metadata.(opMeta).id] = true
	}
}

// seenAnywhere reports whether a read that returned at or after call
// returned one of w's bytes at its position (or the work bound ran out).
func seenAnywhere(w FileInput, call int64, reads []porcupine.Operation, work *int) bool {
	wOff, wEnd := int64(w.Off), int64(w.Off)+int64(len(w.Data))
	for _, r := range reads {
		if r.Return < call {
			continue
		}
		data := r.Output.(result[FileOutput]).out.Data
		rOff := int64(r.Input.(FileInput).Off)
		for p := max(wOff, rOff); p < min(wEnd, rOff+int64(len(data))); p++ {
			if *work++; *work > fileDropWorkMax {
				return true
			}
			if data[p-rOff] == w.Data[p-wOff] {
				return true
			}
		}
	}
	return false
}
