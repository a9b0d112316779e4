package raftkv

import (
	"slices"
	"testing"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim/simdisk"
	"pgregory.net/rapid"
)

// memberClient is the client that changes the configuration.
const memberClient = propertyClients + 1

// TestMembershipProperty is TestClusterProperty with configuration changes
// drawn among the operations: learners, voters and removals of any server
// (the leader, a spare with an empty disk, a removed one again), joint
// changes of several steps, conditions on the configuration, and reads of
// it. The check replays the agreed log through a reference model of
// configurations (members_check_test.go): every replica's configuration,
// every change's answer and every read of the configuration must be the
// model's, on top of everything TestClusterProperty checks.
func TestMembershipProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(t, harnessOptions{
			n:               rapid.SampledFrom([]int{1, 3}).Draw(t, "servers"),
			spares:          rapid.IntRange(1, 2).Draw(t, "spares"),
			seed:            rapid.Uint64().Draw(t, "seed"),
			snapshotEntries: rapid.SampledFrom([]uint64{4, 16, 1000}).Draw(t, "snapshotEntries"),
			sessionsMax:     64,
			faults:          simdisk.Faults{LoseUnsyncedProb: 0.5, TornWrites: true},
			segmentBytes:    rapid.SampledFrom([]int64{512, 1 << 20}).Draw(t, "segmentBytes"),
			buggify:         rapid.Bool().Draw(t, "buggify"),
			interleaveSync:  rapid.Bool().Draw(t, "interleaveSync"),
			asyncSync:       rapid.Bool().Draw(t, "asyncSync"),
		})
		drawReadFrom(t, h)
		actions := append(slices.Clone(worldActions), "change", "change", "members")
		ifIndex := uint64(0) // the configuration index the member client last saw
		runRandomWorld(t, h, actions, func(action string) {
			switch action {
			case "change":
				o := &opRecord{op: OpChangeMembers, changes: drawChanges(t, h.ids)}
				if rapid.Bool().Draw(t, "conditional") {
					o.ifIndex = ifIndex
				}
				h.startOpThen(memberClient, o, func(r Result) { ifIndex = max(ifIndex, r.Members.Index) })
			case "members":
				h.startOp(rapid.IntRange(1, memberClient).Draw(t, "client"), &opRecord{op: OpMembers})
			}
		})
		h.settle(3000)
		h.check()
	})
}

// drawChanges draws one to three steps on distinct servers.
func drawChanges(t *rapid.T, ids []netmodel.NodeID) []MemberChange {
	n := rapid.SampledFrom([]int{1, 1, 1, 2, 3}).Draw(t, "steps")
	perm := rapid.Permutation(ids).Draw(t, "targets")
	var out []MemberChange
	for _, id := range perm[:min(n, len(perm))] {
		kind := rapid.SampledFrom([]MemberChangeKind{MemberAddLearner, MemberAddVoter, MemberAddVoter, MemberRemove}).Draw(t, "kind")
		out = append(out, MemberChange{Kind: kind, ID: id})
	}
	return out
}
