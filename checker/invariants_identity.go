package checker

import (
	"errors"
	"fmt"
)

// ErrLogicalAppliedTwice: one logical operation took effect at two log
// indexes, whatever request ids carried it.
var ErrLogicalAppliedTwice = errors.New("logical operation applied twice")

// AtMostOnceByIdentity checks that no logical operation took effect twice.
// AtMostOnce matches requests by (session, sequence) and cannot see a
// write that a client sent again under a new sequence number; here the
// workload names each logical operation (Applied.Identity) and any two
// applications of one identity at different indexes, across replicas and
// boots, are a violation. Re-applying the same index after a restart is
// not; entries without an identity are ignored. The error names the first
// duplicate found (replicas in ascending id order) and wraps
// ErrLogicalAppliedTwice.
func AtMostOnceByIdentity(applied map[uint64][]Applied) error {
	return appliedOnce(applied, ErrLogicalAppliedTwice,
		func(e Applied) (string, bool) { return e.Identity, e.Identity != "" },
		func(id string, f sighting, e Applied, replica uint64) string {
			return fmt.Sprintf("operation %q applied at index %d (%v) by replica %d and at index %d (%v) by replica %d",
				id, f.entry.Index, f.entry.Request, f.replica, e.Index, e.Request, replica)
		})
}
