package node

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Every process's storage is the replicated filesystem (vm/dfs,
// docs/storage.md): each node runs one dfs.Service over its disk's
// "chunks" directory, with metadata sessions of its own. A session's
// address, as the metadata replicas see it, is machine | slot<<32; its
// requests travel under ServiceStorageMeta and the replies under
// ServiceStorageMetaReply, each payload starting with the slot byte, so
// that the node's own metadata client (slot 0, the machine's address) and
// the filesystem's never share a session.

// storageMetaSlots is how many metadata sessions a node's filesystem
// service has: more let more metadata requests of its processes run at
// once.
const storageMetaSlots = 4

// storageDir is where a node keeps its chunk files, on its disk.
const storageDir = "chunks"

// nodeStorage is the node's part of the filesystem for one incarnation.
type nodeStorage struct {
	svc      *dfs.Service // nil until it opened (a disk error: retried every tick)
	sessions []*raftkv.Client
	// up is what the Service was last told of each machine (MachineUp).
	up      map[netmodel.NodeID]bool
	openErr error
	files   fileOps
}

// openStorage makes the metadata sessions of a fresh incarnation and tries
// to open its Service.
func (n *Node) openStorage() error {
	if n.fs != nil {
		n.abortFileSessions(n.fs)
	}
	st := &nodeStorage{up: map[netmodel.NodeID]bool{}}
	st.files.waiting, st.files.abort = map[sys.ReqID]func(sys.Reply){}, map[uint64]func(sys.Errno){}
	n.fs = st
	for slot := 1; slot <= storageMetaSlots; slot++ {
		c, err := n.newSlotSession(slot, "filesystem")
		if err != nil {
			return err
		}
		st.sessions = append(st.sessions, c)
	}
	n.tryOpenStorage()
	return nil
}

func storageSessionAddr(m netmodel.NodeID, slot int) netmodel.NodeID {
	return m | netmodel.NodeID(slot)<<32
}

// tryOpenStorage opens the Service unless it is open. A disk error leaves
// it closed; the next tick tries again, and processes installed meanwhile
// get a storage that answers EIO.
func (n *Node) tryOpenStorage() {
	st := n.fs
	if st.svc != nil || n.offload.running.Load() > 0 {
		return // open, or an earlier incarnation's chunk writes still under way
	}
	if err := diskmodel.MkdirAll(n.cfg.Disk, storageDir); err != nil {
		n.storageOpenFailed(err)
		return
	}
	meta := make([]dfs.MetaClient, len(st.sessions))
	for i, c := range st.sessions {
		meta[i] = c
	}
	dc := n.cfg.Storage
	dc.Machine, dc.Incarnation, dc.Machines = n.cfg.ID, uint32(n.inc), []netmodel.NodeID{n.cfg.ID}
	dc.Disk, dc.Dir, dc.QuotaBytes = diskmodel.Sub(n.cfg.Disk, storageDir), "fs", n.cfg.Provide.DiskBytes
	dc.Transport, dc.Meta, dc.Rand = n.transport(ServiceStorage), meta, n.cfg.Rand
	if n.cfg.Offload != nil {
		dc.DiskWorker = diskWorker{n: n, inc: n.inc}
		if n.cfg.OffloadBackground != nil {
			dc.DiskWorker = backgroundDiskWorker{diskWorker{n: n, inc: n.inc}}
		}
	}
	svc, err := dfs.New(dc)
	if err != nil {
		n.storageOpenFailed(err)
		return
	}
	st.svc, st.openErr = svc, nil
	if n.reserve.released {
		svc.SetDiskLow(true)
	}
	n.cfg.Record("storage open (quota %d bytes)", n.cfg.Provide.DiskBytes)
	n.syncStorageMembers()
}

func (n *Node) storageOpenFailed(err error) {
	if n.fs.openErr == nil {
		n.cfg.Record("storage: open failed: %v", err)
	}
	n.fs.openErr = err
}

// tickStorage ticks the Service (which ticks its metadata sessions) and
// tells it the machines that joined.
func (n *Node) tickStorage() {
	n.tryOpenStorage()
	if n.fs.svc == nil {
		for _, c := range n.fs.sessions {
			c.Tick()
		}
		return
	}
	n.syncStorageMembers()
	n.fs.svc.Tick()
}

// syncStorageMembers tells the Service every alive member it was not told
// of yet (a machine that joined, or came back as a new incarnation), and
// every machine it was told up that is no longer alive (it left, or its
// death was read some other way than machineDown).
func (n *Node) syncStorageMembers() {
	st := n.fs
	if st.svc == nil {
		return
	}
	alive := map[netmodel.NodeID]bool{n.cfg.ID: true}
	for _, m := range n.ms.alive() {
		alive[m.id] = true
		if !st.up[m.id] {
			st.up[m.id] = true
			st.svc.MachineUp(m.id)
		}
	}
	for _, id := range sortedNodeIDs(st.up) {
		if st.up[id] && !alive[id] {
			st.up[id] = false
			st.svc.MachineDown(id)
		}
	}
}

func sortedNodeIDs(m map[netmodel.NodeID]bool) []netmodel.NodeID {
	ids := make([]netmodel.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// storageMachineDown tells the Service an incarnation of a machine died:
// its copies stop counting until a new incarnation joins.
func (n *Node) storageMachineDown(id netmodel.NodeID) {
	st := n.fs
	if st == nil || st.svc == nil || id == n.cfg.ID {
		return
	}
	st.up[id] = false
	st.svc.MachineDown(id)
}

// receiveStorage handles a message of the filesystem services.
func (n *Node) receiveStorage(from netmodel.NodeID, s Service, body []byte) {
	st := n.fs
	switch s {
	case ServiceStorage:
		if st.svc != nil {
			st.svc.Receive(from, body)
		}
	case ServiceStorageMeta:
		if len(body) < 1 || body[0] == 0 || int(body[0]) > sessionSlotsMax {
			n.stats.Garbage++
			return
		}
		if n.meta != nil {
			n.meta.receive(uint64(storageSessionAddr(from, int(body[0]))), body[1:], n.inBurst)
		}
	case ServiceStorageMetaReply:
		switch {
		case len(body) < 1 || body[0] == 0:
			n.stats.Garbage++
		case int(body[0]) <= len(st.sessions):
			st.sessions[body[0]-1].Receive(from, body[1:])
		case !n.clientMeta.receive(int(body[0]), from, body[1:]):
			n.stats.Garbage++
		}
	}
}

// storageMetaTransport carries a filesystem session's requests to the
// metadata replicas.
type storageMetaTransport struct {
	n    *Node
	slot byte
}

func (t storageMetaTransport) Send(to netmodel.NodeID, payload []byte) {
	t.n.send(to, ServiceStorageMeta, append([]byte{t.slot}, payload...))
}

// sendMetaReply carries a metadata replica's reply to a filesystem
// session (to has a slot), reporting false for any other address.
func (n *Node) sendMetaReply(to netmodel.NodeID, payload []byte) bool {
	slot := uint64(to) >> 32
	if slot == 0 {
		return false
	}
	if slot > sessionSlotsMax {
		return true // no such session: dropped, as a lost message
	}
	n.send(to&0xffffffff, ServiceStorageMetaReply, append([]byte{byte(slot)}, payload...))
	return true
}

// fsUser is who a VM user is to the filesystem: the admin is its
// superuser (root), every other user itself.
func fsUser(user string) string {
	if user == AdminUser {
		return sys.UserRoot
	}
	return user
}

// processStorage is the storage a process installed here sees: its view
// of the filesystem on this machine (descriptors belong to the machine
// the thread runs on: docs/node.md, "Storage").
func (n *Node) processStorage(pid uint64, user string) sys.Storage {
	user = fsUser(user)
	switch {
	case !sys.ValidUser(user):
		return refusedStorage{sys.EACCES}
	case n.fs.svc == nil:
		return refusedStorage{sys.EIO}
	}
	v := n.fs.svc.Storage(pid, user, n)
	v.SetFDBase(fdBase(n.cfg.ID))
	return v
}

// fdBase is where this machine's descriptors start: machine << 40, so
// that descriptors of different machines never collide and stay positive
// words (machine ids below 2^22 are distinct here).
func fdBase(id netmodel.NodeID) uint64 { return (uint64(id) & (1<<22 - 1)) << 40 }

// openFilesHere is how many files process pid has open on this machine.
func (n *Node) openFilesHere(pid uint64) int {
	p, ok := n.procs[pid]
	if !ok || p.ip == nil {
		return 0
	}
	if v, ok := p.storage.(*dfs.Storage); ok {
		return v.OpenFiles()
	}
	return 0
}

// StorageStats returns the filesystem service's counters, and false while
// it is not open.
func (n *Node) StorageStats() (dfs.Stats, bool) {
	defer n.enter()()
	if n.fs == nil || n.fs.svc == nil {
		return dfs.Stats{}, false
	}
	return n.fs.svc.Stats(), true
}

// StorageUsedBytes is the disk the chunk files take on this machine.
func (n *Node) StorageUsedBytes() uint64 {
	defer n.enter()()
	if n.fs == nil || n.fs.svc == nil {
		return 0
	}
	return n.fs.svc.UsedBytes()
}

// storageSummary is one line about the filesystem service, for failure
// reports.
func (n *Node) storageSummary() string {
	st := n.fs
	if st == nil || st.svc == nil {
		return fmt.Sprintf("closed: %v", st.openErr)
	}
	s := st.svc.Stats()
	busy := 0
	for _, c := range st.sessions {
		if c.Busy() {
			busy++
		}
	}
	return fmt.Sprintf("ops=%d writes=%d reads=%d conflicts=%d unknown=%d sessions-busy=%d file-sessions=%d waiting=%d",
		s.Ops, s.Writes, s.Reads, s.Conflicts, s.Unknown, busy, st.files.open, len(st.files.waiting))
}

// refusedStorage answers every call with one error: the storage of a
// process installed while the filesystem could not open (EIO), or of a
// user name the filesystem cannot hold (EACCES).
type refusedStorage struct{ errno sys.Errno }

var _ sys.Storage = refusedStorage{}

func (s refusedStorage) no() (sys.Reply, bool) { return sys.ErrReply(s.errno), true }

func (s refusedStorage) Open(sys.Caller, string, sys.OpenMode) (sys.Reply, bool) { return s.no() }
func (s refusedStorage) Close(sys.Caller, uint64) (sys.Reply, bool)              { return s.no() }
func (s refusedStorage) Read(sys.Caller, uint64, uint64, uint64) (sys.Reply, bool) {
	return s.no()
}
func (s refusedStorage) Write(sys.Caller, uint64, uint64, []byte) (sys.Reply, bool) {
	return s.no()
}
func (s refusedStorage) Size(sys.Caller, uint64) (sys.Reply, bool)           { return s.no() }
func (s refusedStorage) List(sys.Caller, string) (sys.Reply, bool)           { return s.no() }
func (s refusedStorage) Remove(sys.Caller, string) (sys.Reply, bool)         { return s.no() }
func (s refusedStorage) Mkdir(sys.Caller, string) (sys.Reply, bool)          { return s.no() }
func (s refusedStorage) Rename(sys.Caller, string, string) (sys.Reply, bool) { return s.no() }
func (s refusedStorage) GetAttr(sys.Caller, string) (sys.Reply, bool)        { return s.no() }
func (s refusedStorage) SetAttr(sys.Caller, string, sys.AttrChange) (sys.Reply, bool) {
	return s.no()
}
func (s refusedStorage) Release(uint64) {}
