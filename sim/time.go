package sim

import (
	"math"
	"strconv"
	"time"
)

// Time is a point in virtual time: nanoseconds since the start of the run.
// Durations between Times are ordinary time.Durations; the wall clock is never
// consulted.
type Time int64

// Add returns t+d, saturating at the largest and smallest Times instead of
// wrapping, so "never" (a huge d) stays in the future.
func (t Time) Add(d time.Duration) Time {
	s := t + Time(d)
	if d > 0 && s < t {
		return math.MaxInt64
	}
	if d < 0 && s > t {
		return math.MinInt64
	}
	return s
}

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Duration returns t as the duration since the start of the run.
func (t Time) Duration() time.Duration { return time.Duration(t) }

// String formats t in milliseconds: "1.250ms" when t is a whole number of
// microseconds, "1.250123ms" otherwise.
func (t Time) String() string { return string(t.appendTo(nil)) }

func (t Time) appendTo(b []byte) []byte {
	v := int64(t)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/1e6, 10)
	b = append(b, '.')
	frac, digits := v%1e6, 6
	if frac%1000 == 0 {
		frac, digits = frac/1000, 3
	}
	b = appendPadded(b, frac, digits)
	return append(b, "ms"...)
}

// appendPadded appends v in decimal, left-padded with zeros to digits.
func appendPadded(b []byte, v int64, digits int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], v, 10)
	for i := len(s); i < digits; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
