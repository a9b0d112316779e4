package mem

import (
	"slices"
)

// absentSet is the pages of a lazy Local still on its source: a bitmap per
// 2 MiB directory, so that a 64 MiB memory costs 32 small bitmaps, not a
// map entry per page.
type absentSet struct {
	dirs  map[uint64]*[dirPages / 64]uint64
	count int
}

func newAbsentSet() absentSet { return absentSet{dirs: map[uint64]*[dirPages / 64]uint64{}} }

func (a *absentSet) has(index uint64) bool {
	bits := a.dirs[index/dirPages]
	return bits != nil && bits[index%dirPages/64]&(1<<(index%64)) != 0
}

func (a *absentSet) add(index uint64) {
	if a.has(index) {
		return
	}
	bits := a.dirs[index/dirPages]
	if bits == nil {
		bits = new([dirPages / 64]uint64)
		a.dirs[index/dirPages] = bits
	}
	bits[index%dirPages/64] |= 1 << (index % 64)
	a.count++
}

func (a *absentSet) remove(index uint64) {
	if !a.has(index) {
		return
	}
	bits := a.dirs[index/dirPages]
	bits[index%dirPages/64] &^= 1 << (index % 64)
	a.count--
	if *bits == ([dirPages / 64]uint64{}) {
		delete(a.dirs, index/dirPages)
	}
}

func (a *absentSet) clone() absentSet {
	c := absentSet{dirs: make(map[uint64]*[dirPages / 64]uint64, len(a.dirs)), count: a.count}
	for di, bits := range a.dirs {
		cp := *bits
		c.dirs[di] = &cp
	}
	return c
}

// sorted lists the pages in order.
func (a *absentSet) sorted() []uint64 {
	dis := make([]uint64, 0, len(a.dirs))
	for di := range a.dirs {
		dis = append(dis, di)
	}
	slices.Sort(dis)
	out := make([]uint64, 0, a.count)
	for _, di := range dis {
		for w, word := range a.dirs[di] {
			for b := uint64(0); b < 64; b++ {
				if word&(1<<b) != 0 {
					out = append(out, di*dirPages+uint64(w)*64+b)
				}
			}
		}
	}
	return out
}

// top is one past the highest page, 0 if none.
func (a *absentSet) top() uint64 {
	top := uint64(0)
	for di := range a.dirs {
		top = max(top, (di+1)*dirPages)
	}
	if top == 0 {
		return 0
	}
	s := a.dirs[top/dirPages-1]
	for i := dirPages - 1; i >= 0; i-- {
		if s[i/64]&(1<<(uint(i)%64)) != 0 {
			return top - dirPages + uint64(i) + 1
		}
	}
	panic("mem: an absent set keeps an empty directory bitmap")
}
