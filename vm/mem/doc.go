// Package mem is Flock's memory: paged address spaces whose pages are shared
// copy-on-write, the allocator behind ALLOC and FREE, per-process memory
// accounting, a thread's Local memory (snapshotted, never copied, at
// spawn), and LocalGlobal, the one-machine implementation of sys.Global.
//
// Pages are 4 KiB, held in directories of 512 pages (2 MiB). A Local's
// pages and directories are reference counted: a snapshot shares every
// directory, and the first write to a shared directory or page copies just
// that one. A Local belongs to one thread, so it is used by one goroutine at
// a time; reference counts are atomic because sharers may run on different
// cores. A LocalGlobal is shared by every core that runs its process's
// threads, at once when cores run in parallel: its words live in a
// GlobalPages store (atomic words, found without a lock), which the
// interpreter reaches directly on its hot path; allocation and waiters take
// fine locks of their own. The Account is atomic.
//
// A Local that came from another machine may be lazy (local_remote.go):
// pages of its snapshot still on the source are absent, an access to one
// traps with the page noted (Fault), and InstallPages puts a fetched page
// in place.
package mem
