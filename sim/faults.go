package sim

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// FaultConfig is every fault knob of a run. The zero value injects nothing
// and delivers messages instantly; NoFaults adds realistic latencies; Swarm
// draws a configuration from a seed. Durations named ...Every are the mean
// interval between injections of that kind (exponentially distributed; 0 =
// never); ...Max bound how long an injected fault lasts (uniform in
// [1ns, Max]).
type FaultConfig struct {
	// Network: every message pays the link's base latency (LatencyBase
	// scaled per link by a factor in [0.5, 1.5)) plus uniform jitter in
	// [0, LatencyJitter), which is what reorders messages; with probability
	// TailProb it also takes a long-tail delay uniform in (0, TailMax].
	LatencyBase   time.Duration
	LatencyJitter time.Duration
	TailProb      float64
	TailMax       time.Duration
	DropProb      float64 // a message is lost
	DupProb       float64 // a message arrives twice
	GarbleProb    float64 // a bit of the frame flips (receivers drop it)
	LinkQueueMax  int     // messages in flight per directed link (0: DefaultLinkQueueMax)

	// Partitions: one at a time, kind drawn among the enabled ones.
	PartitionEvery     time.Duration
	PartitionMax       time.Duration
	PartitionSymmetric bool // two groups, both directions cut
	PartitionOneWay    bool // messages from one group to the other are lost
	PartitionIsolate   bool // one machine cut off (counts toward MaxDown)

	// Clogs: a link's latency multiplied by ClogFactor for up to ClogMax.
	ClogEvery  time.Duration
	ClogMax    time.Duration
	ClogFactor int

	// Machines.
	CrashEvery      time.Duration // a machine crashes ...
	RestartDelayMax time.Duration // ... and reboots after up to this
	// CrashIOEvery is the mean interval between crashes aimed at disk
	// activity: each lands on the next machine seen with a sync in flight
	// (preferably over a write spanning sectors), at a uniform moment
	// before the sync completes. It reboots after up to RestartDelayMax.
	CrashIOEvery     time.Duration
	PauseEvery       time.Duration
	PauseMax         time.Duration
	ClockDriftPPMMax int // each machine's clock runs fast or slow by up to this

	// Disks (see simdisk.Faults for the exact semantics).
	DiskLoseUnsyncedProb     float64       // at a crash, each unsynced operation is lost with this probability
	DiskTornWrites           bool          // at a crash, a kept unsynced write may keep only some sectors
	DiskReadErrorProb        float64       // a read fails with diskmodel.ErrIO
	DiskWriteErrorProb       float64       // a write, truncate or sync fails with diskmodel.ErrIO
	DiskCapacityBytes        int64         // the disk is full beyond this (0: unlimited)
	DiskLatencyMin           time.Duration // each operation but syncs takes uniform [Min, Max]
	DiskLatencyMax           time.Duration
	DiskSyncLatencyMin       time.Duration // each Sync and SyncDir takes uniform [Min, Max]
	DiskSyncLatencyMax       time.Duration
	DiskBandwidthBytesPerSec int64         // reads and writes also take len/bandwidth (0: infinite)
	BitRotEvery              time.Duration // bits of durable data flip ...
	BitRotFlipsMax           int           // ... up to this many at a time

	// Code sites misbehave on purpose (Machine.Buggify).
	Buggify bool

	// Limits that keep faults recoverable.
	MaxDown        int // machines crashed, paused or isolated at once (0: the nemesis takes none down)
	MaxRotMachines int // distinct machines ever given bit rot
}

// NoFaults returns a fault-free configuration with realistic latencies: a
// data-centre network and a fast SSD.
func NoFaults() FaultConfig {
	return FaultConfig{
		LatencyBase:        200 * time.Microsecond,
		LatencyJitter:      100 * time.Microsecond,
		DiskLatencyMin:     5 * time.Microsecond,
		DiskLatencyMax:     20 * time.Microsecond,
		DiskSyncLatencyMin: 50 * time.Microsecond,
		DiskSyncLatencyMax: 200 * time.Microsecond,
	}
}

// Swarm draws the fault configuration of a seed ("swarm testing": each seed
// tests a different mix). A per-seed aggression a = u² (u uniform) is the
// probability each fault kind is on, so most seeds have few faults and some
// have many; each kind's strength is drawn log-uniformly within its range.
// machines sizes the limits: MaxDown lets a majority stay up, and bit rot
// is confined to one machine, and only with at least three (so another copy
// of every datum can exist).
func Swarm(seed uint64, machines int) FaultConfig {
	r := newStream(seed, "sim.swarm", 0)
	u := r.Float64()
	aggr := u * u
	on := func() bool { return r.Float64() < aggr }

	f := FaultConfig{}
	f.LatencyBase = logDur(r, 50*time.Microsecond, 5*time.Millisecond)
	if r.Float64() < 0.7 {
		f.LatencyJitter = logDur(r, 10*time.Microsecond, 2*f.LatencyBase)
	}
	if on() {
		f.TailProb = logFloat(r, 0.001, 0.05)
		f.TailMax = logDur(r, 5*time.Millisecond, 300*time.Millisecond)
	}
	if on() {
		f.DropProb = logFloat(r, 0.001, 0.2)
	}
	if on() {
		f.DupProb = logFloat(r, 0.001, 0.1)
	}
	if on() {
		f.GarbleProb = logFloat(r, 0.0001, 0.02)
	}
	if on() {
		f.PartitionEvery = logDur(r, 100*time.Millisecond, 5*time.Second)
		f.PartitionMax = logDur(r, 20*time.Millisecond, 3*time.Second)
		f.PartitionSymmetric = r.IntN(2) == 0
		f.PartitionOneWay = r.IntN(2) == 0
		f.PartitionIsolate = r.IntN(2) == 0
		if !f.PartitionSymmetric && !f.PartitionOneWay && !f.PartitionIsolate {
			f.PartitionSymmetric = true
		}
	}
	if on() {
		f.ClogEvery = logDur(r, 100*time.Millisecond, 5*time.Second)
		f.ClogMax = logDur(r, 20*time.Millisecond, 2*time.Second)
		f.ClogFactor = 2 + r.IntN(99)
	}
	if on() {
		f.CrashEvery = logDur(r, 200*time.Millisecond, 10*time.Second)
		f.RestartDelayMax = logDur(r, 10*time.Millisecond, 3*time.Second)
	}
	if on() {
		f.PauseEvery = logDur(r, 200*time.Millisecond, 10*time.Second)
		f.PauseMax = logDur(r, 5*time.Millisecond, 2*time.Second)
	}
	if on() {
		f.ClockDriftPPMMax = int(logFloat(r, 10, 1000))
	}
	f.DiskLatencyMin = logDur(r, time.Microsecond, 100*time.Microsecond)
	f.DiskLatencyMax = f.DiskLatencyMin + logDur(r, time.Microsecond, 10*f.DiskLatencyMin)
	f.DiskSyncLatencyMin = logDur(r, 20*time.Microsecond, 5*time.Millisecond)
	f.DiskSyncLatencyMax = f.DiskSyncLatencyMin + logDur(r, time.Microsecond, 10*f.DiskSyncLatencyMin)
	if r.Float64() < 0.5 {
		f.DiskBandwidthBytesPerSec = int64(logFloat(r, 50e6, 2e9))
	}
	// Losing unsynced writes is what catches a missing fsync: on in most
	// seeds, whatever the aggression.
	if r.Float64() < 0.5+aggr/2 {
		f.DiskLoseUnsyncedProb = logFloat(r, 0.1, 1)
	}
	f.DiskTornWrites = r.Float64() < 0.5+aggr/2
	if on() {
		f.DiskReadErrorProb = logFloat(r, 0.00001, 0.01)
	}
	if on() {
		f.DiskWriteErrorProb = logFloat(r, 0.00001, 0.01)
	}
	if on() {
		f.DiskCapacityBytes = int64(logFloat(r, 16<<10, 64<<20))
	}
	if on() && machines >= 3 {
		f.BitRotEvery = logDur(r, 200*time.Millisecond, 10*time.Second)
		f.BitRotFlipsMax = 1 + r.IntN(16)
	}
	// Buggify, like losing unsynced writes, is on in most seeds: each site
	// is active in a quarter of them anyway (Machine.Buggify).
	f.Buggify = r.Float64() < 0.5+aggr/2
	// Draws added later come last, so earlier ones keep their values.
	// Crashes aimed at disk work are what tear multi-sector writes and cut
	// syncs: on in most seeds, like losing and tearing unsynced writes.
	if r.Float64() < 0.5+aggr/2 {
		f.CrashIOEvery = logDur(r, 50*time.Millisecond, 2*time.Second)
		if f.RestartDelayMax == 0 {
			f.RestartDelayMax = logDur(r, 10*time.Millisecond, 3*time.Second)
		}
	}
	f.MaxDown = max(1, (machines-1)/2)
	if machines >= 3 {
		f.MaxRotMachines = 1
	}
	return f
}

// logFloat draws log-uniformly in [lo, hi], rounded to 3 significant
// digits so configurations read well in logs.
func logFloat(r *rand.Rand, lo, hi float64) float64 {
	return round3(lo * math.Exp(r.Float64()*math.Log(hi/lo)))
}

func logDur(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return time.Duration(math.Round(logFloat(r, float64(lo), float64(hi))))
}

func round3(v float64) float64 {
	if v <= 0 {
		return v
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(v)))
	return math.Round(v*scale) / scale
}

// Healed returns the configuration of the liveness phase: no drop,
// duplication, garbling, nemesis, disk faults or buggify; latencies,
// clock drift and limits kept.
func (f FaultConfig) Healed() FaultConfig {
	return FaultConfig{
		LatencyBase:      f.LatencyBase,
		LatencyJitter:    f.LatencyJitter,
		TailProb:         f.TailProb,
		TailMax:          f.TailMax,
		LinkQueueMax:     f.LinkQueueMax,
		ClockDriftPPMMax: f.ClockDriftPPMMax,
		DiskLatencyMin:   f.DiskLatencyMin,
		DiskLatencyMax:   f.DiskLatencyMax,
		MaxDown:          f.MaxDown,
		MaxRotMachines:   f.MaxRotMachines,

		DiskSyncLatencyMin:       f.DiskSyncLatencyMin,
		DiskSyncLatencyMax:       f.DiskSyncLatencyMax,
		DiskBandwidthBytesPerSec: f.DiskBandwidthBytesPerSec,
	}
}

// String summarises the configuration on one line, naming only what is on:
//
//	lat=1ms+500µs tail=1%/50ms drop=2% part=1s/300ms[sym,iso] crash=3s/1s disk=20µs-100µs[torn] maxdown=1
func (f FaultConfig) String() string {
	var b strings.Builder
	item := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, format, args...)
	}
	item("lat=%v+%v", f.LatencyBase, f.LatencyJitter)
	if f.TailProb > 0 {
		item("tail=%s/%v", pct(f.TailProb), f.TailMax)
	}
	if f.DropProb > 0 {
		item("drop=%s", pct(f.DropProb))
	}
	if f.DupProb > 0 {
		item("dup=%s", pct(f.DupProb))
	}
	if f.GarbleProb > 0 {
		item("garble=%s", pct(f.GarbleProb))
	}
	if f.LinkQueueMax > 0 {
		item("linkq=%d", f.LinkQueueMax)
	}
	if f.PartitionEvery > 0 {
		var kinds []string
		for _, k := range []struct {
			on   bool
			name string
		}{{f.PartitionSymmetric, "sym"}, {f.PartitionOneWay, "oneway"}, {f.PartitionIsolate, "iso"}} {
			if k.on {
				kinds = append(kinds, k.name)
			}
		}
		item("part=%v/%v[%s]", f.PartitionEvery, f.PartitionMax, strings.Join(kinds, ","))
	}
	if f.ClogEvery > 0 {
		item("clog=%v/%v,x%d", f.ClogEvery, f.ClogMax, f.ClogFactor)
	}
	if f.CrashEvery > 0 {
		item("crash=%v/%v", f.CrashEvery, f.RestartDelayMax)
	}
	if f.CrashIOEvery > 0 {
		item("crash-io=%v/%v", f.CrashIOEvery, f.RestartDelayMax)
	}
	if f.PauseEvery > 0 {
		item("pause=%v/%v", f.PauseEvery, f.PauseMax)
	}
	if f.ClockDriftPPMMax > 0 {
		item("drift=%dppm", f.ClockDriftPPMMax)
	}
	item("disk=%v-%v/%v-%v", f.DiskLatencyMin, f.DiskLatencyMax, f.DiskSyncLatencyMin, f.DiskSyncLatencyMax)
	var disk []string
	if f.DiskBandwidthBytesPerSec > 0 {
		disk = append(disk, "bw="+sizeString(f.DiskBandwidthBytesPerSec)+"/s")
	}
	if f.DiskLoseUnsyncedProb > 0 {
		disk = append(disk, "lose="+pct(f.DiskLoseUnsyncedProb))
	}
	if f.DiskTornWrites {
		disk = append(disk, "torn")
	}
	if f.DiskReadErrorProb > 0 {
		disk = append(disk, "rerr="+pct(f.DiskReadErrorProb))
	}
	if f.DiskWriteErrorProb > 0 {
		disk = append(disk, "werr="+pct(f.DiskWriteErrorProb))
	}
	if f.DiskCapacityBytes > 0 {
		disk = append(disk, "cap="+sizeString(f.DiskCapacityBytes))
	}
	if len(disk) > 0 {
		b.WriteString("[" + strings.Join(disk, ",") + "]")
	}
	if f.BitRotEvery > 0 {
		item("rot=%v/%d", f.BitRotEvery, f.BitRotFlipsMax)
	}
	if f.Buggify {
		item("buggify")
	}
	item("maxdown=%d maxrot=%d", f.MaxDown, f.MaxRotMachines)
	return b.String()
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'g', 3, 64) + "GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'g', 3, 64) + "MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'g', 3, 64) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

func pct(p float64) string {
	return strconv.FormatFloat(p*100, 'g', 3, 64) + "%"
}

// knob is one tunable field of FaultConfig, for flags.
type knob struct {
	name, usage string
	field       func(f *FaultConfig) any // pointer to the field
}

var knobs = []knob{
	{"net-latency", "base one-way message latency", func(f *FaultConfig) any { return &f.LatencyBase }},
	{"net-jitter", "extra latency, uniform in [0, jitter)", func(f *FaultConfig) any { return &f.LatencyJitter }},
	{"net-tail-prob", "probability a message takes the long tail", func(f *FaultConfig) any { return &f.TailProb }},
	{"net-tail-max", "long-tail extra latency bound", func(f *FaultConfig) any { return &f.TailMax }},
	{"net-drop", "probability a message is lost", func(f *FaultConfig) any { return &f.DropProb }},
	{"net-dup", "probability a message is duplicated", func(f *FaultConfig) any { return &f.DupProb }},
	{"net-garble", "probability a bit of a message flips", func(f *FaultConfig) any { return &f.GarbleProb }},
	{"net-link-queue", "messages in flight per link (0: default)", func(f *FaultConfig) any { return &f.LinkQueueMax }},
	{"partition-every", "mean interval between partitions (0: none)", func(f *FaultConfig) any { return &f.PartitionEvery }},
	{"partition-max", "longest partition", func(f *FaultConfig) any { return &f.PartitionMax }},
	{"partition-sym", "symmetric partitions", func(f *FaultConfig) any { return &f.PartitionSymmetric }},
	{"partition-oneway", "one-way partitions", func(f *FaultConfig) any { return &f.PartitionOneWay }},
	{"partition-isolate", "one machine isolated", func(f *FaultConfig) any { return &f.PartitionIsolate }},
	{"clog-every", "mean interval between clogged links (0: none)", func(f *FaultConfig) any { return &f.ClogEvery }},
	{"clog-max", "longest clog", func(f *FaultConfig) any { return &f.ClogMax }},
	{"clog-factor", "latency multiplier of a clogged link", func(f *FaultConfig) any { return &f.ClogFactor }},
	{"crash-every", "mean interval between crashes (0: none)", func(f *FaultConfig) any { return &f.CrashEvery }},
	{"restart-max", "longest time a crashed machine stays down", func(f *FaultConfig) any { return &f.RestartDelayMax }},
	{"crash-io-every", "mean interval between crashes aimed at a sync in flight (0: none)", func(f *FaultConfig) any { return &f.CrashIOEvery }},
	{"pause-every", "mean interval between pauses (0: none)", func(f *FaultConfig) any { return &f.PauseEvery }},
	{"pause-max", "longest pause", func(f *FaultConfig) any { return &f.PauseMax }},
	{"clock-drift-ppm", "largest clock rate error, ppm", func(f *FaultConfig) any { return &f.ClockDriftPPMMax }},
	{"disk-lose-unsynced", "probability an unsynced disk operation is lost at a crash", func(f *FaultConfig) any { return &f.DiskLoseUnsyncedProb }},
	{"disk-torn", "unsynced writes may tear at a crash", func(f *FaultConfig) any { return &f.DiskTornWrites }},
	{"disk-read-error", "probability a read fails", func(f *FaultConfig) any { return &f.DiskReadErrorProb }},
	{"disk-write-error", "probability a write, truncate or sync fails", func(f *FaultConfig) any { return &f.DiskWriteErrorProb }},
	{"disk-capacity", "disk size in bytes (0: unlimited)", func(f *FaultConfig) any { return &f.DiskCapacityBytes }},
	{"disk-latency-min", "fastest disk operation", func(f *FaultConfig) any { return &f.DiskLatencyMin }},
	{"disk-latency-max", "slowest disk operation", func(f *FaultConfig) any { return &f.DiskLatencyMax }},
	{"disk-sync-latency-min", "fastest sync", func(f *FaultConfig) any { return &f.DiskSyncLatencyMin }},
	{"disk-sync-latency-max", "slowest sync", func(f *FaultConfig) any { return &f.DiskSyncLatencyMax }},
	{"disk-bandwidth", "disk bytes per second (0: infinite)", func(f *FaultConfig) any { return &f.DiskBandwidthBytesPerSec }},
	{"bitrot-every", "mean interval between bit rot (0: none)", func(f *FaultConfig) any { return &f.BitRotEvery }},
	{"bitrot-flips", "most bits flipped at once", func(f *FaultConfig) any { return &f.BitRotFlipsMax }},
	{"buggify", "code sites misbehave on purpose", func(f *FaultConfig) any { return &f.Buggify }},
	{"max-down", "most machines down, paused or isolated at once", func(f *FaultConfig) any { return &f.MaxDown }},
	{"max-rot-machines", "most machines ever given bit rot", func(f *FaultConfig) any { return &f.MaxRotMachines }},
}

// RegisterFlags defines one flag per knob on fs, all prefixed "fault-"
// (-fault-net-drop=0.1, -fault-crash-every=2s, ...), storing parsed values
// in f. It returns apply, which copies into dst exactly the knobs whose
// flags were set on the command line, so pinned knobs override a swarm and
// the rest keep the swarm's draw:
//
//	var pins sim.FaultConfig
//	apply := pins.RegisterFlags(fs)
//	fs.Parse(args)
//	fc := sim.Swarm(seed, machines)
//	apply(&fc)
//
// Call apply after fs.Parse.
func (f *FaultConfig) RegisterFlags(fs *flag.FlagSet) (apply func(dst *FaultConfig)) {
	byName := make(map[string]knob, len(knobs))
	for _, k := range knobs {
		name := "fault-" + k.name
		byName[name] = k
		switch p := k.field(f).(type) {
		case *time.Duration:
			fs.DurationVar(p, name, *p, k.usage)
		case *float64:
			fs.Float64Var(p, name, *p, k.usage)
		case *int:
			fs.IntVar(p, name, *p, k.usage)
		case *int64:
			fs.Int64Var(p, name, *p, k.usage)
		case *bool:
			fs.BoolVar(p, name, *p, k.usage)
		default:
			panic(fmt.Sprintf("sim: knob %s has unsupported type %T", k.name, p))
		}
	}
	return func(dst *FaultConfig) {
		fs.Visit(func(fl *flag.Flag) {
			k, ok := byName[fl.Name]
			if !ok {
				return
			}
			copyKnob(k.field(dst), k.field(f))
		})
	}
}

func copyKnob(dst, src any) {
	switch d := dst.(type) {
	case *time.Duration:
		*d = *src.(*time.Duration)
	case *float64:
		*d = *src.(*float64)
	case *int:
		*d = *src.(*int)
	case *int64:
		*d = *src.(*int64)
	case *bool:
		*d = *src.(*bool)
	default:
		panic(fmt.Sprintf("sim: knob of unsupported type %T", dst))
	}
}

// Validate reports the first knob with an impossible value: a probability
// outside [0, 1], a negative duration, count or size, or a factor below 1.
// Flags are user input: check them with Validate before NewWorld, which
// panics on an invalid configuration.
func (f FaultConfig) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"TailProb", f.TailProb}, {"DropProb", f.DropProb}, {"DupProb", f.DupProb},
		{"GarbleProb", f.GarbleProb}, {"DiskLoseUnsyncedProb", f.DiskLoseUnsyncedProb},
		{"DiskReadErrorProb", f.DiskReadErrorProb}, {"DiskWriteErrorProb", f.DiskWriteErrorProb},
	} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("sim: fault %s = %v, want a probability in [0, 1]", p.name, p.v)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"LatencyBase", f.LatencyBase}, {"LatencyJitter", f.LatencyJitter}, {"TailMax", f.TailMax},
		{"PartitionEvery", f.PartitionEvery}, {"PartitionMax", f.PartitionMax},
		{"ClogEvery", f.ClogEvery}, {"ClogMax", f.ClogMax}, {"CrashEvery", f.CrashEvery}, {"CrashIOEvery", f.CrashIOEvery},
		{"RestartDelayMax", f.RestartDelayMax}, {"PauseEvery", f.PauseEvery}, {"PauseMax", f.PauseMax},
		{"DiskLatencyMin", f.DiskLatencyMin}, {"DiskLatencyMax", f.DiskLatencyMax},
		{"DiskSyncLatencyMin", f.DiskSyncLatencyMin}, {"DiskSyncLatencyMax", f.DiskSyncLatencyMax},
		{"BitRotEvery", f.BitRotEvery},
	} {
		if d.v < 0 {
			return fmt.Errorf("sim: fault %s = %v, want >= 0", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"LinkQueueMax", int64(f.LinkQueueMax)}, {"ClockDriftPPMMax", int64(f.ClockDriftPPMMax)},
		{"DiskCapacityBytes", f.DiskCapacityBytes}, {"DiskBandwidthBytesPerSec", f.DiskBandwidthBytesPerSec},
		{"BitRotFlipsMax", int64(f.BitRotFlipsMax)}, {"MaxDown", int64(f.MaxDown)},
		{"MaxRotMachines", int64(f.MaxRotMachines)},
	} {
		if n.v < 0 {
			return fmt.Errorf("sim: fault %s = %d, want >= 0", n.name, n.v)
		}
	}
	if f.ClockDriftPPMMax >= 100_000 {
		return fmt.Errorf("sim: fault ClockDriftPPMMax = %d, want < 100000 (10%%)", f.ClockDriftPPMMax)
	}
	if f.ClogEvery > 0 && f.ClogFactor < 1 {
		return fmt.Errorf("sim: fault ClogFactor = %d with clogs on, want >= 1", f.ClogFactor)
	}
	return nil
}
