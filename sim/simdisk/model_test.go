package simdisk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flockvm/flock/diskmodel"
	"pgregory.net/rapid"
)

// This file holds a reference model of the crash contract, written without
// looking at how Disk implements it: per file the durable image and every
// volatile image since, per directory entry the durable state and the log of
// namespace operations since. After a Crash the model accepts what the disk
// shows only if it is an outcome a real disk could produce:
//
//   - the namespace is what replaying, in order, some subset of the logged
//     operations onto the durable namespace gives, each valid when replayed,
//     the subset containing every operation synced in all its directories
//     that is valid at its turn (one in a directory whose creation was lost,
//     or after an unsynced operation on the same entry that was lost, cannot
//     be replayed and is not required);
//   - each file's size is its durable size or its size after some pending
//     op k (or, if op k was a write that grew the file and writes may tear,
//     a sector boundary between its size before and after), and each 512-byte
//     sector holds what it held durably or after some pending op up to k (cut
//     at the size): no invented bytes, no lost synced bytes;
//   - with no loss and no tearing configured, exactly the volatile state.
//
// On a timed disk (SetClock) a sync counts only once the device finished
// it (its completion is BusyUntil right after the call), and an operation
// the device had not started at the crash (issued after it) never happened:
// the model leaves it out of every outcome.

const modelRoot = 1

// nsState maps each existing directory to its entries (name -> inode).
type nsState map[int]map[string]int

func (s nsState) clone() nsState {
	c := make(nsState, len(s))
	for dir, entries := range s {
		e := make(map[string]int, len(entries))
		for name, ino := range entries {
			e[name] = ino
		}
		c[dir] = e
	}
	return c
}

func (s nsState) parents() map[int]int {
	p := make(map[int]int)
	for dir, entries := range s {
		for _, ino := range entries {
			p[ino] = dir
		}
	}
	return p
}

// isAncestorOrSelf reports whether a is x or an ancestor of x.
func (s nsState) isAncestorOrSelf(a, x int) bool {
	p := s.parents()
	for i := 0; x != 0 && i <= len(p)+1; i++ {
		if x == a {
			return true
		}
		x = p[x]
	}
	return false
}

// flatten lists every path below the root with its inode.
func (s nsState) flatten() map[string]int {
	out := make(map[string]int)
	var walk func(dir int, prefix string, depth int)
	walk = func(dir int, prefix string, depth int) {
		if depth > 64 {
			panic("model: namespace cycle")
		}
		for name, ino := range s[dir] {
			p := path.Join(prefix, name)
			out[p] = ino
			if _, isDir := s[ino]; isDir {
				walk(ino, p, depth+1)
			}
		}
	}
	walk(modelRoot, "", 0)
	return out
}

type mKind int

const (
	mCreate mKind = iota
	mMkdir
	mRemove
	mRename
)

type mOp struct {
	issued           time.Duration // when the device started it (timed disks)
	kind             mKind
	srcDir, dstDir   int
	srcName, dstName string
	ino, replaced    int
	dirs             []int
	synced           []bool
}

func (o *mOp) allSynced() bool {
	for _, s := range o.synced {
		if !s {
			return false
		}
	}
	return true
}

func (o *mOp) String() string {
	return fmt.Sprintf("%s{src=%d/%s dst=%d/%s ino=%d repl=%d synced=%v}",
		[...]string{"create", "mkdir", "remove", "rename"}[o.kind], o.srcDir, o.srcName, o.dstDir, o.dstName, o.ino, o.replaced, o.synced)
}

type mFile struct {
	durable []byte
	hist    [][]byte        // the volatile image after each pending op
	issued  []time.Duration // when the device started each pending op
	write   []bool          // whether each pending op was a write (which may tear)
	flushed int             // pending ops made durable by completed syncs, ever
}

func (f *mFile) current() []byte {
	if len(f.hist) > 0 {
		return f.hist[len(f.hist)-1]
	}
	return f.durable
}

func (f *mFile) push(img []byte, issued time.Duration, write bool) {
	f.hist = append(f.hist, img)
	f.issued = append(f.issued, issued)
	f.write = append(f.write, write)
}

// flushTo makes the pending ops up to absolute number upTo durable.
func (f *mFile) flushTo(upTo int) {
	k := upTo - f.flushed
	if k <= 0 {
		return
	}
	f.durable, f.hist, f.issued, f.write = f.hist[k-1], f.hist[k:], f.issued[k:], f.write[k:]
	f.flushed = upTo
}

// mSync is a Sync or SyncDir a timed disk has not finished.
type mSync struct {
	done time.Duration
	file *mFile // Sync: pending ops up to upTo become durable
	upTo int
	dir  int    // SyncDir: the directory, for ops
	ops  []*mOp // the ops logged before the SyncDir
}

type mHandle struct {
	f    diskmodel.File
	ino  int
	name string
}

type refModel struct {
	isDir    map[int]bool
	files    map[int]*mFile
	nextIno  int
	dur, vol nsState
	ops      []*mOp
	handles  []mHandle
	stale    []mHandle
	inflight []mSync       // timed disks: syncs not finished, oldest first
	cut      time.Duration // the crash being judged: ops issued after it never happened
	timed    bool
	torn     bool // the disk tears writes
	// nextIssue is the issue time of the operation about to be made: the
	// test sets it from the disk's clock and BusyUntil before each call.
	nextIssue time.Duration
}

func newRefModel() *refModel {
	return &refModel{
		isDir:   map[int]bool{modelRoot: true},
		files:   make(map[int]*mFile),
		nextIno: modelRoot + 1,
		dur:     nsState{modelRoot: {}},
		vol:     nsState{modelRoot: {}},
	}
}

func (m *refModel) resolve(name string) (parent int, base string, target int, err error) {
	if name == "." {
		return 0, ".", modelRoot, nil
	}
	elems := strings.Split(name, "/")
	dir := modelRoot
	for _, e := range elems[:len(elems)-1] {
		c, ok := m.vol[dir][e]
		if !ok {
			return 0, "", 0, syscall.ENOENT
		}
		if !m.isDir[c] {
			return 0, "", 0, syscall.ENOTDIR
		}
		dir = c
	}
	base = elems[len(elems)-1]
	return dir, base, m.vol[dir][base], nil
}

func (m *refModel) log(op *mOp) {
	op.issued = m.nextIssue
	op.synced = make([]bool, len(op.dirs))
	if !m.valid(m.vol, op) {
		panic(fmt.Sprintf("model: logged op %v invalid on the volatile state", op))
	}
	m.apply(m.vol, op)
	m.ops = append(m.ops, op)
}

func (m *refModel) unsyncedOps() int {
	n := 0
	for _, op := range m.ops {
		if !op.allSynced() {
			n++
		}
	}
	return n
}

func (m *refModel) open(name string, mode diskmodel.OpenMode) (int, error) {
	parent, base, target, err := m.resolve(name)
	switch {
	case err != nil:
		return 0, err
	case target != 0 && mode == diskmodel.CreateExclusive:
		return 0, syscall.EEXIST
	case target != 0 && m.isDir[target]:
		return 0, syscall.EISDIR
	case target != 0:
		return target, nil
	case mode == diskmodel.OpenExisting:
		return 0, syscall.ENOENT
	}
	ino := m.nextIno
	m.nextIno++
	m.files[ino] = &mFile{}
	m.log(&mOp{kind: mCreate, dstDir: parent, dstName: base, ino: ino, dirs: []int{parent}})
	return ino, nil
}

func (m *refModel) mkdir(name string) error {
	parent, base, target, err := m.resolve(name)
	switch {
	case err != nil:
		return err
	case target != 0:
		return syscall.EEXIST
	}
	ino := m.nextIno
	m.nextIno++
	m.isDir[ino] = true
	m.log(&mOp{kind: mMkdir, dstDir: parent, dstName: base, ino: ino, dirs: []int{parent}})
	return nil
}

func (m *refModel) remove(name string) error {
	parent, base, target, err := m.resolve(name)
	switch {
	case err != nil:
		return err
	case parent == 0:
		return syscall.EINVAL
	case target == 0:
		return syscall.ENOENT
	case m.isDir[target] && len(m.vol[target]) > 0:
		return syscall.ENOTEMPTY
	}
	m.log(&mOp{kind: mRemove, srcDir: parent, srcName: base, ino: target, dirs: []int{parent}})
	return nil
}

func (m *refModel) rename(oldname, newname string) error {
	oldParent, oldBase, moved, err := m.resolve(oldname)
	if err != nil {
		return err
	}
	newParent, newBase, replaced, err := m.resolve(newname)
	switch {
	case err != nil:
		return err
	case oldParent == 0 || newParent == 0:
		return syscall.EINVAL
	case moved == 0:
		return syscall.ENOENT
	case moved == replaced:
		return nil
	case replaced != 0 && m.isDir[replaced]:
		return syscall.EEXIST
	case replaced != 0 && m.isDir[moved]:
		return syscall.ENOTDIR
	case m.isDir[moved] && m.vol.isAncestorOrSelf(moved, newParent):
		return syscall.EINVAL
	}
	dirs := []int{oldParent}
	if newParent != oldParent {
		dirs = append(dirs, newParent)
	}
	m.log(&mOp{kind: mRename, srcDir: oldParent, srcName: oldBase, dstDir: newParent, dstName: newBase,
		ino: moved, replaced: replaced, dirs: dirs})
	return nil
}

func (m *refModel) syncDir(name string) error {
	_, _, target, err := m.resolve(name)
	switch {
	case err != nil:
		return err
	case target == 0:
		return syscall.ENOENT
	case !m.isDir[target]:
		return syscall.ENOTDIR
	}
	for _, op := range m.ops {
		for i, d := range op.dirs {
			if d == target {
				op.synced[i] = true
			}
		}
	}
	return nil
}

// valid reports whether op can be replayed on s, doing what it did when it
// was logged.
func (m *refModel) valid(s nsState, op *mOp) bool {
	switch op.kind {
	case mCreate, mMkdir:
		entries, ok := s[op.dstDir]
		return ok && entries[op.dstName] == 0
	case mRemove:
		if s[op.srcDir][op.srcName] != op.ino {
			return false
		}
		entries, ok := s[op.ino]
		return !m.isDir[op.ino] || ok && len(entries) == 0
	case mRename:
		entries, ok := s[op.dstDir]
		if s[op.srcDir][op.srcName] != op.ino || !ok || entries[op.dstName] != op.replaced {
			return false
		}
		if op.replaced != 0 && m.isDir[op.replaced] {
			return false
		}
		return !m.isDir[op.ino] || !s.isAncestorOrSelf(op.ino, op.dstDir)
	}
	panic("model: unknown op kind")
}

func (m *refModel) apply(s nsState, op *mOp) {
	switch op.kind {
	case mCreate:
		s[op.dstDir][op.dstName] = op.ino
	case mMkdir:
		s[op.dstDir][op.dstName] = op.ino
		s[op.ino] = map[string]int{}
	case mRemove:
		delete(s[op.srcDir], op.srcName)
		delete(s, op.ino) // no-op for a file
	case mRename:
		delete(s[op.srcDir], op.srcName)
		s[op.dstDir][op.dstName] = op.ino
	}
}

// finishSyncs applies every sync the device finished by now.
func (m *refModel) finishSyncs(now time.Duration) {
	n := 0
	for ; n < len(m.inflight) && m.inflight[n].done <= now; n++ {
		s := m.inflight[n]
		if s.file != nil {
			s.file.flushTo(s.upTo)
			continue
		}
		for _, op := range s.ops {
			for i, d := range op.dirs {
				if d == s.dir {
					op.synced[i] = true
				}
			}
		}
	}
	m.inflight = m.inflight[n:]
}

// anyNever reports whether some pending operation had not started at the
// crash being judged.
func (m *refModel) anyNever() bool {
	for _, op := range m.ops {
		if m.never(op.issued) {
			return true
		}
	}
	for _, f := range m.files {
		for _, at := range f.issued {
			if m.never(at) {
				return true
			}
		}
	}
	return false
}

// never reports whether an op issued then had not started at the crash.
func (m *refModel) never(issued time.Duration) bool { return m.timed && issued > m.cut }

// crashOutcomes lists every namespace a crash may leave.
func (m *refModel) crashOutcomes() []nsState {
	var leaves []nsState
	var dfs func(i int, s nsState)
	dfs = func(i int, s nsState) {
		if i == len(m.ops) {
			leaves = append(leaves, s)
			return
		}
		op := m.ops[i]
		valid := m.valid(s, op)
		if !op.allSynced() || !valid || m.never(op.issued) {
			dfs(i+1, s)
		}
		if valid && !m.never(op.issued) {
			next := s.clone()
			m.apply(next, op)
			dfs(i+1, next)
		}
	}
	dfs(0, m.dur.clone())
	return leaves
}

// fileAllowed explains why got cannot be file ino's content after a crash,
// or returns "".
func (m *refModel) fileAllowed(ino int, got []byte) string {
	f := m.files[ino]
	size := len(got)
	kmax := -2
	if len(f.durable) == size {
		kmax = -1
	}
	for i, h := range f.hist {
		if !m.never(f.issued[i]) && (len(h) == size || m.tornSize(f, i, size)) {
			kmax = i
		}
	}
	if kmax == -2 {
		sizes := []int{}
		for _, h := range f.hist {
			sizes = append(sizes, len(h))
		}
		return fmt.Sprintf("size %d is neither the durable size %d nor a pending size %v", size, len(f.durable), sizes)
	}
	for lo := 0; lo < size; lo += diskmodel.SectorSize {
		hi := min(lo+diskmodel.SectorSize, size)
		ok := sectorEqual(f.durable, got, lo, hi)
		for i := 0; i <= kmax && !ok; i++ {
			ok = sectorEqual(f.hist[i], got, lo, hi)
		}
		if !ok {
			return fmt.Sprintf("sector [%d,%d) holds %x..., which neither the durable image nor pending ops 0..%d had",
				lo, hi, got[lo:min(hi, lo+16)], kmax)
		}
	}
	return ""
}

// tornSize reports whether a crash that tore pending op i, a write that
// grew the file, may leave it size bytes long: at the end of one of its
// sectors, and not below the size before it.
func (m *refModel) tornSize(f *mFile, i, size int) bool {
	before := len(f.durable)
	if i > 0 {
		before = len(f.hist[i-1])
	}
	after := len(f.hist[i])
	return m.torn && f.write[i] && before <= size && size < after && (size == before || size%diskmodel.SectorSize == 0)
}

func sectorEqual(version, got []byte, lo, hi int) bool {
	for b := lo; b < hi; b++ {
		var v byte
		if b < len(version) {
			v = version[b]
		}
		if v != got[b] {
			return false
		}
	}
	return true
}

// observed is one entry of the disk as read back through the FS.
type observed struct {
	isDir bool
	data  []byte
}

func observe(t *rapid.T, d *Disk) map[string]observed {
	out := make(map[string]observed)
	var walk func(dir string)
	walk = func(dir string) {
		infos, err := d.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir(%q) = %v", dir, err)
		}
		for _, info := range infos {
			p := path.Join(dir, info.Name)
			if info.IsDir {
				out[p] = observed{isDir: true}
				walk(p)
				continue
			}
			data, err := diskmodel.ReadFile(d, p)
			if err != nil {
				t.Fatalf("ReadFile(%q) = %v", p, err)
			}
			if int64(len(data)) != info.Size {
				t.Fatalf("ReadFile(%q) read %d bytes, ReadDir says %d", p, len(data), info.Size)
			}
			out[p] = observed{data: data}
		}
	}
	walk(".")
	return out
}

// match explains why the disk's state obs cannot be the namespace s with
// allowed file contents, or returns "".
func (m *refModel) match(s nsState, obs map[string]observed, exact bool) string {
	flat := s.flatten()
	if len(flat) != len(obs) {
		return fmt.Sprintf("%d entries, want %d", len(obs), len(flat))
	}
	for p, ino := range flat {
		o, ok := obs[p]
		if !ok || o.isDir != m.isDir[ino] {
			return fmt.Sprintf("entry %q: present=%v isDir=%v, want isDir=%v", p, ok, o.isDir, m.isDir[ino])
		}
		if o.isDir {
			continue
		}
		if exact {
			if want := m.files[ino].current(); !bytes.Equal(o.data, want) {
				return fmt.Sprintf("file %q holds %d bytes %x..., want exactly the volatile %d bytes %x...",
					p, len(o.data), clip(o.data), len(want), clip(want))
			}
		} else if why := m.fileAllowed(ino, o.data); why != "" {
			return fmt.Sprintf("file %q (inode %d): %s", p, ino, why)
		}
	}
	return ""
}

func clip(b []byte) []byte { return b[:min(len(b), 16)] }

// crash checks the disk's state after a Crash and adopts it.
func (m *refModel) crash(t *rapid.T, d *Disk, exact bool) {
	obs := observe(t, d)
	candidates := []nsState{m.vol}
	if !exact {
		candidates = m.crashOutcomes()
	}
	var chosen nsState
	var reasons []string
	for _, c := range candidates {
		why := m.match(c, obs, exact)
		if why == "" {
			chosen = c
			break
		}
		reasons = append(reasons, why)
	}
	if chosen == nil {
		t.Fatalf("after Crash the disk shows %s\nno allowed outcome matches (%d candidates); first reasons: %q\nlog: %v",
			describe(obs), len(candidates), reasons[:min(len(reasons), 5)], m.ops)
	}
	files := make(map[int]*mFile)
	for p, ino := range chosen.flatten() {
		if !m.isDir[ino] {
			files[ino] = &mFile{durable: obs[p].data}
		}
	}
	m.files = files
	m.dur, m.vol = chosen.clone(), chosen.clone()
	m.ops = nil
	m.inflight = nil
	m.stale = append(m.stale, m.handles...)
	m.handles = nil
}

func describe(obs map[string]observed) string {
	var lines []string
	for p, o := range obs {
		if o.isDir {
			lines = append(lines, p+"/")
		} else {
			lines = append(lines, fmt.Sprintf("%s(%d bytes)", p, len(o.data)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// checkVolatile: with no fault but crashes configured, every read equals
// the model's volatile state.
func (m *refModel) checkVolatile(t *rapid.T, d *Disk) {
	for _, h := range m.handles {
		want := m.files[h.ino].current()
		if size, err := h.f.Size(); size != int64(len(want)) || err != nil {
			t.Fatalf("Size() of %q = %d, %v, want %d, nil", h.name, size, err, len(want))
		}
		buf := make([]byte, len(want)+7)
		n, err := h.f.ReadAt(buf, 0)
		if n != len(want) || err != io.EOF || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt(all) of %q = %d, %v, want %d, io.EOF and the model's bytes", h.name, n, err, len(want))
		}
	}
	if why := m.match(m.vol, observe(t, d), true); why != "" {
		t.Fatalf("volatile state differs from the model: %s", why)
	}
}

func (m *refModel) dirPaths() []string {
	out := []string{"."}
	for p, ino := range m.vol.flatten() {
		if m.isDir[ino] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// maxUnsyncedDirOps keeps the model's search over crash outcomes small.
const maxUnsyncedDirOps = 10

func drawPath(t *rapid.T, m *refModel, label string) string {
	dir := rapid.SampledFrom(m.dirPaths()).Draw(t, label+"Dir")
	name := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, label+"Name")
	return path.Join(dir, name)
}

// wantSameErr compares the disk's error with the model's expectation.
func wantSameErr(t *rapid.T, call string, got, want error) {
	if (got == nil) != (want == nil) || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s = %v, want %v", call, got, want)
	}
}

func TestCrashModelProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testCrashModel(t, false) })
}

// TestCrashModelTimedProperty: the same contract on a timed disk, where
// syncs take effect when the device finishes them and a crash may land
// while they are in flight.
func TestCrashModelTimedProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testCrashModel(t, true) })
}

func testCrashModel(t *rapid.T, timed bool) {
	faults := Faults{
		LoseUnsyncedProb: rapid.SampledFrom([]float64{0, 0.25, 0.5, 1}).Draw(t, "lose"),
		TornWrites:       rapid.Bool().Draw(t, "torn"),
	}
	if timed {
		faults.LatencyMin, faults.LatencyMax = 1, 5
		faults.SyncLatencyMin, faults.SyncLatencyMax = 10, 100
	}
	exactFaults := faults.LoseUnsyncedProb == 0 && !faults.TornWrites
	d := New(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0)), faults)
	m := newRefModel()
	m.timed, m.torn = timed, faults.TornWrites
	var now time.Duration
	if timed {
		d.SetClock(func() time.Duration { return now })
	}
	// issue dates the operation about to be made, as the device will.
	issue := func() time.Duration {
		if !timed {
			return 0
		}
		m.nextIssue = max(now, d.BusyUntil())
		return m.nextIssue
	}
	writeSeq := 0

	handle := func(t *rapid.T) int {
		if len(m.handles) == 0 {
			t.Skip("no open file")
		}
		return rapid.IntRange(0, len(m.handles)-1).Draw(t, "handle")
	}
	dirOpRoom := func(t *rapid.T) {
		if m.unsyncedOps() >= maxUnsyncedDirOps {
			t.Skip("enough unsynced directory operations")
		}
	}
	write := func(t *rapid.T, h mHandle) {
		off := rapid.IntRange(0, 2600).Draw(t, "off")
		n := rapid.IntRange(0, 1300).Draw(t, "len")
		writeSeq++
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(writeSeq*37 + i*3 + 1)
		}
		at := issue()
		if got, err := h.f.WriteAt(data, int64(off)); got != n || err != nil {
			t.Fatalf("WriteAt(%d bytes, %d) on %q = %d, %v", n, off, h.name, got, err)
		}
		if n > 0 {
			f := m.files[h.ino]
			f.push(writeImage(slices.Clone(f.current()), int64(off), data), at, true)
		}
	}
	t.Repeat(map[string]func(*rapid.T){
		"": func(t *rapid.T) { m.checkVolatile(t, d) },
		"open": func(t *rapid.T) {
			dirOpRoom(t)
			if len(m.handles) >= 6 {
				t.Skip("enough open files")
			}
			p := drawPath(t, m, "file")
			mode := rapid.SampledFrom([]diskmodel.OpenMode{diskmodel.OpenExisting, diskmodel.OpenOrCreate, diskmodel.CreateExclusive}).Draw(t, "mode")
			issue()
			f, err := d.OpenFile(p, mode)
			ino, want := m.open(p, mode)
			wantSameErr(t, fmt.Sprintf("OpenFile(%q, %d)", p, mode), err, want)
			if err == nil {
				m.handles = append(m.handles, mHandle{f: f, ino: ino, name: p})
			}
		},
		"write": func(t *rapid.T) { write(t, m.handles[handle(t)]) },
		// Several writes to one file before anything else happens: the
		// overlapping unsynced writes that tearing and loss act on.
		"writes": func(t *rapid.T) {
			h := m.handles[handle(t)]
			for i := rapid.IntRange(2, 6).Draw(t, "writes"); i > 0; i-- {
				write(t, h)
			}
		},
		"truncate": func(t *rapid.T) {
			h := m.handles[handle(t)]
			size := rapid.IntRange(0, 4000).Draw(t, "size")
			at := issue()
			if err := h.f.Truncate(int64(size)); err != nil {
				t.Fatalf("Truncate(%d) on %q = %v", size, h.name, err)
			}
			f := m.files[h.ino]
			if cur := f.current(); size != len(cur) {
				img := make([]byte, size)
				copy(img, cur)
				f.push(img, at, false)
			}
		},
		"sync": func(t *rapid.T) {
			h := m.handles[handle(t)]
			if err := h.f.Sync(); err != nil {
				t.Fatalf("Sync() on %q = %v", h.name, err)
			}
			f := m.files[h.ino]
			upTo := f.flushed + len(f.hist)
			if !timed {
				f.flushTo(upTo)
				return
			}
			m.inflight = append(m.inflight, mSync{done: d.BusyUntil(), file: f, upTo: upTo})
		},
		"close": func(t *rapid.T) {
			i := handle(t)
			if err := m.handles[i].f.Close(); err != nil {
				t.Fatalf("Close() on %q = %v", m.handles[i].name, err)
			}
			m.handles = slices.Delete(m.handles, i, i+1)
		},
		"syncdir": func(t *rapid.T) {
			dir := rapid.SampledFrom(m.dirPaths()).Draw(t, "dir")
			err := d.SyncDir(dir)
			if !timed {
				wantSameErr(t, fmt.Sprintf("SyncDir(%q)", dir), err, m.syncDir(dir))
				return
			}
			_, _, target, want := m.resolve(dir)
			if want == nil && target == 0 {
				want = syscall.ENOENT
			} else if want == nil && !m.isDir[target] {
				want = syscall.ENOTDIR
			}
			wantSameErr(t, fmt.Sprintf("SyncDir(%q)", dir), err, want)
			if err == nil {
				m.inflight = append(m.inflight, mSync{done: d.BusyUntil(), dir: target, ops: slices.Clone(m.ops)})
			}
		},
		"mkdir": func(t *rapid.T) {
			dirOpRoom(t)
			p := drawPath(t, m, "dir")
			issue()
			wantSameErr(t, fmt.Sprintf("Mkdir(%q)", p), d.Mkdir(p), m.mkdir(p))
		},
		"remove": func(t *rapid.T) {
			dirOpRoom(t)
			p := drawPath(t, m, "victim")
			issue()
			wantSameErr(t, fmt.Sprintf("Remove(%q)", p), d.Remove(p), m.remove(p))
		},
		"rename": func(t *rapid.T) {
			dirOpRoom(t)
			from, to := drawPath(t, m, "from"), drawPath(t, m, "to")
			issue()
			wantSameErr(t, fmt.Sprintf("Rename(%q, %q)", from, to), d.Rename(from, to), m.rename(from, to))
		},
		// Time passes: the device finishes what it can.
		"wait": func(t *rapid.T) {
			if !timed {
				t.Skip("untimed disk")
			}
			now += time.Duration(rapid.Int64Range(0, 150).Draw(t, "wait"))
		},
		"crash": func(t *rapid.T) {
			m.finishSyncs(now)
			m.cut = now
			exact := exactFaults && !m.anyNever()
			d.Crash()
			m.crash(t, d, exact)
			for _, h := range m.stale {
				if _, err := h.f.ReadAt(make([]byte, 1), 0); !errors.Is(err, diskmodel.ErrClosed) {
					t.Fatalf("ReadAt on %q opened before the crash = %v, want ErrClosed", h.name, err)
				}
			}
			m.stale = nil
		},
	})
}
