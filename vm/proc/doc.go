// Package proc runs processes on an embedded one-machine VM: VM is the
// interp.Kernel for one machine (thread ids, spawn, join, process start and
// wait, output, exits and traps), owns each process's LocalGlobal memory and
// the storage, and drives the interp.Machine from the caller's goroutine
// until every process has ended. `flock run` is one such driver.
package proc
