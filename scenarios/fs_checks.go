package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/vm/sys"
)

// fsOp is one operation of a process as the run saw it: a namespace
// operation (dir) or an operation on a file's data (file).
type fsOp struct {
	client  int
	dir     *checker.DirInput
	file    *checker.FileInput
	fileDir string // the directory of file's file
	call    int64
	ret     int64
	status  checker.Status
	dirOut  checker.DirOutput
	fileOut checker.FileOutput
	final   bool
	reissue func() // the same operation again
	eio     bool   // a file operation that failed with EIO: data unreadable, or a write's outcome unknown
}

func dirOp(in checker.DirInput) *fsOp { return &fsOp{dir: &in} }

func fileOp(in checker.FileInput, dir string) *fsOp { return &fsOp{file: &in, fileDir: dir} }

func (o *fsOp) String() string {
	if o.dir != nil {
		return fmt.Sprintf("%v %s %q %q", o.dir.Kind, o.dir.Dir, o.dir.Name, o.dir.NewName)
	}
	return fmt.Sprintf("%v of file %s", o.file.Kind, o.file.File)
}

// record notes an operation's call.
func (r *fsRun) record(p *fsProc, op *fsOp) *fsOp {
	op.client, op.call, op.final = p.index, p.now(), p.inFinal
	op.status = checker.StatusPending
	if op.dir != nil && op.dir.Kind == checker.DirSetAttr && op.dir.Redundancy == 1 {
		r.everR1[op.dir.Dir] = true
	}
	if !p.setup {
		r.ops = append(r.ops, op)
	}
	return op
}

// finish notes an operation's answer, unless its outcome is unknown.
func (r *fsRun) finish(op *fsOp, dirOut checker.DirOutput, fileOut checker.FileOutput) {
	op.dirOut, op.fileOut = dirOut, fileOut
	op.ret = int64(r.world.Now())
	if op.status == checker.StatusPending {
		op.status = checker.StatusReturned
	}
	// After Heal an operation must finish: with a result, or a definite
	// error that is no transient one (no room is an answer, EAGAIN is
	// retried until the deadline, EIO is judged by checkLosses).
	again := dirOut.Err == fsErrAgain || fileOut.Err == fsErrAgain
	unfinished := op.status == checker.StatusUnknown || again && r.world.Now() >= r.finalDeadline
	if op.final && unfinished && !op.eio {
		p := r.procs[op.client]
		if p.failure == "" {
			p.failure = fmt.Sprintf("process %d (%s): %v after Heal ended without a definite answer (%v: %s %s)",
				p.pid, p.user, op, op.status, dirOut.Err, fileOut.Err)
		}
	}
}

// errnoOf is the error an answer carries, 0 for success.
func errnoOf(rep sys.Reply) sys.Errno {
	if v := int64(rep.Val); v < 0 {
		return sys.Errno(-v)
	}
	return 0
}

// results are the errors the models check; the others are definite
// failures (no effect) or, for EIO, unknown outcomes.
var fsResults = map[sys.Errno]string{
	sys.EACCES: checker.ResultDenied, sys.ENOENT: checker.ResultGone, sys.EEXIST: checker.ResultExists,
	sys.EISDIR: checker.ResultIsDir, sys.ENOTEMPTY: checker.ResultNotEmpty,
}

func (r *fsRun) dirOutput(op *fsOp, rep sys.Reply) checker.DirOutput {
	e := errnoOf(rep)
	if res, ok := fsResults[e]; ok || e == 0 {
		return checker.DirOutput{Result: res}
	}
	return checker.DirOutput{Err: r.classify(op, e)}
}

func (r *fsRun) fileOutput(op *fsOp, rep sys.Reply) checker.FileOutput {
	e := errnoOf(rep)
	if e == sys.EACCES || e == sys.ENOENT || e == 0 {
		return checker.FileOutput{Result: fsResults[e]}
	}
	if e == sys.EIO {
		op.eio = true // unreadable data, or (a write) an unknown outcome
	}
	return checker.FileOutput{Err: r.classify(op, e)}
}

// classify sets the status of an operation that failed with e: EIO from a
// change leaves its outcome unknown, EAGAIN and ENOSPC (and EIO from a
// read) had no effect; anything else the workload never provokes.
func (r *fsRun) classify(op *fsOp, e sys.Errno) string {
	readOnly := op.file != nil && op.file.Kind != checker.FileWrite || op.dir != nil && (op.dir.Kind == checker.DirList || op.dir.Kind == checker.DirGetAttr)
	switch {
	case e == sys.EIO && !readOnly:
		op.status = checker.StatusUnknown
	case e == sys.EIO, e == sys.EAGAIN, e == sys.ENOSPC:
		op.status = checker.StatusFailed
	default:
		op.status = checker.StatusFailed
		r.surprise("client %d: %v failed with errno %d, which this workload never provokes", op.client, op, e)
	}
	if e == sys.EAGAIN {
		return fsErrAgain
	}
	return fmt.Sprintf("errno %d", e)
}

// fsErrAgain is the definite error of an operation that may be retried.
const fsErrAgain = "EAGAIN"

// check judges a finished run; safety first.
func (r *fsRun) check(rep *Report, finished, repaired bool) {
	if v := r.safetyViolations(rep); len(v) > 0 {
		rep.Result, rep.Failure = ResultFail, FailureSafety
		rep.Violation = strings.Join(v, "\n")
		return
	}
	if v := r.livenessFailures(finished, repaired); len(v) > 0 {
		rep.Result, rep.Failure = ResultFail, FailureLiveness
		rep.Violation = strings.Join(v, "\n")
		return
	}
	rep.Result = ResultPass
}

func (r *fsRun) safetyViolations(rep *Report) []string {
	out := slices.Clone(r.surprises)
	for _, n := range r.nodes {
		if n.failStop != "" && !r.world.Machine(n.id).Rotted() {
			out = append(out, fmt.Sprintf("durability: metadata replica %v fail-stopped though its disk never rotted: %s", n.id, n.failStop))
		}
		if n.svc != nil {
			if st := n.svc.Stats(); st.CRCMismatch > 0 || st.BadServed > 0 && !r.bugs.SkipReadChecksum {
				out = append(out, fmt.Sprintf("%v: %d write targets disagreed on a checksum, %d copies served bad", n.id, st.CRCMismatch, st.BadServed))
			}
		}
	}
	if err := checker.AppliedLogsAgree(r.applied); err != nil {
		out = append(out, "metadata logs: "+err.Error())
	}
	if err := checker.AtMostOnce(r.applied); err != nil {
		out = append(out, "at most once: "+err.Error())
	}
	out = append(out, r.checkHistories(rep)...)
	out = append(out, r.checkLosses()...)
	return out
}

// checkHistories checks every directory's and every file's history, one
// at a time, directories first, and stops at the first that fails: an
// illegal history costs a search up to its bound, and one is proof enough.
func (r *fsRun) checkHistories(rep *Report) []string {
	dirs, files := r.histories()
	type part struct {
		family, key string
		check       func(checker.Options) checker.Result
	}
	var parts []part
	for _, k := range slices.Sorted(maps.Keys(dirs)) {
		h := dirs[k]
		parts = append(parts, part{"dirs", k, func(o checker.Options) checker.Result { return checker.CheckDirs(h, o) }})
	}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		h := files[k]
		parts = append(parts, part{"files", k, func(o checker.Options) checker.Result { return checker.CheckFiles(h, o) }})
	}
	for _, p := range parts {
		res := p.check(r.checkOptions(p.family))
		rep.VizPath = res.VizPath
		switch {
		case res.TimedOut:
			return []string{fmt.Sprintf("linearizability of %s %s: no verdict within %d search steps (%d ops)", p.family, p.key, fsCheckStepsMax, res.Ops)}
		case !res.OK:
			return []string{"linearizability: " + res.Violation}
		}
	}
	return nil
}

func (r *fsRun) checkOptions(family string) checker.Options {
	return checker.Options{MaxSteps: fsCheckStepsMax, VizDir: r.opts.VizDir, VizName: fmt.Sprintf("%s-%s-seed%d", fsScenarioName, family, r.opts.Seed)}
}

// histories builds the checker's histories, one per directory and one per
// file: every directory starts with its attributes after setup, every file
// with its directory's lists, and each change of a directory's lists is
// added to the history of every file seen in it (synthetic clients: one
// per copy).
func (r *fsRun) histories() (map[string]*checker.DirHistory, map[string]*checker.FileHistory) {
	dirs, files := map[string]*checker.DirHistory{}, map[string]*checker.FileHistory{}
	synthetic := len(r.procs)
	for i, a := range r.shape.attrs {
		path := fmt.Sprintf("/d%d", i)
		dirs[path] = &checker.DirHistory{}
		id := dirs[path].Call(synthetic, checker.DirInput{Kind: checker.DirInit, Dir: path, Owner: a.Owner,
			Redundancy: int(a.Redundancy), Readers: a.Readers, Writers: a.Writers}, 0)
		dirs[path].Return(id, checker.DirOutput{}, 0)
	}
	fileDirs := map[string]string{}
	for _, op := range r.ops {
		if op.file != nil {
			fileDirs[op.file.File] = op.fileDir
		}
	}
	fileNames := sortedKeys(fileDirs)
	for _, f := range fileNames {
		a := r.shape.attrs[dirIndex(fileDirs[f])]
		files[f] = &checker.FileHistory{}
		id := files[f].Call(synthetic, checker.FileInput{Kind: checker.FileDirAttr, File: f, Readers: a.Readers, Writers: a.Writers,
			SetReaders: true, SetWriters: true}, 0)
		files[f].Return(id, checker.FileOutput{}, 0)
	}
	synthetic++
	for _, op := range r.ops {
		if op.file != nil {
			recordFileOp(files[op.file.File], op.client, *op.file, op.fileOut, op)
			continue
		}
		recordDirOp(dirs[op.dir.Dir], op.client, *op.dir, op.dirOut, op)
		if op.dir.Kind != checker.DirSetAttr || !(op.dir.SetReaders || op.dir.SetWriters) ||
			op.status == checker.StatusFailed || op.dirOut.Result != checker.ResultOK {
			continue
		}
		for _, f := range fileNames {
			if fileDirs[f] == op.dir.Dir {
				in := checker.FileInput{Kind: checker.FileDirAttr, File: f, Readers: op.dir.Readers, Writers: op.dir.Writers,
					SetReaders: op.dir.SetReaders, SetWriters: op.dir.SetWriters}
				recordFileOp(files[f], synthetic, in, checker.FileOutput{}, op)
			}
		}
		synthetic++
	}
	return dirs, files
}

func recordDirOp(h *checker.DirHistory, client int, in checker.DirInput, out checker.DirOutput, op *fsOp) {
	id := h.Call(client, in, op.call)
	switch op.status {
	case checker.StatusReturned, checker.StatusFailed:
		h.Return(id, out, op.ret)
	case checker.StatusUnknown:
		h.Unknown(id)
	}
}

func recordFileOp(h *checker.FileHistory, client int, in checker.FileInput, out checker.FileOutput, op *fsOp) {
	id := h.Call(client, in, op.call)
	switch op.status {
	case checker.StatusReturned, checker.StatusFailed:
		h.Return(id, out, op.ret)
	case checker.StatusUnknown:
		h.Unknown(id)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func dirIndex(dir string) int {
	var i int
	fmt.Sscanf(dir, "/d%d", &i)
	return i
}

// checkLosses: after Heal a file operation may fail with EIO (data
// unreadable; for a write, the chunk it lands in unreadable, or an unknown
// outcome) only where data may really be lost: a chunk whose only copy
// was on a damaged disk, which needs a directory that had R = 1.
func (r *fsRun) checkLosses() []string {
	damaged := len(r.damaged) > 0
	for _, n := range r.nodes {
		damaged = damaged || r.world.Machine(n.id).Rotted()
	}
	var out []string
	for _, op := range r.ops {
		if op.eio && op.final && (!damaged || !r.everR1[op.fileDir]) {
			out = append(out, fmt.Sprintf("durability: %v after Heal failed with EIO (no disk damage could lose it: directory %s R=1 ever: %v)",
				op, op.fileDir, r.everR1[op.fileDir]))
			break
		}
	}
	if r.audited && len(r.audit.Lost) > 0 && !damaged {
		out = append(out, fmt.Sprintf("durability: chunks with no good copy left though no disk was damaged: %v", r.audit.Lost))
	}
	return out
}

func (r *fsRun) livenessFailures(finished, repaired bool) []string {
	var out []string
	for _, p := range r.procs {
		if p.failure != "" {
			out = append(out, p.failure)
		}
	}
	if !finished {
		for _, p := range r.procs {
			if !p.done {
				out = append(out, fmt.Sprintf("process %d (%s): not finished %v after Heal (%d final operations left, one in flight: %v)",
					p.pid, p.user, fsLivenessBound, len(p.final), p.onReply != nil))
			}
		}
	} else if !repaired {
		out = append(out, fmt.Sprintf("redundancy not restored within %v after the processes finished: %s (%d chunks, %d copies)",
			fsRepairBound, r.audit.Violation, r.audit.Chunks, r.audit.Copies))
	}
	return out
}
