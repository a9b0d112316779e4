// Package node is one machine of a Flock VM (docs/node.md): its
// interpreter cores, the process manager that lets processes and threads
// run anywhere (the vproc switch), its memory agent, its replica of the
// metadata store (on the voters) and its client, its part of the
// replicated filesystem (every process's storage), membership, and the
// client service that flock talks to. Like everything in vm/, a Node is a
// sans-IO state machine driven by Tick, Receive, RunCores and the client
// calls; the simulator and the production host drive the same code.
package node
