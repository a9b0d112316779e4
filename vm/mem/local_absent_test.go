package mem

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestAbsentSetMatchesMap checks the bitmap set against a map.
func TestAbsentSetMatchesMap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, model := newAbsentSet(), map[uint64]bool{}
		var clones []absentSet
		var clonedModels []map[uint64]bool
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				i := rapid.Uint64Range(0, 3*dirPages).Draw(t, "i")
				a.add(i)
				model[i] = true
			},
			"remove": func(t *rapid.T) {
				i := rapid.Uint64Range(0, 3*dirPages).Draw(t, "i")
				a.remove(i)
				delete(model, i)
			},
			"clone": func(t *rapid.T) {
				clones = append(clones, a.clone())
				m := map[uint64]bool{}
				for k := range model {
					m[k] = true
				}
				clonedModels = append(clonedModels, m)
			},
			"": func(t *rapid.T) {
				check := func(a absentSet, model map[uint64]bool) {
					want := make([]uint64, 0, len(model))
					for k := range model {
						want = append(want, k)
					}
					slices.Sort(want)
					if got := a.sorted(); a.count != len(want) || !slices.Equal(got, want) {
						t.Fatalf("sorted() = %v (count %d), want %v", got, a.count, want)
					}
					top := uint64(0)
					if len(want) > 0 {
						top = want[len(want)-1] + 1
					}
					if a.top() != top {
						t.Fatalf("top() = %d, want %d", a.top(), top)
					}
				}
				check(a, model)
				for i := range clones {
					check(clones[i], clonedModels[i])
				}
			},
		})
	})
}
