// Command etcd benchmarks Flock's metadata store against etcd on the same
// machine in the same run: 3 replicas on loopback, each its own process,
// 256-byte puts from 1 and 64 clients, throughput and latency percentiles.
//
// Flock's side is vm/raftkv hosted by package host over tcpnet (TCP, TLS
// 1.3 with mutual authentication) on osdisk; etcd's is etcd 3.x
// (go.etcd.io/etcd/server/v3, embedded) with mutual TLS on its client and
// peer ports, or plaintext with -etcd-tls=false. Both fsync every commit.
//
//	cd bench/etcd && go run . -clients 1,64 -duration 5s
//
// -only flock (or etcd) runs one side; -stats makes each Flock replica
// print its proposals, Readys and WAL fsyncs at exit (proposals per fsync
// is the group commit's batch); -cpuprofile DIR writes a CPU profile of
// every server process and of the clients' process into DIR (each server's
// file is overwritten by the next client count's cluster).
//
// It is its own module so the main module does not depend on etcd.
package main
