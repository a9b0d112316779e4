package coherence

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// opKind is a memory operation, as a thread asks it and as it travels when
// delegated to a home.
type opKind uint8

const (
	opLoad  opKind = iota + 1 // a: width (1 or 8)
	opStore                   // a: width, b: value
	opCAS                     // a: expected, b: replacement
	opFAA                     // a: delta
	opRead                    // n bytes (one page's segment when delegated)
	opWrite                   // data (or zeros) at addr
	opWait                    // a: expected
	opWake                    // a: count
	opAlloc                   // a: size
	opFree
	numOpKinds
)

var opNames = [numOpKinds]string{
	opLoad: "load", opStore: "store", opCAS: "cas", opFAA: "fetch-add", opRead: "read-bytes",
	opWrite: "write-bytes", opWait: "wait", opWake: "wake", opAlloc: "alloc", opFree: "free",
}

func (k opKind) String() string {
	if k > 0 && k < numOpKinds {
		return opNames[k]
	}
	return fmt.Sprintf("opKind(%d)", uint8(k))
}

// remote reports whether k may travel in an Op message.
func (k opKind) remote() bool { return k > 0 && k < numOpKinds }

// needs is the access an operation needs on its page.
func (k opKind) needs() uint32 {
	switch k {
	case opLoad, opRead, opWait:
		return rightRead
	case opStore, opCAS, opFAA, opWrite:
		return rightWrite
	}
	return 0
}

// mutates reports whether k changes memory (OnApply reports it).
func (k opKind) mutates() bool {
	switch k {
	case opStore, opCAS, opFAA, opWrite, opAlloc, opFree:
		return true
	}
	return false
}

// origin names the peer request a delegated operation came from.
type origin struct {
	node netmodel.NodeID
	inc  uint64
	seq  uint64
}

// op is one operation in progress: a thread's (origin nil) or a peer's
// delegated one (executed here, at the home).
type op struct {
	kind     opKind
	proc     *process
	caller   sys.Caller // the thread's caller; for a delegated op, Req is the thread's id on its machine
	origin   *origin    // &originOf for a delegated op (one allocation for both)
	originOf origin
	addr     uint64
	a, b     uint64
	data     []byte // opWrite
	zero     bool   // opWrite of zeros (the clearing of a reused block)
	n        uint64 // opRead length
	done     uint64 // opRead, opWrite: bytes done so far
	out      []byte // opRead result
	result   uint64 // opAlloc: the address, answered once the block is zeroed

	clearing   bool // an ALLOC zeroing its reused block (an opWrite of zeros)
	waitQueued bool // a WAIT in its word's queue at the home

	sync     bool // the Global call that started it has not returned yet
	finished bool
	reply    sys.Reply
	parked   bool     // counted in Agent.parked
	inFlight *request // a delegated segment outstanding
}

// end is one past the last byte the operation touches.
func (o *op) end() uint64 {
	switch o.kind {
	case opRead:
		return o.addr + o.n
	case opWrite:
		if o.zero {
			return o.addr + o.n
		}
		return o.addr + uint64(len(o.data))
	case opLoad, opStore:
		return o.addr + o.a
	}
	return o.addr + 8
}

// cursor is the address of the next byte the operation works on.
func (o *op) cursor() uint64 {
	if o.kind == opRead || o.kind == opWrite {
		return o.addr + o.done
	}
	return o.addr
}

func byteOf(w uint64, i uint64) uint64 { return (w >> (8 * (i & 7))) & 0xff }

// setByte stores the low byte of v at byte i of word w atomically with
// respect to every other access of the word.
func setByte(f *Frame, wi, i, v uint64) {
	shift := 8 * (i & 7)
	for {
		old := f.w[wi].Load()
		nw := old&^(0xff<<shift) | (v&0xff)<<shift
		if f.w[wi].CompareAndSwap(old, nw) {
			return
		}
	}
}

// execAt runs o's part on the frame of the page starting at global offset
// base, which the caller holds with the access o needs. It reports whether
// the operation is finished (else a bulk operation moves on to the next
// page) and its reply when it is.
func (a *Agent) execAt(o *op, f *Frame, base uint64) (finished bool, r sys.Reply) {
	off := o.cursor() &^ gbit
	wi := (off - base) >> 3
	switch o.kind {
	case opLoad:
		if o.a == 1 {
			return true, sys.Reply{Val: byteOf(f.w[wi].Load(), off)}
		}
		return true, sys.Reply{Val: f.w[wi].Load()}
	case opStore:
		if o.a == 1 {
			setByte(f, wi, off, o.b)
		} else {
			f.w[wi].Store(o.b)
		}
		return true, sys.Reply{}
	case opCAS:
		if f.w[wi].CompareAndSwap(o.a, o.b) {
			return true, sys.Reply{Val: 1}
		}
		return true, sys.Reply{}
	case opFAA:
		return true, sys.Reply{Val: f.w[wi].Add(o.a) - o.a}
	case opRead, opWrite:
		return a.execBulk(o, f, base)
	}
	panic(fmt.Sprintf("coherence: execAt of %v", o.kind))
}

// execBulk copies the part of a bulk operation that lies in this page.
func (a *Agent) execBulk(o *op, f *Frame, base uint64) (bool, sys.Reply) {
	start := o.cursor() &^ gbit
	limit := min(o.end()&^gbit, base+uint64(a.cfg.PageBytes))
	if o.kind == opRead && o.out == nil {
		o.out = make([]byte, 0, o.n)
	}
	if hostLittleEndian && len(a.grace.cores) == 0 {
		// No core shares the frames (every access is on this goroutine):
		// the range is one copy.
		fb := f.bytes()[start-base : limit-base]
		switch {
		case o.kind == opRead:
			o.out = append(o.out, fb...)
		case o.zero:
			clear(fb)
		default:
			copy(fb, o.data[start-(o.addr&^gbit):])
		}
		o.done += limit - start
		return o.bulkDone()
	}
	// Bytes up to the first aligned word, the words (each one atomic
	// operation, for the cores sharing the frame), then the bytes after
	// the last.
	wordsFrom := min((start+7)&^7, limit)
	wordsTo := max(limit&^7, wordsFrom)
	a.bulkBytes(o, f, base, start, wordsFrom)
	if wordsTo > wordsFrom {
		w := f.w[(wordsFrom-base)>>3 : (wordsTo-base)>>3]
		switch {
		case o.kind == opRead:
			at := len(o.out)
			o.out = slices.Grow(o.out, len(w)*8)[:at+len(w)*8]
			for i := range w {
				binary.LittleEndian.PutUint64(o.out[at+8*i:], w[i].Load())
			}
		case o.zero:
			for i := range w {
				w[i].Store(0)
			}
		default:
			data := o.data[wordsFrom-(o.addr&^gbit):]
			for i := range w {
				w[i].Store(binary.LittleEndian.Uint64(data[8*i:]))
			}
		}
	}
	a.bulkBytes(o, f, base, wordsTo, limit)
	o.done += limit - start
	return o.bulkDone()
}

// bulkDone is a bulk operation's answer once its last page is done.
func (o *op) bulkDone() (bool, sys.Reply) {
	if o.cursor() < o.end() {
		return false, sys.Reply{}
	}
	if o.kind == opRead {
		return true, sys.Reply{Data: o.out}
	}
	return true, sys.Reply{Val: o.result}
}

// bulkBytes reads or writes the bytes [from, to) of a bulk operation one by
// one (the unaligned ends of its range in a page).
func (a *Agent) bulkBytes(o *op, f *Frame, base, from, to uint64) {
	for off := from; off < to; off++ {
		wi := (off - base) >> 3
		if o.kind == opRead {
			o.out = append(o.out, byte(byteOf(f.w[wi].Load(), off)))
		} else {
			setByte(f, wi, off, uint64(o.byteAt(off)))
		}
	}
}

// byteAt is the byte a write puts at global offset off.
func (o *op) byteAt(off uint64) byte {
	if o.zero {
		return 0
	}
	return o.data[off-(o.addr&^gbit)]
}
