package sim

// The trace hash folds every processed event into 64 bits. It must be stable
// across processes, builds and platforms, so it is FNV-1a (bytes) and an
// FNV-style multiply-xorshift step for whole words, never hash/maphash.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashString folds the bytes of s into h with FNV-1a.
func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// hashBytes folds b into h with FNV-1a.
func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// hashWord folds a whole 64-bit word into h. The final xorshift spreads
// high bits down so the next multiply sees them.
func hashWord(h, v uint64) uint64 {
	h ^= v
	h *= fnvPrime
	return h ^ (h >> 29)
}
