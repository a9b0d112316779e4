// Package diskmodel is the disk a Flock machine persists through: the FS and
// File interfaces every backend implements (the simulated disk in package
// sim, the OS backend in this package), and the errors they share.
//
// The contract is that of a POSIX file system after power loss: data written
// to a file is durable only after File.Sync; a file's creation, a rename or a
// removal is durable only after SyncDir of the directory that holds the name.
// Anything not yet durable may, at a crash, be lost, partly kept, or torn at
// sector granularity. Readers of persisted data must checksum it.
package diskmodel
