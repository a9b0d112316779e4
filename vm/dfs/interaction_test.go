package dfs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// TestInteraction runs the scripts in testdata/interaction. Regenerate
// the expected output with
//
//	go test ./vm/dfs -run TestInteraction -rewrite
//
// and read the diff. Commands:
//
//	start [machines=4] [seed=1] [chunk=256] [root-r=1] [quota=B] [lose=P] [bug=name]
//	                                     lose: a crash loses each unsynced write with chance P
//	proc id=P machine=M user=U         a process on machine M running as U
//	open id=P path=X [mode=existing|create|excl] [async]
//	write id=P fd=F off=O data=D [repeat=N] [async]   data repeated N times
//	read id=P fd=F off=O n=N [async]
//	size|close id=P fd=F
//	list|mkdir|remove|getattr id=P path=X
//	rename id=P from=X to=Y
//	setattr id=P path=X [r=N] [readers=a,b] [writers=a,b]
//	wait id=P                            the answer of P's async operation
//	tick [n=1] [verbose] [until-held]    (stall: without delivering messages)
//	stall [n=1]
//	deliver [n=K] [verbose]              the first K messages, or all
//	crash|restart|down|up m=M            down/up: membership on every service
//	cut from=A to=B | isolate m=M | heal
//	hold kind=K [from=M] | release      keep service messages of a kind (sent by M) queued
//	rot|lose m=M path=X idx=I            flip a bit in / delete M's copy of a chunk
//	lose-slots m=M                       delete M's free slots from its disk
//	chunks path=X                        the records of a file's chunks and who holds which file
//	disk m=M                             M's chunk files and the bytes they hold
//	check                                every chunk has R good copies on machines up
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		var h *harness
		pending := map[int]sys.ReqID{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = startScript(t, d)
				return ""
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.t = t
			var out strings.Builder
			h.out = &out
			runCommand(t, h, d, pending)
			h.out = nil
			return out.String()
		})
	})
}

func startScript(t *testing.T, d *datadriven.TestData) *harness {
	o := harnessOptions{seed: 1}
	d.MaybeScanArgs(t, "machines", &o.machines)
	d.MaybeScanArgs(t, "seed", &o.seed)
	d.MaybeScanArgs(t, "chunk", &o.chunkSizeBytes)
	d.MaybeScanArgs(t, "quota", &o.quotaBytes)
	if d.MaybeScanArgs(t, "lose", &o.faults.LoseUnsyncedProb) {
		o.faults.TornWrites = true
	}
	var r int
	if d.MaybeScanArgs(t, "root-r", &r) {
		o.rootR = uint8(r)
	}
	var bug string
	if d.MaybeScanArgs(t, "bug", &bug) {
		b, err := ParseBug(bug)
		if err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
		o.bugs = b
	}
	h := newHarness(t, o)
	h.run(40)
	return h
}

func arg[T any](t *testing.T, d *datadriven.TestData, key string) T {
	var v T
	d.ScanArgs(t, key, &v)
	return v
}

func runCommand(t *testing.T, h *harness, d *datadriven.TestData, pending map[int]sys.ReqID) {
	switch d.Cmd {
	case "proc":
		h.proc(arg[int](t, d, "id"), arg[uint64](t, d, "machine"), arg[string](t, d, "user"))
	case "open", "write", "read", "size", "close", "list", "mkdir", "remove", "getattr", "rename", "setattr":
		runOp(t, h, d, pending)
	case "wait":
		id := arg[int](t, d, "id")
		p, req := h.procs[id], pending[id]
		delete(pending, id)
		r, ok := h.await(p, req, 5000)
		if !ok {
			h.logf("p%d: no answer", id)
			return
		}
		h.logf("p%d: %s", id, describeReply(r))
	case "tick", "stall":
		n := 1
		d.MaybeScanArgs(t, "n", &n)
		h.verbose = d.HasArg("verbose")
		for i := 0; i < n; i++ {
			if d.HasArg("until-held") && slices.ContainsFunc(h.queue, h.isHeld) {
				h.logf("a held message is queued after %d ticks", i)
				break
			}
			h.tick()
			if d.Cmd == "tick" {
				h.deliverAll()
			}
		}
		h.verbose = false
	case "deliver":
		h.verbose = d.HasArg("verbose")
		n := len(h.queue)
		d.MaybeScanArgs(t, "n", &n)
		for ; n > 0 && h.nextDeliverable() >= 0; n-- {
			h.deliverAt(h.nextDeliverable())
		}
		if !d.HasArg("n") {
			h.deliverAll()
		}
		h.verbose = false
	default:
		runWorldCommand(t, h, d)
	}
}

func runWorldCommand(t *testing.T, h *harness, d *datadriven.TestData) {
	switch d.Cmd {
	case "crash":
		h.crash(arg[uint64](t, d, "m"))
	case "restart":
		h.boot(arg[uint64](t, d, "m"))
	case "down", "up":
		m := netmodel.NodeID(arg[uint64](t, d, "m"))
		for _, id := range h.ids {
			if s := h.svcs[id]; s != nil && d.Cmd == "down" {
				s.MachineDown(m)
			} else if s != nil {
				s.MachineUp(m)
			}
		}
	case "cut":
		h.cut[[2]uint64{arg[uint64](t, d, "from"), arg[uint64](t, d, "to")}] = true
	case "isolate":
		m := arg[uint64](t, d, "m")
		for _, o := range append(slices.Clone(h.ids), 99) {
			if o != m {
				h.cut[[2]uint64{m, o}], h.cut[[2]uint64{o, m}] = true, true
			}
		}
	case "heal":
		clear(h.cut)
	case "hold":
		var from uint64
		d.MaybeScanArgs(t, "from", &from)
		h.held[kindArg(t, d)] = from
	case "release":
		if !d.HasArg("kind") {
			clear(h.held)
			return
		}
		k := kindArg(t, d)
		if _, ok := h.held[k]; !ok {
			t.Fatalf("%s: no message of kind %v is held", d.Pos, k)
		}
		delete(h.held, k)
	case "rot", "lose":
		h.damage(t, d)
	case "lose-slots":
		// Every free slot of m vanishes from its disk, behind its Service's back.
		m := arg[uint64](t, d, "m")
		slots := h.svcs[m].store.slots
		var names []string
		for _, size := range slices.Sorted(maps.Keys(slots.bySize)) {
			names = append(names, slots.bySize[size]...)
		}
		for _, name := range names {
			if err := h.disks[m].Remove(name); err != nil {
				t.Fatal(err)
			}
		}
		h.logf("m%d lost %d free slots", m, len(names))
	case "gone":
		// A gone message from no remover (forged, or stale) naming path's file.
		ino, ok := h.inoOf(arg[string](t, d, "path"))
		if !ok {
			t.Fatalf("%s: no such file", d.Pos)
		}
		m := message{kind: msgGone, ref: chunkRef{ino: ino}}
		h.svcs[arg[uint64](t, d, "m")].Receive(99, m.encode())
	case "chunks":
		h.printChunks(arg[string](t, d, "path"))
	case "disk":
		st := h.svcs[arg[uint64](t, d, "m")].store
		h.logf("%d chunk files, %d bytes held of %d", st.chunks.Len(), st.heldBytes(), st.quotaBytes)
	case "check":
		if v := h.redundancyViolation(); v != "" {
			h.logf("violation: %s", v)
		} else {
			h.logf("ok")
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

// kindArg is the message kind named by the command's kind argument.
func kindArg(t *testing.T, d *datadriven.TestData) msgKind {
	kind := arg[string](t, d, "kind")
	k := slices.IndexFunc(msgKindNames[:], func(n string) bool { return n == kind })
	if k <= 0 {
		t.Fatalf("%s: unknown message kind %q", d.Pos, kind)
	}
	return msgKind(k)
}

func runOp(t *testing.T, h *harness, d *datadriven.TestData, pending map[int]sys.ReqID) {
	id := arg[int](t, d, "id")
	p := h.procs[id]
	if p == nil {
		t.Fatalf("%s: no process %d", d.Pos, id)
	}
	op := scriptOp(t, d, p)
	req := h.start(p, op)
	if d.HasArg("async") {
		pending[id] = req
		return
	}
	r, ok := h.await(p, req, 5000)
	if !ok {
		h.logf("p%d: no answer", id)
		return
	}
	h.logf("p%d: %s", id, describeReply(r))
}

func scriptOp(t *testing.T, d *datadriven.TestData, p *hproc) func(sys.Caller) (sys.Reply, bool) {
	v := p.view
	path := func() string { return arg[string](t, d, "path") }
	switch d.Cmd {
	case "open":
		mode := sys.OpenExisting
		var m string
		if d.MaybeScanArgs(t, "mode", &m) {
			mode = map[string]sys.OpenMode{"existing": sys.OpenExisting, "create": sys.OpenOrCreate, "excl": sys.CreateExclusive}[m]
		}
		x := path()
		return func(c sys.Caller) (sys.Reply, bool) { return v.Open(c, x, mode) }
	case "write":
		fd, off, data := arg[uint64](t, d, "fd"), arg[uint64](t, d, "off"), arg[string](t, d, "data")
		repeat := 1
		d.MaybeScanArgs(t, "repeat", &repeat)
		data = strings.Repeat(data, repeat)
		return func(c sys.Caller) (sys.Reply, bool) { return v.Write(c, fd, off, []byte(data)) }
	case "read":
		fd, off, n := arg[uint64](t, d, "fd"), arg[uint64](t, d, "off"), arg[uint64](t, d, "n")
		return func(c sys.Caller) (sys.Reply, bool) { return v.Read(c, fd, off, n) }
	case "size":
		fd := arg[uint64](t, d, "fd")
		return func(c sys.Caller) (sys.Reply, bool) { return v.Size(c, fd) }
	case "close":
		fd := arg[uint64](t, d, "fd")
		return func(c sys.Caller) (sys.Reply, bool) { return v.Close(c, fd) }
	case "list", "mkdir", "remove", "getattr":
		x := path()
		calls := map[string]func(sys.Caller, string) (sys.Reply, bool){"list": v.List, "mkdir": v.Mkdir, "remove": v.Remove, "getattr": v.GetAttr}
		return func(c sys.Caller) (sys.Reply, bool) { return calls[d.Cmd](c, x) }
	case "rename":
		from, to := arg[string](t, d, "from"), arg[string](t, d, "to")
		return func(c sys.Caller) (sys.Reply, bool) { return v.Rename(c, from, to) }
	default: // setattr
		x := path()
		var ch sys.AttrChange
		var r int
		if d.MaybeScanArgs(t, "r", &r) {
			ch.Redundancy = uint8(r)
		}
		var users string
		if d.MaybeScanArgs(t, "readers", &users) {
			ch.Readers, ch.SetReaders = usersArg(t, users), true
		}
		if d.MaybeScanArgs(t, "writers", &users) {
			ch.Writers, ch.SetWriters = usersArg(t, users), true
		}
		return func(c sys.Caller) (sys.Reply, bool) { return v.SetAttr(c, x, ch) }
	}
}

func usersArg(t *testing.T, s string) []string {
	if s == "-" {
		s = ""
	}
	users, err := sys.ParseUsers(s)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// inoOf resolves a path in the store directly.
func (h *harness) inoOf(path string) (ID, bool) {
	comps, _ := splitPath(path)
	cur := RootIno
	for _, name := range comps {
		raw := lookupKV(h.scan(keyEntry(cur, name)), keyEntry(cur, name))
		ent, err := decodeEntry(raw)
		if err != nil {
			return ID{}, false
		}
		cur = ent.ino
	}
	return cur, true
}

func lookupKV(pairs []raftkv.KV, key string) string {
	for _, p := range pairs {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// holders lists the live machines whose stores hold ref.
func (h *harness) holders(ref chunkRef) []uint64 {
	var out []uint64
	for _, m := range h.ids {
		if s := h.svcs[m]; s != nil {
			if _, ok := s.store.get(ref); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func (h *harness) printChunks(path string) {
	ino, ok := h.inoOf(path)
	if !ok {
		h.logf("%s: no such file", path)
		return
	}
	for _, kv := range h.scan(keyChunks(ino)) {
		k, _ := parseFileKey(kv.Key)
		rec, _ := decodeChunk(kv.Value)
		ref := chunkRef{ino: ino, idx: k.idx, gen: rec.gen}
		h.logf("chunk %d: v%d gen %s len %d replicas %v; files of it on %v", k.idx, rec.version, short(rec.gen), rec.length, rec.replicas, h.holders(ref))
	}
	var others []string
	for _, m := range h.ids {
		if s := h.svcs[m]; s != nil {
			s.store.chunks.Ascend(func(c *localChunk) bool {
				if c.ref.ino == ino {
					others = append(others, fmt.Sprintf("m%d:%d@%s", m, c.ref.idx, short(c.ref.gen)))
				}
				return true
			})
		}
	}
	h.logf("chunk files: %s", strings.Join(others, " "))
	for _, kv := range h.scan(keyTombs(ino)) {
		k, _ := parseFileKey(kv.Key)
		t, _ := decodeTomb(kv.Value)
		h.logf("tombstone %s: chunk %d version %d", short(k.gen), t.idx, t.version)
	}
}

// damage flips a bit in, or deletes, machine m's copy of a chunk (bit
// rot; a lost chunk file), behind its Service's back.
func (h *harness) damage(t *testing.T, d *datadriven.TestData) {
	m, idx := arg[uint64](t, d, "m"), arg[uint64](t, d, "idx")
	ino, ok := h.inoOf(arg[string](t, d, "path"))
	if !ok {
		t.Fatalf("%s: no such file", d.Pos)
	}
	s := h.svcs[m]
	var ref chunkRef
	var name string
	found := false
	s.store.chunks.Ascend(func(c *localChunk) bool {
		if c.ref.ino == ino && c.ref.idx == idx {
			ref, name, found = c.ref, c.name, true
		}
		return true
	})
	if !found {
		h.logf("m%d holds no copy of chunk %d", m, idx)
		return
	}
	if d.Cmd == "lose" {
		if err := h.disks[m].Remove(name); err != nil {
			t.Fatal(err)
		}
		h.logf("m%d lost %s", m, refString(ref))
		return
	}
	f, err := h.disks[m].OpenFile(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, chunkHeaderBytes)
	b[0] ^= 0x10
	f.WriteAt(b, chunkHeaderBytes)
	f.Sync()
	f.Close()
	h.logf("m%d rotted %s", m, refString(ref))
}

// redundancyViolation checks, from the god view, that every chunk record
// names R distinct machines that are up and hold a good copy of its
// generation, and nothing else.
func (h *harness) redundancyViolation() string {
	dirs := map[ID]uint8{}
	for _, kv := range h.scan(keyDirPrefix) {
		ino, _ := parseID(kv.Key[len(keyDirPrefix):])
		rec, _ := decodeDir(kv.Value)
		dirs[ino] = rec.redundancy
	}
	var dir ID
	for _, kv := range h.scan(keyFilePrefix) {
		k, _ := parseFileKey(kv.Key)
		switch k.kind {
		case 'f':
			rec, _ := decodeFile(kv.Value)
			dir = rec.dir
		case 'k':
			rec, _ := decodeChunk(kv.Value)
			ref := chunkRef{ino: k.ino, idx: k.idx, gen: rec.gen}
			if len(rec.replicas) != int(dirs[dir]) {
				return fmt.Sprintf("chunk %s names %v, want %d replicas", refString(ref), rec.replicas, dirs[dir])
			}
			for _, m := range rec.replicas {
				s := h.svcs[m]
				if s == nil {
					return fmt.Sprintf("chunk %s: replica m%d is down", refString(ref), m)
				}
				if st := s.store.check(ref, rec.crc); st != storeOK {
					return fmt.Sprintf("chunk %s: replica m%d: %v", refString(ref), m, st)
				}
			}
		}
	}
	return ""
}
