package node

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/sys"
)

// smallDisk is a disk of capacityBytes: a write that would grow the files
// beyond it fails with diskmodel.ErrNoSpace, as a full disk's does.
type smallDisk struct {
	diskmodel.FS
	mu            sync.Mutex
	capacityBytes int64
	sizes         map[string]int64
	reserveGone   int // removals of the metadata reserve
}

func newSmallDisk(fsys diskmodel.FS, capacityBytes int64) *smallDisk {
	return &smallDisk{FS: fsys, capacityBytes: capacityBytes, sizes: map[string]int64{}}
}

func (d *smallDisk) usedLocked() int64 {
	var n int64
	for _, s := range d.sizes {
		n += s
	}
	return n
}

// grow makes name size bytes long, if the disk has room.
func (d *smallDisk) grow(name string, size int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.sizes[name]; size > old && d.usedLocked()+size-old > d.capacityBytes {
		return false
	}
	d.sizes[name] = max(d.sizes[name], size)
	return true
}

func (d *smallDisk) OpenFile(name string, mode diskmodel.OpenMode) (diskmodel.File, error) {
	f, err := d.FS.OpenFile(name, mode)
	if err != nil {
		return nil, err
	}
	if size, err := f.Size(); err == nil {
		d.mu.Lock()
		d.sizes[name] = size
		d.mu.Unlock()
	}
	return &smallFile{File: f, d: d, name: name}, nil
}

func (d *smallDisk) Remove(name string) error {
	err := d.FS.Remove(name)
	if err == nil {
		d.mu.Lock()
		delete(d.sizes, name)
		if name == metaReserveFile {
			d.reserveGone++
		}
		d.mu.Unlock()
	}
	return err
}

func (d *smallDisk) Rename(oldname, newname string) error {
	err := d.FS.Rename(oldname, newname)
	if err == nil {
		d.mu.Lock()
		d.sizes[newname] = d.sizes[oldname]
		delete(d.sizes, oldname)
		d.mu.Unlock()
	}
	return err
}

type smallFile struct {
	diskmodel.File
	d    *smallDisk
	name string
}

func (f *smallFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.d.grow(f.name, off+int64(len(p))) {
		return 0, fmt.Errorf("write %s: %w", f.name, diskmodel.ErrNoSpace)
	}
	return f.File.WriteAt(p, off)
}

func (f *smallFile) Truncate(size int64) error {
	if !f.d.grow(f.name, size) {
		return fmt.Errorf("truncate %s: %w", f.name, diskmodel.ErrNoSpace)
	}
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	f.d.mu.Lock()
	f.d.sizes[f.name] = size
	f.d.mu.Unlock()
	return nil
}

// fillDisk writes files through node 1 until the filesystem answers that
// it has no room; it returns the names written.
func fillDisk(t *testing.T, c *cluster) []string {
	t.Helper()
	var names []string
	data := []byte(strings.Repeat("x", 4<<10))
	for i := range 200 {
		name := fmt.Sprintf("fill-%d", i)
		_, err := c.file(1, FilePut, "root", name, data, sys.AttrChange{})
		var fe *FileError
		if errors.As(err, &fe) && fe.Errno == sys.ENOSPC {
			return names
		}
		if err != nil {
			t.Fatalf("PutFile(%s) = %v, want success or ENOSPC", name, err)
		}
		names = append(names, name)
	}
	t.Fatalf("the disk never filled: %d files written", len(names))
	return nil
}

// TestMetaReserveOutlastsFullDisk: one machine, the only metadata voter,
// its disk filled by files. The metadata replica's WAL then hits the full
// disk; the reserve goes, the replica goes on in its room, and the
// metadata store still answers: a file can be removed, which gives the
// room back, and the reserve is made again. Without the reserve, the store
// stops for good on the full disk.
func TestMetaReserveOutlastsFullDisk(t *testing.T) {
	for _, tc := range []struct {
		reserve   int64
		offloaded bool // disk work on goroutines of its own, as a production host does
	}{{64 << 10, false}, {64 << 10, true}, {-1, false}} {
		reserve := tc.reserve
		t.Run(fmt.Sprintf("reserve=%d/offloaded=%v", reserve, tc.offloaded), func(t *testing.T) {
			c := newCluster(t, 0, 0, 5)
			c.tweak = func(cfg *Config) {
				cfg.MetaReserveBytes = reserve
				if tc.offloaded {
					cfg.Offload = func(job func()) { go job() }
					cfg.OffloadBackground = func(job func()) { go job() }
				}
			}
			c.ids, c.voters = []netmodel.NodeID{1}, []netmodel.NodeID{1}
			disk := newSmallDisk(c.newDisk(t), 1<<20)
			c.disks[1] = disk
			c.boot(1)
			if !c.runUntil(c.allJoinedLocked, 40000) {
				t.Fatalf("node did not join\n%s", c.dump())
			}
			names := fillDisk(t, c)
			// Metadata writes until the WAL meets the full disk: each is a
			// file's removal, answered or not.
			removed := 0
			for _, name := range names {
				if err := removeOnce(c, name); err != nil {
					break
				}
				removed++
			}
			n := c.nodes[1]
			switch {
			case reserve > 0 && removed != len(names):
				t.Fatalf("removed %d of %d files on a full disk with a reserve, want all (reserve released %v)\n%s",
					removed, len(names), n.reserve.released, c.dump())
			case reserve > 0:
				if disk.reserveGone == 0 {
					t.Fatalf("the metadata never met the full disk: the test proves nothing\n%s", c.dump())
				}
				if !c.runUntil(func() bool { return !n.reserve.released }, 40000) {
					t.Fatalf("the reserve was not made again after the files went\n%s", c.dump())
				}
				c.putFile(1, "root", "after", "room again")
				if got, err := c.readFile(1, "root", "after"); err != nil || got != "room again" {
					t.Fatalf("ReadFile(after) = %q, %v, want the text", got, err)
				}
			case removed == len(names):
				t.Fatalf("removed every file on a full disk without a reserve: the disk was not full enough to test the reserve")
			}
		})
	}
}

// removeOnce removes a file through node 1, one attempt within bounded
// steps (a metadata store stopped by a full disk never answers).
func removeOnce(c *cluster, name string) error {
	a := &answer{}
	c.nodes[1].File(FileRemove, "root", name, nil, sys.AttrChange{}, a.set)
	if !c.runUntil(func() bool { done, _, _ := a.get(); return done }, 20000) {
		return errors.New("no answer")
	}
	_, _, err := a.get()
	return err
}
