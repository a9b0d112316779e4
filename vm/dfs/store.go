package dfs

import (
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/flockvm/flock/diskmodel"
	"github.com/google/btree"
)

// localChunk is a generation this machine holds.
type localChunk struct {
	ref     chunkRef
	version uint64
	length  uint32
	crc     uint32
	since   uint64 // tick it was written, or the boot tick for what was found at boot
	name    string // its file (slots.go: a name says nothing of what the file holds)
	size    uint64 // its file's size, counted in usedBytes
}

func localLess(a, b *localChunk) bool { return refLess(a.ref, b.ref) }

// storeStatus is the outcome of a chunk read or write on the local disk.
type storeStatus uint8

const (
	storeOK      storeStatus = iota
	storeMissing             // no such generation here
	storeBad                 // the file fails its checks (torn, rotted)
	storeFull                // the quota or the disk is full
	storeIOError             // the disk failed; a retry may succeed
)

var storeStatusNames = [...]string{"ok", "missing", "bad", "full", "io-error"}

func (s storeStatus) String() string {
	if int(s) < len(storeStatusNames) {
		return storeStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// store is this machine's chunk files: the inventory in memory (rebuilt
// from the directory at boot), the files on disk.
type store struct {
	fsys       diskmodel.FS
	dir        string
	quotaBytes uint64
	diskLow    bool // the disk is full: see setDiskLow
	usedBytes  uint64
	chunks     *btree.BTreeG[*localChunk]
	noSync     bool // the ack-before-sync bug
	noVerify   bool // the skip-checksum bug
	stats      *Stats
	// scratch holds the files verify reads: the scrubber and the audits
	// check a chunk every tick and keep none of its bytes.
	scratch []byte
	// worker runs the files' writes and syncs off the driver's goroutine
	// (nil: inline); writing holds the generations being written, not yet
	// in the inventory (their bytes are reserved in usedBytes).
	worker  DiskWorker
	writing map[chunkRef]*pendingWrite
	// slots are the free chunk files, recycled by writes of their size;
	// slotNext numbers new files (slots.go).
	slots    slotPool
	slotNext uint64
	// spareSizes are the slot sizes writes lately found no free slot of,
	// most recent first; sparing: spare slots are being made.
	spareSizes   []uint64
	spareCredits map[uint64]int // spares owed per size in spareSizes
	sparing      bool
	// superseded are generations a later local one of their chunk may
	// supersede, for the collector (collect.go).
	superseded []localChunk
	// background runs the spares' jobs on the worker's background
	// goroutine (a BackgroundWorker's), nil if it has none.
	background func(job, done func())
}

// pendingWrite is a generation whose file is being written and synced.
type pendingWrite struct {
	ref       chunkRef
	version   uint64
	length    uint32
	crc       uint32
	since     uint64
	size      uint64 // reserved in usedBytes
	name      string
	reused    bool // name is a free slot of its size, overwritten in place
	content   []byte
	status    storeStatus // set by the job
	cancelled bool        // removed meanwhile: the file goes once written
	waiters   []func(uint32, storeStatus)
}

// pendingWritesMax bounds the generations being written at once: a put
// beyond it is answered full (the writer tries another machine or again).
const pendingWritesMax = 256

func openStore(fsys diskmodel.FS, dir string, quota uint64, bugs Bugs, stats *Stats) (*store, error) {
	st := &store{
		fsys: fsys, dir: path.Join(dir, "c"), quotaBytes: quota,
		chunks: btree.NewG(16, localLess), noSync: bugs.AckBeforeSync, noVerify: bugs.SkipReadChecksum, stats: stats,
		writing: map[chunkRef]*pendingWrite{},
	}
	if err := diskmodel.MkdirAll(fsys, st.dir); err != nil {
		return nil, fmt.Errorf("dfs: chunk directory: %w", err)
	}
	infos, err := fsys.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("dfs: list chunk directory: %w", err)
	}
	for _, fi := range infos {
		if n, ok := parseSlotName(fi.Name); ok {
			st.slotNext = max(st.slotNext, n)
		}
	}
	for _, fi := range infos {
		if err := st.adopt(fi); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// adopt takes a file found at boot into the inventory, keeps it as a free
// slot if it holds no valid generation (a freed slot, a write torn by a
// crash, a rotted header), or removes it if it is no chunk file at all.
func (st *store) adopt(fi diskmodel.FileInfo) error {
	name := path.Join(st.dir, fi.Name)
	_, slot := parseSlotName(fi.Name)
	_, err := parseChunkFileName(fi.Name)
	if fi.IsDir || (!slot && err != nil) {
		return st.discard(name)
	}
	size := uint64(fi.Size)
	st.usedBytes += size
	h, status := st.readHeader(name)
	switch {
	case status == storeIOError:
		return fmt.Errorf("dfs: read chunk file %s at boot: disk error", name)
	case status == storeOK && size >= chunkFileBytes(h.length): // a slot's size, or exact (files of older versions)
		c := &localChunk{ref: h.ref, version: h.version, length: h.length, crc: h.crc, name: name, size: size}
		if old, dup := st.chunks.Get(c); dup {
			// Two files of one generation: keep one that reads back good.
			markDuplicateAtBoot.Hit()
			keep, drop := old, c
			if st.verifyFile(old) != storeOK && st.verifyFile(c) == storeOK {
				keep, drop = c, old
			}
			st.chunks.ReplaceOrInsert(keep)
			st.freeFile(drop.name, drop.size)
			return nil
		}
		st.chunks.ReplaceOrInsert(c)
		return nil
	case status != storeMissing && size > 0: // not a freed slot: torn or rotted
		st.stats.BadFilesAtBoot++
	}
	st.freeFile(name, size)
	return nil
}

// verifyFile reads and checks the file of c (at boot).
func (st *store) verifyFile(c *localChunk) storeStatus {
	_, s := st.loadInto(c, c.crc, st.scratchOf(c.length))
	return s
}

func (st *store) discard(name string) error {
	if err := st.fsys.Remove(name); err != nil && !errors.Is(err, diskmodel.ErrIO) {
		return fmt.Errorf("dfs: remove %s: %w", name, err)
	}
	return nil
}

func (st *store) get(ref chunkRef) (*localChunk, bool) {
	return st.chunks.Get(&localChunk{ref: ref})
}

// readHeader reads the header of a chunk file: storeMissing for a free
// slot (its magic cleared), storeBad for any other file that holds none.
func (st *store) readHeader(name string) (chunkHeader, storeStatus) {
	f, err := st.fsys.OpenFile(name, diskmodel.OpenExisting)
	if err != nil {
		return chunkHeader{}, statusOf(err)
	}
	defer f.Close()
	buf := make([]byte, chunkHeaderBytes)
	if n, err := f.ReadAt(buf, 0); n < len(buf) {
		if err != nil && !errors.Is(err, io.EOF) {
			return chunkHeader{}, statusOf(err)
		}
		return chunkHeader{}, storeBad
	}
	if [len(chunkMagic)]byte(buf) == ([len(chunkMagic)]byte{}) {
		return chunkHeader{}, storeMissing
	}
	h, err := decodeChunkHeader(buf)
	if err != nil {
		return chunkHeader{}, storeBad
	}
	return h, storeOK
}

func statusOf(err error) storeStatus {
	switch {
	case errors.Is(err, diskmodel.ErrNoSpace):
		return storeFull
	case errors.Is(err, diskmodel.ErrIO):
		return storeIOError
	}
	return storeMissing
}

// read returns the data of a generation, verified against its header and
// against wantCRC. A bad file is dropped from the inventory and deleted.
func (st *store) read(ref chunkRef, wantCRC uint32) ([]byte, storeStatus) {
	c, ok := st.get(ref)
	if !ok {
		return nil, storeMissing
	}
	data, s := st.load(c, wantCRC)
	if s != storeOK {
		return nil, st.failedRead(c, s)
	}
	return data, storeOK
}

// check verifies a generation like read, changing nothing (for audits).
func (st *store) check(ref chunkRef, wantCRC uint32) storeStatus {
	c, ok := st.get(ref)
	if !ok {
		return storeMissing
	}
	_, s := st.loadInto(c, wantCRC, st.scratchOf(c.length))
	return s
}

// verify checks a generation like read, dropping a bad one, and returns
// no data (for the scrubber).
func (st *store) verify(c *localChunk) storeStatus {
	if _, s := st.loadInto(c, c.crc, st.scratchOf(c.length)); s != storeOK {
		return st.failedRead(c, s)
	}
	return storeOK
}

// scratchOf is the scratch buffer sized for a file of a generation of
// length n.
func (st *store) scratchOf(n uint32) []byte {
	size := chunkFileBytes(n)
	if uint64(cap(st.scratch)) < size {
		st.scratch = make([]byte, size)
	}
	return st.scratch[:size]
}

func (st *store) load(c *localChunk, wantCRC uint32) ([]byte, storeStatus) {
	return st.loadInto(c, wantCRC, make([]byte, chunkFileBytes(c.length)))
}

// loadInto reads and checks the file of c into buf, sized for it, and
// returns the data part of buf.
func (st *store) loadInto(c *localChunk, wantCRC uint32, buf []byte) ([]byte, storeStatus) {
	f, err := st.fsys.OpenFile(c.name, diskmodel.OpenExisting)
	if err != nil {
		return nil, statusOf(err)
	}
	defer f.Close()
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		if errors.Is(err, io.EOF) {
			return nil, storeBad
		}
		return nil, statusOf(err)
	}
	h, err := decodeChunkHeader(buf)
	data := buf[chunkHeaderBytes:]
	if err != nil || h.ref != c.ref || h.length != c.length {
		return nil, storeBad
	}
	if !st.noVerify && (checksum(data) != h.crc || h.crc != wantCRC) {
		return nil, storeBad
	}
	return data, storeOK
}

func (st *store) failedRead(c *localChunk, s storeStatus) storeStatus {
	switch s {
	case storeIOError:
		return s // the data may be fine: try again later
	case storeBad:
		markBadChecksum.Hit()
		st.stats.BadCopies++
	default:
		markMissingCopy.Hit()
		st.stats.MissingCopies++
		s = storeMissing
	}
	st.remove(c.ref)
	return s
}

// write stores a generation: header and data, synced, in a free slot of its
// size or a new file whose name is synced too;
// done gets the checksum and the outcome, at once or (with a DiskWorker)
// from a later event, exactly once. A second write of a generation being
// written waits for the first's outcome.
func (st *store) write(ref chunkRef, version uint64, data []byte, now uint64, done func(uint32, storeStatus)) {
	crc := checksum(data)
	if pw := st.writing[ref]; pw != nil {
		if pw.crc != crc || pw.length != uint32(len(data)) {
			done(0, storeBad) // one generation, two contents: never from a correct writer
			return
		}
		pw.waiters = append(pw.waiters, done)
		return
	}
	if c, ok := st.get(ref); ok {
		// A retry of a write already stored, unless the file is not what
		// it says: a file found at boot whose sync a crash cut keeps its
		// header but may hold torn data (fs seed 251: the retried put of
		// such a file was acknowledged, committed with R = 1, and the only
		// copy was bad). So the bytes are read and checked before the ack.
		if c.crc == crc && c.length == uint32(len(data)) && st.check(ref, crc) == storeOK {
			done(crc, storeOK)
			return
		}
		st.remove(ref)
	}
	if len(st.writing) >= pendingWritesMax {
		done(0, storeFull)
		return
	}
	size := slotBytes(chunkFileBytes(uint32(len(data))))
	name, reused := st.slots.take(size) // its bytes are counted already
	if !reused {
		st.wantSpares(size)
		if !st.makeRoom(size) {
			done(0, storeFull)
			return
		}
		name = st.newFileName()
		st.usedBytes += size
	}
	h := chunkHeader{ref: ref, version: version, length: uint32(len(data)), crc: crc}
	pw := &pendingWrite{ref: ref, version: version, length: h.length, crc: crc, since: now, size: size,
		name: name, reused: reused, content: append(h.encode(), data...), waiters: []func(uint32, storeStatus){done}}
	st.writing[ref] = pw
	st.stats.ChunkWrites++
	if reused {
		markSlotReused.Hit()
		st.stats.SlotsReused++
	}
	if st.worker == nil {
		pw.status = st.writeJob(pw)
		st.finishWrite(pw)
		return
	}
	st.stats.WritesOffloaded++
	st.worker.Do(func() { pw.status = st.writeJob(pw) }, func() { st.finishWrite(pw) })
}

// writeJob writes and syncs pw's file: over a free slot in place, or a
// new file (off the driver's goroutine with a DiskWorker: it touches
// nothing of the store but the file).
func (st *store) writeJob(pw *pendingWrite) storeStatus {
	if pw.reused {
		return st.overwriteFile(pw.name, pw.content, pw.size)
	}
	return st.writeFile(pw.name, pw.content, pw.size)
}

// finishWrite takes a written generation into the inventory (or drops its
// file) and answers its writers.
func (st *store) finishWrite(pw *pendingWrite) {
	if st.writing[pw.ref] != pw {
		panic(fmt.Sprintf("dfs: finishing the write of %v, which is not being written", pw.ref))
	}
	delete(st.writing, pw.ref)
	crc, status := pw.crc, pw.status
	switch {
	case status == storeOK && !pw.cancelled:
		st.chunks.ReplaceOrInsert(&localChunk{ref: pw.ref, version: pw.version, length: pw.length, crc: pw.crc, since: pw.since,
			name: pw.name, size: pw.size})
		st.stats.BytesStored += uint64(pw.length)
		st.noteSuperseded(pw.ref, pw.version)
	case status == storeOK: // removed while it was written
		st.freeFile(pw.name, pw.size)
		status, crc = storeMissing, 0
	default:
		st.dropFile(pw.name, pw.size) // a file that failed is not recycled
		crc = 0
	}
	pw.content = nil
	for _, w := range pw.waiters {
		w(crc, status)
	}
	st.makeSparesAfter() // a slot taken, or one missed: replace it
}

// noteSuperseded queues for the collector the local generations of ref's
// chunk older than version: once ref's generation commits, they can never
// be read again. At most supersededMax wait for the collector's next tick.
func (st *store) noteSuperseded(ref chunkRef, version uint64) {
	from := &localChunk{ref: chunkRef{ino: ref.ino, idx: ref.idx}}
	st.chunks.AscendGreaterOrEqual(from, func(c *localChunk) bool {
		if c.ref.ino != ref.ino || c.ref.idx != ref.idx {
			return false
		}
		if c.version < version && len(st.superseded) < supersededMax {
			st.superseded = append(st.superseded, *c)
		}
		return true
	})
}

// supersededMax bounds the generations noted superseded between two ticks.
const supersededMax = 256

// writeFile makes name a new file of size bytes that begins with content
// (zeros after it), synced, its name synced in the directory.
func (st *store) writeFile(name string, content []byte, size uint64) storeStatus {
	if s := st.createFile(name, content, size); s != storeOK || st.noSync {
		return s
	}
	if err := st.fsys.SyncDir(st.dir); err != nil {
		return statusOf(err)
	}
	return storeOK
}

// createFile is writeFile without the directory's sync.
func (st *store) createFile(name string, content []byte, size uint64) storeStatus {
	f, err := st.fsys.OpenFile(name, diskmodel.OpenOrCreate)
	if err != nil {
		return statusOf(err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return statusOf(err)
	}
	if _, err := f.WriteAt(content, 0); err != nil {
		return statusOf(err)
	}
	// The rest is written, not left a hole, so that an overwrite of the
	// slot later changes no block allocation: its sync is the data's only.
	if pad := size - uint64(len(content)); size > uint64(len(content)) {
		if _, err := f.WriteAt(make([]byte, pad), int64(len(content))); err != nil {
			return statusOf(err)
		}
	}
	return st.syncFile(f)
}

// remove forgets a generation and frees its file (slots.go). Not synced: a
// generation a crash brings back is collected again.
func (st *store) remove(ref chunkRef) {
	if pw := st.writing[ref]; pw != nil {
		pw.cancelled = true
		return
	}
	c, ok := st.chunks.Delete(&localChunk{ref: ref})
	if !ok {
		return
	}
	st.freeFile(c.name, c.size)
}

// hasOtherGeneration reports whether another generation of the same chunk
// is held here (a stale copy when an asked-for one is missing).
func (st *store) hasOtherGeneration(ref chunkRef) bool {
	found := false
	st.chunks.AscendGreaterOrEqual(&localChunk{ref: chunkRef{ino: ref.ino, idx: ref.idx}}, func(c *localChunk) bool {
		if c.ref.ino != ref.ino || c.ref.idx != ref.idx {
			return false
		}
		found = c.ref.gen != ref.gen
		return !found
	})
	return found
}

// after returns up to n chunks after ref, wrapping around (ref itself
// comes last): the collector's and the scrubber's cursor.
func (st *store) after(ref chunkRef, n int) []*localChunk {
	return st.appendAfter(nil, ref, n)
}

// appendAfter is after appending to out (the scrubber reuses its slice).
func (st *store) appendAfter(out []*localChunk, ref chunkRef, n int) []*localChunk {
	n += len(out)
	st.chunks.AscendGreaterOrEqual(&localChunk{ref: ref}, func(c *localChunk) bool {
		if c.ref != ref {
			out = append(out, c)
		}
		return len(out) < n
	})
	if len(out) < n {
		st.chunks.Ascend(func(c *localChunk) bool {
			if refLess(ref, c.ref) || len(out) == n {
				return false
			}
			out = append(out, c)
			return true
		})
	}
	return out
}
