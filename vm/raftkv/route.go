package raftkv

// IsReply reports whether a payload a Server sends is a reply to a client
// (rather than a raft message to a peer), so that a driver multiplexing
// several services on one transport can route it to the client side.
func IsReply(payload []byte) bool {
	return len(payload) >= 2 && payload[0] == wireVersion && payload[1] == kindReply
}
