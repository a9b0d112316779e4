// Package mem is Flock's memory: paged address spaces whose pages are shared
// copy-on-write, the allocator behind ALLOC and FREE, per-process memory
// accounting, a thread's Local memory (snapshotted, never copied, at
// spawn), and LocalGlobal, the one-machine implementation of sys.Global.
//
// Pages are 4 KiB, held in directories of 512 pages (2 MiB). Both levels are
// reference counted: a snapshot shares every directory, and the first write
// to a shared directory or page copies just that one. All of it runs on the
// interpreter's goroutine; nothing here is safe for concurrent use.
package mem
