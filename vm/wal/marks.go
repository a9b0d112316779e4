package wal

import "github.com/flockvm/flock/probe"

// Coverage marks (package probe) of the log's rare paths: a simulator sweep
// counts how many seeds reach each one.
var (
	markTornTail  = probe.Declare("wal/torn-tail-truncated", "Open cut a torn record off the tail of the last segment")
	markRotated   = probe.Declare("wal/segment-rotated", "a full segment was synced, closed and followed by a new one")
	markRemoved   = probe.Declare("wal/segments-removed", "RemoveBefore removed at least one segment a snapshot covered")
	markLeftover  = probe.Declare("wal/leftover-removed", "Open removed a temporary segment file left by a crash during creation")
	markTornShort = probe.Declare("wal/torn-tail-short", "the torn tail was an incomplete record (the file ends inside it)")
)
