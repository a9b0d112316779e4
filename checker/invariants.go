package checker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors wrapped by the invariant checks, for errors.Is.
var (
	// ErrApplyOrder: a replica's applied indexes went backwards (or stood
	// still) within one boot, or its boots went backwards.
	ErrApplyOrder = errors.New("apply order broken")
	// ErrLogsDiverge: two applications of one index carried different entries.
	ErrLogsDiverge = errors.New("applied logs diverge")
	// ErrAckedWriteLost: a write acknowledged to a client is missing from the
	// applied log, or was overwritten there.
	ErrAckedWriteLost = errors.New("acknowledged write lost")
	// ErrAppliedTwice: one request was applied at two different indexes.
	ErrAppliedTwice = errors.New("request applied twice")
)

// RequestID identifies a client request across retries: the client's session
// and a sequence number within it.
type RequestID struct {
	Session, Seq uint64
}

// IsZero reports whether r is the zero id, which means "no client request".
func (r RequestID) IsZero() bool { return r == RequestID{} }

func (r RequestID) String() string {
	if r.IsZero() {
		return "no request"
	}
	return fmt.Sprintf("request %d#%d", r.Session, r.Seq)
}

// Applied is one log entry a replica applied to its state machine, in the
// order it applied them.
type Applied struct {
	Index uint64
	Term  uint64
	// Digest is a hash of the entry's bytes: equal entries have equal digests.
	Digest uint64
	// Request is the client request the entry carries; the zero id for
	// entries without one (raft's empty entries, configuration changes).
	Request RequestID
	// Boot counts the replica's restarts: 0 for its first start, +1 at each
	// restart. Within one boot a replica applies strictly increasing
	// indexes; after a restart it may re-apply indexes from its snapshot on.
	Boot uint64
	// Identity names the logical operation the entry carries, as the
	// workload knows it (say, the unique value a put writes), whatever
	// request ids it travelled under; "" if the workload cannot tell.
	// Only entries that took effect carry one. AtMostOnceByIdentity
	// checks it.
	Identity string
}

func (a Applied) describe() string {
	return fmt.Sprintf("term %d, digest %#016x, %v", a.Term, a.Digest, a.Request)
}

func (a Applied) sameEntry(b Applied) bool {
	return a.Term == b.Term && a.Digest == b.Digest && a.Request == b.Request
}

// violations collects what an invariant check found, in scan order.
type violations struct {
	first    error
	firstMsg string
	count    int
}

func (v *violations) add(kind error, format string, args ...any) {
	v.count++
	if v.first == nil {
		v.first = kind
		v.firstMsg = fmt.Sprintf(format, args...)
	}
}

func (v *violations) err() error {
	switch v.count {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: %s", v.first, v.firstMsg)
	}
	return fmt.Errorf("%w: %s (and %d more violations)", v.first, v.firstMsg, v.count-1)
}

type sighting struct {
	replica uint64
	entry   Applied
}

// AppliedLogsAgree checks the applied logs of a replicated state machine,
// keyed by replica id, each in application order:
//   - within one boot a replica's indexes strictly increase, and its boots
//     never go backwards (gaps are allowed: a snapshot skips indexes);
//   - every application of an index, by any replica in any boot, carries the
//     same entry (term, digest and request): a replica re-applying an index
//     after a restart must re-apply what it applied before.
//
// The error names the first violation found (replicas in ascending id order)
// and how many more there are; it wraps ErrApplyOrder or ErrLogsDiverge.
func AppliedLogsAgree(logs map[uint64][]Applied) error {
	var v violations
	seen := make(map[uint64]sighting)
	for _, replica := range sortedReplicas(logs) {
		log := logs[replica]
		for pos, e := range log {
			if pos > 0 {
				checkApplyOrder(&v, replica, log[pos-1], e)
			}
			first, ok := seen[e.Index]
			if !ok {
				seen[e.Index] = sighting{replica: replica, entry: e}
				continue
			}
			if !first.entry.sameEntry(e) {
				v.add(ErrLogsDiverge, "index %d: replica %d (boot %d) applied %s, but replica %d (boot %d) applied %s",
					e.Index, replica, e.Boot, e.describe(), first.replica, first.entry.Boot, first.entry.describe())
			}
		}
	}
	return v.err()
}

func checkApplyOrder(v *violations, replica uint64, prev, e Applied) {
	switch {
	case e.Boot < prev.Boot:
		v.add(ErrApplyOrder, "replica %d applied index %d in boot %d after index %d in boot %d: boots went backwards",
			replica, e.Index, e.Boot, prev.Index, prev.Boot)
	case e.Boot == prev.Boot && e.Index <= prev.Index:
		v.add(ErrApplyOrder, "replica %d (boot %d) applied index %d after index %d: within one boot indexes must "+
			"strictly increase (re-applying after a restart needs a higher Applied.Boot)",
			replica, e.Boot, e.Index, prev.Index)
	}
}

// AckedWritesApplied checks that no acknowledged write was lost. acked holds
// the requests of writes acknowledged to clients; applied holds the applied
// logs as for AppliedLogsAgree. Call it after the liveness phase, when every
// committed entry has been applied by the live replicas. For each acked
// request r:
//   - some replica applied r; let i be the lowest index at which one did;
//   - every replica that applied index i applied r there.
//
// That is what an applied log can prove. A replica that skipped index i
// because it installed a snapshot is not checked here (the log does not say
// what the snapshot held); its later entries are compared with everyone
// else's by AppliedLogsAgree. Run AppliedLogsAgree and AtMostOnce beside
// this check: a request applied at two indexes is AtMostOnce's to report.
//
// The error names the first lost write (in acked order) and how many more
// there are; it wraps ErrAckedWriteLost. A zero request id in acked is a
// caller error, reported as such.
func AckedWritesApplied(acked []RequestID, applied map[uint64][]Applied) error {
	replicas := sortedReplicas(applied)
	lowest := make(map[RequestID]sighting)
	byIndex := make(map[uint64]map[uint64]Applied) // index -> replica -> first application
	for _, replica := range replicas {
		for _, e := range applied[replica] {
			if first, ok := lowest[e.Request]; !e.Request.IsZero() && (!ok || e.Index < first.entry.Index) {
				lowest[e.Request] = sighting{replica: replica, entry: e}
			}
			if byIndex[e.Index] == nil {
				byIndex[e.Index] = make(map[uint64]Applied)
			}
			if _, ok := byIndex[e.Index][replica]; !ok {
				byIndex[e.Index][replica] = e
			}
		}
	}
	var v violations
	done := make(map[RequestID]bool)
	for pos, r := range acked {
		if r.IsZero() {
			return fmt.Errorf("checker: AckedWritesApplied: acked[%d] is the zero request id", pos)
		}
		if done[r] {
			continue
		}
		done[r] = true
		at, ok := lowest[r]
		if !ok {
			v.add(ErrAckedWriteLost, "acknowledged write %v is in no replica's applied log (highest index applied: %s)",
				r, highestApplied(replicas, applied))
			continue
		}
		for _, replica := range replicas {
			e, ok := byIndex[at.entry.Index][replica]
			if ok && e.Request != r {
				v.add(ErrAckedWriteLost, "acknowledged write %v was applied at index %d by replica %d, "+
					"but replica %d applied index %d as %s", r, at.entry.Index, at.replica, replica, e.Index, e.describe())
			}
		}
	}
	return v.err()
}

// AtMostOnce checks that no client request was applied at two different
// indexes, across all replicas and boots. Applying the same index again
// after a restart is not a second application; entries with the zero
// request id are ignored. The error names the first duplicate found
// (replicas in ascending id order) and wraps ErrAppliedTwice.
func AtMostOnce(applied map[uint64][]Applied) error {
	return appliedOnce(applied, ErrAppliedTwice,
		func(e Applied) (RequestID, bool) { return e.Request, !e.Request.IsZero() },
		func(r RequestID, f sighting, e Applied, replica uint64) string {
			return fmt.Sprintf("%v applied at index %d (term %d) by replica %d and at index %d (term %d) by replica %d",
				r, f.entry.Index, f.entry.Term, f.replica, e.Index, e.Term, replica)
		})
}

// appliedOnce reports every key (of the entries key selects) applied at two
// different indexes, across replicas and boots, as a violation of kind.
func appliedOnce[K comparable](applied map[uint64][]Applied, kind error, key func(Applied) (K, bool),
	describe func(k K, first sighting, e Applied, replica uint64) string) error {
	var v violations
	first := make(map[K]sighting)
	reported := make(map[K]map[uint64]bool) // key -> extra index
	for _, replica := range sortedReplicas(applied) {
		for _, e := range applied[replica] {
			k, ok := key(e)
			if !ok {
				continue
			}
			f, ok := first[k]
			if !ok {
				first[k] = sighting{replica: replica, entry: e}
				continue
			}
			if f.entry.Index == e.Index || reported[k][e.Index] {
				continue
			}
			if reported[k] == nil {
				reported[k] = make(map[uint64]bool)
			}
			reported[k][e.Index] = true
			v.add(kind, "%s", describe(k, f, e, replica))
		}
	}
	return v.err()
}

func sortedReplicas(logs map[uint64][]Applied) []uint64 {
	ids := make([]uint64, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func highestApplied(replicas []uint64, applied map[uint64][]Applied) string {
	parts := make([]string, 0, len(replicas))
	for _, replica := range replicas {
		var highest uint64
		for _, e := range applied[replica] {
			highest = max(highest, e.Index)
		}
		parts = append(parts, fmt.Sprintf("replica %d: %d", replica, highest))
	}
	if len(parts) == 0 {
		return "no replicas"
	}
	return strings.Join(parts, ", ")
}
