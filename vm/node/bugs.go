package node

// Bugs are defects planted on purpose (flock-sim -bug NAME): each must be
// caught by the vm scenario's checks within its seed budget. All false in
// production.
type Bugs struct {
	// RerunLostThreads: a node that learns a machine died restarts the
	// threads of its processes that were there, from their start, instead
	// of ending the process with the machine-loss error.
	RerunLostThreads bool
	// PlaceOnDead: placement keeps choosing machines declared dead, and a
	// thread started there is reported started.
	PlaceOnDead bool
	// DoubleJoinAnswer: a JOIN request retransmitted while pending is
	// applied again (the home keeps no in-progress mark).
	DoubleJoinAnswer bool
	// WakeTwo: a WAKE of one waiter wakes two.
	WakeTwo bool
}
