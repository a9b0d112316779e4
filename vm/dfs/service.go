package dfs

import (
	"fmt"
	"slices"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// Stats counts what a Service did since New.
type Stats struct {
	Ops         uint64 // process operations started
	OpsRefused  uint64 // refused at once: too many in flight
	Writes      uint64 // writes committed
	WriteBytes  uint64
	Reads       uint64 // reads answered with data
	ReadBytes   uint64
	Conflicts   uint64 // commits whose compares failed, started again
	Denied      uint64 // operations refused with EACCES
	Unknown     uint64 // commits whose outcome stayed unknown (EIO)
	Resolved    uint64 // commits whose unknown outcome a resend resolved
	CRCMismatch uint64 // targets of one write disagreed on a checksum (never expected)

	MessagesReceived uint64
	Garbage          uint64 // undecodable messages
	RequestsSent     uint64 // chunk requests, resends included
	RequestsFailed   uint64 // chunk requests no attempt got answered

	BytesStored     uint64 // chunk bytes written to this disk
	ChunkWrites     uint64 // chunk files written and synced here (generations stored)
	WritesOffloaded uint64 // of those, written and synced by the DiskWorker
	SlotsReused     uint64 // chunk writes that overwrote a free slot in place (no file made, no directory synced)
	SlotsFreed      uint64 // removed generations' files kept as free slots
	SparesMade      uint64 // spare slots made ahead of the writes
	SlotsEvicted    uint64 // free slots removed to make room (the quota, or a spare of a size writes need)
	BytesServed     uint64 // chunk bytes sent to readers and copiers
	BadCopies       uint64 // local copies found bad (checksum), dropped
	MissingCopies   uint64 // local copies found missing
	BadFilesAtBoot  uint64 // chunk files found torn or invalid at boot, kept as free slots
	BadServed       uint64 // copies a reader found bad after the replica sent them (never expected)
	TargetsFailed   uint64 // write targets that failed and were replaced
	SelfDrops       uint64 // this machine removed itself from a chunk's record
	GoneAnnounced   uint64 // files this machine removed and told the machines up of
	GuessesTaken    uint64 // steps of a path walk taken from an earlier step's read (dirGuesses)
	GuessesWrong    uint64 // guessed steps the read showed wrong (the walk read again)

	RepairPasses     uint64
	RepairCopies     uint64 // copies made to restore redundancy
	RepairBytes      uint64 // bytes those copies moved
	RepairTrims      uint64 // records trimmed to a lowered redundancy
	RepairConflicts  uint64 // repair commits that found the record changed
	RepairLostChunks uint64 // chunks found with no good copy left, per pass
	CopiesIn         uint64 // copies this machine received for repair
	CopyBytesIn      uint64

	Collected  uint64 // chunk files the collector deleted
	Fenced     uint64 // generations fenced with a tombstone
	TombsFreed uint64 // tombstones repair deleted
	Scrubbed   uint64 // chunk bytes the scrubber verified
}

// Service is one machine's part of the filesystem. Drive it from one
// goroutine: Tick at a fixed period, Receive for every message of the
// service, MachineDown/MachineUp on membership changes; the processes call
// their Storage views.
type Service struct {
	cfg   Config
	self  uint64
	ticks uint64
	store *store
	meta  *metaPool
	rpc   rpcTable

	up     map[uint64]bool
	known  []uint64 // every machine ever heard of, ascending
	nextID uint64

	place     placement
	rootReady bool
	rootBusy  bool
	waitRoot  []func()
	published machineRecord
	pubAt     uint64
	pubBusy   bool

	views    map[uint64]*Storage
	opsNow   int
	inCall   int      // > 0 while a process's call runs: answers must wait
	deferred []func() // work for the end of the current Tick or Receive (or metadata result)
	timers   []timer  // work for a later Tick, in due order
	draining bool     // drain runs
	drops    dropQueue
	repair   repairer
	collect  collector
	scrubAt  chunkRef
	scrubBuf []*localChunk // the scrubber's batch, reused every tick
	dirs     dirGuesses    // the walk's hints: which directory a name led to

	stats Stats
}

// New opens this machine's chunk store and returns the Service. A disk
// error is returned; the driver may try again later.
func New(cfg Config) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, self: uint64(cfg.Machine), up: map[uint64]bool{}, views: map[uint64]*Storage{}}
	s.store, err = openStore(cfg.Disk, cfg.Dir, cfg.QuotaBytes, cfg.Bugs, &s.stats)
	if err != nil {
		return nil, err
	}
	if cfg.DiskWorker != nil {
		s.store.worker = drainingWorker{s: s, w: cfg.DiskWorker}
		if bw, ok := cfg.DiskWorker.(BackgroundWorker); ok {
			s.store.background = drainingWorker{s: s, w: bw}.doBackground
		}
	}
	for _, m := range cfg.Machines {
		s.MachineUp(m)
	}
	s.meta = newMetaPool(cfg.Meta, &s.stats, s.later, s.drain)
	s.rpc = rpcTable{pending: map[uint64]*outReq{}}
	s.collect.at = chunkRef{}
	s.repair.s, s.collect.s, s.drops.s = s, s, s
	return s, nil
}

// Tick advances the Service's clock by one tick.
func (s *Service) Tick() {
	s.ticks++
	s.meta.tick()
	s.rpcTick()
	s.ensureRoot()
	s.publish()
	s.place.maybeRefresh(s)
	s.repair.tick()
	s.collect.tick()
	s.scrub()
	s.store.makeSpares()
	s.drops.run()
	s.runTimers()
	s.drain()
}

// Receive handles one message of the service from another machine.
func (s *Service) Receive(from netmodel.NodeID, payload []byte) {
	s.stats.MessagesReceived++
	m, err := decodeMessage(payload)
	if err != nil {
		s.stats.Garbage++
		return
	}
	s.handle(uint64(from), &m)
	s.drain()
}

// MachineDown records that a machine is dead (membership): its copies no
// longer count, repair replaces them, writes and reads skip it.
func (s *Service) MachineDown(id netmodel.NodeID) {
	s.learn(uint64(id))
	s.up[uint64(id)] = false
}

// MachineUp records that a machine is alive (joined, or back as a new
// incarnation with its disk): copies it still holds of current
// generations count again.
func (s *Service) MachineUp(id netmodel.NodeID) {
	s.learn(uint64(id))
	s.up[uint64(id)] = true
}

func (s *Service) learn(m uint64) {
	if m == 0 {
		panic("dfs: membership change of machine 0")
	}
	if i, found := slices.BinarySearch(s.known, m); !found {
		s.known = slices.Insert(s.known, i, m)
	}
}

func (s *Service) isUp(m uint64) bool { return s.up[m] }

// upMachines lists the machines up, ascending.
func (s *Service) upMachines() []uint64 {
	var out []uint64
	for _, m := range s.known {
		if s.up[m] {
			out = append(out, m)
		}
	}
	return out
}

// SetDiskLow tells the Service whether the machine's disk is full (the
// node released its metadata reserve): while it is, the Service takes no
// new chunk files, frees the room of its spare ones, and publishes no room
// here, so that writes go to other machines; what it holds stays served.
func (s *Service) SetDiskLow(low bool) {
	if low == s.store.diskLow {
		return
	}
	if low {
		markDiskLow.Hit()
	}
	s.store.setDiskLow(low, s.cfg.QuotaBytes)
	s.pubAt = 0 // publish the change at the next tick
}

// Stats returns the Service's counters.
func (s *Service) Stats() Stats { return s.stats }

// UsedBytes is the disk the chunk files of generations held or being
// written take here (headers included). Free slots are not counted: a
// write that needs their room evicts them.
func (s *Service) UsedBytes() uint64 { return s.store.heldBytes() }

// Holdings counts the chunk files held here and the chunk bytes in them.
func (s *Service) Holdings() (files int, dataBytes uint64) {
	s.store.chunks.Ascend(func(c *localChunk) bool {
		files++
		dataBytes += uint64(c.length)
		return true
	})
	return files, dataBytes
}

func (s *Service) newID() ID {
	s.nextID++
	return ID{Machine: s.self, Inc: s.cfg.Incarnation, N: s.nextID}
}

func (s *Service) buggify(site string) bool { return s.cfg.Buggify != nil && s.cfg.Buggify(site) }

// later runs fn at the end of the current Tick or Receive: answers to a
// process never come from inside its call, and local requests do not
// recurse.
// drainingWorker is the driver's DiskWorker with the Service's deferred
// work run after each completion, as after any other input.
type drainingWorker struct {
	s *Service
	w DiskWorker
}

func (d drainingWorker) Do(job, done func()) {
	d.w.Do(job, func() {
		done()
		d.s.drain()
	})
}

// doBackground is Do on the worker's background goroutine (w is a
// BackgroundWorker).
func (d drainingWorker) doBackground(job, done func()) {
	d.w.(BackgroundWorker).DoBackground(job, func() {
		done()
		d.s.drain()
	})
}

func (s *Service) later(fn func()) { s.deferred = append(s.deferred, fn) }

// timer is work for the Tick at which the Service's clock reaches due.
type timer struct {
	due uint64
	fn  func()
}

// timersMax bounds the work waiting for a later Tick; past it, work runs
// at the end of the current input instead (a write that waited for
// machines then answers at once).
const timersMax = 4096

// afterTicks runs fn at the Tick n ticks from now. Every caller waits the
// same few ticks, so appending keeps timers in due order.
func (s *Service) afterTicks(n uint64, fn func()) {
	if len(s.timers) >= timersMax {
		s.later(fn)
		return
	}
	due := s.ticks + n
	if k := len(s.timers); k > 0 && s.timers[k-1].due > due {
		panic(fmt.Sprintf("dfs: timer due at tick %d after one due at %d", due, s.timers[k-1].due))
	}
	s.timers = append(s.timers, timer{due: due, fn: fn})
}

// runTimers runs the work due by now.
func (s *Service) runTimers() {
	n := 0
	for n < len(s.timers) && s.timers[n].due <= s.ticks {
		n++
	}
	due := s.timers[:n]
	s.timers = append([]timer(nil), s.timers[n:]...)
	for _, t := range due {
		t.fn()
	}
}

// drainRoundsMax bounds the rounds of deferred work one input runs; work
// left over runs at the next input.
const drainRoundsMax = 64

func (s *Service) drain() {
	if s.draining {
		return // the drain under way runs what was added
	}
	s.draining = true
	defer func() { s.draining = false }()
	for i := 0; i < drainRoundsMax && len(s.deferred) > 0; i++ {
		work := s.deferred
		s.deferred = nil
		for _, fn := range work {
			fn()
		}
	}
}

// ensureRoot creates the root directory if no Service has yet.
func (s *Service) ensureRoot() {
	if s.rootReady || s.rootBusy {
		return
	}
	s.rootBusy = true
	root := dirRecord{owner: sys.UserRoot, redundancy: s.cfg.RootRedundancy, readers: []string{sys.Everyone}, writers: []string{sys.Everyone}}
	s.meta.txn(txnIf(cmpAbsent(keyDir(RootIno))).then(put(keyDir(RootIno), root.encode())), func(r metaResult) {
		s.rootBusy = false
		if r.err != nil {
			return // try again at the next tick
		}
		s.rootReady = true
		waiting := s.waitRoot
		s.waitRoot = nil
		for _, fn := range waiting {
			fn()
		}
	})
}

// whenRootReady runs fn once the root directory is known to exist.
func (s *Service) whenRootReady(fn func()) {
	if s.rootReady {
		fn()
		return
	}
	s.waitRoot = append(s.waitRoot, fn)
}

// publish writes this machine's quota and use when they changed.
func (s *Service) publish() {
	rec := machineRecord{quotaBytes: s.store.quotaBytes, usedBytes: s.store.heldBytes()}
	if s.pubBusy || (rec == s.published && s.pubAt != 0) || (s.pubAt != 0 && s.ticks < s.pubAt+uint64(s.cfg.PublishEveryTicks)) {
		return
	}
	s.pubBusy = true
	s.meta.txn(txnIf().then(put(keyMachine(s.self), rec.encode())), func(r metaResult) {
		s.pubBusy = false
		if r.err == nil {
			s.published, s.pubAt = rec, s.ticks
		}
	})
}

func (s *Service) String() string { return fmt.Sprintf("dfs service %v", netmodel.NodeID(s.self)) }
