package scenarios

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/vm/dfs"
	"github.com/flockvm/flock/vm/sys"
)

// fsUsers are the users processes run as (root rarely).
var fsUsers = []string{"alice", "bob", "carol"}

// fsProc is one process on a client machine: a sequential stream of
// random filesystem operations as its user, then a final round after
// Heal that must get definite answers.
type fsProc struct {
	run     *fsRun
	node    *fsNode
	index   int // its client id in the histories
	pid     uint64
	user    string
	rng     *rand.Rand
	view    *dfs.Storage
	seq     uint64
	req     sys.ReqID
	onReply func(sys.Reply)
	fds     []fsFD
	opened  *fsFD // what the last open opened, nil if it failed
	writes  int
	final   []func()
	inFinal bool
	done    bool
	failure string
	setup   bool // a setup process: no workload of its own
}

// fsFD is a descriptor the process holds: the file it opened, in which
// directory, under which name (empty once the name went away).
type fsFD struct {
	fd   uint64
	file string
	dir  string
	path string
}

// answered records an operation's answer and goes on: to the next
// operation, or, in the final round, to the same one again after EAGAIN
// (a program retries an operation that had no effect).
func (p *fsProc) answered(op *fsOp, dirOut checker.DirOutput, fileOut checker.FileOutput) {
	if p.inFinal && op.final && (dirOut.Err == fsErrAgain || fileOut.Err == fsErrAgain) && p.run.world.Now() < p.run.finalDeadline {
		p.run.finish(op, dirOut, fileOut)
		p.node.m.After(50*time.Millisecond, "fs.proc.retry", op.reissue)
		return
	}
	p.run.finish(op, dirOut, fileOut)
	p.again()
}

// succeeded: the operation got a definite answer that is a success.
func succeeded(op *fsOp, result string) bool {
	return result == checker.ResultOK && op.status == checker.StatusPending
}

// fsFDsMax bounds the descriptors a process keeps open.
const fsFDsMax = 8

// boot starts the process once its machine's Service runs.
func (p *fsProc) boot() {
	if p.node.svc == nil {
		return
	}
	p.view = p.node.svc.Storage(p.pid, p.user, p)
	if !p.setup {
		p.node.m.After(p.think(), "fs.proc.next", p.next)
	}
}

func (p *fsProc) think() time.Duration {
	return time.Duration(p.rng.Int64N(int64(p.run.shape.thinkMax) + 1))
}

// Complete receives the answer of the operation in flight.
func (p *fsProc) Complete(id sys.ReqID, r sys.Reply) {
	if id != p.req || p.onReply == nil {
		p.run.surprise("process %d: answer to %v, which is not its operation in flight (%v)", p.pid, id, p.req)
		return
	}
	fn := p.onReply
	p.onReply = nil
	fn(r)
}

// call starts an operation; done gets its answer (now or later).
func (p *fsProc) call(start func(sys.Caller) (sys.Reply, bool), done func(sys.Reply)) {
	p.seq++
	c := sys.Caller{PID: p.pid, TID: 1, User: p.user, Req: sys.ReqID{Machine: uint64(p.node.id), Incarnation: 1, Seq: p.seq}}
	p.req, p.onReply = c.Req, done
	if r, now := start(c); now {
		p.onReply = nil
		done(r)
	}
}

func (p *fsProc) now() int64 { return int64(p.run.world.Now()) }

// next issues the next operation.
func (p *fsProc) next() {
	if p.onReply != nil || p.done {
		return
	}
	if !p.run.setupDone {
		p.node.m.After(10*time.Millisecond, "fs.proc.wait-setup", p.next)
		return
	}
	if p.inFinal {
		if len(p.final) == 0 {
			p.done = true
			return
		}
		step := p.final[0]
		p.final = p.final[1:]
		step()
		return
	}
	if p.run.world.Healed() {
		return // startFinalRound takes over
	}
	p.randomOp()
}

// again schedules the next operation.
func (p *fsProc) again() {
	if p.inFinal {
		p.node.m.After(0, "fs.proc.next", p.next)
		return
	}
	p.node.m.After(p.think(), "fs.proc.next", p.next)
}

func (p *fsProc) dirPath(i int) string  { return fmt.Sprintf("/d%d", i) }
func (p *fsProc) randomDir() string     { return p.dirPath(p.rng.IntN(p.run.shape.dirs)) }
func (p *fsProc) fileName(i int) string { return fmt.Sprintf("f%d", i) }
func (p *fsProc) randomName() string    { return p.fileName(p.rng.IntN(p.run.shape.names)) }

func (p *fsProc) randomOp() {
	switch x := p.rng.IntN(100); {
	case x < 16 || len(p.fds) == 0:
		p.open(p.randomDir(), p.randomName(), []int{checker.OpenOrCreate, checker.OpenOrCreate, checker.OpenExisting, checker.CreateExclusive}[p.rng.IntN(4)])
	case x < 42:
		p.write(p.randomFD())
	case x < 62:
		p.read(p.randomFD(), uint64(p.rng.IntN(3*p.run.shape.chunkSizeBytes)), uint64(1+p.rng.IntN(3*p.run.shape.chunkSizeBytes)))
	case x < 66:
		p.size(p.randomFD())
	case x < 72:
		p.list(p.randomDir())
	case x < 79:
		d := p.randomDir()
		p.rename(d, p.randomName(), p.randomName())
	case x < 85:
		d := p.randomDir()
		if p.rng.IntN(4) == 0 {
			p.remove(d, fmt.Sprintf("s%d", p.rng.IntN(2)))
		} else {
			p.remove(d, p.randomName())
		}
	case x < 89:
		p.mkdir(p.randomDir(), fmt.Sprintf("s%d", p.rng.IntN(2)))
	case x < 94:
		p.setAttr(p.randomDir())
	case x < 97:
		p.getAttr(p.randomDir())
	default:
		p.closeFD(p.rng.IntN(len(p.fds)))
		p.again()
	}
}

func (p *fsProc) randomFD() fsFD { return p.fds[p.rng.IntN(len(p.fds))] }

func (p *fsProc) closeFD(i int) {
	c := sys.Caller{PID: p.pid, TID: 1, User: p.user}
	p.view.Close(c, p.fds[i].fd)
	p.fds = slices.Delete(p.fds, i, i+1)
}

// The operations. Each records its call, and its answer (or its unknown
// outcome) in the run's history.

func (p *fsProc) open(dir, name string, mode int) {
	for len(p.fds) >= fsFDsMax {
		p.closeFD(0)
	}
	p.opened = nil
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirOpen, Dir: dir, User: p.user, Name: name, Mode: mode}))
	op.reissue = func() { p.open(dir, name, mode) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Open(c, dir+"/"+name, sys.OpenMode(mode)) }, func(r sys.Reply) {
		out := p.run.dirOutput(op, r)
		if succeeded(op, out.Result) {
			id, _ := p.view.FileID(r.Val)
			out.File = id
			p.fds = append(p.fds, fsFD{fd: r.Val, file: id, dir: dir, path: dir + "/" + name})
			p.opened = &p.fds[len(p.fds)-1]
		}
		p.answered(op, out, checker.FileOutput{})
	})
}

func (p *fsProc) write(f fsFD) {
	p.writes++
	cs := p.run.shape.chunkSizeBytes
	tagged := fmt.Sprintf("<%d.%d>", p.index, p.writes)
	data := strings.Repeat(tagged, 1+p.rng.IntN(2*cs)/len(tagged))
	off := uint64(p.rng.IntN(2 * cs))
	p.writeData(f, off, data)
}

func (p *fsProc) writeData(f fsFD, off uint64, data string) {
	op := p.run.record(p, fileOp(checker.FileInput{Kind: checker.FileWrite, File: f.file, User: p.user, Off: off, Data: data}, f.dir))
	op.reissue = func() { p.writeData(f, off, data) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Write(c, f.fd, off, []byte(data)) }, func(r sys.Reply) {
		out := p.run.fileOutput(op, r)
		out.N = r.Val
		p.answered(op, checker.DirOutput{}, out)
	})
}

func (p *fsProc) read(f fsFD, off, n uint64) {
	op := p.run.record(p, fileOp(checker.FileInput{Kind: checker.FileRead, File: f.file, User: p.user, Off: off, N: n}, f.dir))
	op.reissue = func() { p.read(f, off, n) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Read(c, f.fd, off, n) }, func(r sys.Reply) {
		out := p.run.fileOutput(op, r)
		out.Data = string(r.Data)
		p.answered(op, checker.DirOutput{}, out)
	})
}

func (p *fsProc) size(f fsFD) {
	op := p.run.record(p, fileOp(checker.FileInput{Kind: checker.FileSize, File: f.file, User: p.user}, f.dir))
	op.reissue = func() { p.size(f) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Size(c, f.fd) }, func(r sys.Reply) {
		out := p.run.fileOutput(op, r)
		out.N = r.Val
		p.answered(op, checker.DirOutput{}, out)
	})
}

func (p *fsProc) list(dir string) {
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirList, Dir: dir, User: p.user}))
	op.reissue = func() { p.list(dir) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.List(c, dir) }, func(r sys.Reply) {
		out := p.run.dirOutput(op, r)
		out.Names = string(r.Data)
		p.answered(op, out, checker.FileOutput{})
	})
}

func (p *fsProc) rename(dir, from, to string) {
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirRename, Dir: dir, User: p.user, Name: from, NewName: to}))
	op.reissue = func() { p.rename(dir, from, to) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Rename(c, dir+"/"+from, dir+"/"+to) }, func(r sys.Reply) {
		out := p.run.dirOutput(op, r)
		if succeeded(op, out.Result) && from != to {
			p.renamed(dir+"/"+from, dir+"/"+to)
		}
		p.answered(op, out, checker.FileOutput{})
	})
}

// renamed follows a rename in the descriptors' names: a replaced file's
// descriptors keep naming it, but under no name.
func (p *fsProc) renamed(from, to string) {
	for i := range p.fds {
		switch p.fds[i].path {
		case to:
			p.fds[i].path = ""
		case from:
			p.fds[i].path = to
		}
	}
}

func (p *fsProc) remove(dir, name string) {
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirRemove, Dir: dir, User: p.user, Name: name}))
	op.reissue = func() { p.remove(dir, name) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Remove(c, dir+"/"+name) }, func(r sys.Reply) {
		out := p.run.dirOutput(op, r)
		if succeeded(op, out.Result) {
			p.renamed(dir+"/"+name, "")
		}
		p.answered(op, out, checker.FileOutput{})
	})
}

func (p *fsProc) mkdir(dir, name string) {
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirMkdir, Dir: dir, User: p.user, Name: name}))
	op.reissue = func() { p.mkdir(dir, name) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.Mkdir(c, dir+"/"+name) }, func(r sys.Reply) {
		p.answered(op, p.run.dirOutput(op, r), checker.FileOutput{})
	})
}

func (p *fsProc) setAttr(dir string) {
	var ch sys.AttrChange
	in := checker.DirInput{Kind: checker.DirSetAttr, Dir: dir, User: p.user}
	if p.rng.IntN(2) == 0 {
		ch.Redundancy = uint8(1 + p.rng.IntN(p.run.shape.redundancyMax))
		in.Redundancy = int(ch.Redundancy)
	} else {
		if p.rng.IntN(3) != 0 {
			ch.Readers, ch.SetReaders = p.randomUsers(), true
		}
		if !ch.SetReaders || p.rng.IntN(2) == 0 {
			ch.Writers, ch.SetWriters = p.randomUsers(), true
		}
		in.Readers, in.SetReaders, in.Writers, in.SetWriters = ch.Readers, ch.SetReaders, ch.Writers, ch.SetWriters
	}
	p.setAttrWith(dir, in, ch)
}

func (p *fsProc) setAttrWith(dir string, in checker.DirInput, ch sys.AttrChange) {
	op := p.run.record(p, dirOp(in))
	op.reissue = func() { p.setAttrWith(dir, in, ch) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.SetAttr(c, dir, ch) }, func(r sys.Reply) {
		p.answered(op, p.run.dirOutput(op, r), checker.FileOutput{})
	})
}

// randomUsers draws a readers or writers list: some users, or everyone.
func (p *fsProc) randomUsers() []string {
	if p.rng.IntN(4) == 0 {
		return []string{sys.Everyone}
	}
	var out []string
	for _, u := range fsUsers {
		if p.rng.IntN(2) == 0 {
			out = append(out, u)
		}
	}
	return out
}

func (p *fsProc) getAttr(dir string) {
	op := p.run.record(p, dirOp(checker.DirInput{Kind: checker.DirGetAttr, Dir: dir, User: p.user}))
	op.reissue = func() { p.getAttr(dir) }
	p.call(func(c sys.Caller) (sys.Reply, bool) { return p.view.GetAttr(c, dir) }, func(r sys.Reply) {
		out := p.run.dirOutput(op, r)
		if succeeded(op, out.Result) {
			a, err := sys.ParseAttr(r.Data)
			if err != nil {
				p.run.surprise("process %d: getattr %s gave %q: %v", p.pid, dir, r.Data, err)
			}
			out.Owner, out.Redundancy, out.Readers, out.Writers = a.Owner, int(a.Redundancy), a.Readers, a.Writers
		}
		p.answered(op, out, checker.FileOutput{})
	})
}

// startFinalRound queues the liveness round: open and read every file of
// every directory, and write once.
func (p *fsProc) startFinalRound() {
	p.inFinal = true
	for d := 0; d < p.run.shape.dirs; d++ {
		for f := 0; f < p.run.shape.names; f++ {
			dir, name := p.dirPath(d), p.fileName(f)
			p.final = append(p.final, func() { p.finalRead(dir, name) })
		}
	}
	p.final = append(p.final, func() { p.open(p.randomDir(), p.randomName(), checker.OpenOrCreate) })
	p.final = append(p.final, func() {
		if len(p.fds) == 0 {
			p.again()
			return
		}
		p.write(p.fds[len(p.fds)-1])
	})
	if p.onReply == nil && !p.setup {
		p.node.m.After(0, "fs.proc.next", p.next)
	}
}

// finalRead opens a file and, if that worked, reads it whole and its size.
func (p *fsProc) finalRead(dir, name string) {
	p.open(dir, name, checker.OpenExisting)
	p.final = append([]func(){func() {
		if p.opened == nil {
			p.again() // not opened
			return
		}
		f := *p.opened
		p.final = append([]func(){func() { p.size(f) }}, p.final...)
		p.read(f, 0, 1<<20)
	}}, p.final...)
}
