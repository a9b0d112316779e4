package dfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
)

// Chunk files are recycled. Making a new chunk file costs a create, the
// file's fsync and its directory's fsync (0.8-1.1 ms on the disk the real
// cluster was measured on); overwriting a file of the same size in place
// and syncing it costs 0.11-0.17 ms. So a chunk file's size is a slot
// size (slotBytes: its header and data rounded up, at most an eighth more), a
// removed generation's file is kept as a free slot (its header's magic
// cleared), spare slots of the sizes writes have lately needed are made
// ahead of time (zero-filled and synced, with their directory, off the
// write's path), and a write takes a free slot of its size when there is
// one: it overwrites it in place and syncs the file only, its name already
// durable in the directory and its size unchanged.
//
// A file's name therefore says nothing of what it holds: its header
// does. New files are named s-<16 hex digits> from a counter past every
// such name found at boot; a chunk file of the older naming
// (<ino>-<idx>-<gen>) is adopted and recycled the same way.
//
// Crashes: a slot's freeing is not synced (nor was a removal before), so a
// crash may bring a freed generation back; the collector removes it again.
// An overwrite torn by a crash leaves a file whose header or data fails its
// checksum (a bad copy: never served, repaired), or, if the old header
// survived, the old generation (collected again). Two files naming one
// generation (a freed slot brought back, and the generation written again
// elsewhere) are both verified at boot and the good one kept.

// slotsFreeMax bounds the free slots kept; a file freed into a full pool
// displaces a slot of a size with a surplus (evictSurplus), else is removed.
const slotsFreeMax = 64

// Spare slots: one owed for each write that found no free slot of its size
// (at most sparesPerSize owed, and made only while fewer are free, for each
// of the last sparesSizesMax sizes missed), at most 1/sparesQuotaShare of
// the quota in all, and never beyond slotsFreeMax; made one at a time, on
// the disk worker's background goroutine (or, for a worker without one,
// only while no chunk write is under way: a put would wait behind a
// spare's creation).
const (
	sparesPerSize    = 4
	sparesSizesMax   = 8
	sparesPerJob     = 1
	sparesQuotaShare = 64
)

// slotBytes is the size of the file of a header and data of n bytes: n
// rounded up to 64 bytes, or to an eighth of the largest power of two not
// above n, whichever is more (so that there are eight sizes to a doubling,
// each wasting at most an eighth: a 4 KiB chunk's file takes 4.5 KiB).
func slotBytes(n uint64) uint64 {
	step := uint64(64)
	if n == 0 {
		return 0
	}
	if p := uint64(1) << (bits.Len64(n) - 1); p/8 > step {
		step = p / 8
	}
	return (n + step - 1) / step * step
}

// slotNamePrefix begins the name of every chunk file made by this version.
const slotNamePrefix = "s-"

func slotName(n uint64) string { return slotNamePrefix + fmt.Sprintf("%016x", n) }

// parseSlotName returns n of a name slotName(n).
func parseSlotName(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, slotNamePrefix)
	if !ok || len(rest) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 16, 64)
	if err != nil || slotName(n) != name {
		return 0, false
	}
	return n, true
}

// slotPool is the free slots by file size. Their bytes stay counted in the
// store's usedBytes: they are on the disk.
type slotPool struct {
	bySize map[uint64][]string
	count  int
	bytes  uint64
}

// take pops a free slot of exactly size bytes.
func (p *slotPool) take(size uint64) (string, bool) {
	names := p.bySize[size]
	if len(names) == 0 {
		return "", false
	}
	name := names[len(names)-1]
	if len(names) == 1 {
		delete(p.bySize, size)
	} else {
		p.bySize[size] = names[:len(names)-1]
	}
	p.count--
	p.bytes -= size
	return name, true
}

func (p *slotPool) put(name string, size uint64) {
	if p.bySize == nil {
		p.bySize = map[uint64][]string{}
	}
	p.bySize[size] = append(p.bySize[size], name)
	p.count++
	p.bytes += size
}

// any pops some free slot (for eviction), the largest first.
func (p *slotPool) any() (string, uint64, bool) {
	var best uint64
	for size := range p.bySize {
		best = max(best, size)
	}
	if p.count == 0 {
		return "", 0, false
	}
	name, _ := p.take(best)
	return name, best, true
}

// heldBytes is usedBytes less the free slots: what placement counts as used
// (a write evicts free slots when it needs their room).
func (st *store) heldBytes() uint64 { return st.usedBytes - st.slots.bytes }

// newFileName names a new chunk file.
func (st *store) newFileName() string {
	st.slotNext++
	return path.Join(st.dir, slotName(st.slotNext))
}

// freeFile makes the file of a removed generation a free slot: its magic
// cleared (not synced), kept if the pool has room, else removed. usedBytes
// still counts it while it is kept.
func (st *store) freeFile(name string, size uint64) {
	if size == 0 || st.diskLow || st.slots.count >= slotsFreeMax && !st.evictSurplus(size) || !st.clearMagic(name) {
		st.dropFile(name, size)
		return
	}
	st.slots.put(name, size)
	st.stats.SlotsFreed++
}

// clearMagic zeroes a file's magic so that a boot does not take its old
// generation back; it reports whether it could.
func (st *store) clearMagic(name string) bool {
	f, err := st.fsys.OpenFile(name, diskmodel.OpenExisting)
	if err != nil {
		return false
	}
	defer f.Close()
	var zero [len(chunkMagic)]byte
	_, err = f.WriteAt(zero[:], 0)
	return err == nil
}

// dropFile removes a file and its bytes from usedBytes.
func (st *store) dropFile(name string, size uint64) {
	_ = st.fsys.Remove(name)
	st.usedBytes -= size
}

// makeRoom evicts free slots until size more bytes fit the quota; it
// reports whether they do.
func (st *store) makeRoom(size uint64) bool {
	for st.usedBytes+size > st.quotaBytes {
		name, slotSize, ok := st.slots.any()
		if !ok {
			return false
		}
		st.dropFile(name, slotSize)
		st.stats.SlotsEvicted++
	}
	return true
}

// overwriteFile writes content over the start of a free slot of size
// bytes and syncs the file; a slot that vanished (a lost file) or changed
// is made again as a new file.
func (st *store) overwriteFile(name string, content []byte, size uint64) storeStatus {
	f, err := st.fsys.OpenFile(name, diskmodel.OpenExisting)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			markSlotRemade.Hit()
			return st.writeFile(name, content, size)
		}
		return statusOf(err)
	}
	if got, err := f.Size(); err != nil || uint64(got) != size {
		f.Close()
		markSlotRemade.Hit()
		return st.writeFile(name, content, size) // not the slot it was: made anew
	}
	defer f.Close()
	if _, err := f.WriteAt(content, 0); err != nil {
		return statusOf(err)
	}
	return st.syncFile(f)
}

// syncFile syncs a chunk file just written (unless the planted
// ack-before-sync bug is on).
func (st *store) syncFile(f diskmodel.File) storeStatus {
	if st.noSync {
		return storeOK // BUG: acknowledged without being durable
	}
	if err := f.Sync(); err != nil {
		return statusOf(err)
	}
	return storeOK
}

// wantSpares notes a slot size a write found no free slot of: one more
// spare of it may be made (at most sparesPerSize owed per size). Spares
// follow misses, not a stock to keep: removed generations' files refill
// the pool too, a tick or two after each write, and spares made ahead of
// them would only be evicted when they come.
func (st *store) wantSpares(size uint64) {
	if st.spareCredits == nil {
		st.spareCredits = map[uint64]int{}
	}
	st.spareCredits[size] = min(st.spareCredits[size]+1, sparesPerSize)
	for i, s := range st.spareSizes {
		if s == size {
			copy(st.spareSizes[1:i+1], st.spareSizes[:i]) // most recent first
			st.spareSizes[0] = size
			return
		}
	}
	if len(st.spareSizes) < sparesSizesMax {
		st.spareSizes = append(st.spareSizes, 0)
	} else {
		delete(st.spareCredits, st.spareSizes[len(st.spareSizes)-1])
	}
	copy(st.spareSizes[1:], st.spareSizes)
	st.spareSizes[0] = size
}

// makeSpares starts making a spare slot of the most recently missed size
// that is owed one and has fewer than sparesPerSize free, if none is being
// made and the budget allows; called at every tick.
func (st *store) makeSpares() {
	if st.sparing || (st.worker != nil && st.background == nil && len(st.writing) > 0) {
		return
	}
	budget := st.quotaBytes / sparesQuotaShare
	for _, size := range st.spareSizes {
		have := len(st.slots.bySize[size])
		n := min(sparesPerSize-have, sparesPerJob, st.spareCredits[size])
		for n > 0 && (st.slots.bytes+uint64(n)*size > budget || st.usedBytes+uint64(n)*size > st.quotaBytes) {
			n--
		}
		// A spare beyond slotsFreeMax would be removed as soon as made, and
		// the next made again, forever: room comes only from a size with
		// free slots to spare.
		for n > 0 && st.slots.count+n > slotsFreeMax && !st.evictSurplus(size) {
			n--
		}
		if n <= 0 {
			continue
		}
		names := make([]string, n)
		for i := range names {
			names[i] = st.newFileName()
		}
		st.usedBytes += uint64(n) * size
		st.spareCredits[size] -= n
		st.sparing = true
		var made []bool
		job := func() { made = st.writeSpares(names, size) }
		finish := func() { st.finishSpares(names, made, size) }
		switch {
		case st.worker == nil:
			job()
			finish()
		case st.background != nil:
			st.background(job, finish)
		default:
			st.worker.Do(job, finish)
		}
		return
	}
}

// evictSurplus removes a free slot of the size, other than keep, with the
// most free slots beyond what spares keep of it (none of a size no write
// lately missed, sparesPerSize of one that a write did), the largest size
// on a tie; it reports whether some size had a surplus. A generation freed
// into a full pool so displaces sizes no write asks for, and the pool
// follows the sizes written.
func (st *store) evictSurplus(keep uint64) bool {
	var best uint64
	surplusBest := 0
	for size, names := range st.slots.bySize {
		surplus := len(names)
		if slices.Contains(st.spareSizes, size) {
			surplus -= sparesPerSize
		}
		if size != keep && (surplus > surplusBest || surplus == surplusBest && surplus > 0 && size > best) {
			best, surplusBest = size, surplus
		}
	}
	if surplusBest == 0 {
		return false
	}
	name, _ := st.slots.take(best)
	st.dropFile(name, best)
	st.stats.SlotsEvicted++
	return true
}

// writeSpares makes zero-filled files of size bytes, each synced, then
// their directory; it reports which were made (all false if the directory
// sync failed: their names may not be durable).
func (st *store) writeSpares(names []string, size uint64) []bool {
	made := make([]bool, len(names))
	some := false
	for i, name := range names {
		made[i] = st.createFile(name, nil, size) == storeOK
		some = some || made[i]
	}
	if some && st.fsys.SyncDir(st.dir) != nil {
		clear(made)
	}
	return made
}

// finishSpares takes the spare slots made into the pool, and starts the
// next.
func (st *store) finishSpares(names []string, made []bool, size uint64) {
	st.sparing = false
	defer st.makeSparesAfter()
	for i, name := range names {
		if made[i] && st.slots.count < slotsFreeMax {
			st.slots.put(name, size)
			st.stats.SparesMade++
			continue
		}
		st.dropFile(name, size)
	}
}

// makeSparesAfter makes the next spare at once when spares are made in the
// background (else the next tick does).
func (st *store) makeSparesAfter() {
	if st.background != nil {
		st.makeSpares()
	}
}

// setDiskLow: the disk is full (the machine's metadata replica needed the
// room). Every free slot goes, freed files are removed rather than kept,
// and the quota shrinks to what the chunk files held take, so that no new
// one is made (a write here answers "full"; placement looks elsewhere).
// Off: the quota is quota again.
func (st *store) setDiskLow(low bool, quota uint64) {
	st.diskLow = low
	if !low {
		st.quotaBytes = quota
		return
	}
	for {
		name, size, ok := st.slots.any()
		if !ok {
			break
		}
		st.dropFile(name, size)
		st.stats.SlotsEvicted++
	}
	st.quotaBytes = min(quota, st.usedBytes)
}
