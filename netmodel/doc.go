// Package netmodel is the network a Flock machine talks through: the Transport
// and Receiver interfaces every backend implements (the simulated network in
// package sim; the TCP backend for real clusters, package netmodel/tcpnet),
// and the checksummed frame format messages travel in.
//
// The contract is deliberately weak, because real networks are: a message is
// sent asynchronously, may be lost, delayed, duplicated, reordered or
// garbled, and a peer may restart between two messages. Protocols built on
// it (raft, coherence, storage replication) carry their own ids and retries.
package netmodel
