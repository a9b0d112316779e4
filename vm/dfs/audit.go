package dfs

import (
	"fmt"
	"strings"

	"github.com/flockvm/flock/vm/raftkv"
)

// MetaPrefix is the prefix of every key the filesystem keeps in the store.
const MetaPrefix = keyPrefix

// AuditReport is what Audit found.
type AuditReport struct {
	Files  int
	Chunks int
	Copies int // good copies named by records
	// Lost lists chunks of which no machine up holds a good copy (with
	// the redundancy of their directory), e.g. "ino/3 (R=1)".
	Lost []string
	// Violation is the first chunk whose redundancy does not hold: a
	// record naming more or fewer than R machines, a machine that is down,
	// or a copy missing or bad. Lost chunks are not violations.
	Violation string
}

// Audit checks redundancy from outside the protocol: pairs are every key
// under MetaPrefix (one linearizable scan of the store), service gives the
// Service of a machine up (nil if it is down). Every chunk of every file
// must be named by its record on exactly R distinct machines, each up and
// holding a good copy (checksum verified) of the record's generation.
func Audit(pairs []raftkv.KV, service func(machine uint64) *Service) AuditReport {
	var rep AuditReport
	dirs := map[ID]uint8{}
	for _, kv := range pairs {
		if strings.HasPrefix(kv.Key, keyDirPrefix) {
			ino, err1 := parseID(kv.Key[len(keyDirPrefix):])
			rec, err2 := decodeDir(kv.Value)
			if err1 == nil && err2 == nil {
				dirs[ino] = rec.redundancy
			}
		}
	}
	var r uint8
	for _, kv := range pairs {
		k, err := parseFileKey(kv.Key)
		if err != nil {
			continue
		}
		switch k.kind {
		case 'f':
			rep.Files++
			rec, err := decodeFile(kv.Value)
			if err != nil {
				rep.violation("file %v: %v", k.ino, err)
				continue
			}
			r = dirs[rec.dir]
		case 'k':
			rep.Chunks++
			rec, err := decodeChunk(kv.Value)
			if err != nil {
				rep.violation("chunk %v/%d: %v", k.ino, k.idx, err)
				continue
			}
			rep.auditChunk(chunkRef{ino: k.ino, idx: k.idx, gen: rec.gen}, rec, r, service)
		}
	}
	return rep
}

func (rep *AuditReport) violation(format string, args ...any) {
	if rep.Violation == "" {
		rep.Violation = fmt.Sprintf(format, args...)
	}
}

func (rep *AuditReport) auditChunk(ref chunkRef, rec chunkRecord, r uint8, service func(uint64) *Service) {
	good, problem := 0, ""
	for _, m := range rec.replicas {
		s := service(m)
		if s == nil {
			problem = fmt.Sprintf("replica %d is down", m)
			continue
		}
		if st := s.store.check(ref, rec.crc); st != storeOK {
			problem = fmt.Sprintf("replica %d's copy is %v", m, st)
			continue
		}
		good++
	}
	rep.Copies += good
	switch {
	case good == 0:
		rep.Lost = append(rep.Lost, fmt.Sprintf("%v/%d (R=%d)", ref.ino, ref.idx, r))
	case problem != "":
		rep.violation("chunk %v/%d generation %v: %s (record names %v, R=%d)", ref.ino, ref.idx, ref.gen, problem, rec.replicas, r)
	case len(rec.replicas) != int(r):
		rep.violation("chunk %v/%d generation %v: record names %v, R=%d", ref.ino, ref.idx, ref.gen, rec.replicas, r)
	}
}
