package netmodel

import "fmt"

// NodeID names a machine of a Flock VM. Zero is never a valid machine.
type NodeID uint64

// String returns the id as "n<id>", the form used in traces and errors.
func (id NodeID) String() string { return fmt.Sprintf("n%d", uint64(id)) }

// Transport sends messages to other machines.
//
// Send never blocks and reports nothing: the message may be lost, delayed,
// duplicated, reordered or arrive garbled (a garbled frame is detected and
// dropped by the receiving side, never delivered). A message to a machine that
// is down is lost. The Transport owns payload once Send is called: the caller
// must neither modify it nor send it again afterwards (a caller that keeps a
// message to resend it sends a copy each time), because the receiver may be
// handed that very buffer, which it owns and may decode in place.
//
// A Transport is used from its machine's driver goroutine only.
type Transport interface {
	Send(to NodeID, payload []byte)
}

// UrgentSender is a Transport that can write a message at once, on the
// caller's goroutine, when nothing is queued ahead of it to the same
// machine: for the messages a waiting thread's progress hangs on (the
// memory service's). SendUrgent keeps Send's contract, never blocking:
// what the connection does not take at once is left to the transport's own
// writer. A backend without a faster path (the simulator) need not offer
// it; senders fall back to Send.
type UrgentSender interface {
	SendUrgent(to NodeID, payload []byte)
}

// CopySender is a Transport that copies payload before SendCopy returns,
// so the caller keeps it and may reuse it at once: a wrapper that adds a
// header of its own makes a new buffer anyway, and a sender that would
// otherwise copy its reused encoding buffer for Send saves that copy.
type CopySender interface {
	SendCopy(to NodeID, payload []byte)
}

// Receiver is the machine side of a Transport. The backend calls Receive once
// for every message that arrives intact, one call at a time on the machine's
// driver goroutine. The receiver owns payload. Receive must treat payload as
// untrusted: decoders reject garbage with an error, never a panic.
type Receiver interface {
	Receive(from NodeID, payload []byte)
}

// ReceiverFunc adapts a function to the Receiver interface.
type ReceiverFunc func(from NodeID, payload []byte)

// Receive calls f(from, payload).
func (f ReceiverFunc) Receive(from NodeID, payload []byte) { f(from, payload) }
