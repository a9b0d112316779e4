package dfs

import (
	"slices"
	"strconv"
	"strings"

	"github.com/flockvm/flock/vm/raftkv"
)

// placement is this Service's view of what each machine provides and uses
// (fs/m/), reread periodically, plus what it placed since.
type placement struct {
	recs     map[uint64]machineRecord
	reserved map[uint64]uint64
	at       uint64
	busy     bool
	ready    bool
	waiters  []func()
}

// machinesMax bounds the machine records read.
const machinesMax = 1000

func (p *placement) maybeRefresh(s *Service) {
	if p.busy || (p.ready && s.ticks < p.at+uint64(s.cfg.PlacementEveryTicks)) {
		return
	}
	p.refresh(s)
}

// placementStaleTicks: a placement that found too few machines rereads
// the records if they are older than this.
const placementStaleTicks = 10

// refreshThen rereads the machine records if they are not fresh, then runs
// fn; it reports whether it will.
func (p *placement) refreshThen(s *Service, fn func()) bool {
	if s.ticks < p.at+placementStaleTicks {
		return false
	}
	p.waiters = append(p.waiters, fn)
	if !p.busy {
		p.refresh(s)
	}
	return true
}

func (p *placement) refresh(s *Service) {
	p.busy = true
	s.meta.read([]rangeSpec{prefixRange(keyMachinePrefix, machinesMax)}, func(r metaResult) {
		p.busy = false
		if r.err != nil {
			return
		}
		p.recs, p.reserved, p.at, p.ready = parseMachines(r.pairs), map[uint64]uint64{}, s.ticks, true
		waiting := p.waiters
		p.waiters = nil
		for _, fn := range waiting {
			fn()
		}
	})
}

func parseMachines(pairs []raftkv.KV) map[uint64]machineRecord {
	recs := map[uint64]machineRecord{}
	for _, kv := range pairs {
		id, err := strconv.ParseUint(strings.TrimPrefix(kv.Key, keyMachinePrefix), 16, 64)
		rec, err2 := decodeMachine(kv.Value)
		if err == nil && err2 == nil && id != 0 {
			recs[id] = rec
		}
	}
	return recs
}

// whenReady runs fn once machine records have been read.
func (p *placement) whenReady(fn func()) {
	if p.ready {
		fn()
		return
	}
	p.waiters = append(p.waiters, fn)
}

func (p *placement) free(m uint64) uint64 {
	rec, ok := p.recs[m]
	if !ok {
		return 0
	}
	f := rec.freeBytes()
	if r := p.reserved[m]; r < f {
		return f - r
	}
	return 0
}

// choose picks up to n machines to hold a chunk file of sizeBytes: the
// preferred machines that are up and provide disk, in order, then the up
// machines with the most free space (ties broken at random), skipping
// excluded ones. It reserves the space it hands out.
func (s *Service) choose(n int, prefer []uint64, exclude map[uint64]bool, sizeBytes uint64) []uint64 {
	p := &s.place
	var out []uint64
	taken := func(m uint64) bool { return exclude[m] || slices.Contains(out, m) }
	for _, m := range prefer {
		if len(out) < n && s.isUp(m) && !taken(m) && p.recs[m].quotaBytes > 0 {
			out = append(out, m)
		}
	}
	type cand struct {
		m, free, tie uint64
	}
	var cands []cand
	for _, m := range s.upMachines() {
		if !taken(m) && p.free(m) >= sizeBytes {
			cands = append(cands, cand{m: m, free: p.free(m), tie: s.cfg.Rand.Uint64()})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.free != b.free:
			return cmpDesc(a.free, b.free)
		case a.tie != b.tie:
			return cmpDesc(a.tie, b.tie)
		}
		return cmpDesc(b.m, a.m)
	})
	for _, c := range cands {
		if len(out) == n {
			break
		}
		out = append(out, c.m)
	}
	for _, m := range out {
		p.reserved[m] += sizeBytes
	}
	return out
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// prefixRange is the range of keys under prefix.
func prefixRange(prefix string, limit int) rangeSpec {
	r := raftkv.PrefixRange(prefix, limit)
	return rangeSpec{start: r.Start, end: r.End, limit: limit}
}
