package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/flockvm/flock/examples"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
)

// programs holds the vm scenario's own distributed workloads.
//
//go:embed programs/*.flasm
var programs embed.FS

// vmProgramSpecs are the programs the vm scenario draws from: the examples
// whose output is deterministic (with their golden output), and
// distributed workloads of its own (expected output stated here).
var vmProgramSpecs = []struct {
	name   string // file base name, in examples/ or programs/
	args   []string
	golden string // examples/golden/<golden>, or "" when want is given
	want   string
	sorted bool
	// consts replaces `.const NAME value` lines: an example sized for one
	// machine, scaled for a simulated VM whose every contended word costs
	// a round trip (want then gives the output).
	consts map[string]string
	// storage: the program reads or writes files (PSTART reads its child's
	// program): on a machine whose disk fails or rots, it may fail.
	storage bool
	// lostCode, if set, is the exit status by which the program says a
	// process it started ended without one (lost with a machine): its
	// output then differs, and the run is right if a machine died.
	lostCode uint64
}{
	{name: "hello", golden: "hello.out"},
	{name: "loop", args: []string{"1000"}, golden: "loop_1000.out"},
	{name: "fib", args: []string{"20"}, golden: "fib_20.out"},
	{name: "counter_faa", golden: "counter_faa.out"},
	{name: "counter_cas", consts: map[string]string{"K": "100"}, want: "800\n"},
	{name: "spinlock", consts: map[string]string{"K": "50"}, want: "400\n"},
	{name: "prodcons", consts: map[string]string{"N": "300"}, want: "45150\n"},
	{name: "parsum", golden: "parsum.out"},
	{name: "procs", golden: "procs.out", sorted: true, storage: true, lostCode: 2},
	{name: "files", golden: "files.out", storage: true},
	{name: "tree", want: "500500\n"},
	{name: "msgpass", want: "40820\n"},
	{name: "scan", want: "784896\n"},
	{name: "fileshare", want: "line 0\nline 1\nline 2\nline 3\n", sorted: true, storage: true},
	{name: "talk", want: "w00\nw01\nw02\nw03\nw04\nw05\nw06\nw07\nw08\nw09\nw10\nw11\ndone\n", sorted: true},
}

var (
	vmProgramsOnce sync.Once
	vmProgramList  []*vmProgram
	vmStorage      []storageFile
	vmFinal        *vmProgram
	vmLazyLocal    *vmProgram
)

type storageFile struct {
	name string
	data []byte
}

// vmPrograms is the workload, loaded once per process.
func vmPrograms() []*vmProgram {
	vmProgramsOnce.Do(loadVMPrograms)
	return vmProgramList
}

// vmStorageFiles are the files every machine's storage holds: the example
// programs, which PSTART loads by name.
func vmStorageFiles() []storageFile {
	vmProgramsOnce.Do(loadVMPrograms)
	return vmStorage
}

// vmLazyLocalProgram is the workload of lazy local memory, drawn apart
// (drawVMLazyLocal).
func vmLazyLocalProgram() *vmProgram {
	vmProgramsOnce.Do(loadVMPrograms)
	return vmLazyLocal
}

// vmFinalProgram is the program run after healing.
func vmFinalProgram() *vmProgram {
	vmProgramsOnce.Do(loadVMPrograms)
	return vmFinal
}

func loadVMPrograms() {
	for _, spec := range vmProgramSpecs {
		p, err := loadVMProgram(spec.name, spec.args, spec.golden, spec.want, spec.consts)
		if err != nil {
			panic(fmt.Sprintf("scenarios: vm program %s: %v", spec.name, err))
		}
		p.sortLines, p.storage, p.lostCode = spec.sorted, spec.storage, spec.lostCode
		vmProgramList = append(vmProgramList, p)
	}
	entries, err := fs.ReadDir(examples.FS, ".")
	if err != nil {
		panic(fmt.Sprintf("scenarios: examples: %v", err))
	}
	for _, e := range entries {
		if e.IsDir() || !isProgramFile(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(examples.FS, e.Name())
		if err != nil {
			panic(fmt.Sprintf("scenarios: examples: %v", err))
		}
		vmStorage = append(vmStorage, storageFile{name: e.Name(), data: data})
	}
	final, err := loadVMProgram("counter_faa", nil, "counter_faa.out", "", nil)
	if err != nil {
		panic(fmt.Sprintf("scenarios: vm final program: %v", err))
	}
	vmFinal = final
	lazy, err := loadVMProgram("lazylocal", nil, "", "762\n1\n", nil)
	if err != nil {
		panic(fmt.Sprintf("scenarios: vm lazy-local program: %v", err))
	}
	vmLazyLocal = lazy
}

func isProgramFile(name string) bool {
	return strings.HasSuffix(name, ".flasm") || strings.HasSuffix(name, ".fl")
}

// loadVMProgram finds name as an example (assembly first) or one of the
// scenario's own programs and compiles it.
func loadVMProgram(name string, args []string, golden, want string, consts map[string]string) (*vmProgram, error) {
	var src []byte
	var file string
	for _, cand := range []struct {
		fsys fs.FS
		path string
	}{
		{examples.FS, name + ".flasm"}, {programs, path.Join("programs", name+".flasm")}, {examples.FS, name + ".fl"},
	} {
		if b, err := fs.ReadFile(cand.fsys, cand.path); err == nil {
			src, file = b, path.Base(cand.path)
			break
		}
	}
	if src == nil {
		return nil, fmt.Errorf("no program %s in examples/ or programs/", name)
	}
	src, err := setConsts(src, consts)
	if err != nil {
		return nil, err
	}
	prog, err := proc.ParseProgram(file, src)
	if err != nil {
		return nil, err
	}
	if golden != "" {
		b, err := fs.ReadFile(examples.FS, path.Join("golden", golden))
		if err != nil {
			return nil, err
		}
		want = string(b)
	}
	return &vmProgram{name: name, program: prog, args: args, want: want}, nil
}

// VMProgram is a user's program for RunProgram (flock-sim -program).
type VMProgram struct {
	Name    string
	Program *isa.Program
	Args    []string
}

// vmProgramSource is the source of an example or workload program.
func vmProgramSource(t interface{ Fatalf(string, ...any) }, name string) []byte {
	for _, cand := range []struct {
		fsys fs.FS
		path string
	}{
		{examples.FS, name + ".flasm"}, {programs, path.Join("programs", name+".flasm")}, {examples.FS, name + ".fl"},
	} {
		if b, err := fs.ReadFile(cand.fsys, cand.path); err == nil {
			return b
		}
	}
	t.Fatalf("no program %s", name)
	return nil
}

// setConsts rewrites the `.const NAME value` lines of an assembly program.
func setConsts(src []byte, consts map[string]string) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	found := 0
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == ".const" {
			if v, ok := consts[f[1]]; ok {
				lines[i] = ".const " + f[1] + " " + v
				found++
			}
		}
	}
	if found != len(consts) {
		return nil, fmt.Errorf("program has %d of the %d constants to set", found, len(consts))
	}
	return []byte(strings.Join(lines, "\n")), nil
}
