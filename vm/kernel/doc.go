// Package kernel is the process table of the processes homed on one
// machine: each process's threads (where they run, their exit values, who
// waits to join them), its output, its status, and who waits for it to end.
//
// It is the part of a Flock kernel that does not depend on where threads
// run, shared by the one-machine VM (package proc) and the node of a VM that
// spans machines (package node): both implement interp.Kernel on top of a
// Table, the first with every thread on its one machine, the second with
// threads anywhere (the vproc switch).
//
// A Table is a pure data structure driven from one goroutine. Answers to
// parked requests (JOIN, PWAIT) go through the sys.Completer it was given,
// exactly once per request, and never from inside the call that parked.
package kernel
