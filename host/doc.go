// Package host is the production driver of a Flock machine: one goroutine
// owns a sans-IO state machine (a node of package vm/node, or a raftkv
// server) and
// feeds it from real sockets (package tcpnet), a real ticker and the OS disk
// (package osdisk), the way package sim feeds the same state machine under
// virtual time.
//
// A hosted machine is anything with Tick and Receive (Machine). It may also
// report a failure (Failer), release its files (io.Closer), export figures
// (Exporter), take received messages in batches (Batcher), or have work to
// do between inputs (Worker). The Host opens it through an Open function,
// reopens it after a failure, as a supervisor restarting a process would,
// and stops for good (fail-stop) on an error the Config calls fatal, such
// as persisted state that a crash cannot explain.
//
// Everything the machine does happens on the Host's goroutine: inputs, and
// functions given to Do (client requests, status queries). The machine
// never needs a lock. Logs are structured (log/slog) with the machine,
// incarnation and service; metrics are Prometheus (client_golang): the
// transport's messages and bytes per peer, the host's own counters, and
// whatever the machine exports, read on the Host's goroutine at scrape
// time.
//
// Around it: NodeMachine hosts a node (Node opens one at every open; its
// cores run in Work while they have work; clients' messages carry the user
// their connection authenticated as); Inspect, CreateVM, JoinVM and Serve
// are a machine process's life (flock new and join); Client is the Go
// client of a VM (DialClient; Run, Kill, PS, Status, KV, CreateToken,
// AddUser, Leave), the other end of docs/client.md.
package host
