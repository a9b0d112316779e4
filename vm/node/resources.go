package node

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Resources is what a machine lends the VM (`--provide cpu:3,disk:32GiB,ram:95%`).
type Resources struct {
	Cores int
	// RAMBytes and DiskBytes are absolute sizes; when the amount was given
	// as a percent, RAMPercent or DiskPercent holds it instead (of what the
	// machine has, which Resolve applies).
	RAMBytes, DiskBytes     uint64
	RAMPercent, DiskPercent float64
}

// provideLenMax bounds the text of a --provide value.
const provideLenMax = 256

// ParseResources reads the --provide grammar: comma-separated key:amount
// pairs, keys cpu, ram and disk, each at most once. cpu is a positive
// count; ram and disk are sizes (B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)
// or percents up to 100%. Keys left out are zero (not provided).
func ParseResources(s string) (Resources, error) {
	var r Resources
	if len(s) > provideLenMax {
		return r, fmt.Errorf("--provide: %d bytes, longer than %d", len(s), provideLenMax)
	}
	if strings.TrimSpace(s) == "" {
		return r, fmt.Errorf("--provide: empty; want e.g. cpu:3,disk:32GiB,ram:95%%")
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		key, amount, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			return r, fmt.Errorf("--provide: %q: want key:amount (cpu:3, disk:32GiB, ram:95%%)", item)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		amount = strings.TrimSpace(amount)
		if seen[key] {
			return r, fmt.Errorf("--provide: %s given twice", key)
		}
		seen[key] = true
		if err := r.set(key, amount); err != nil {
			return r, fmt.Errorf("--provide: %s: %w", key, err)
		}
	}
	return r, nil
}

func (r *Resources) set(key, amount string) error {
	switch key {
	case "cpu":
		n, err := strconv.Atoi(amount)
		if err != nil {
			return fmt.Errorf("%q is not a number of cores", amount)
		}
		if n <= 0 {
			return fmt.Errorf("%d cores: a machine must provide at least one", n)
		}
		if n > 4096 {
			return fmt.Errorf("%d cores: more than 4096", n)
		}
		r.Cores = n
	case "ram":
		return parseAmount(amount, &r.RAMBytes, &r.RAMPercent)
	case "disk":
		return parseAmount(amount, &r.DiskBytes, &r.DiskPercent)
	default:
		return fmt.Errorf("unknown resource (known: cpu, ram, disk)")
	}
	return nil
}

var units = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// parseAmount reads a size or a percent.
func parseAmount(s string, bytes *uint64, percent *float64) error {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) {
			return fmt.Errorf("%q is not a percent", s)
		}
		if v <= 0 || v > 100 {
			return fmt.Errorf("%s: a percent must be above 0 and at most 100", s)
		}
		*percent = v
		return nil
	}
	mult := uint64(0)
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	if mult == 0 {
		return fmt.Errorf("%q has no unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, or %%)", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size (a whole number and a unit: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	hi, lo := bits.Mul64(n, mult)
	if hi != 0 {
		return fmt.Errorf("%s overflows 64 bits", s)
	}
	if lo == 0 {
		return fmt.Errorf("%s: a size must be above zero", s)
	}
	*bytes = lo
	return nil
}

// Resolve turns percents into bytes of what the machine has.
func (r Resources) Resolve(ramHasBytes, diskHasBytes uint64) Resources {
	if r.RAMPercent > 0 {
		r.RAMBytes, r.RAMPercent = uint64(float64(ramHasBytes)*r.RAMPercent/100), 0
	}
	if r.DiskPercent > 0 {
		r.DiskBytes, r.DiskPercent = uint64(float64(diskHasBytes)*r.DiskPercent/100), 0
	}
	return r
}

func (r Resources) String() string {
	amount := func(b uint64, p float64) string {
		if p > 0 {
			return strconv.FormatFloat(p, 'g', -1, 64) + "%"
		}
		for _, u := range []struct {
			s string
			m uint64
		}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if b >= u.m && b%u.m == 0 {
				return strconv.FormatUint(b/u.m, 10) + u.s
			}
		}
		return strconv.FormatUint(b, 10) + "B"
	}
	var parts []string
	if r.Cores > 0 {
		parts = append(parts, "cpu:"+strconv.Itoa(r.Cores))
	}
	if r.DiskBytes > 0 || r.DiskPercent > 0 {
		parts = append(parts, "disk:"+amount(r.DiskBytes, r.DiskPercent))
	}
	if r.RAMBytes > 0 || r.RAMPercent > 0 {
		parts = append(parts, "ram:"+amount(r.RAMBytes, r.RAMPercent))
	}
	return strings.Join(parts, ",")
}
