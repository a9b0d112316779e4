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
// It is its own module so the main module does not depend on etcd.
package main
