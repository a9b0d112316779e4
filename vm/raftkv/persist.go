package raftkv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/flockvm/flock/diskmodel"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/wal"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// What a Server persists, under Config.Dir:
//
//	wal/   the write-ahead log: entries, hard states, snapshot markers
//	snap/  <index>.snap: the snapshot the latest marker names
//
// A snapshot file is written atomically and synced before the WAL record
// that names it (the marker); a snapshot file no marker names is a leftover
// of a crash and is removed. A local snapshot's marker drops the entries up
// to its index at replay; an installed (leader-sent) snapshot's marker drops
// every entry before it, since raft replaces the whole log with it. After a
// marker is durable, WAL segments wholly before the first entry still needed
// are removed.
//
// A new member (no Peers) bootstraps with a marker at index 0 and no file:
// an empty state and an empty configuration, until the leader's snapshot
// is installed.

// WAL record types.
const (
	recEntry       uint8 = 1 // index, term, type, data
	recHardState   uint8 = 2 // term, vote, commit
	recSnapLocal   uint8 = 3 // index, term
	recSnapInstall uint8 = 4 // index, term
)

const (
	walDirName  = "wal"
	snapDirName = "snap"
	snapSuffix  = ".snap"
)

// recovered is the durable raft state found at Open.
type recovered struct {
	snap *pb.Snapshot
	hs   *pb.HardState // empty if none was ever written
	ents []*pb.Entry   // snap index+1 ...
}

type persister struct {
	fsys      diskmodel.FS
	syncVia   func(fsync func() error) error // Config.SyncUnlocked, once Open is done
	snapDir   string
	wal       *wal.WAL
	hs        *pb.HardState // last persisted, never nil
	snapIndex uint64

	// entryPos[i] is where entry entryFirst+i lies in the WAL: the cut
	// after a snapshot keeps the first entry past it.
	entryFirst uint64
	entryPos   []wal.Position

	recs  []wal.Record // reused per batch
	poss  []wal.Position
	arena []byte
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// openPersister opens (or bootstraps) the persisted state of a server.
func openPersister(cfg Config) (*persister, recovered, error) {
	snapDir := path.Join(cfg.Dir, snapDirName)
	if err := diskmodel.MkdirAll(cfg.Disk, snapDir); err != nil {
		return nil, recovered{}, fmt.Errorf("raftkv: create %s: %w", snapDir, err)
	}
	opts := wal.Options{
		SegmentSizeBytes:     cfg.WALSegmentSizeBytes,
		SkipSync:             cfg.Bugs.SkipWALSync,
		SkipTornTailTruncate: cfg.Bugs.SkipTornTailTruncate,
		RemoveLiveSegment:    cfg.Bugs.RemoveLiveSegment,
	}
	w, recs, err := wal.Open(cfg.Disk, path.Join(cfg.Dir, walDirName), opts)
	if err != nil {
		if errors.Is(err, wal.ErrCorrupt) {
			return nil, recovered{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, recovered{}, fmt.Errorf("raftkv: open WAL: %w", err)
	}
	p := &persister{fsys: cfg.Disk, snapDir: snapDir, wal: w, hs: &pb.HardState{}}
	rec, err := p.recover(recs, cfg)
	if err != nil {
		w.Close()
		return nil, recovered{}, err
	}
	return p, rec, nil
}

// replayState is the WAL's content folded record by record.
type replayState struct {
	ents       []*pb.Entry
	pos        []wal.Position
	hs         *pb.HardState
	marker     bool
	snapIndex  uint64
	snapTerm   uint64
	markerKind uint8
}

func (p *persister) recover(recs []wal.Record, cfg Config) (recovered, error) {
	st := replayState{hs: &pb.HardState{}}
	for _, rec := range recs {
		if err := st.apply(rec); err != nil {
			return recovered{}, err
		}
	}
	if !st.marker {
		if len(recs) > 0 {
			return recovered{}, corrupt("WAL holds %d records but no snapshot marker", len(recs))
		}
		return p.bootstrap(cfg)
	}
	snap, err := p.loadSnapshot(st.snapIndex, st.snapTerm, cfg)
	if err != nil {
		return recovered{}, err
	}
	if n := len(st.ents); n > 0 && st.ents[0].GetIndex() != st.snapIndex+1 {
		return recovered{}, corrupt("WAL entries start at %d, snapshot is at %d", st.ents[0].GetIndex(), st.snapIndex)
	}
	last := st.snapIndex + uint64(len(st.ents))
	hs := st.hs
	if !raft.IsEmptyHardState(hs) {
		if hs.GetCommit() > last {
			return recovered{}, corrupt("hard state commits %d beyond the last entry %d", hs.GetCommit(), last)
		}
		if hs.GetCommit() < st.snapIndex {
			hs.Commit = new(st.snapIndex) // a snapshot only holds committed state
		}
	}
	p.hs, p.snapIndex = hs, st.snapIndex
	p.entryFirst, p.entryPos = st.snapIndex+1, st.pos
	if err := p.removeSnapshotsExcept(st.snapIndex); err != nil {
		return recovered{}, err
	}
	return recovered{snap: snap, hs: hs, ents: st.ents}, nil
}

func (st *replayState) apply(rec wal.Record) error {
	d := decoder{buf: rec.Data}
	switch rec.Type {
	case recEntry:
		e := &pb.Entry{Index: new(d.u64("index")), Term: new(d.u64("term"))}
		typ := d.u8("type")
		e.Type = pb.EntryType(typ).Enum()
		if len(d.buf) > 0 {
			e.Data = d.buf
		}
		d.buf = nil
		if d.err == nil && typ != byte(pb.EntryNormal) && typ != byte(pb.EntryConfChangeV2) {
			d.fail("entry type %d", typ)
		}
		if d.err == nil {
			return st.appendEntry(e, rec.Pos)
		}
	case recHardState:
		hs := &pb.HardState{Term: new(d.u64("term")), Vote: new(d.u64("vote")), Commit: new(d.u64("commit"))}
		if d.finish("hard state") == nil {
			if hs.GetTerm() < st.hs.GetTerm() || hs.GetCommit() < st.hs.GetCommit() {
				return corrupt("WAL %v: hard state (term %d, commit %d) goes back from (%d, %d)",
					rec.Pos, hs.GetTerm(), hs.GetCommit(), st.hs.GetTerm(), st.hs.GetCommit())
			}
			st.hs = hs
		}
	case recSnapLocal, recSnapInstall:
		index, term := d.u64("index"), d.u64("term")
		if d.finish("snapshot marker") == nil {
			st.marker, st.snapIndex, st.snapTerm, st.markerKind = true, index, term, rec.Type
			st.dropThrough(index, rec.Type == recSnapInstall)
		}
	default:
		d.fail("record type %d", rec.Type)
	}
	if d.err != nil {
		return corrupt("WAL record at %v: %v", rec.Pos, d.err)
	}
	return nil
}

// appendEntry folds an appended entry in: like raft's log, it replaces
// every entry from its index on.
func (st *replayState) appendEntry(e *pb.Entry, pos wal.Position) error {
	if n := len(st.ents); n > 0 {
		first, last := st.ents[0].GetIndex(), st.ents[n-1].GetIndex()
		switch {
		case e.GetIndex() > last+1:
			return corrupt("WAL %v: entry %d after entry %d leaves a gap", pos, e.GetIndex(), last)
		case e.GetIndex() < first:
			st.ents, st.pos = st.ents[:0], st.pos[:0]
		default:
			st.ents, st.pos = st.ents[:e.GetIndex()-first], st.pos[:e.GetIndex()-first]
		}
	}
	// An entry may follow a marker with a gap: a later snapshot's cut can
	// remove what lay between. Only the last marker must meet the entries.
	st.ents = append(st.ents, e)
	st.pos = append(st.pos, pos)
	return nil
}

// dropThrough drops the entries a snapshot at index replaces: up to index,
// or all of them for an installed snapshot.
func (st *replayState) dropThrough(index uint64, all bool) {
	if all || len(st.ents) == 0 || st.ents[len(st.ents)-1].GetIndex() <= index {
		st.ents, st.pos = nil, nil
		return
	}
	if first := st.ents[0].GetIndex(); first <= index {
		st.ents, st.pos = st.ents[index+1-first:], st.pos[index+1-first:]
	}
}

// bootstrap persists the initial state of a replica on an empty disk. A
// member of a new group (Peers) gets a snapshot at index 1, term 1 that
// carries only the voters (LIBRARIES.md); a new member of an existing
// group gets an empty one at index 0, replaced by the leader's.
func (p *persister) bootstrap(cfg Config) (recovered, error) {
	if len(cfg.Peers) == 0 {
		p.startBatch(0, 0)
		p.addMarker(recSnapLocal, 0, 0)
		if _, err := p.wal.Append(p.poss[:0], p.recs); err != nil {
			return recovered{}, fmt.Errorf("raftkv: append to WAL: %w", err)
		}
		if err := p.wal.Sync(); err != nil {
			return recovered{}, fmt.Errorf("raftkv: sync WAL: %w", err)
		}
		p.entryFirst = 1
		return recovered{snap: emptySnapshot(), hs: &pb.HardState{}}, nil
	}
	conf := &pb.ConfState{Voters: sortedVoters(cfg.Peers), AutoLeave: new(false)}
	sm := newStateMachine(cfg.limits())
	sm.applied, sm.appliedTerm, sm.conf, sm.confIndex = 1, 1, conf, 1
	snap := &pb.Snapshot{Data: sm.encode(), Metadata: &pb.SnapshotMetadata{
		Index: new(uint64(1)), Term: new(uint64(1)), ConfState: conf,
	}}
	if err := p.save(snap, nil, nil, true); err != nil {
		return recovered{}, err
	}
	return recovered{snap: snap, hs: &pb.HardState{}}, nil
}

// emptySnapshot is a new member's state before the leader's snapshot.
func emptySnapshot() *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(0)), Term: new(uint64(0)), ConfState: pb.EnsureConfState(nil)}}
}

func sortedVoters(peers []netmodel.NodeID) []uint64 {
	voters := make([]uint64, len(peers))
	for i, id := range peers {
		voters[i] = uint64(id)
	}
	slices.Sort(voters)
	return voters
}

func snapName(index uint64) string { return fmt.Sprintf("%016x%s", index, snapSuffix) }

// loadSnapshot reads the snapshot the latest marker names (none for a new
// member's marker at index 0).
func (p *persister) loadSnapshot(index, term uint64, cfg Config) (*pb.Snapshot, error) {
	if index == 0 {
		if term != 0 {
			return nil, corrupt("snapshot marker at index 0 with term %d", term)
		}
		return emptySnapshot(), nil
	}
	name := path.Join(p.snapDir, snapName(index))
	b, err := diskmodel.ReadFile(p.fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, corrupt("snapshot %s named by the WAL is missing", name)
	}
	if err != nil {
		return nil, fmt.Errorf("raftkv: read %s: %w", name, err)
	}
	sf, err := decodeSnapFile(b)
	if err != nil {
		return nil, corrupt("snapshot %s: %v", name, err)
	}
	if sf.index != index || sf.term != term {
		return nil, corrupt("snapshot %s holds (index %d, term %d), the WAL names (%d, %d)", name, sf.index, sf.term, index, term)
	}
	sm, err := decodeState(sf.data, sf.conf, cfg.limits())
	if err != nil {
		return nil, corrupt("snapshot %s: %v", name, err)
	}
	if sm.applied != sf.index {
		return nil, corrupt("snapshot %s holds a state applied to %d", name, sm.applied)
	}
	return &pb.Snapshot{Data: sf.data, Metadata: &pb.SnapshotMetadata{
		Index: new(sf.index), Term: new(sf.term), ConfState: sf.conf,
	}}, nil
}

// removeSnapshotsExcept removes every snapshot file but the one at keep.
func (p *persister) removeSnapshotsExcept(keep uint64) error {
	infos, err := p.fsys.ReadDir(p.snapDir)
	if err != nil {
		return fmt.Errorf("raftkv: list %s: %w", p.snapDir, err)
	}
	removed := false
	for _, info := range infos {
		if info.IsDir || info.Name == snapName(keep) {
			continue
		}
		if err := p.fsys.Remove(path.Join(p.snapDir, info.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("raftkv: remove %s: %w", info.Name, err)
		}
		removed = true
	}
	if removed {
		if err := p.fsys.SyncDir(p.snapDir); err != nil {
			return fmt.Errorf("raftkv: sync %s: %w", p.snapDir, err)
		}
	}
	return nil
}

func (p *persister) writeSnapshotFile(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	b := encodeSnapFile(snapFile{index: md.GetIndex(), term: md.GetTerm(), conf: md.GetConfState(), data: snap.GetData()})
	name := path.Join(p.snapDir, snapName(md.GetIndex()))
	if err := diskmodel.WriteFileAtomic(p.fsys, name, b); err != nil {
		return fmt.Errorf("raftkv: write %s: %w", name, err)
	}
	return nil
}

// save persists one Ready: an installed snapshot, new entries, a new hard
// state. It syncs when raft requires it (mustSync) or a snapshot arrived.
func (p *persister) save(snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState, mustSync bool) error {
	fsync, err := p.saveStart(snap, ents, hs, mustSync)
	if err != nil {
		return err
	}
	var syncErr error
	if fsync != nil {
		syncErr = runSync(p.syncVia, fsync)
	}
	return p.saveFinish(snap, hs, fsync != nil, syncErr)
}

// runSync runs fsync through via (Config.SyncUnlocked), or directly.
func runSync(via func(fsync func() error) error, fsync func() error) error {
	if via == nil {
		return fsync()
	}
	return via(fsync)
}

// saveStart is save up to its sync: it writes the Ready to the WAL and
// returns the fsync it needs (nil: none), which the caller runs (on any
// goroutine) and reports to saveFinish; nothing is written meanwhile.
func (p *persister) saveStart(snap *pb.Snapshot, ents []*pb.Entry, hs *pb.HardState, mustSync bool) (func() error, error) {
	install := !raft.IsEmptySnap(snap)
	if install {
		if err := p.writeSnapshotFile(snap); err != nil {
			return nil, err
		}
	}
	p.startBatch(len(ents), entsBytes(ents))
	if install {
		p.addMarker(recSnapInstall, snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm())
	}
	for _, e := range ents {
		p.addEntry(e)
	}
	if !raft.IsEmptyHardState(hs) {
		p.addHardState(hs)
	}
	if len(p.recs) == 0 {
		return nil, nil
	}
	var err error
	if p.poss, err = p.wal.Append(p.poss[:0], p.recs); err != nil {
		return nil, fmt.Errorf("raftkv: append to WAL: %w", err)
	}
	if install {
		p.snapIndex = snap.GetMetadata().GetIndex()
		p.entryFirst, p.entryPos = p.snapIndex+1, p.entryPos[:0]
	}
	p.notePositions(ents, p.poss[len(p.poss)-len(p.recs):])
	if !mustSync && !install {
		return nil, nil
	}
	fsync, err := p.wal.SyncStart()
	if err != nil {
		return nil, fmt.Errorf("raftkv: sync WAL: %w", err)
	}
	return fsync, nil
}

// saveFinish ends save once its sync (if saveStart returned one: synced)
// returned syncErr.
func (p *persister) saveFinish(snap *pb.Snapshot, hs *pb.HardState, synced bool, syncErr error) error {
	if synced {
		if err := p.wal.SyncFinish(syncErr); err != nil {
			return fmt.Errorf("raftkv: sync WAL: %w", err)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		p.hs = hs
	}
	if !raft.IsEmptySnap(snap) && len(p.poss) > 0 {
		return p.compact(p.poss[0])
	}
	return nil
}

// saveLocalSnapshot persists a snapshot this server took of its own state
// and compacts the WAL behind it.
func (p *persister) saveLocalSnapshot(snap *pb.Snapshot) error {
	if err := p.writeSnapshotFile(snap); err != nil {
		return err
	}
	index := snap.GetMetadata().GetIndex()
	p.startBatch(0, 0)
	p.addMarker(recSnapLocal, index, snap.GetMetadata().GetTerm())
	if !raft.IsEmptyHardState(p.hs) {
		p.addHardState(p.hs) // the cut may remove the last one
	}
	var err error
	if p.poss, err = p.wal.Append(p.poss[:0], p.recs); err != nil {
		return fmt.Errorf("raftkv: append to WAL: %w", err)
	}
	if err := p.wal.SyncVia(p.syncVia); err != nil {
		return fmt.Errorf("raftkv: sync WAL: %w", err)
	}
	cut := p.poss[0]
	if index < p.entryFirst || index-p.entryFirst >= uint64(len(p.entryPos)) {
		panic(fmt.Sprintf("raftkv: local snapshot at %d outside the persisted entries [%d, %d)",
			index, p.entryFirst, p.entryFirst+uint64(len(p.entryPos))))
	}
	keep := p.entryPos[index+1-p.entryFirst:]
	if len(keep) > 0 && keep[0].Less(cut) {
		cut = keep[0]
	}
	p.entryPos = slices.Clone(keep)
	p.entryFirst, p.snapIndex = index+1, index
	return p.compact(cut)
}

// compact removes what the snapshot at p.snapIndex made unnecessary: WAL
// segments wholly before cut and older snapshot files.
func (p *persister) compact(cut wal.Position) error {
	if err := p.wal.RemoveBefore(cut); err != nil {
		return fmt.Errorf("raftkv: compact WAL: %w", err)
	}
	return p.removeSnapshotsExcept(p.snapIndex)
}

// notePositions records where the just appended entries lie.
func (p *persister) notePositions(ents []*pb.Entry, poss []wal.Position) {
	if len(ents) == 0 {
		return
	}
	// The entry records precede the hard state record and follow a marker.
	offset := 0
	if len(poss) > len(ents) && p.recs[0].Type != recEntry {
		offset = 1
	}
	for i, e := range ents {
		idx := e.GetIndex()
		switch {
		case len(p.entryPos) == 0 || idx < p.entryFirst:
			p.entryFirst, p.entryPos = idx, p.entryPos[:0]
		case idx > p.entryFirst+uint64(len(p.entryPos)):
			panic(fmt.Sprintf("raftkv: appending entry %d leaves a gap after %d", idx, p.entryFirst+uint64(len(p.entryPos))-1))
		default:
			p.entryPos = p.entryPos[:idx-p.entryFirst]
		}
		p.entryPos = append(p.entryPos, poss[offset+i])
	}
}

func entsBytes(ents []*pb.Entry) int {
	n := 0
	for _, e := range ents {
		n += 17 + len(e.GetData())
	}
	return n
}

// startBatch resets the batch; the arena gets room for every record's data
// so the slices handed to the WAL stay valid while it is filled.
func (p *persister) startBatch(entries, entryBytes int) {
	p.recs = p.recs[:0]
	need := entryBytes + 2*24 + entries
	if cap(p.arena) < need {
		p.arena = make([]byte, 0, need)
	}
	p.arena = p.arena[:0]
}

func (p *persister) add(typ uint8, start int) {
	p.recs = append(p.recs, wal.Record{Type: typ, Data: p.arena[start:len(p.arena):len(p.arena)]})
}

func (p *persister) addEntry(e *pb.Entry) {
	start := len(p.arena)
	p.arena = binary.LittleEndian.AppendUint64(p.arena, e.GetIndex())
	p.arena = binary.LittleEndian.AppendUint64(p.arena, e.GetTerm())
	p.arena = append(p.arena, byte(e.GetType()))
	p.arena = append(p.arena, e.GetData()...)
	p.add(recEntry, start)
}

func (p *persister) addHardState(hs *pb.HardState) {
	start := len(p.arena)
	p.arena = binary.LittleEndian.AppendUint64(p.arena, hs.GetTerm())
	p.arena = binary.LittleEndian.AppendUint64(p.arena, hs.GetVote())
	p.arena = binary.LittleEndian.AppendUint64(p.arena, hs.GetCommit())
	p.add(recHardState, start)
}

func (p *persister) addMarker(typ uint8, index, term uint64) {
	start := len(p.arena)
	p.arena = binary.LittleEndian.AppendUint64(p.arena, index)
	p.arena = binary.LittleEndian.AppendUint64(p.arena, term)
	p.add(typ, start)
}
