// Package checker decides whether what clients saw during a run was correct:
// it records histories with virtual call and return times, checks them for
// linearizability with porcupine, explains and visualises a failure, and
// checks the invariants of a replicated log. It is generic: it imports none
// of sim, scenarios or vm, and it is deterministic (no clock, no randomness,
// sorted iteration, step counts instead of time) whenever Options.Timeout is
// 0. Porcupine runs each search on a goroutine of its own; nothing here
// depends on how they are scheduled.
//
// # Histories
//
// A History records operations in call order. Each logical client is
// sequential: Call, then exactly one of Return (a definite result), Unknown
// (the outcome was never learned), or nothing (still pending when the check
// runs, which counts as unknown). Two instantiations exist:
//
//   - KVHistory: a key-value store; Get, Put, Delete, and CAS on an expected
//     value or on "absent" (put-if-absent). Keys start absent.
//   - WordHistory: global memory; Read, Write, CAS and FetchAdd on aligned
//     64-bit words. Words start at 0. CAS reports the value it found as well
//     as whether it swapped, and both are checked.
//
// Times are virtual nanoseconds (or any finer clock consistent with real
// order). Intervals are closed: an operation called at the instant another
// returned is treated as concurrent with it, which is sound when several
// events share one virtual instant.
//
// # Definite errors and unknown outcomes
//
// An output with a non-empty Err is a definite error: the system guarantees
// the operation had no effect, so it is dropped from the check (it would add
// no constraint; it still counts in Len and shows as StatusFailed). Any other
// failure (timeout, lost reply, crash of the server) is an unknown outcome:
// the operation is kept with Return = math.MaxInt64, so porcupine may place
// its effect anywhere after its call, including after every other operation,
// which is the same as never. Porcupine assumes the operations of one client
// id never overlap, and an unknown operation never ends, so History moves the
// client to a fresh porcupine client id after Unknown; callers keep using
// their own client id. Read-only operations of unknown outcome (Get, Read)
// constrain nothing and are left out of the check.
//
// # Models and partitioning
//
// The models are per partition: a KV history is split by key, a word history
// by address, and each part is checked alone against a model whose state is
// one key's (value, present) or one word's uint64. A history of independent
// registers is linearizable if and only if every part is (linearizability is
// local), and the split turns one exponential search into many small ones:
// 600 ops over 16 keys take milliseconds split, and time out unsplit.
// Operations that span keys (multi-key transactions) would need a different
// model; none is offered. Each partition is searched on its own, in key
// order, so a failure names every failing key and the verdicts never depend
// on scheduling.
//
// # Cost, and how to keep checks fast
//
// A legal history costs about one model step per operation. Proving a
// history illegal is an exhaustive search whose size grows as 2^k in the
// unknown writes pending on one key, so the checker resolves unknown
// outcomes exactly where it can before searching (reduce.go): an unknown
// write of a unique value that some definite operation observed took effect
// before that observer returned, and one nobody observed (nor a CAS
// expects, nor a failed CAS could depend on) is dropped. It also finds
// violations that need no search (static.go): a read of a value no
// operation writes, or of a unique value whose writer was called after the
// read returned. Hence workloads should write unique values: then only
// unknown deletes and fetch-adds stay expensive. File data are not unique
// values; a file's unknown write is dropped, exactly, when a definite write
// that returned before its call already made the file as long and no read
// that could follow it returned one of its bytes (file_reduce.go).
// Options.MaxSteps bounds
// every search deterministically; seed sweeps should set it (a few million
// steps is seconds) and treat TimedOut as failure.
//
// # Checking and explaining
//
// CheckKV and CheckWords return a Result. When the history is not
// linearizable, Violation lists the failing keys or addresses and describes
// the first: a small subset of its operations that is still not
// linearizable, then the longest legal order porcupine found for that subset
// (its last steps, with the state after each) and the operation it got stuck
// on. The subset is found by removing operations whose removal can never
// turn a linearizable history into an illegal one (reads and failed CASes;
// writes of unique values nobody observed; blind writes overwritten before
// anything looked; writes called after every read returned), each removal
// confirmed by a search, so the subset is a proof on its own. The work spent
// explaining is bounded by a multiple of the steps the failing search took;
// past it the description names where the search got stuck instead. With
// Options.VizDir set, porcupine's HTML page of the whole history is written
// there, annotated with the violation.
//
// Porcupine's timeout is wall-clock. A check that hits it, or MaxSteps,
// before proving any partition illegal reports TimedOut with OK false: the
// verdict is unknown, not a pass, and callers must treat it as a failure.
// Tests use Timeout 0.
//
// # Invariants of a replicated log
//
// Each replica reports the entries it applied, in order, as Applied values
// (index, term, digest, request id, boot). The checks, and why each is sound:
//
//   - AppliedLogsAgree: all applications of one index carry the same entry,
//     and within one boot a replica's indexes strictly increase. Raft's state
//     machine safety says exactly this: once any replica applied an entry at
//     an index, no replica applies a different one there. Gaps are allowed
//     (snapshots); going back is allowed only across a restart (a higher
//     Boot), and the re-application must match.
//   - AckedWritesApplied: an acknowledged write was applied by some replica,
//     and every replica that applied its lowest index applied it there. After
//     the liveness phase every committed entry has been applied somewhere,
//     and an acknowledgement promises commitment, so a write in no applied
//     log was acknowledged before it was committed, and a different entry at
//     its index means it was overwritten. Replicas that skipped the index via
//     a snapshot cannot be judged from their log and are not.
//   - AtMostOnce: no request id is applied at two different indexes. Retries
//     and duplicated packets reach the log as new entries; a request id at two
//     indexes means deduplication failed. The same index re-applied after a
//     restart is one application.
//
// Each returns nil or an error naming the first violation (replica ids,
// index, both entries' term and digest, request ids) and how many more were
// found; the errors wrap ErrApplyOrder, ErrLogsDiverge, ErrAckedWriteLost or
// ErrAppliedTwice.
package checker
