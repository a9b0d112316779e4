package proc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flockvm/flock/vm/isa"
	"github.com/flockvm/flock/vm/sys"
)

// refRun is a deliberately naive second implementation of the
// single-threaded part of the ISA, written from docs/isa.md: plain Go
// slices for the stacks, a byte map for memory, a bump allocator. It runs
// unoptimized programs (no superinstructions) and is the oracle the real
// interpreter is checked against on random programs.
type refMachine struct {
	prog     *isa.Program
	stack    []uint64
	frames   []refFrame
	fp, fl   int
	mem      map[uint64]byte // every mapped byte, local and global
	nextL    uint64
	nextG    uint64
	out      strings.Builder
	steps    int
	stepsMax int
}

type refFrame struct{ ret, fp, fl int }

type refResult struct {
	out  string
	code uint64
	trap sys.Trap
}

func refRun(p *isa.Program, stepsMax int) refResult {
	m := &refMachine{prog: p, mem: map[uint64]byte{}, nextL: 1 << 32, nextG: isa.GlobalBit | 1<<32, stepsMax: stepsMax}
	for i, b := range p.ROData {
		m.mem[isa.RODataBase+uint64(i)] = b
	}
	for i, b := range p.Data {
		m.mem[p.DataBase()+uint64(i)] = b
	}
	code, trap := m.run(p.Entry)
	return refResult{out: m.out.String(), code: code, trap: trap}
}

type refTrap struct{ kind sys.Trap }

func (m *refMachine) pop() uint64 {
	if len(m.stack) == 0 {
		panic(refTrap{sys.TrapStackUnderflow})
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v
}

func (m *refMachine) push(v uint64) { m.stack = append(m.stack, v) }

func (m *refMachine) need(n int) {
	if len(m.stack) < n {
		panic(refTrap{sys.TrapStackUnderflow})
	}
}

func (m *refMachine) slot(k int) int {
	if k >= m.fl {
		panic(refTrap{sys.TrapBadLocal})
	}
	return m.fp + k
}

func (m *refMachine) word(addr uint64) uint64 {
	if addr%8 != 0 {
		panic(refTrap{sys.TrapMisaligned})
	}
	var v uint64
	for i := uint64(0); i < 8; i++ {
		v |= uint64(m.byteAt(addr+i)) << (8 * i)
	}
	return v
}

func (m *refMachine) byteAt(addr uint64) byte {
	b, ok := m.mem[addr]
	if !ok {
		panic(refTrap{sys.TrapUnmapped})
	}
	return b
}

func (m *refMachine) setWord(addr, v uint64) {
	if addr%8 != 0 {
		panic(refTrap{sys.TrapMisaligned})
	}
	for i := uint64(0); i < 8; i++ {
		m.setByte(addr+i, byte(v>>(8*i)))
	}
}

func (m *refMachine) setByte(addr uint64, b byte) {
	if _, ok := m.mem[addr]; !ok {
		panic(refTrap{sys.TrapUnmapped})
	}
	if addr >= isa.RODataBase && addr < isa.RODataBase+uint64(len(m.prog.ROData)) {
		panic(refTrap{sys.TrapPermission})
	}
	m.mem[addr] = b
}

func (m *refMachine) alloc(n uint64, global bool) uint64 {
	size := (n + 7) / 8 * 8
	if size == 0 {
		size = 8
	}
	next := &m.nextL
	if global {
		next = &m.nextG
	}
	addr := *next
	*next += size + 64 // a gap, so overruns are caught
	for i := uint64(0); i < size; i++ {
		m.mem[addr+i] = 0
	}
	return addr
}

func (m *refMachine) run(pc int) (code uint64, trap sys.Trap) {
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(refTrap)
			if !ok {
				panic(r)
			}
			trap = t.kind
		}
	}()
	for {
		m.steps++
		if m.steps > m.stepsMax {
			return 0, sys.TrapBudget
		}
		if pc < 0 || pc >= len(m.prog.Code) {
			return 0, sys.TrapBadJump
		}
		in := m.prog.Code[pc]
		pc++
		switch op := in.Op; op {
		case isa.NOP:
		case isa.PUSH:
			m.push(uint64(in.B))
		case isa.DROP:
			m.pop()
		case isa.DUP:
			v := m.pop()
			m.push(v)
			m.push(v)
		case isa.SWAP:
			b, a := m.pop(), m.pop()
			m.push(b)
			m.push(a)
		case isa.OVER:
			b, a := m.pop(), m.pop()
			m.push(a)
			m.push(b)
			m.push(a)
		case isa.ROT:
			c, b, a := m.pop(), m.pop(), m.pop()
			m.push(b)
			m.push(c)
			m.push(a)
		case isa.PICK:
			m.need(int(in.A) + 1)
			m.push(m.stack[len(m.stack)-1-int(in.A)])
		case isa.ENTER:
			m.need(int(in.A))
			m.fp = len(m.stack) - int(in.A)
			m.fl = int(in.A) + int(in.B)
			for i := int64(0); i < in.B; i++ {
				m.push(0)
			}
		case isa.GET:
			m.push(m.stack[m.slot(int(in.A))])
		case isa.SET:
			s := m.slot(int(in.A))
			v := m.pop()
			m.stack[s] = v
		case isa.TEE:
			s := m.slot(int(in.A))
			m.need(1)
			m.stack[s] = m.stack[len(m.stack)-1]
		case isa.ADD, isa.SUB, isa.MUL, isa.DIV, isa.DIVU, isa.MOD, isa.MODU, isa.AND, isa.OR, isa.XOR, isa.SHL, isa.SHR, isa.SAR:
			b, a := m.pop(), m.pop()
			m.push(refBinary(op, a, b))
		case isa.EQ, isa.NE, isa.LT, isa.LE, isa.GT, isa.GE, isa.LTU, isa.LEU, isa.GTU, isa.GEU:
			b, a := m.pop(), m.pop()
			m.push(refCompare(op, a, b))
		case isa.NEG:
			m.push(-m.pop())
		case isa.NOT:
			m.push(^m.pop())
		case isa.EQZ:
			if m.pop() == 0 {
				m.push(1)
			} else {
				m.push(0)
			}
		case isa.JMP:
			pc = int(in.A)
		case isa.JZ:
			if m.pop() == 0 {
				pc = int(in.A)
			}
		case isa.JNZ:
			if m.pop() != 0 {
				pc = int(in.A)
			}
		case isa.CALL, isa.CALLI:
			target := int(in.A)
			if op == isa.CALLI {
				t := m.pop()
				if t >= uint64(len(m.prog.Code)) {
					return 0, sys.TrapBadJump
				}
				target = int(t)
			}
			m.frames = append(m.frames, refFrame{ret: pc, fp: m.fp, fl: m.fl})
			m.fl = 0
			pc = target
		case isa.RET, isa.RETN:
			if op == isa.RETN {
				n := int(in.A)
				if len(m.stack)-n < m.fp {
					return 0, sys.TrapStackUnderflow
				}
				results := append([]uint64(nil), m.stack[len(m.stack)-n:]...)
				m.stack = append(m.stack[:m.fp], results...)
			}
			if len(m.frames) == 0 {
				if len(m.stack) == 0 {
					return 0, sys.TrapNone
				}
				return m.stack[len(m.stack)-1], sys.TrapNone
			}
			f := m.frames[len(m.frames)-1]
			m.frames = m.frames[:len(m.frames)-1]
			pc, m.fp, m.fl = f.ret, f.fp, f.fl
		case isa.LOAD:
			m.push(m.word(m.pop()))
		case isa.LOADB:
			m.push(uint64(m.byteAt(m.pop())))
		case isa.STORE:
			addr, v := m.pop(), m.pop()
			m.setWord(addr, v)
		case isa.STOREB:
			addr, v := m.pop(), m.pop()
			m.setByte(addr, byte(v))
		case isa.ALLOC, isa.GALLOC:
			m.push(m.alloc(m.pop(), op == isa.GALLOC))
		case isa.CAS:
			nv, exp, addr := m.pop(), m.pop(), m.pop()
			if m.word(addr) == exp {
				m.setWord(addr, nv)
				m.push(1)
			} else {
				m.push(0)
			}
		case isa.FAA:
			d, addr := m.pop(), m.pop()
			old := m.word(addr)
			m.setWord(addr, old+d)
			m.push(old)
		case isa.FENCE, isa.YIELD:
		case isa.PRINT:
			m.out.WriteString(strconv.FormatInt(int64(m.pop()), 10))
		case isa.PRINTU:
			m.out.WriteString(strconv.FormatUint(m.pop(), 10))
		case isa.PUTC:
			m.out.WriteByte(byte(m.pop()))
		case isa.EXIT, isa.TEXIT:
			return m.pop(), sys.TrapNone
		case isa.TID, isa.PID:
			m.push(1)
		default:
			panic(fmt.Sprintf("reference interpreter: %s not supported", op))
		}
	}
}

func refBinary(op isa.Op, a, b uint64) uint64 {
	switch op {
	case isa.ADD:
		return a + b
	case isa.SUB:
		return a - b
	case isa.MUL:
		return a * b
	case isa.AND:
		return a & b
	case isa.OR:
		return a | b
	case isa.XOR:
		return a ^ b
	case isa.SHL:
		return a << (b % 64)
	case isa.SHR:
		return a >> (b % 64)
	case isa.SAR:
		return uint64(int64(a) >> (b % 64))
	}
	if b == 0 {
		panic(refTrap{sys.TrapDivZero})
	}
	sa, sb := int64(a), int64(b)
	switch op {
	case isa.DIV:
		if sb == -1 {
			return -a
		}
		return uint64(sa / sb)
	case isa.MOD:
		if sb == -1 {
			return 0
		}
		return uint64(sa % sb)
	case isa.DIVU:
		return a / b
	}
	return a % b
}

func refCompare(op isa.Op, a, b uint64) uint64 {
	sa, sb := int64(a), int64(b)
	r := map[isa.Op]bool{
		isa.EQ: a == b, isa.NE: a != b, isa.LT: sa < sb, isa.LE: sa <= sb, isa.GT: sa > sb, isa.GE: sa >= sb,
		isa.LTU: a < b, isa.LEU: a <= b, isa.GTU: a > b, isa.GEU: a >= b,
	}[op]
	if r {
		return 1
	}
	return 0
}
