// Package simdisk is the simulated disk of a Flock machine: a deterministic,
// in-memory diskmodel.FS that loses, tears, rots and fails data the way a
// real disk can after power loss, with every choice drawn from the seeded
// generator it is given. The simulator (package sim) gives each machine one
// Disk, calls Crash when the machine loses power, Rot when the nemesis
// corrupts data at rest, and charges TakeLatency to the machine's clock.
//
// # Crash model
//
// A restarted machine sees exactly what a real disk could show after power
// loss: never data that was never written, never less than what was synced.
//
// Files. Each file has a durable image (content and size) and a volatile one
// (what reads see). WriteAt and Truncate change the volatile image and are
// remembered, in order, as pending until File.Sync makes the file's content
// and size durable. At Crash each pending op is, independently:
//
//   - lost, with probability Faults.LoseUnsyncedProb;
//   - else, with Faults.TornWrites, a write spanning more than one sector is
//     torn with probability 1/2: each of its pieces, cut at 512-byte sectors
//     aligned to file offsets (diskmodel.SectorSize), is kept with
//     probability 1/2;
//   - else kept whole.
//
// A sector is written whole, as a snapshot of the page cache, so each sector
// ends holding its content after some prefix of the ops that touched it:
// once an op fails to reach a sector, no later op reaches it either (without
// TornWrites such an op is then lost whole, keeping writes atomic). The file's
// size after the crash is its size after the last op that survived in any
// part (its durable size if none did), except that a torn write that grew
// the file may, in half the cases, leave it ending at its last surviving
// sector (but not below its size before the write), as a file system that
// persists the size block by block during writeback does. Bytes a surviving size exposes that no
// surviving op wrote read as their durable content, or zeros past the durable
// size — the zeros a real file system shows when it persisted a size but not
// the data. A truncate is kept or lost whole; what a kept shrink cut off reads
// as zeros if the file grows again. Past 65536 pending ops or 64 MiB of
// pending data a file is written back (made durable) unasked, as a kernel
// would.
//
// Names. Directory entries are volatile as well. Create, Mkdir, Remove and
// Rename are logged as pending namespace operations. An operation is synced
// when every directory it touches has been passed to SyncDir after it (one
// directory, or both for a rename between directories). A synced operation
// becomes durable together with the earlier pending operations it cannot do
// without — the previous operation on each entry it touches, for a
// directory's removal the operations that emptied it, for a moved directory
// the moves of its new ancestors — as a journaling file system commits them
// together. It waits, though, for a pending Mkdir of the directory it writes
// into: syncing a new directory does not make the directory's own name
// durable, so until SyncDir of its parent the new directory and everything in
// it may vanish together (diskmodel.MkdirAll syncs each parent).
//
// At Crash the pending operations are replayed in order onto the durable
// namespace: a synced one whenever it is still valid there (its directory
// exists, its source entry still names its inode, ...), an unsynced one with
// probability 1-LoseUnsyncedProb if it is valid. A rename is applied or
// undone whole, so after a crash either its old or its new state is visible.
// A file created but never SyncDir'd may vanish, with its data; a removal or
// rename not synced may be undone, bringing back the file it removed or
// replaced with that file's durable content. Past 16384 pending operations
// the oldest is written back (made durable) unasked.
//
// Everything written and synced — the file's Sync and SyncDir of every
// directory on the way to its entry — survives every crash. After Crash
// every File opened before it fails with diskmodel.ErrClosed.
//
// # Timed disks
//
// By default a Sync is durable when it returns. SetClock makes the disk
// timed, as the simulator's machines are: the device serves operations one
// after another in virtual time (each starts when it is free and takes its
// latency; BusyUntil says when it is done with everything issued), and a
// Sync or SyncDir takes effect only when the device finishes it. A Crash
// before then undoes it: its writes and directory operations are unsynced
// and meet the fates above. An operation dated after the crash (issued
// while the device was still busy with earlier work) never happened and
// leaves no trace: every call is blocking, so a real program would not yet
// have reached it. Stats.SyncsCut counts the syncs a crash undid;
// SyncInFlight lets the simulator aim a crash at one.
//
// # Other faults
//
// Rot flips bits of durable data at rest (and of the volatile view, where no
// unsynced write hides them). ReadErrorProb and WriteErrorProb make single
// operations fail with diskmodel.ErrIO, changing nothing. CapacityBytes bounds
// the sum of all files' sizes; growing past it fails with
// diskmodel.ErrNoSpace. Every operation costs simulated time, collected by
// TakeLatency. Stats counts operations and every fault injected.
//
// Errors are *fs.PathError values naming the path. Besides the diskmodel
// errors, a Disk reports the errno values the OS backend gets from Linux
// (syscall.ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL), so errors.Is
// behaves the same on both. Like os.Rename, Rename never replaces a
// directory. Files live in memory: one larger than MaxFileBytes is refused
// with syscall.EFBIG.
package simdisk
