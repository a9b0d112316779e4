package coherence

// Stats are an agent's counters since it started.
type Stats struct {
	// Sent and Received count messages by kind (index: the position in
	// KindNames, plus one; index 0 is unused). A message is counted once
	// per transmission, retransmissions included.
	Sent, Received   [numKinds]uint64
	PayloadsSent     uint64
	PayloadsReceived uint64
	BytesSent        uint64

	Hits        uint64 // operations served here without a message, on the slow path
	ReadMisses  uint64 // fetches of a read copy
	WriteMisses uint64 // fetches of a writable copy (Upgrades among them)
	Upgrades    uint64 // write fetches for a page held shared

	Grants            uint64 // Data sent by this home
	InvalidationsSent uint64
	ForwardsSent      uint64
	Invalidated       uint64 // shared copies dropped at a home's request
	Forwarded         uint64 // owned copies handed over at a home's request
	Evictions         uint64
	Writebacks        uint64 // modified copies written back by eviction

	DelegatedSent   uint64 // operations shipped to a home
	DelegatedServed uint64 // operations executed for other machines
	DelegateHints   uint64 // fetches answered "delegated"
	PagesDelegated  uint64 // pages this home switched to delegation

	Waits uint64 // WAITs queued at this home
	Wakes uint64 // waiters woken by this home

	Retransmits       uint64
	Dups              uint64 // duplicate or retransmitted requests answered from memory or ignored
	StaleData         uint64 // Data refused: not for an outstanding request, or older than an invalidation
	DecodeErrors      uint64
	StaleIncarnation  uint64 // payloads from or to a dead incarnation
	UnknownProcess    uint64
	ProtocolErrors    uint64 // messages no correct peer sends
	PeersDown         uint64
	PagesLost         uint64
	ParkedOps         int    // thread operations parked now
	InFlight          int    // requests outstanding now
	CacheBytes        uint64 // cached copies and unacknowledged transfers now
	HomeBytes         uint64 // pages mapped in regions homed here now
	QueuedWaiters     int    // WAITs queued at this home now
	TransactionsOpen  int    // home transactions not finished now
	TransfersUnacked  int    // transfers the home has not acknowledged now
	MessagesSentTotal uint64 // the sum of Sent
}

// Stats returns the counters.
func (a *Agent) Stats() Stats {
	s := a.stats
	s.ParkedOps = a.parked
	s.InFlight = a.inFlight + len(a.queued)
	s.CacheBytes = a.cacheBytes
	s.HomeBytes = a.homeBytes
	s.QueuedWaiters = a.waiters
	s.TransactionsOpen = a.txnPages.Len()
	s.TransfersUnacked = a.xferPages.Len()
	for _, n := range s.Sent {
		s.MessagesSentTotal += n
	}
	return s
}
