package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
	lua "github.com/yuin/gopher-lua"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
)

const luaLoop = `
local n = %d
local sum = 0
local i = 0
while i < n do
  sum = sum + i
  i = i + 1
end
return sum`

const luaFib = `
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
return fib(30)`

const jsLoop = `
(function() {
  var n = %d, sum = 0, i = 0;
  while (i < n) { sum = sum + i; i = i + 1; }
  return sum;
})()`

const jsFib = `
function fib(n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }
fib(30)`

type engine struct {
	name string
	loop func(n int) (string, error)
	fib  func() (string, error)
}

func main() {
	n := flag.Int("n", 100_000_000, "iterations of the sum loop")
	reps := flag.Int("reps", 5, "runs of each program per engine (the median is reported)")
	examples := flag.String("examples", "../../examples", "directory holding loop.flasm, fib.flasm, loop.fl and fib.fl")
	flag.Parse()
	flockAsm, err := flockEngine(*examples, ".flasm", "flock asm")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	flockLang, err := flockEngine(*examples, ".fl", "flock lang")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	engines := []engine{flockAsm, flockLang, luaEngine(), jsEngine()}
	wantLoop := strconv.FormatInt(int64(*n)*int64(*n-1)/2, 10)
	fmt.Printf("sum loop N=%d (ns/iteration) and fib(30) (ms), median of %d runs\n\n", *n, *reps)
	fmt.Printf("%-12s %14s %10s %12s %10s\n", "engine", "loop ns/iter", "vs asm", "fib(30) ms", "vs asm")
	var base [2]float64
	for i, e := range engines {
		loopNs, err := median(*reps, func() (time.Duration, error) { return timed(func() (string, error) { return e.loop(*n) }, wantLoop) })
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: %s loop: %v\n", e.name, err)
			os.Exit(1)
		}
		fibNs, err := median(*reps, func() (time.Duration, error) { return timed(e.fib, "832040") })
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: %s fib: %v\n", e.name, err)
			os.Exit(1)
		}
		perIter := float64(loopNs) / float64(*n)
		fibMs := float64(fibNs) / 1e6
		if i == 0 {
			base = [2]float64{perIter, fibMs}
		}
		fmt.Printf("%-12s %14.2f %9.2fx %12.1f %9.2fx\n", e.name, perIter, perIter/base[0], fibMs, fibMs/base[1])
	}
}

func timed(run func() (string, error), want string) (time.Duration, error) {
	start := time.Now()
	got, err := run()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if got = strings.TrimSpace(got); got != want {
		return 0, fmt.Errorf("result %s, want %s", got, want)
	}
	return d, nil
}

func median(reps int, run func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range max(reps, 1) {
		d, err := run()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

// flockEngine runs examples/loop and examples/fib with the extension ext:
// the hand-written assembly (.flasm) or the Flock language (.fl).
func flockEngine(dir, ext, name string) (engine, error) {
	load := func(base string) (*isa.Program, error) {
		path := filepath.Join(dir, base+ext)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return proc.Compile(path, src, os.ReadFile, proc.LoadOptions{})
	}
	loop, err := load("loop")
	if err != nil {
		return engine{}, err
	}
	fib, err := load("fib")
	if err != nil {
		return engine{}, err
	}
	disk, err := osdisk.Open(os.TempDir())
	if err != nil {
		return engine{}, err
	}
	st := storage.NewLocal(disk)
	run := func(p *isa.Program, args []string) (string, error) {
		var out bytes.Buffer
		vm := proc.New(proc.DefaultConfig, st, nil, io.Discard)
		pid, err := vm.Start(p, args, &out)
		if err != nil {
			return "", err
		}
		vm.Run()
		if s, _ := vm.Status(pid); s.Trap != nil {
			return "", s.Trap
		}
		return out.String(), nil
	}
	return engine{
		name: name,
		loop: func(n int) (string, error) { return run(loop, []string{strconv.Itoa(n)}) },
		fib:  func() (string, error) { return run(fib, []string{"30"}) },
	}, nil
}

func luaEngine() engine {
	run := func(src string) (string, error) {
		L := lua.NewState()
		defer L.Close()
		if err := L.DoString(src); err != nil {
			return "", err
		}
		return L.Get(-1).String(), nil
	}
	return engine{
		name: "gopher-lua",
		loop: func(n int) (string, error) { return run(fmt.Sprintf(luaLoop, n)) },
		fib:  func() (string, error) { return run(luaFib) },
	}
}

func jsEngine() engine {
	run := func(src string) (string, error) {
		v, err := goja.New().RunString(src)
		if err != nil {
			return "", err
		}
		return v.String(), nil
	}
	return engine{
		name: "goja",
		loop: func(n int) (string, error) { return run(fmt.Sprintf(jsLoop, n)) },
		fib:  func() (string, error) { return run(jsFib) },
	}
}
