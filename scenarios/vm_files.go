package scenarios

import (
	"fmt"
	"slices"
	"time"

	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/node"
)

// The vm scenario's files: every process's storage is the VM's replicated
// filesystem, so the programs PSTART loads are written into it once, at
// the start, through whichever node is up (each put retried, on another
// machine if need be, until it lands). The root directory's redundancy R
// is drawn 1..3 (at most the machines less one, so that one machine down
// leaves room for every copy); the programs that use files wait until the
// programs are written.

// Bounds of writing the files.
const (
	vmFilesRetry = 50 * time.Millisecond
	// vmFilesWatchEvery: how often a put in flight is checked for a node
	// that went.
	vmFilesWatchEvery  = 500 * time.Millisecond
	vmFilesAttemptsMax = 2000
	vmFilesStartAt     = 200 * time.Millisecond
	// vmFilesBackoffMax: a put refused again and again (too few machines
	// up for R copies) is retried at most this far apart: retrying every
	// vmFilesRetry, fifty files flood a one-voter store with requests
	// whose local answers starve the joins of the machines that would
	// make room (vm seeds 238, 276, 385).
	vmFilesBackoffMax = 2 * time.Second
)

// putBackoff is the wait before a put's next attempt after failures
// refusals: doubling from vmFilesRetry up to vmFilesBackoffMax.
func putBackoff(failures int) time.Duration {
	d := vmFilesRetry
	for i := 1; i < failures && d < vmFilesBackoffMax; i++ {
		d *= 2
	}
	return min(d, vmFilesBackoffMax)
}

// drawVMRedundancy draws R from a stream of its own (the shape's draws
// stay as they were).
func drawVMRedundancy(seed uint64, machines int) uint8 {
	rng := sim.Stream(seed, "vm.storage", 0)
	return uint8(1 + rng.IntN(min(3, machines-1)))
}

// vmFilePut is one file being written.
type vmFilePut struct {
	name     string
	data     []byte
	attempts int
	attempt  int // the attempt in flight (its answer is ignored once timed out)
	failures int // attempts refused so far
	done     bool
}

// storageFiles are the examples and the files of the jobs' programs (a
// user's program directory, flock-sim -program), one file per name: a
// program's own file replaces an example of the same name (the puts run
// concurrently, so two of one name would race).
func (r *vmRun) storageFiles() []storageFile {
	files := slices.Clone(vmStorageFiles())
	at := map[string]int{}
	for i, f := range files {
		at[f.name] = i
	}
	seen := map[*vmProgram]bool{}
	for _, j := range r.shape.jobs {
		if seen[j.prog] {
			continue
		}
		seen[j.prog] = true
		for _, f := range j.prog.files {
			if i, ok := at[f.name]; ok {
				files[i] = f
				continue
			}
			at[f.name] = len(files)
			files = append(files, f)
		}
	}
	return files
}

func (r *vmRun) startFiles() {
	for _, f := range r.storageFiles() {
		p := &vmFilePut{name: f.name, data: f.data}
		r.filePuts = append(r.filePuts, p)
		r.world.At(sim.Time(vmFilesStartAt), "vm.files "+f.name, func() { r.putFile(p) })
	}
}

// putFile makes one attempt at writing p through a node that is up,
// choosing a different machine at each attempt.
func (r *vmRun) putFile(p *vmFilePut) {
	if p.done {
		return
	}
	p.attempts++
	if p.attempts > vmFilesAttemptsMax {
		r.surprises = append(r.surprises, fmt.Sprintf("storage: %s not written after %d attempts", p.name, vmFilesAttemptsMax))
		return
	}
	var vm *vmMachine
	for i := range r.machines {
		cand := r.machines[(p.attempts+i)%len(r.machines)]
		if cand.n != nil && cand.failStop == "" && cand.m.Up() && !cand.m.Paused() && cand.n.Joined() {
			vm = cand
			break
		}
	}
	if vm == nil {
		r.world.After(vmFilesRetry, "vm.files.retry", func() { r.putFile(p) })
		return
	}
	p.attempt = p.attempts
	attempt := p.attempt
	vm.n.PutFile("root", p.name, p.data, func(err error) {
		if p.done || p.attempt != attempt {
			return
		}
		p.attempt = 0
		if err != nil {
			vm.m.Record("vm: put %s: %v", p.name, err)
			p.failures++
			r.world.After(putBackoff(p.failures), "vm.files.retry", func() { r.putFile(p) })
			return
		}
		p.done = true
		r.filesLeft--
		if r.filesLeft == 0 {
			r.filesReady = true
			vm.m.Record("vm: every program file written (R=%d)", r.redundancy)
		}
	})
	vm.arm()
	r.watchPut(p, vm, vm.n, vm.n.Incarnation(), attempt)
}

// watchPut tries p again if the node running its attempt went (crashed,
// reopened, or stopped for good on corrupt state): that attempt can never
// answer. An attempt on a node that
// lives on is left to answer, however slow (abandoning slow attempts only
// piles more work on a loaded filesystem).
func (r *vmRun) watchPut(p *vmFilePut, vm *vmMachine, n *node.Node, inc uint64, attempt int) {
	r.world.After(vmFilesWatchEvery, "vm.files.watch", func() {
		switch {
		case p.done || p.attempt != attempt:
		case vm.n == n && n.Incarnation() == inc && vm.m.Up() && vm.failStop == "":
			r.watchPut(p, vm, n, inc, attempt)
		default:
			p.attempt = 0
			r.putFile(p)
		}
	})
}
