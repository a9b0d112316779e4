package dfs

// recentContents keeps the data of the generations this store wrote last,
// so that a put patching one of them (the next write of the same chunk,
// which names it as its base) builds the new generation without reading
// the base back from the disk. A generation's content never changes, and
// what is kept is what was written (its checksum computed from it), so a
// kept copy is good even if the file rotted or vanished since. Bounded in
// entries and bytes; the oldest go first; lost with the store.
type recentContents struct {
	m     map[chunkRef]recentContent
	order []chunkRef // oldest first; may name entries already dropped
	bytes int
}

type recentContent struct {
	data []byte
	crc  uint32
}

// Bounds of recentContents: a few chunks of the largest size.
const (
	recentEntriesMax = 64
	recentBytesMax   = 4 << 20
)

func (r *recentContents) put(ref chunkRef, data []byte, crc uint32) {
	if len(data) > recentBytesMax {
		return
	}
	if r.m == nil {
		r.m = map[chunkRef]recentContent{}
	}
	r.drop(ref)
	for len(r.m) >= recentEntriesMax || r.bytes+len(data) > recentBytesMax {
		r.drop(r.order[0])
		r.order = r.order[1:]
	}
	r.m[ref] = recentContent{data: data, crc: crc}
	r.bytes += len(data)
	r.order = append(r.order, ref)
	if len(r.order) > 4*recentEntriesMax { // names of dropped entries pile up: compact
		kept := r.order[:0]
		for _, k := range r.order {
			if _, ok := r.m[k]; ok {
				kept = append(kept, k)
			}
		}
		r.order = kept
	}
}

// get returns the kept data of ref if its checksum is crc.
func (r *recentContents) get(ref chunkRef, crc uint32) ([]byte, bool) {
	c, ok := r.m[ref]
	if !ok || c.crc != crc {
		return nil, false
	}
	return c.data, true
}

func (r *recentContents) drop(ref chunkRef) {
	if c, ok := r.m[ref]; ok {
		r.bytes -= len(c.data)
		delete(r.m, ref)
	}
}
