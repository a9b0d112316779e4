package mem_test

import (
	"fmt"
	"sync"

	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

type noWaiters struct{}

func (noWaiters) Complete(sys.ReqID, sys.Reply) {}

// A LocalGlobal is shared by cores running in parallel: word operations go
// straight to its page store, atomically, with no lock.
func ExampleLocalGlobal() {
	g := mem.NewLocalGlobal(&mem.Account{}, noWaiters{})
	r, _ := g.Alloc(sys.Caller{}, 2*8)
	counter, flag := r.Val, r.Val+8
	pages := g.Pages() // what the interpreter's hot path uses
	var wg sync.WaitGroup
	for range 4 { // four cores
		wg.Go(func() {
			for range 1000 {
				pages.FetchAdd(counter, 1)
			}
			pages.CompareAndSwap(flag, 0, 1)
		})
	}
	wg.Wait()
	n, _ := pages.Load64(counter)
	f, _ := g.Load(sys.Caller{}, flag, 8) // the slow path sees the same words
	fmt.Println(n, f.Val)
	// Output: 4000 1
}
