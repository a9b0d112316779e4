package interp

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/vm/mem"
	"github.com/flockvm/flock/vm/sys"
)

// A thread spawned on another machine may find pages of its local memory
// still on the machine it came from (mem.Local.Lazy). An operation that
// touches one faults: the thread parks, like a global miss, while the page
// source fetches the page; the page is installed and the operation's
// stage runs again with the input it had (kept in sc.reply). The fast
// paths never see this: an absent page misses in Word and SetWord as an
// unmapped one does.

// pageIn starts the fetch of the absent local page index for t's
// operation.
func (m *Machine) pageIn(t *Thread, index uint64) action {
	rem := t.local.Remote()
	if rem.Source == nil {
		panic(fmt.Sprintf("interp: thread %d of process %d: lazy local memory from machine %d has no page source", t.tid, t.pid, rem.Ref.Machine))
	}
	t.pageWant = index + 1
	c := m.newCaller(t)
	r, now := rem.Source.FetchPages(c, rem.Ref, []uint64{index})
	if t.state == stateDead {
		return actGone
	}
	if now {
		return m.pagedIn(t, r)
	}
	m.park(t, c.Req)
	return actPark
}

// pagedIn installs the fetched page (r.Data); actAgain runs the faulted
// stage again (its stage is unchanged; its input is in sc.reply). A source
// that is gone ends the process naming its machine.
func (m *Machine) pagedIn(t *Thread, r sys.Reply) action {
	index := t.pageWant - 1
	t.pageWant = 0
	from := uint64(0)
	if rem := t.local.Remote(); rem != nil {
		from = rem.Ref.Machine
	}
	detail := fmt.Sprintf("local page %#x not fetched from machine %d", index<<12, from)
	if r.Trap != sys.TrapNone {
		t.sc.reply = sys.Reply{}
		if r.Trap == sys.TrapLost {
			t.lostMachine = r.Val
		}
		m.trapThread(t, r.Trap, detail)
		return actGone
	}
	if err := t.local.InstallPages([]uint64{index}, r.Data); err != nil {
		kind := sys.TrapBadAddress
		if errors.Is(err, mem.ErrNoMemory) {
			kind = sys.TrapOutOfMemory
		}
		t.sc.reply = sys.Reply{}
		m.trapThread(t, kind, fmt.Sprintf("%s: %v", detail, err))
		return actGone
	}
	return actAgain
}
