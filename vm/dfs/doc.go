// Package dfs is the VM's replicated filesystem (DESIGN §10): one Service
// per machine keeps that machine's chunk files on its disk, answers the
// other machines' chunk requests, runs the operations of the processes on
// the machine (Service.Storage is a process's sys.Storage), collects
// orphaned chunk files, and, on the machine chosen for it, repairs
// redundancy. Metadata (namespace, directory attributes, chunk versions,
// checksums and replicas, disk use) lives in the raft store (vm/raftkv),
// reached through the MetaClients the Service is given; docs/storage.md
// describes the model, the protocols and their races.
//
// Like everything in vm/, a Service is a sans-IO state machine: its inputs
// are Tick, Receive (messages of the service from other machines),
// MachineDown/MachineUp (membership) and the calls of the processes; its
// outputs are messages (through Config.Transport), chunk files (through
// Config.Disk) and answers (through each process's sys.Completer, always
// later, never inside the call that asked). It starts no goroutine, reads
// no clock and draws randomness only from Config.Rand.
package dfs
