package eval

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/flockvm/flock/vm/lang/check"
)

// Result is how a run ended.
type Result struct {
	Output string
	Exit   uint64 // main's result or exit's argument
	Trap   string // non-empty: the program trapped (what happened)
}

// ErrUnsupported marks programs the evaluator cannot run: waiting for
// another thread, files, processes.
var ErrUnsupported = errors.New("not supported by the reference evaluator")

// Limits bound a run.
type Limits struct {
	Steps int64 // statements and calls; 0: 1e7
	Depth int   // call depth; 0: 10000
	Bytes int   // memory allocated; 0: 1 << 28
}

// Run evaluates a checked program with the given arguments.
func Run(p *check.Program, args []string, lim Limits) (Result, error) {
	if lim.Steps == 0 {
		lim.Steps = 1e7
	}
	if lim.Depth == 0 {
		lim.Depth = 10000
	}
	if lim.Bytes == 0 {
		lim.Bytes = 1 << 28
	}
	m := &machine{prog: p, info: p.Info, args: args, lim: lim, global: &space{base: globalBase}, funcIDs: map[*check.FuncObj]uint64{}, rodata: &space{base: rodataBase}}
	m.global.m = m
	m.rodata.m = m
	m.strs = map[string]uint64{}
	t := &thread{m: m, tid: 1, local: &space{base: localBase, m: m}}
	m.nextTID = 2
	res, err := m.runMain(t)
	res.Output = m.out.String()
	return res, err
}

const (
	rodataBase = 0x1000
	localBase  = 0x100000
	globalBase = 1<<63 | 0x100000
)

// space is one memory: a bump-allocated arena starting at base.
type space struct {
	base uint64
	mem  []byte
	m    *machine
}

func (s *space) alloc(n int64) uint64 {
	n = max(n, 1)
	n = (n + 7) &^ 7
	if len(s.mem)+int(n) > s.m.lim.Bytes {
		panic(trap{"out of memory"})
	}
	a := s.base + uint64(len(s.mem))
	s.mem = append(s.mem, make([]byte, n)...)
	return a
}

func (s *space) clone() *space {
	return &space{base: s.base, mem: append([]byte(nil), s.mem...), m: s.m}
}

// trap ends the run; what says why.
type trap struct{ what string }

type exitNow struct{ code uint64 }

type machine struct {
	prog    *check.Program
	info    *check.Info
	args    []string
	lim     Limits
	out     strings.Builder
	global  *space
	rodata  *space
	strs    map[string]uint64
	steps   int64
	nextTID uint64
	joined  map[uint64]uint64 // exit values of spawned threads not yet joined
	funcIDs map[*check.FuncObj]uint64
	funcs   []*check.FuncObj
	dataVar map[*check.Var]uint64 // top-level vars: their address in each thread's local space
}

type thread struct {
	m     *machine
	tid   uint64
	local *space
	depth int
}

func (m *machine) runMain(t *thread) (res Result, err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case trap:
			res.Trap = r.what
		case exitNow:
			res.Exit = r.code
		case unsupported:
			err = fmt.Errorf("%w: %s", ErrUnsupported, r.what)
		default:
			panic(r)
		}
	}()
	m.joined = map[uint64]uint64{}
	m.dataVar = map[*check.Var]uint64{}
	for _, mod := range m.prog.Modules {
		for _, v := range mod.Vars {
			if v.Kind == check.VarShared {
				cell := t.local.alloc(8)
				t.store8w(cell, m.global.alloc(check.SizeOf(v.Type)))
				m.dataVar[v] = cell
			} else {
				m.dataVar[v] = t.local.alloc(check.SizeOf(v.Type))
			}
		}
	}
	for _, mod := range m.prog.Modules {
		for _, v := range mod.Vars {
			if v.Decl.Value != nil {
				fr := &frame{t: t, vars: map[*check.Var]uint64{}}
				val := fr.expr(v.Decl.Value)
				fr.store(fr.varAddr(v), v.Type, val)
			}
		}
	}
	r := t.call(m.prog.Main, nil)
	if len(r) > 0 {
		res.Exit = r[0]
	}
	return res, nil
}

type unsupported struct{ what string }

// ---- memory ----

func (t *thread) spaceOf(addr uint64, n uint64) (*space, uint64) {
	for _, s := range []*space{t.local, t.m.global, t.m.rodata} {
		if addr >= s.base && addr+n <= s.base+uint64(len(s.mem)) && addr+n >= addr {
			return s, addr - s.base
		}
	}
	panic(trap{fmt.Sprintf("unmapped address %#x", addr)})
}

func (t *thread) load8w(addr uint64) uint64 {
	if addr&7 != 0 {
		panic(trap{"misaligned word access"})
	}
	s, off := t.spaceOf(addr, 8)
	return binary.LittleEndian.Uint64(s.mem[off:])
}

func (t *thread) store8w(addr, v uint64) {
	if addr&7 != 0 {
		panic(trap{"misaligned word access"})
	}
	s, off := t.spaceOf(addr, 8)
	if s == t.m.rodata {
		panic(trap{"permission denied"})
	}
	binary.LittleEndian.PutUint64(s.mem[off:], v)
}

func (t *thread) loadByte(addr uint64) uint64 {
	s, off := t.spaceOf(addr, 1)
	return uint64(s.mem[off])
}

func (t *thread) storeByte(addr, v uint64) {
	s, off := t.spaceOf(addr, 1)
	if s == t.m.rodata {
		panic(trap{"permission denied"})
	}
	s.mem[off] = byte(v)
}

func (t *thread) readBytes(addr, n uint64) []byte {
	if n == 0 {
		return nil
	}
	s, off := t.spaceOf(addr, n)
	return append([]byte(nil), s.mem[off:off+n]...)
}

// str is the address of a string literal (0 for the empty string).
func (m *machine) str(s string) uint64 {
	if s == "" {
		return 0
	}
	if a, ok := m.strs[s]; ok {
		return a
	}
	a := m.rodata.alloc(int64(len(s)))
	copy(m.rodata.mem[a-m.rodata.base:], s)
	m.strs[s] = a
	return a
}

func (t *thread) step() {
	t.m.steps++
	if t.m.steps > t.m.lim.Steps {
		panic(trap{"instruction budget exhausted"})
	}
}
