package node

import (
	"fmt"
	"strconv"

	"github.com/flockvm/flock/vm/raftkv"
)

// procRecordsPendingMax bounds the process records waiting to be written
// while the metadata store is unreachable; past it the oldest ended
// process's record is dropped (a running process's never is: kill finds a
// process through it).
const procRecordsPendingMax = 4096

// procRecords writes the p/<pid> records `flock ps` and `flock kill` read.
// Each pid has at most one write under way, so a later state never loses
// to an earlier one; a write that failed is tried again at the next poll.
type procRecords struct {
	pending  map[uint64]string // pid -> the newest value not yet written
	inflight map[uint64]bool
	dropped  int64
}

func newProcRecords() procRecords {
	return procRecords{pending: map[uint64]string{}, inflight: map[uint64]bool{}}
}

// recordProcess sets a process's record: home, incarnation, state and,
// while it runs, its program's path.
func (n *Node) recordProcess(pid uint64, state, path string) {
	val := fmt.Sprintf("home=%d incarnation=%d state=%s", n.cfg.ID, n.inc, state)
	if path != "" {
		val += " path=" + path
	}
	r := &n.records
	r.pending[pid] = val
	if len(r.pending) > procRecordsPendingMax {
		r.dropOneEnded()
	}
	n.writeProcRecord(pid)
}

// dropOneEnded forgets the record of the lowest pid that has ended and
// whose write is not under way.
func (r *procRecords) dropOneEnded() {
	for _, pid := range sortedKeys(r.pending) {
		if _, state := parseProcRecord(r.pending[pid]); state != "running" && !r.inflight[pid] {
			delete(r.pending, pid)
			r.dropped++
			return
		}
	}
}

// writeProcRecord starts the write of pid's pending record unless one is
// under way (its completion starts the next).
func (n *Node) writeProcRecord(pid uint64) {
	r := &n.records
	val, ok := r.pending[pid]
	if !ok || r.inflight[pid] {
		return
	}
	delete(r.pending, pid)
	r.inflight[pid] = true
	inc := n.inc
	key := keyProcPrefix + strconv.FormatUint(pid, 10)
	n.pushMeta("record", false, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, val, done) },
		func(res raftkv.Result) {
			if n.inc != inc {
				return // a rebirth reset the records; this one is its old self's
			}
			delete(r.inflight, pid)
			if res.Err != nil {
				n.metaFailed("record", res.Err)
				if _, newer := r.pending[pid]; !newer {
					r.pending[pid] = val // tried again at the next poll
				}
				return
			}
			n.writeProcRecord(pid) // a newer state set meanwhile
		})
}

// tickProcRecords retries the records whose writes failed.
func (n *Node) tickProcRecords() {
	r := &n.records
	if len(r.pending) == 0 || n.ticks%n.cfg.MembershipPollTicks != 0 {
		return
	}
	for _, pid := range sortedKeys(r.pending) {
		n.writeProcRecord(pid)
	}
}
