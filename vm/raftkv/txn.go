package raftkv

import (
	"fmt"
	"strconv"
	"strings"
)

// Transactions (etcd's Txn, reduced): compares on several keys, then one
// list of writes if every compare held and another if not, applied all or
// nothing at one log index, at most once through the session table like any
// other write. Result.Swapped says which list ran (true: Then).
//
// Multi-range reads: several key ranges read at one applied index, served
// by ReadIndex like Get and Scan. Together they are what a filesystem's
// metadata needs: rename moves an entry under compares on both names, a
// write commits a chunk's new version under a compare on the old one, and
// LIST is a prefix range.

// CompareKind says what a Compare tests.
type CompareKind uint8

// The compares.
const (
	CompareEqual    CompareKind = iota + 1 // Key exists and holds Value
	CompareAbsent                          // Key does not exist
	ComparePresent                         // Key exists, whatever its value
	CompareNoPrefix                        // no key starts with Key (an empty directory)
	compareEnd
)

var compareNames = [...]string{"", "equal", "absent", "present", "no-prefix"}

func (k CompareKind) String() string {
	if k == 0 || k >= compareEnd {
		return fmt.Sprintf("compare(%d)", uint8(k))
	}
	return compareNames[k]
}

// Compare is one condition of a Txn.
type Compare struct {
	Kind  CompareKind
	Key   string
	Value string // CompareEqual only
}

// TxnOpKind says what a TxnOp does.
type TxnOpKind uint8

// The writes of a Txn.
const (
	TxnPut          TxnOpKind = iota + 1 // Key = Value
	TxnDelete                            // remove Key (nothing if absent)
	TxnDeletePrefix                      // remove every key starting with Key
	// TxnMax sets Key to Value, a canonical unsigned decimal, unless Key
	// holds a canonical decimal at least as large: concurrent writers can
	// raise a size without comparing (and conflicting) on it. A value that
	// is not a canonical decimal counts as absent.
	TxnMax
	txnOpEnd
)

var txnOpNames = [...]string{"", "put", "delete", "delete-prefix", "max"}

func (k TxnOpKind) String() string {
	if k == 0 || k >= txnOpEnd {
		return fmt.Sprintf("txn-op(%d)", uint8(k))
	}
	return txnOpNames[k]
}

// TxnOp is one write of a Txn.
type TxnOp struct {
	Kind  TxnOpKind
	Key   string
	Value string // TxnPut, TxnMax
}

// Txn is an atomic conditional write: if every compare of If holds, the
// writes of Then are applied in order, else those of Else. Either list may
// be empty. A Txn that would grow the store past StateSizeMax is rejected
// whole (ErrStateFull).
type Txn struct {
	If   []Compare
	Then []TxnOp
	Else []TxnOp
}

// Range is a key range [Start, End) read by Client.Ranges; End "" means no
// upper bound. At most Limit pairs of it are returned.
type Range struct {
	Start, End string
	Limit      int
}

// PrefixRange is the range of the keys that start with prefix.
func PrefixRange(prefix string, limit int) Range {
	return Range{Start: prefix, End: prefixEnd(prefix), Limit: limit}
}

// prefixEnd is the least key greater than every key starting with prefix,
// "" if there is none (prefix is all 0xff bytes, or empty).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// SplitRanges splits the pairs of a Ranges result by the range each
// belongs to (the ranges as given to Client.Ranges).
func SplitRanges(ranges []Range, pairs []KV) [][]KV {
	out := make([][]KV, len(ranges))
	i := 0
	for _, p := range pairs {
		for i < len(ranges) && !ranges[i].contains(p.Key) {
			i++
		}
		if i == len(ranges) {
			break
		}
		out[i] = append(out[i], p)
	}
	return out
}

func (r Range) contains(key string) bool {
	return key >= r.Start && (r.End == "" || key < r.End)
}

// Limits of transactions and multi-range reads, the same on every replica.
const (
	// TxnItemsMax bounds the compares and writes of one Txn together.
	TxnItemsMax = 512
	// RangesMax bounds the ranges of one Ranges read.
	RangesMax = 32
)

// A Txn travels in the request's value (so it needs no field of its own in
// the log entry and ApplyEvent.Value carries it); so do a read's ranges:
//
//	txn:    count {kind(u8) key value}*   three times: If, Then, Else
//	ranges: count {start end limit(uvarint)}*

func encodeTxn(t *Txn) string {
	size := uvarintBytes(uint64(len(t.If)))
	for _, c := range t.If {
		size += 1 + stringBytes(c.Key) + stringBytes(c.Value)
	}
	for _, ops := range [][]TxnOp{t.Then, t.Else} {
		size += uvarintBytes(uint64(len(ops)))
		for _, op := range ops {
			size += 1 + stringBytes(op.Key) + stringBytes(op.Value)
		}
	}
	var e stringEncoder
	e.Grow(size)
	e.uvarint(uint64(len(t.If)))
	for _, c := range t.If {
		e.WriteByte(byte(c.Kind))
		e.str(c.Key)
		e.str(c.Value)
	}
	for _, ops := range [][]TxnOp{t.Then, t.Else} {
		e.uvarint(uint64(len(ops)))
		for _, op := range ops {
			e.WriteByte(byte(op.Kind))
			e.str(op.Key)
			e.str(op.Value)
		}
	}
	return e.String()
}

// decodeTxn decodes and validates a Txn against the limits.
func decodeTxn(s string, lim limits) (Txn, error) {
	d := stringDecoder(s)
	var t Txn
	n := d.count("compares", 3)
	for i := 0; i < n && d.err == nil; i++ {
		t.If = append(t.If, Compare{Kind: CompareKind(d.u8("compare kind")), Key: d.str("compare key"), Value: d.str("compare value")})
	}
	for _, ops := range []*[]TxnOp{&t.Then, &t.Else} {
		n := d.count("writes", 3)
		for i := 0; i < n && d.err == nil; i++ {
			*ops = append(*ops, TxnOp{Kind: TxnOpKind(d.u8("write kind")), Key: d.str("write key"), Value: d.str("write value")})
		}
	}
	if err := d.finish("txn"); err != nil {
		return Txn{}, err
	}
	if err := t.validate(lim); err != nil {
		return Txn{}, err
	}
	return t, nil
}

func (t *Txn) validate(lim limits) error {
	if items := len(t.If) + len(t.Then) + len(t.Else); items > TxnItemsMax {
		return fmt.Errorf("%w: txn of %d compares and writes exceeds %d", ErrInvalid, items, TxnItemsMax)
	}
	for i, c := range t.If {
		if err := c.validate(lim); err != nil {
			return fmt.Errorf("%w: compare %d: %v", ErrInvalid, i, err)
		}
	}
	for _, ops := range [][]TxnOp{t.Then, t.Else} {
		for i, op := range ops {
			if err := op.validate(lim); err != nil {
				return fmt.Errorf("%w: write %d: %v", ErrInvalid, i, err)
			}
		}
	}
	return nil
}

func validKey(key string, lim limits) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key")
	case len(key) > lim.keySizeMax:
		return fmt.Errorf("key of %d bytes exceeds %d", len(key), lim.keySizeMax)
	}
	return nil
}

func (c Compare) validate(lim limits) error {
	if c.Kind == 0 || c.Kind >= compareEnd {
		return fmt.Errorf("unknown compare kind %d", c.Kind)
	}
	if err := validKey(c.Key, lim); err != nil {
		return err
	}
	if c.Kind != CompareEqual && c.Value != "" {
		return fmt.Errorf("%v compare with a value", c.Kind)
	}
	return nil
}

func (op TxnOp) validate(lim limits) error {
	if op.Kind == 0 || op.Kind >= txnOpEnd {
		return fmt.Errorf("unknown write kind %d", op.Kind)
	}
	if err := validKey(op.Key, lim); err != nil {
		return err
	}
	switch {
	case len(op.Value) > lim.valueSizeMax:
		return fmt.Errorf("value of %d bytes exceeds %d", len(op.Value), lim.valueSizeMax)
	case (op.Kind == TxnDelete || op.Kind == TxnDeletePrefix) && op.Value != "":
		return fmt.Errorf("%v with a value", op.Kind)
	case op.Kind == TxnMax && !canonicalUint(op.Value):
		return fmt.Errorf("max of %q, not a canonical unsigned decimal", op.Value)
	}
	return nil
}

// canonicalUint: s is an unsigned decimal without a sign or leading zeros.
func canonicalUint(s string) bool {
	_, ok := parseCanonicalUint(s)
	return ok
}

func parseCanonicalUint(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(v, 10) != s {
		return 0, false
	}
	return v, true
}

func encodeRanges(rs []Range) string {
	size := uvarintBytes(uint64(len(rs)))
	for _, r := range rs {
		size += stringBytes(r.Start) + stringBytes(r.End) + uvarintBytes(uint64(r.Limit))
	}
	var e stringEncoder
	e.Grow(size)
	e.uvarint(uint64(len(rs)))
	for _, r := range rs {
		e.str(r.Start)
		e.str(r.End)
		e.uvarint(uint64(r.Limit))
	}
	return e.String()
}

// decodeRanges decodes and validates the ranges of a read.
func decodeRanges(s string, lim limits) ([]Range, error) {
	d := stringDecoder(s)
	n := d.count("ranges", 3)
	rs := make([]Range, 0, n) // n is bounded by the bytes left (count)
	for i := 0; i < n && d.err == nil; i++ {
		r := Range{Start: d.str("range start"), End: d.str("range end")}
		limit := d.uvarint("range limit")
		if limit > uint64(lim.scanLimitMax) {
			d.fail("range %d: limit %d exceeds %d", i, limit, lim.scanLimitMax)
		}
		r.Limit = int(limit)
		rs = append(rs, r)
	}
	if err := d.finish("ranges"); err != nil {
		return nil, err
	}
	if err := validateRanges(rs, lim); err != nil {
		return nil, err
	}
	return rs, nil
}

func validateRanges(rs []Range, lim limits) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: ranges: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(rs) == 0 || len(rs) > RangesMax {
		return bad("%d ranges outside [1, %d]", len(rs), RangesMax)
	}
	for i, r := range rs {
		switch {
		case len(r.Start) > lim.keySizeMax || len(r.End) > lim.keySizeMax:
			return bad("range %d: bound over %d bytes", i, lim.keySizeMax)
		case r.Limit < 1 || r.Limit > lim.scanLimitMax:
			return bad("range %d: limit %d outside [1, %d]", i, r.Limit, lim.scanLimitMax)
		case r.End != "" && r.End <= r.Start:
			return bad("range %d: end %q not after start %q", i, r.End, r.Start)
		case i > 0 && (rs[i-1].End == "" || r.Start < rs[i-1].End):
			return bad("range %d starts at %q, inside range %d", i, r.Start, i-1)
		}
	}
	return nil
}

// holds evaluates one compare against the state.
func (sm *stateMachine) holds(c Compare) bool {
	switch c.Kind {
	case CompareEqual:
		item, ok := sm.kv.Get(KV{Key: c.Key})
		return ok && item.Value == c.Value
	case CompareAbsent:
		return !sm.kv.Has(KV{Key: c.Key})
	case ComparePresent:
		return sm.kv.Has(KV{Key: c.Key})
	case CompareNoPrefix:
		empty := true
		sm.kv.AscendGreaterOrEqual(KV{Key: c.Key}, func(item KV) bool {
			empty = !strings.HasPrefix(item.Key, c.Key)
			return false
		})
		return empty
	}
	panic(fmt.Sprintf("raftkv: compare of kind %d passed validation", c.Kind))
}

// undoEntry is what a write of a Txn replaced, to roll the Txn back.
type undoEntry struct {
	old   KV
	found bool
}

// applyTxn applies a validated Txn: the compares, then one list of writes;
// if the writes grow the store past its limit they are rolled back.
func (sm *stateMachine) applyTxn(t *Txn, rep *reply) {
	ok := true
	for _, c := range t.If {
		if !sm.holds(c) {
			ok = false
			break
		}
	}
	ops := t.Then
	if !ok {
		ops = t.Else
	}
	before := sm.sizeBytes
	var undo []undoEntry
	for _, op := range ops {
		undo = sm.applyTxnOp(op, undo)
	}
	if sm.sizeBytes > sm.lim.stateSizeMax && sm.sizeBytes > before {
		for i := len(undo) - 1; i >= 0; i-- {
			sm.restore(undo[i])
		}
		if sm.sizeBytes != before {
			panic(fmt.Sprintf("raftkv: txn rollback left %d bytes, had %d", sm.sizeBytes, before))
		}
		rep.status = statusStateFull
		return
	}
	rep.swapped = ok
}

func (sm *stateMachine) applyTxnOp(op TxnOp, undo []undoEntry) []undoEntry {
	switch op.Kind {
	case TxnPut:
		return sm.txnSet(op.Key, op.Value, undo)
	case TxnDelete:
		return sm.txnDelete(op.Key, undo)
	case TxnDeletePrefix:
		var keys []string
		sm.kv.AscendGreaterOrEqual(KV{Key: op.Key}, func(item KV) bool {
			if !strings.HasPrefix(item.Key, op.Key) {
				return false
			}
			keys = append(keys, item.Key)
			return true
		})
		for _, k := range keys {
			undo = sm.txnDelete(k, undo)
		}
		return undo
	case TxnMax:
		v, _ := parseCanonicalUint(op.Value)
		if item, ok := sm.kv.Get(KV{Key: op.Key}); ok {
			if cur, isNum := parseCanonicalUint(item.Value); isNum && cur >= v {
				return undo
			}
		}
		return sm.txnSet(op.Key, op.Value, undo)
	}
	panic(fmt.Sprintf("raftkv: txn write of kind %d passed validation", op.Kind))
}

func (sm *stateMachine) txnSet(key, value string, undo []undoEntry) []undoEntry {
	old, found := sm.kv.ReplaceOrInsert(KV{Key: key, Value: value})
	if found {
		sm.sizeBytes -= pairSize(old.Key, old.Value)
	}
	sm.sizeBytes += pairSize(key, value)
	return append(undo, undoEntry{old: KV{Key: key, Value: old.Value}, found: found})
}

func (sm *stateMachine) txnDelete(key string, undo []undoEntry) []undoEntry {
	old, found := sm.kv.Delete(KV{Key: key})
	if !found {
		return undo
	}
	sm.sizeBytes -= pairSize(old.Key, old.Value)
	return append(undo, undoEntry{old: old, found: true})
}

// restore puts back what one write replaced.
func (sm *stateMachine) restore(u undoEntry) {
	if cur, ok := sm.kv.Delete(KV{Key: u.old.Key}); ok {
		sm.sizeBytes -= pairSize(cur.Key, cur.Value)
	}
	if u.found {
		sm.kv.ReplaceOrInsert(u.old)
		sm.sizeBytes += pairSize(u.old.Key, u.old.Value)
	}
}

// readRanges reads validated ranges: up to each range's limit, and at most
// lim.scanBytesMax bytes in all; More says something was left out.
func (sm *stateMachine) readRanges(rs []Range, rep *reply) {
	bytes := 0
	for _, r := range rs {
		n := 0
		full := false
		sm.kv.AscendGreaterOrEqual(KV{Key: r.Start}, func(item KV) bool {
			if r.End != "" && item.Key >= r.End {
				return false
			}
			size := len(item.Key) + len(item.Value)
			if n == r.Limit || (len(rep.pairs) > 0 && bytes+size > sm.lim.scanBytesMax) {
				rep.more = true
				full = n < r.Limit
				return false
			}
			rep.pairs = append(rep.pairs, item)
			bytes += size
			n++
			return true
		})
		if full {
			return // out of bytes: the later ranges are left out too
		}
	}
}

// Txn decodes the transaction of an OpTxn event (carried in Value).
func (ev ApplyEvent) Txn() (Txn, error) {
	if ev.Op != OpTxn {
		return Txn{}, fmt.Errorf("%w: %v event carries no txn", ErrInvalid, ev.Op)
	}
	lim := limits{keySizeMax: 1 << 30, valueSizeMax: 1 << 30}
	return decodeTxn(ev.Value, lim)
}
