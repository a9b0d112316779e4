package scenarios

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
)

// A user's own program on a simulated VM (flock-sim -program FILE): the
// program is first run on the embedded one-machine VM, without faults, for
// its reference output; then each seed runs it on a simulated VM of several
// machines with that seed's faults and reports whether it behaved the same
// (same output and exit status, or the documented error naming a machine
// the seed killed).

// ProgramRef is what a program does on one machine without faults, and
// the files both runs start with.
type ProgramRef struct {
	Output string
	Code   uint64
	// Files are the regular files of the program's directory: on one
	// machine they are its storage; on the simulated VM every machine's
	// storage starts with them (what the program's PSTARTs and opens find).
	Files []ProgramFile
}

// ProgramFile is one file of a program's directory.
type ProgramFile struct {
	Name string
	Data []byte
}

// Bounds of a program's directory as the simulated VM takes it: a
// directory of data sets is not a program's.
const (
	programFilesMax      = 256
	programFilesBytesMax = 16 << 20
)

// programRefBudgetTicks bounds the reference run, so that a program that
// never ends is reported rather than run forever.
const programRefBudgetTicks = 1 << 34

// ReferenceRun runs prog on the embedded VM, with storage rooted at root
// (the directory PSTART and file operations see), and returns its output
// and exit status, with the files of root it started with; a trap is an
// error naming where it happened.
func ReferenceRun(prog *isa.Program, args []string, root string) (ProgramRef, error) {
	files, err := readProgramFiles(root)
	if err != nil {
		return ProgramRef{}, err
	}
	disk, err := osdisk.Open(root)
	if err != nil {
		return ProgramRef{}, err
	}
	defer disk.Close()
	st := storage.NewLocal(disk)
	var out, diag bytes.Buffer
	cfg := proc.DefaultConfig
	cfg.BudgetTicks = programRefBudgetTicks
	vm := proc.New(cfg, st, proc.LoadFile(st.ReadFile), &diag)
	pid, err := vm.Start(prog, args, &out)
	if err != nil {
		return ProgramRef{}, err
	}
	vm.Run()
	status, _ := vm.Status(pid)
	if err := status.Err(); err != nil {
		return ProgramRef{Output: out.String()}, fmt.Errorf("%w (on one machine, without faults)", err)
	}
	return ProgramRef{Output: out.String(), Code: status.Code, Files: files}, nil
}

// readProgramFiles reads the regular files directly in dir, by name,
// within programFilesMax and programFilesBytesMax.
func readProgramFiles(dir string) ([]ProgramFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("program directory: %w", err)
	}
	var files []ProgramFile
	total := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if len(files) == programFilesMax {
			return nil, fmt.Errorf("program directory %s: more than %d files", dir, programFilesMax)
		}
		b, err := fs.ReadFile(os.DirFS(dir), e.Name())
		if err != nil {
			return nil, fmt.Errorf("program directory: %w", err)
		}
		if total += len(b); total > programFilesBytesMax {
			return nil, fmt.Errorf("program directory %s: more than %d bytes of files", dir, programFilesBytesMax)
		}
		files = append(files, ProgramFile{Name: e.Name(), Data: b})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// RunProgram runs one seed of a user's program on a simulated VM of
// machines machines (0: drawn) and checks it against ref.
func RunProgram(opts Options, name string, prog *isa.Program, args []string, ref ProgramRef, machines int) Report {
	// storage: the program may use files, and a machine's storage keeps
	// one copy: a failure on a home whose disk failed is counted
	// (program_failed_on_disk_fault), not taken for the program's.
	p := &vmProgram{name: filepath.Base(name), program: prog, args: args, want: ref.Output, code: ref.Code, storage: true}
	for _, f := range ref.Files {
		p.files = append(p.files, storageFile{name: f.Name, data: f.Data})
	}
	rep := withCoverage(opts, func(opts Options) Report { return runVMShape(opts, []*vmProgram{p}, machines) })
	rep.Scenario = "program:" + p.name
	return rep
}
