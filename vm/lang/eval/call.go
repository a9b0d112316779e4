package eval

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// args evaluates a call's receiver and arguments, each as its words.
func (fr *frame) args(e *ast.Call, ci *check.CallInfo) [][]uint64 {
	var out [][]uint64
	if ci.Kind == check.CallMethod {
		sel := ast.Unparen(e.Fun).(*ast.Selector)
		s := fr.t.m.info.Selections[sel]
		if s.AddrRecv {
			out = append(out, []uint64{fr.addr(sel.X)})
		} else {
			out = append(out, fr.expr(sel.X))
		}
	}
	for _, a := range e.Args {
		out = append(out, fr.expr(a))
	}
	return out
}

func (fr *frame) call(e *ast.Call) []uint64 {
	m := fr.t.m
	ci := m.info.Calls[e]
	if ci.Kind == check.CallBuiltin {
		return fr.builtin(e, ci.Builtin)
	}
	args := fr.args(e, ci)
	fn := ci.Func
	if ci.Kind == check.CallIndirect {
		id := fr.expr(e.Fun)[0]
		if id == 0 {
			m.out.WriteString("panic: call of a nil function value\n")
			panic(trap{"call of a nil function value"})
		}
		fn = m.funcs[id-1]
	}
	return fr.t.call(fn, args)
}

func (fr *frame) builtin(e *ast.Call, b check.BuiltinID) []uint64 {
	t := fr.t
	m := t.m
	args := e.Args
	all := func() []uint64 {
		var flat []uint64
		for _, a := range args {
			flat = append(flat, fr.expr(a)...)
		}
		return flat
	}
	switch b {
	case check.BuiltinLen:
		v := fr.expr(args[0])
		return []uint64{v[1]}
	case check.BuiltinPrint, check.BuiltinPrintln:
		vals := make([][]uint64, len(args))
		for i, a := range args {
			vals[i] = fr.expr(a)
		}
		for i, a := range args {
			if b == check.BuiltinPrintln && i > 0 {
				m.out.WriteByte(' ')
			}
			fr.printValue(fr.typeOf(a), vals[i], 'v')
		}
		if b == check.BuiltinPrintln {
			m.out.WriteByte('\n')
		}
		return nil
	case check.BuiltinPrintf:
		fr.printf(e)
		return nil
	case check.BuiltinPanic:
		v := fr.expr(args[0])
		m.out.WriteString("panic: " + string(t.readBytes(v[0], v[1])) + "\n")
		panic(trap{"panic"})
	case check.BuiltinExit:
		panic(exitNow{all()[0]})
	case check.BuiltinArgc:
		return []uint64{uint64(len(m.args))}
	case check.BuiltinArg:
		v := all()
		i, buf, n := v[0], v[1], v[2]
		if i >= uint64(len(m.args)) {
			return []uint64{^uint64(0)}
		}
		a := m.args[i]
		for k := 0; k < len(a) && uint64(k) < n; k++ {
			t.storeByte(buf+uint64(k), uint64(a[k]))
		}
		return []uint64{uint64(len(a))}
	case check.BuiltinTid:
		return []uint64{t.tid}
	case check.BuiltinPid:
		return []uint64{1}
	case check.BuiltinFence, check.BuiltinYield:
		return nil
	case check.BuiltinCas:
		v := all()
		if t.load8w(v[0]) == v[1] {
			t.store8w(v[0], v[2])
			return []uint64{1}
		}
		return []uint64{0}
	case check.BuiltinFetchAdd:
		v := all()
		old := t.load8w(v[0])
		t.store8w(v[0], old+v[1])
		return []uint64{old}
	case check.BuiltinWait:
		v := all()
		if v[0]&(1<<63) == 0 {
			panic(trap{"bad address"})
		}
		if t.load8w(v[0]) != v[1] {
			return []uint64{0}
		}
		panic(unsupported{"wait would sleep: other threads run only when spawned"})
	case check.BuiltinWake:
		v := all()
		if v[0]&(1<<63) == 0 {
			panic(trap{"bad address"})
		}
		t.load8w(v[0])
		return []uint64{0}
	case check.BuiltinJoin:
		tid := all()[0]
		val, ok := m.joined[tid]
		if !ok {
			panic(trap{"bad thread id"})
		}
		delete(m.joined, tid)
		return []uint64{val}
	case check.BuiltinFree:
		all()
		return nil
	case check.BuiltinCopy:
		v := all()
		size := uint64(check.SizeOf(check.Elem(fr.typeOf(args[0]))))
		n := min(v[1], v[3])
		fr.memmove(v[0], v[2], n*size)
		return []uint64{n}
	}
	panic(unsupported{"builtin " + b.String()})
}

// printValue prints like the compiled code: PRINT, PRINTU, PRINTS and the
// runtime's helpers.
func (fr *frame) printValue(t check.Type, v []uint64, verb byte) {
	out := &fr.t.m.out
	switch verb {
	case 'c':
		out.WriteByte(byte(v[0]))
		return
	case 'x':
		out.WriteString(padded("", strconv.FormatUint(v[0], 16), 0, 0))
		return
	case 'p':
		out.WriteString("0x" + strconv.FormatUint(v[0], 16))
		return
	}
	switch t := t.(type) {
	case *check.Basic:
		switch t.Kind {
		case check.Int, check.Thread, check.UntypedInt:
			out.WriteString(strconv.FormatInt(int64(v[0]), 10))
		case check.Uint, check.Byte:
			out.WriteString(strconv.FormatUint(v[0], 10))
		case check.Bool:
			out.WriteString(boolText(v[0]))
		case check.String:
			out.Write(fr.t.readBytes(v[0], v[1]))
		}
	case *check.Slice:
		out.Write(fr.t.readBytes(v[0], v[1]))
	case *check.Pointer:
		out.WriteString("0x" + strconv.FormatUint(v[0], 16))
	}
}

func boolText(v uint64) string {
	if v != 0 {
		return "true"
	}
	return "false"
}

// padded is the runtime's padding: flag 1 zeros after the sign, flag 2 on
// the right.
func padded(sign, digits string, width, flags int) string {
	n := len(sign) + len(digits)
	pad := max(width-n, 0)
	switch {
	case flags&2 != 0:
		return sign + digits + strings.Repeat(" ", pad)
	case flags&1 != 0:
		return sign + strings.Repeat("0", pad) + digits
	}
	return strings.Repeat(" ", pad) + sign + digits
}

func padStr(s string, width, flags int) string {
	pad := max(width-len(s), 0)
	if flags&2 != 0 {
		return s + strings.Repeat(" ", pad)
	}
	return strings.Repeat(" ", pad) + s
}

func (fr *frame) printf(e *ast.Call) {
	m := fr.t.m
	pieces := m.info.Formats[e]
	args := e.Args[1:]
	vals := make([][]uint64, len(args))
	for i, a := range args {
		vals[i] = fr.expr(a)
	}
	for _, p := range pieces {
		if p.Verb == 0 {
			m.out.WriteString(p.Lit)
			continue
		}
		t := fr.typeOf(args[p.Arg])
		v := vals[p.Arg]
		if p.Width == 0 {
			fr.printValue(t, v, p.Verb)
			continue
		}
		m.out.WriteString(fr.formatPadded(t, v, p))
	}
}

func (fr *frame) formatPadded(t check.Type, v []uint64, p check.FormatPiece) string {
	flags := 0
	if p.Zero {
		flags |= 1
	}
	if p.Left {
		flags |= 2
	}
	verb := p.Verb
	if verb == 'v' {
		b, isBasic := t.(*check.Basic)
		switch {
		case check.IsInteger(t) || isBasic && b.Kind == check.Thread:
			verb = 'd'
		case isBasic && b.Kind == check.Bool:
			verb = 't'
		case check.ClassOf(t) == check.ClassPair:
			verb = 's'
		default:
			verb = 'p'
		}
	}
	switch verb {
	case 'd':
		if check.IsUnsigned(t) {
			return padded("", strconv.FormatUint(v[0], 10), p.Width, flags)
		}
		if int64(v[0]) < 0 {
			return padded("-", strconv.FormatUint(-v[0], 10), p.Width, flags)
		}
		return padded("", strconv.FormatUint(v[0], 10), p.Width, flags)
	case 'x':
		return padded("", strconv.FormatUint(v[0], 16), p.Width, flags)
	case 'p':
		return padded("0x", strconv.FormatUint(v[0], 16), p.Width, flags)
	case 'c':
		return padStr(string([]byte{byte(v[0])}), p.Width, flags)
	case 's':
		return padStr(string(fr.t.readBytes(v[0], v[1])), p.Width, flags)
	case 't':
		return padStr(boolText(v[0]), p.Width, flags)
	}
	panic(fmt.Sprintf("eval: verb %c", verb))
}
