package sim

import "math/rand/v2"

// Randomness. A run has one seed; every consumer of randomness (each
// machine's program, each disk, the network, the nemesis, ...) gets its own
// ChaCha8 stream derived from (seed, label, id), so extra draws in one place
// never shift the draws anywhere else.

// splitmix64 is the SplitMix64 finalizer: a bijective mix of 64 bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// deriveSeed mixes a run seed, a label and an id into one 64-bit value.
func deriveSeed(seed uint64, label string, id uint64) uint64 {
	h := splitmix64(seed ^ hashString(fnvOffset, label))
	return splitmix64(h ^ splitmix64(id))
}

// newStream returns the ChaCha8 stream for (seed, label, id).
func newStream(seed uint64, label string, id uint64) *rand.Rand {
	var key [32]byte
	x := deriveSeed(seed, label, id)
	for i := 0; i < 4; i++ {
		x = splitmix64(x)
		for j := 0; j < 8; j++ {
			key[i*8+j] = byte(x >> (8 * j))
		}
	}
	return rand.New(rand.NewChaCha8(key))
}

// Stream returns a fresh random stream derived from seed, label and id,
// independent of every stream the world draws from itself as long as label
// does not start with "sim.". Scenarios use it for workload generators.
func Stream(seed uint64, label string, id uint64) *rand.Rand {
	return newStream(seed, label, id)
}

// uniformDuration returns a duration uniform in [lo, hi]; lo when hi <= lo.
func uniformDuration(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo+1)
}
