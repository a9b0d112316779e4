package dfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Limits of the filesystem. Every queue, table and message is bounded.
const (
	ChunkSizeBytesMin     = 64
	ChunkSizeBytesMax     = 1 << 20
	ChunkSizeBytesDefault = 64 << 10
	// ChunksPerWriteMax bounds the chunks one WRITE commits atomically;
	// a longer write is cut there (a short write).
	ChunksPerWriteMax = 128
	// ChunksPerReadMax bounds the chunks one READ covers (a short read).
	ChunksPerReadMax = 256
	// ReadBytesMax bounds what one READ returns (a short read).
	ReadBytesMax = 1 << 20
	// WriteBytesMax bounds the data one WRITE accepts; more is cut too.
	WriteBytesMax = 1 << 20
	PathBytesMax  = 4096
	NameBytesMax  = 255
	PathDepthMax  = 64
	// FilesPerProcessMax bounds a process's open files (-EMFILE).
	FilesPerProcessMax = 1024
	// OpsPerProcessMax bounds a process's operations in flight (-EAGAIN).
	OpsPerProcessMax = 256
	// OpsMax bounds the operations in flight on a Service (-EAGAIN).
	OpsMax = 4096
	// ListEntriesMax bounds the names one LIST returns; a directory with
	// more cannot be listed whole (-EFBIG).
	ListEntriesMax = 10000
	// listPageEntries is how many entries one read of a listing takes.
	listPageEntries = 500
	// rpcPendingMax bounds the chunk requests a Service has in flight.
	rpcPendingMax = 8192
	// metaQueueMax bounds the metadata requests waiting for a client.
	metaQueueMax = 8192
	// probeItemsMax bounds the chunks one probe asks about.
	probeItemsMax = 1024
)

// MetaClient is one session of the metadata store: a *raftkv.Client (the
// node gives each its own address so replies reach the right one). The
// Service ticks it; the driver delivers its messages to its Receive.
type MetaClient interface {
	Txn(t raftkv.Txn, done func(raftkv.Result)) error
	Ranges(rs []raftkv.Range, done func(raftkv.Result)) error
	RetryUnknown(done func(raftkv.Result)) error
	Busy() bool
	Tick()
}

var _ MetaClient = (*raftkv.Client)(nil)

// DiskWorker runs disk work off the goroutine that drives the Service.
// Do returns at once; job runs on another goroutine; then done is called
// exactly once, on the driving goroutine (under whatever lock guards the
// Service), from a later event. A chunk file's write and sync run as jobs,
// so a driver that also runs other work (the node's cores calling into it)
// never waits for an fsync of a chunk.
type DiskWorker interface {
	Do(job, done func())
}

// BackgroundWorker is a DiskWorker that also runs work no write waits for
// (spare chunk files: slots.go) on a goroutine of its own, so that a put
// never queues behind it. Same contract as Do.
type BackgroundWorker interface {
	DiskWorker
	DoBackground(job, done func())
}

// Config configures a Service. Zero timings take their defaults (in ticks
// of Service.Tick; the defaults suit a 10 ms tick).
type Config struct {
	Machine     netmodel.NodeID // this machine
	Incarnation uint32          // this machine's incarnation: ids made here carry it
	// Machines are the machines of the VM at start, Machine included; each
	// is taken to be up until MachineDown says otherwise.
	Machines []netmodel.NodeID
	// Disk and Dir are where this machine's chunk files live (Dir/c/...).
	Disk diskmodel.FS
	Dir  string
	// QuotaBytes is the disk this machine provides for chunks (chunk files
	// with their headers); 0: it keeps none (a client-only machine).
	QuotaBytes uint64
	// Transport carries the service's messages to other machines' Services.
	Transport netmodel.Transport
	// Meta are the metadata sessions, at least one; more let more
	// metadata requests run at once.
	Meta []MetaClient
	// Rand, seeded by the driver, breaks ties (which replica to read first).
	Rand *rand.Rand

	// ChunkSizeBytes is the chunk size of files created here.
	ChunkSizeBytes int
	// RootRedundancy is the root directory's redundancy when this Service
	// creates it (the first to start does).
	RootRedundancy uint8

	// DiskWorker, if set, writes and syncs chunk files off the driver's
	// goroutine (Disk must then be safe for concurrent use); nil: inline,
	// as the simulator runs.
	DiskWorker DiskWorker

	Bugs    Bugs                   // planted defects, all off in production
	Buggify func(site string) bool // FoundationDB's BUGGIFY (sim.Machine.Buggify); nil: never

	RequestTimeoutTicks int // a chunk request unanswered this long is sent again
	RequestAttemptsMax  int // sends of one chunk request
	WriteAttemptsMax    int // a write, create, rename... starts again after a conflict at most this often
	RepairEveryTicks    int // pause between repair passes
	RepairCopiesMax     int // repair copies in flight
	CollectEveryTicks   int // pause between orphan collection batches
	CollectBatch        int // chunk files one batch looks at
	OrphanTicks         int // an uncommitted generation older than this is fenced and collected
	GraceTicks          int // a current copy the record does not name is kept this long
	ScrubBytesPerTick   int // chunk bytes verified per tick in the background
	ScrubFilesPerTick   int // chunk files verified per tick in the background
	PublishEveryTicks   int // the machine record is republished this often when it changed
	PlacementEveryTicks int // machine records are reread this often
}

func (c Config) withDefaults() (Config, error) {
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.ChunkSizeBytes, ChunkSizeBytesDefault)
	if c.RootRedundancy == 0 {
		c.RootRedundancy = 1
	}
	set(&c.RequestTimeoutTicks, 20)
	set(&c.RequestAttemptsMax, 4)
	set(&c.WriteAttemptsMax, 16)
	set(&c.RepairEveryTicks, 100)
	set(&c.RepairCopiesMax, 32)
	set(&c.CollectEveryTicks, 50)
	set(&c.CollectBatch, 8)
	set(&c.OrphanTicks, 3000)
	set(&c.GraceTicks, 500)
	set(&c.ScrubBytesPerTick, 16<<10)
	set(&c.ScrubFilesPerTick, 1)
	set(&c.PublishEveryTicks, 50)
	set(&c.PlacementEveryTicks, 100)
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Machine != 0, "Machine is zero")
	check(slices.Contains(c.Machines, c.Machine), "Machines %v do not include Machine %v", c.Machines, c.Machine)
	check(!slices.Contains(c.Machines, 0), "Machines %v include the zero id", c.Machines)
	check(c.Disk != nil && diskmodel.ValidName(c.Dir) && c.Dir != ".", "Disk must be set and Dir %q a directory name", c.Dir)
	check(c.Transport != nil && c.Rand != nil, "Transport and Rand must be set")
	check(len(c.Meta) > 0 && !slices.Contains(c.Meta, nil), "Meta must hold at least one client")
	check(c.ChunkSizeBytes >= ChunkSizeBytesMin && c.ChunkSizeBytes <= ChunkSizeBytesMax,
		"ChunkSizeBytes %d outside [%d, %d]", c.ChunkSizeBytes, ChunkSizeBytesMin, ChunkSizeBytesMax)
	check(c.RootRedundancy <= sys.RedundancyMax, "RootRedundancy %d exceeds %d", c.RootRedundancy, sys.RedundancyMax)
	for _, v := range []int{c.RequestTimeoutTicks, c.RequestAttemptsMax, c.WriteAttemptsMax, c.RepairEveryTicks,
		c.RepairCopiesMax, c.CollectEveryTicks, c.CollectBatch, c.OrphanTicks, c.GraceTicks, c.ScrubBytesPerTick, c.ScrubFilesPerTick,
		c.PublishEveryTicks, c.PlacementEveryTicks} {
		check(v > 0, "timings and bounds must be positive (got %d)", v)
	}
	check(c.OrphanTicks > 4*c.RequestTimeoutTicks*c.RequestAttemptsMax,
		"OrphanTicks %d must exceed a write's chunk requests (%d ticks) by far", c.OrphanTicks, c.RequestTimeoutTicks*c.RequestAttemptsMax)
	if len(errs) > 0 {
		return fmt.Errorf("dfs: invalid Config: %w", errors.Join(errs...))
	}
	return nil
}
