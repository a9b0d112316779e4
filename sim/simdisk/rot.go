package simdisk

import (
	"cmp"
	"slices"
	"sort"
)

// rotTriesPerBit bounds the rejection sampling of distinct bits.
const rotTriesPerBit = 64

// Rot flips n distinct random bits in durable file data, chosen uniformly
// over every durable byte on the disk, and the same bits in the volatile
// view where no unsynced write or truncate has replaced them. It returns the
// number of bits flipped: fewer than n only when the disk holds fewer bits.
func (d *Disk) Rot(n int) int {
	d.catchUp()
	files, ends := d.durableFiles()
	if n <= 0 || len(files) == 0 {
		return 0
	}
	totalBits := ends[len(ends)-1] * 8
	want := int64(n)
	if want > totalBits {
		want = totalBits
	}
	chosen := make(map[int64]bool, min(want, 1<<16))
	for tries := int64(0); int64(len(chosen)) < want && tries < want*rotTriesPerBit; tries++ {
		bit := d.rng.Int64N(totalBits)
		if chosen[bit] {
			continue
		}
		chosen[bit] = true
		d.flip(files, ends, bit)
	}
	d.stats.RottedBits += int64(len(chosen))
	return len(chosen)
}

// durableFiles lists the files holding durable bytes, sorted by id, with the
// running total of their sizes.
func (d *Disk) durableFiles() (files []*inode, ends []int64) {
	for _, ino := range d.inodes {
		if !ino.isDir && len(ino.durable) > 0 {
			files = append(files, ino)
		}
	}
	slices.SortFunc(files, func(a, b *inode) int { return cmp.Compare(a.id, b.id) })
	var total int64
	for _, ino := range files {
		total += int64(len(ino.durable))
		ends = append(ends, total)
	}
	return files, ends
}

// flip inverts global durable bit number bit.
func (d *Disk) flip(files []*inode, ends []int64, bit int64) {
	byteAt := bit / 8
	i := sort.Search(len(ends), func(i int) bool { return ends[i] > byteAt })
	ino := files[i]
	off := byteAt
	if i > 0 {
		off -= ends[i-1]
	}
	mask := byte(1) << (bit % 8)
	ino.durable[off] ^= mask
	if off < int64(len(ino.volatile)) && !ino.pendingCovers(off) {
		ino.volatile[off] ^= mask
	}
}

// pendingCovers reports whether an unsynced op replaced byte off, so the
// volatile view no longer shows its durable value.
func (ino *inode) pendingCovers(off int64) bool {
	for _, op := range ino.pending {
		if op.kind == pendingWrite && off >= op.off && off < op.off+int64(op.dataLen) {
			return true
		}
		if op.kind == pendingTruncate && off >= op.newSize {
			return true
		}
	}
	return false
}
