package dfs

import "github.com/flockvm/flock/probe"

// Coverage marks of the rare paths a simulator sweep must reach.
var (
	markRepairCopied    = probe.Declare("dfs/repair-copied", "repair copied a chunk to a new machine to restore its redundancy")
	markRepairTrimmed   = probe.Declare("dfs/repair-trimmed", "repair dropped copies beyond a lowered redundancy")
	markStaleRefused    = probe.Declare("dfs/stale-replica-refused", "a replica asked for a generation it holds only an older one of refused it")
	markBadChecksum     = probe.Declare("dfs/bad-checksum-caught", "a chunk copy failed its checksum (bit rot) and was not served")
	markMissingCopy     = probe.Declare("dfs/missing-copy", "a replica named by a chunk's record had no file for it (a lost chunk)")
	markSelfDropped     = probe.Declare("dfs/replica-self-dropped", "a replica removed itself from a chunk's record after finding its copy missing or bad")
	markWriteConflict   = probe.Declare("dfs/write-conflict", "a write's commit found the chunk changed and started again")
	markBaseSuperseded  = probe.Declare("dfs/base-superseded", "no replica had a write's base generation because a later one committed meanwhile: the write started again")
	markCollectPressed  = probe.Declare("dfs/collect-pressed", "the collector walked faster: the chunk files held took three quarters of the quota")
	markDropStale       = probe.Declare("dfs/drop-stale", "a queued self-drop found the copy stored again and good, and dropped nothing")
	markDiskLow         = probe.Declare("dfs/disk-low", "the machine's disk filled: the service freed its spare slots and took no new chunk files")
	markPlaceWaited     = probe.Declare("dfs/place-waited", "a write found fewer than R machines up and looked again a few ticks later")
	markGoneHinted      = probe.Declare("dfs/gone-hinted", "a machine told of a removed file queued its chunk files for the collector")
	markSuspectDeleted  = probe.Declare("dfs/suspect-collected", "the collector deleted a generation soon after a later one of its chunk was stored here")
	markNeedBase        = probe.Declare("dfs/need-base", "a target lacked a chunk's base generation and got the full chunk")
	markOrphanFenced    = probe.Declare("dfs/orphan-fenced", "the collector fenced an abandoned generation with a tombstone and deleted it")
	markSuperseded      = probe.Declare("dfs/superseded-collected", "the collector deleted a generation a newer version replaced")
	markRemovedFile     = probe.Declare("dfs/removed-file-collected", "the collector deleted a chunk of a removed file")
	markUnknownResolved = probe.Declare("dfs/unknown-outcome-resolved", "a metadata commit with an unknown outcome was resent and its outcome learned")
	markTargetReplaced  = probe.Declare("dfs/write-target-replaced", "a write target failed and the write chose another machine")
	markTargetRetried   = probe.Declare("dfs/write-target-retried", "every machine with room had failed a chunk of a write once, and one is tried again")
	markPermDenied      = probe.Declare("dfs/permission-denied", "an operation was refused with EACCES")
	markSlotReused      = probe.Declare("dfs/slot-reused", "a chunk write overwrote a free slot of its size in place")
	markSlotRemade      = probe.Declare("dfs/slot-remade", "a free slot had vanished from the disk (a lost file) and the write made its file anew")
	markDuplicateAtBoot = probe.Declare("dfs/duplicate-at-boot", "two files named one generation at boot and one was freed")
)
