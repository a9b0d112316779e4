package node

import (
	"errors"
	"io/fs"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/probe"
)

var (
	markReserveReleased = probe.Declare("node/meta-reserve-released", "the metadata replica's disk filled: its reserve was removed, and the machine took no new chunk files")
	markReserveRemade   = probe.Declare("node/meta-reserve-remade", "room came back on a full disk: the metadata replica's reserve was made again")
)

// The metadata reserve: disk kept back for the metadata replica. A full
// disk would otherwise stop the replica's WAL, and with a voter down (or
// the only one) the whole VM's metadata: no process starts, and no file
// can be removed to make room, since a remove is a metadata write. So a
// file of MetaReserveBytes is made at boot; when the replica fails for a
// full disk, the file goes, the replica reopens into its room, and the
// machine's filesystem service takes no new chunk files (and frees its
// spare ones) until the reserve can be made again (tried every
// metaReserveRetryTicks): room came back (files removed and collected, the
// WAL compacted). A disk that stays full thus gives the replica another
// reserve's worth each time the filesystem fills it again.
const metaReserveFile = "node/meta-reserve"

// Defaults of Config.MetaReserveBytes: the reserve is at most a sixteenth
// of the disk the machine lends.
const (
	MetaReserveBytesDefault = 8 << 20
	metaReserveShareOfDisk  = 16
	metaReserveRetryTicks   = 100 // between attempts to make it again
	metaReserveWriteBytes   = 64 << 10
)

type metaReserve struct {
	released bool
	nextTry  uint64 // tick of the next attempt to make it again
	making   bool   // an attempt runs on the background disk worker
}

// reserveBytes is the reserve's size: Config.MetaReserveBytes, or its
// default within a sixteenth of the disk lent; 0: none.
func (c *Config) reserveBytes() int64 {
	switch {
	case c.MetaReserveBytes < 0:
		return 0
	case c.MetaReserveBytes > 0:
		return c.MetaReserveBytes
	}
	return min(MetaReserveBytesDefault, int64(c.Provide.DiskBytes/metaReserveShareOfDisk))
}

// makeReserve writes the reserve file if it is not whole, and syncs it; a
// disk without room for it gets none (the file is removed, tried again
// later).
func (n *Node) makeReserve() error {
	size := n.cfg.reserveBytes()
	if size == 0 {
		return nil
	}
	if fi, err := n.cfg.Disk.Stat(metaReserveFile); err == nil && fi.Size == size {
		return nil
	}
	if err := diskmodel.MkdirAll(n.cfg.Disk, "node"); err != nil {
		return err
	}
	f, err := n.cfg.Disk.OpenFile(metaReserveFile, diskmodel.OpenOrCreate)
	if err != nil {
		return err
	}
	zero := make([]byte, min(size, metaReserveWriteBytes))
	for off := int64(0); off < size && err == nil; off += int64(len(zero)) {
		_, err = f.WriteAt(zero[:min(int64(len(zero)), size-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = n.cfg.Disk.SyncDir("node")
	}
	if err != nil {
		_ = n.cfg.Disk.Remove(metaReserveFile) // what it took goes back
	}
	return err
}

// metaDiskFull: the replica failed for a full disk. The reserve goes, once,
// so that it reopens into its room; the filesystem takes nothing more
// here.
func (n *Node) metaDiskFull() {
	r := &n.reserve
	if r.released || n.cfg.reserveBytes() == 0 {
		return
	}
	if err := n.cfg.Disk.Remove(metaReserveFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		n.cfg.Record("meta: disk full; removing the reserve failed: %v", err)
		return
	}
	_ = n.cfg.Disk.SyncDir("node")
	r.released, r.nextTry = true, n.ticks+metaReserveRetryTicks
	n.setStorageDiskLow(true)
	n.stats.MetaReserveReleases++
	markReserveReleased.Hit()
	n.cfg.Record("meta: disk full: released the metadata reserve (%d bytes); no new chunk files here until room returns", n.cfg.reserveBytes())
}

// tickReserve tries to make the reserve again, every
// metaReserveRetryTicks while it is gone.
func (n *Node) tickReserve() {
	r := &n.reserve
	if !r.released || r.making || n.ticks < r.nextTry {
		return
	}
	r.nextTry = n.ticks + metaReserveRetryTicks
	if n.cfg.OffloadBackground != nil {
		// A write of the reserve's size and its fsync: not on the
		// driver's goroutine, where it would stall the machine.
		var err error
		r.making = true
		n.offloadJob(offloaded{always: true, done: func() {
			r.making = false
			if err == nil {
				n.reserveMade()
			}
		}}, n.cfg.OffloadBackground, func() { err = n.makeReserve() })
		return
	}
	if err := n.makeReserve(); err == nil {
		n.reserveMade()
	}
}

// reserveMade: the reserve is whole again; the filesystem takes chunk
// files again.
func (n *Node) reserveMade() {
	r := &n.reserve
	if !r.released {
		return
	}
	r.released = false
	n.setStorageDiskLow(false)
	markReserveRemade.Hit()
	n.cfg.Record("meta: room came back: the metadata reserve is made again")
}

// bootReserve makes the reserve at boot; a disk without room for it is
// treated as one whose reserve went (tried again as room returns).
func (n *Node) bootReserve() {
	if n.reserve.making {
		return // an earlier incarnation's attempt is under way: its end decides
	}
	err := n.makeReserve()
	if err == nil {
		n.reserve.released = false
		return
	}
	n.cfg.Record("meta: no room for the metadata reserve: %v", err)
	r := &n.reserve
	r.released, r.nextTry = true, n.ticks+metaReserveRetryTicks
}

// setStorageDiskLow tells the filesystem service whether the disk is full
// (also a service opened later: openStorage asks).
func (n *Node) setStorageDiskLow(low bool) {
	if n.fs != nil && n.fs.svc != nil {
		n.fs.svc.SetDiskLow(low)
	}
}

// DiskFull reports whether this machine's disk is full: its metadata
// reserve is gone (in use, or never made for want of room), and its
// filesystem takes no new chunk files.
func (n *Node) DiskFull() bool {
	defer n.enter()()
	return n.reserve.released
}
