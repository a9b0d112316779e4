// Package nettest is the contract every netmodel.Transport backend must
// pass where the backends can be compared: the simulated network of package
// sim (with its faults off) and the TCP backend (package tcpnet) on
// loopback. TestTransport runs it over a Net a backend's test builds.
//
// What it checks is what protocols rely on: on a healthy network every
// message arrives once, intact and from its sender, whatever its size up to
// the frame limit; Send returns at once even towards a machine that is
// down; and a message meant for a machine's previous incarnation is never
// handed to the next one. Loss, duplication and reordering under faults
// are each backend's own tests.
package nettest
