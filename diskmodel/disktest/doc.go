// Package disktest is the contract every diskmodel.FS backend must pass:
// TestFS runs table-driven subtests over every method of FS and File and
// over the diskmodel helpers, on a fresh FS per subtest. Backends call it
// from their own tests (osdisk on a temporary directory, simdisk with its
// faults off). It checks behaviour without crashes; crash semantics belong
// to each backend's own tests.
package disktest
