package coherence

import "github.com/flockvm/flock/probe"

// Probe marks on the protocol's rare paths (docs/memory.md §9); the mem
// scenario's sweep must hit each of them.
var (
	markForwarded           = probe.Declare("coherence/forwarded", "a home forwarded a request to the page's owner")
	markUpgradeLostCopy     = probe.Declare("coherence/upgrade-lost-copy", "an upgrade's shared copy was invalidated before the grant")
	markRequestQueued       = probe.Declare("coherence/request-queued", "a fetch queued behind another transaction on its page")
	markInvalCrossedData    = probe.Declare("coherence/inval-crossed-data", "an invalidation revoked a grant whose data had not arrived")
	markStaleData           = probe.Declare("coherence/stale-data-refused", "page data for no outstanding request, or older than an invalidation, was refused")
	markFwdBeforeData       = probe.Declare("coherence/fwd-before-data", "a forward arrived before the data of the grant it revokes")
	markRetransmit          = probe.Declare("coherence/retransmit", "a request or an invalidation was retransmitted")
	markDupRequest          = probe.Declare("coherence/dup-request", "a duplicate request was answered from memory, not executed again")
	markPageLost            = probe.Declare("coherence/page-lost", "a page or a region was lost with a machine")
	markWritebackRacedFwd   = probe.Declare("coherence/writeback-raced-fwd", "an eviction's writeback crossed a forward of the same page")
	markOwnerNeverInstalled = probe.Declare("coherence/owner-never-installed", "a listed owner had never installed its grant (NotHeld, or it asked again)")
	markWakeRemote          = probe.Declare("coherence/wake-remote", "a WAKE picked a waiter on another machine")
	markStaleIncarnation    = probe.Declare("coherence/stale-incarnation", "a payload from or to a dead incarnation, or a peer seen restarted")
	markDelegated           = probe.Declare("coherence/delegated", "a home switched a hot page to delegated operations")
	markEvictModified       = probe.Declare("coherence/evict-modified", "a modified copy was evicted and written back")
)
