// Package storage is the VM's filesystem on one machine: Local implements
// sys.Storage over a diskmodel.FS (a directory of the host through
// diskmodel/osdisk, or a simulated disk). Every write is synced before it is
// acknowledged, and every create, mkdir and remove syncs its directory, so
// an acknowledged change survives a crash. The replicated filesystem of a
// many-machine VM implements the same interface.
package storage
