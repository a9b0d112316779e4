// Package sys is the boundary between a running thread and the world: the
// interfaces through which every global-memory and storage operation goes,
// the Reply each one produces, and the trap and error codes a program sees.
//
// Every operation may answer now or later. A method returns (reply, true)
// when it has the answer at once; it returns (_, false) when the answer
// will come later, and then it (or whoever it hands the request to) calls
// Completer.Complete(c.Req, reply) exactly once, from the same goroutine
// that drives the interpreter. The interpreter parks the calling thread in
// the meantime; nothing ever blocks a goroutine. On one machine the local
// implementations answer at once (except waits); distributed ones answer
// when the network does.
package sys
