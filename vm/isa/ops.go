package isa

import "strings"

// Op is an opcode. Opcodes below FirstFused are the user's instruction set;
// from FirstFused on are superinstructions the assembler's peephole pass
// emits in place of common sequences. Every op can be written in source.
type Op uint8

// Operands says which operands an instruction takes and where they live in
// Instr.
type Operands uint8

const (
	OperNone      Operands = iota
	OperImm                // B: a 64-bit immediate
	OperLabel              // A: a code address (pc)
	OperSlot               // A: a local slot
	OperCount              // A: a small count
	OperEnter              // A: argument count, B: extra local count
	OperSlotImm            // A: a local slot, B: an immediate
	OperSlotSlot           // A: a local slot, B: a local slot
	OperImmLabel           // B: an immediate, A: a code address
	OperSlotSlotL          // B: slot | slot<<32, A: a code address
	OperSlotImmL           // B: slot | imm32<<32, A: a code address
)

// Count is how many operands the instruction is written with.
func (o Operands) Count() int {
	switch o {
	case OperNone:
		return 0
	case OperImm, OperLabel, OperSlot, OperCount:
		return 1
	case OperEnter, OperSlotImm, OperSlotSlot, OperImmLabel:
		return 2
	default:
		return 3
	}
}

// Info describes one opcode.
type Info struct {
	Name     string
	Operands Operands
	Pops     int8 // words popped; -1: depends on operands
	Pushes   int8
	Group    string // docs section
	Effect   string // stack effect as written in docs/isa.md
}

// The user's instruction set.
const (
	NOP Op = iota
	// stack
	PUSH
	DROP
	DUP
	SWAP
	OVER
	ROT
	PICK
	// locals
	ENTER
	GET
	SET
	TEE
	// arithmetic and logic
	ADD
	SUB
	MUL
	DIV
	DIVU
	MOD
	MODU
	NEG
	AND
	OR
	XOR
	NOT
	SHL
	SHR
	SAR
	// comparisons (push 1 or 0)
	EQ
	NE
	LT
	LE
	GT
	GE
	LTU
	LEU
	GTU
	GEU
	EQZ
	// control
	JMP
	JZ
	JNZ
	CALL
	CALLI
	RET
	RETN
	// memory
	LOAD
	STORE
	LOADB
	STOREB
	ALLOC
	GALLOC
	FREE
	// atomics and ordering
	CAS
	FAA
	FENCE
	WAIT
	WAKE
	// threads
	SPAWN
	JOIN
	TID
	YIELD
	TEXIT
	// process
	PID
	EXIT
	ARGC
	ARG
	ATOI
	PRINT
	PRINTU
	PUTC
	PRINTS
	PSTART
	PWAIT
	// storage
	OPEN
	CLOSE
	READ
	WRITE
	FSIZE
	LIST
	REMOVE
	MKDIR
	RENAME
	GETATTR
	SETATTR

	// FirstFused is the first superinstruction.
	FirstFused
)

// Superinstructions. Each is exactly equivalent to the sequence in its
// Effect; the assembler emits them when no label falls inside the sequence.
const (
	ADDI  Op = FirstFused + iota // PUSH k; ADD
	INCL                         // GET a; PUSH k; ADD; SET a
	ADDLL                        // GET a; GET b; ADD; SET a
	GET2                         // GET a; GET b
	// conditional branches on a condition c, in five forms each; see condOps.
	firstCondBranch
)

// Cond is a comparison.
type Cond uint8

const (
	CondEQ Cond = iota
	CondNE
	CondLT
	CondLE
	CondGT
	CondGE
	CondLTU
	CondLEU
	CondGTU
	CondGEU
	NumConds
)

var condNames = [NumConds]string{"EQ", "NE", "LT", "LE", "GT", "GE", "LTU", "LEU", "GTU", "GEU"}

// Negate is the condition that holds exactly when c does not.
func (c Cond) Negate() Cond {
	return [NumConds]Cond{CondNE, CondEQ, CondGE, CondGT, CondLE, CondLT, CondGEU, CondGTU, CondLEU, CondLTU}[c]
}

// Holds evaluates the condition on two words.
func (c Cond) Holds(a, b uint64) bool {
	switch c {
	case CondEQ:
		return a == b
	case CondNE:
		return a != b
	case CondLT:
		return int64(a) < int64(b)
	case CondLE:
		return int64(a) <= int64(b)
	case CondGT:
		return int64(a) > int64(b)
	case CondGE:
		return int64(a) >= int64(b)
	case CondLTU:
		return a < b
	case CondLEU:
		return a <= b
	case CondGTU:
		return a > b
	default:
		return a >= b
	}
}

// CondOfCompare maps a comparison opcode (EQ..GEU) to its condition.
func CondOfCompare(op Op) (Cond, bool) {
	if op >= EQ && op <= GEU {
		return Cond(op - EQ), true
	}
	return 0, false
}

// BranchForm is one shape of fused conditional branch.
type BranchForm uint8

const (
	FormSS BranchForm = iota // pop b, pop a; jump if a c b          (J<c> L)
	FormSI                   // pop a; jump if a c k                 (J<c>I k, L)
	FormDI                   // a = top (kept); jump if a c k        (J<c>DI k, L)
	FormLL                   // jump if local a c local b            (J<c>LL a, b, L)
	FormLI                   // jump if local a c k                  (J<c>LI a, k, L)
	NumForms
)

var formSuffix = [NumForms]string{"", "I", "DI", "LL", "LI"}
var formOperands = [NumForms]Operands{OperLabel, OperImmLabel, OperImmLabel, OperSlotSlotL, OperSlotImmL}
var formPops = [NumForms]int8{2, 1, 1, 0, 0}
var formEffect = [NumForms]string{
	"( a b -- ) jump to L if a c b",
	"( a -- ) jump to L if a c k",
	"( a -- a ) jump to L if a c k",
	"( -- ) jump to L if local a c local b",
	"( -- ) jump to L if local a c k",
}

// CondBranch is the fused branch of the given form and condition.
func CondBranch(f BranchForm, c Cond) Op {
	return firstCondBranch + Op(int(f)*int(NumConds)+int(c))
}

// BranchOf reports the form and condition of a fused conditional branch.
func BranchOf(op Op) (BranchForm, Cond, bool) {
	if op < firstCondBranch || op >= NumOps {
		return 0, 0, false
	}
	i := int(op - firstCondBranch)
	return BranchForm(i / int(NumConds)), Cond(i % int(NumConds)), true
}

// NumOps is one past the last valid opcode.
const NumOps = firstCondBranch + Op(int(NumForms)*int(NumConds))

var infos [NumOps]Info

func def(op Op, name string, o Operands, pops, pushes int8, group, effect string) {
	infos[op] = Info{Name: name, Operands: o, Pops: pops, Pushes: pushes, Group: group, Effect: effect}
}

func init() {
	def(NOP, "NOP", OperNone, 0, 0, "stack", "( -- )")
	def(PUSH, "PUSH", OperImm, 0, 1, "stack", "( -- k )")
	def(DROP, "DROP", OperNone, 1, 0, "stack", "( a -- )")
	def(DUP, "DUP", OperNone, 1, 2, "stack", "( a -- a a )")
	def(SWAP, "SWAP", OperNone, 2, 2, "stack", "( a b -- b a )")
	def(OVER, "OVER", OperNone, 2, 3, "stack", "( a b -- a b a )")
	def(ROT, "ROT", OperNone, 3, 3, "stack", "( a b c -- b c a )")
	def(PICK, "PICK", OperCount, -1, -1, "stack", "( x_n ... x_0 -- x_n ... x_0 x_n )")
	def(ENTER, "ENTER", OperEnter, -1, -1, "locals", "( a_1 .. a_n -- ) frame of n args + m zeroed locals")
	def(GET, "GET", OperSlot, 0, 1, "locals", "( -- local[k] )")
	def(SET, "SET", OperSlot, 1, 0, "locals", "( v -- ) local[k] = v")
	def(TEE, "TEE", OperSlot, 1, 1, "locals", "( v -- v ) local[k] = v")
	for i, n := range []string{"ADD", "SUB", "MUL", "DIV", "DIVU", "MOD", "MODU"} {
		def(ADD+Op(i), n, OperNone, 2, 1, "arith", "( a b -- a"+[]string{"+", "-", "*", "/", "/u", "%", "%u"}[i]+"b )")
	}
	def(NEG, "NEG", OperNone, 1, 1, "arith", "( a -- -a )")
	def(AND, "AND", OperNone, 2, 1, "logic", "( a b -- a&b )")
	def(OR, "OR", OperNone, 2, 1, "logic", "( a b -- a|b )")
	def(XOR, "XOR", OperNone, 2, 1, "logic", "( a b -- a^b )")
	def(NOT, "NOT", OperNone, 1, 1, "logic", "( a -- ^a )")
	def(SHL, "SHL", OperNone, 2, 1, "logic", "( a b -- a<<(b&63) )")
	def(SHR, "SHR", OperNone, 2, 1, "logic", "( a b -- a>>(b&63) logical )")
	def(SAR, "SAR", OperNone, 2, 1, "logic", "( a b -- a>>(b&63) arithmetic )")
	for c := Cond(0); c < NumConds; c++ {
		def(EQ+Op(c), condNames[c], OperNone, 2, 1, "compare", "( a b -- a "+strings.ToLower(condNames[c])+" b ? 1 : 0 )")
	}
	def(EQZ, "EQZ", OperNone, 1, 1, "compare", "( a -- a==0 ? 1 : 0 )")
	def(JMP, "JMP", OperLabel, 0, 0, "control", "( -- ) jump to L")
	def(JZ, "JZ", OperLabel, 1, 0, "control", "( a -- ) jump to L if a == 0")
	def(JNZ, "JNZ", OperLabel, 1, 0, "control", "( a -- ) jump to L if a != 0")
	def(CALL, "CALL", OperLabel, 0, 0, "control", "( -- ) call L")
	def(CALLI, "CALLI", OperNone, 1, 0, "control", "( pc -- ) call the code address pc")
	def(RET, "RET", OperNone, 0, 0, "control", "( -- ) return")
	def(RETN, "RETN", OperCount, -1, -1, "control", "( frame.. r_1..r_n -- r_1..r_n ) return n results, dropping the frame")
	def(LOAD, "LOAD", OperNone, 1, 1, "memory", "( addr -- word )")
	def(STORE, "STORE", OperNone, 2, 0, "memory", "( word addr -- )")
	def(LOADB, "LOADB", OperNone, 1, 1, "memory", "( addr -- byte )")
	def(STOREB, "STOREB", OperNone, 2, 0, "memory", "( byte addr -- )")
	def(ALLOC, "ALLOC", OperNone, 1, 1, "memory", "( n -- addr ) thread-local, zeroed")
	def(GALLOC, "GALLOC", OperNone, 1, 1, "memory", "( n -- addr ) process-global, zeroed")
	def(FREE, "FREE", OperNone, 1, 0, "memory", "( addr -- )")
	def(CAS, "CAS", OperNone, 3, 1, "atomic", "( addr expected new -- ok )")
	def(FAA, "FAA", OperNone, 2, 1, "atomic", "( addr delta -- old )")
	def(FENCE, "FENCE", OperNone, 0, 0, "atomic", "( -- )")
	def(WAIT, "WAIT", OperNone, 2, 1, "atomic", "( addr expected -- r ) r: 0 woken, 1 value differed")
	def(WAKE, "WAKE", OperNone, 2, 1, "atomic", "( addr n -- woken )")
	def(SPAWN, "SPAWN", OperLabel, 1, 1, "thread", "( arg -- tid ) start a thread at L")
	def(JOIN, "JOIN", OperNone, 1, 1, "thread", "( tid -- value )")
	def(TID, "TID", OperNone, 0, 1, "thread", "( -- tid )")
	def(YIELD, "YIELD", OperNone, 0, 0, "thread", "( -- )")
	def(TEXIT, "TEXIT", OperNone, 1, 0, "thread", "( value -- ) end this thread")
	def(PID, "PID", OperNone, 0, 1, "process", "( -- pid )")
	def(EXIT, "EXIT", OperNone, 1, 0, "process", "( code -- ) end the process")
	def(ARGC, "ARGC", OperNone, 0, 1, "process", "( -- n )")
	def(ARG, "ARG", OperNone, 3, 1, "process", "( i addr cap -- len )")
	def(ATOI, "ATOI", OperNone, 2, 2, "process", "( addr len -- n ok )")
	def(PRINT, "PRINT", OperNone, 1, 0, "output", "( n -- ) signed decimal")
	def(PRINTU, "PRINTU", OperNone, 1, 0, "output", "( n -- ) unsigned decimal")
	def(PUTC, "PUTC", OperNone, 1, 0, "output", "( c -- ) one byte")
	def(PRINTS, "PRINTS", OperNone, 2, 0, "output", "( addr len -- )")
	def(PSTART, "PSTART", OperNone, 4, 1, "process", "( path plen args alen -- pid )")
	def(PWAIT, "PWAIT", OperNone, 2, 0, "process", "( addr n -- ) wait for n pids at addr; statuses written back")
	def(OPEN, "OPEN", OperNone, 3, 1, "storage", "( path plen mode -- fd )")
	def(CLOSE, "CLOSE", OperNone, 1, 1, "storage", "( fd -- r )")
	def(READ, "READ", OperNone, 4, 1, "storage", "( fd off addr n -- got )")
	def(WRITE, "WRITE", OperNone, 4, 1, "storage", "( fd off addr n -- wrote )")
	def(FSIZE, "FSIZE", OperNone, 1, 1, "storage", "( fd -- size )")
	def(LIST, "LIST", OperNone, 4, 1, "storage", "( path plen buf cap -- len )")
	def(REMOVE, "REMOVE", OperNone, 2, 1, "storage", "( path plen -- r )")
	def(MKDIR, "MKDIR", OperNone, 2, 1, "storage", "( path plen -- r )")
	def(RENAME, "RENAME", OperNone, 4, 1, "storage", "( old olen new nlen -- r )")
	def(GETATTR, "GETATTR", OperNone, 4, 1, "storage", "( path plen buf cap -- len ) a directory's attributes as text")
	def(SETATTR, "SETATTR", OperNone, 4, 1, "storage", "( path plen text tlen -- r ) change a directory's attributes")

	def(ADDI, "ADDI", OperImm, 1, 1, "fused", "( a -- a+k ) = PUSH k; ADD")
	def(INCL, "INCL", OperSlotImm, 0, 0, "fused", "( -- ) local[a] += k = GET a; PUSH k; ADD; SET a")
	def(ADDLL, "ADDLL", OperSlotSlot, 0, 0, "fused", "( -- ) local[a] += local[b] = GET a; GET b; ADD; SET a")
	def(GET2, "GET2", OperSlotSlot, 0, 2, "fused", "( -- local[a] local[b] ) = GET a; GET b")
	for f := BranchForm(0); f < NumForms; f++ {
		for c := Cond(0); c < NumConds; c++ {
			eff := strings.Replace(formEffect[f], " c ", " "+strings.ToLower(condNames[c])+" ", 1)
			def(CondBranch(f, c), "J"+condNames[c]+formSuffix[f], formOperands[f], formPops[f], 0, "fused", eff)
		}
	}
	for op := Op(0); op < NumOps; op++ {
		if infos[op].Name == "" {
			panic("isa: opcode without a definition: " + string(rune('0'+op)))
		}
		byName[infos[op].Name] = op
	}
}

var byName = map[string]Op{}

// Lookup finds an opcode by its mnemonic, in any case.
func Lookup(name string) (Op, bool) {
	op, ok := byName[strings.ToUpper(name)]
	return op, ok
}

// Valid reports whether op is a defined opcode.
func (op Op) Valid() bool { return op < NumOps }

// Info describes the opcode; op must be valid.
func (op Op) Info() Info { return infos[op] }

// String is the mnemonic, or OP(n) for an undefined opcode.
func (op Op) String() string {
	if op.Valid() {
		return infos[op].Name
	}
	return "OP(" + itoa(int64(op)) + ")"
}

// Fused reports whether op is a superinstruction.
func (op Op) Fused() bool { return op >= FirstFused && op < NumOps }

// HasTarget reports whether the instruction's A operand is a code address.
func (op Op) HasTarget() bool {
	switch infos[op].Operands {
	case OperLabel, OperImmLabel, OperSlotSlotL, OperSlotImmL:
		return true
	}
	return false
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	var b [24]byte
	i := len(b)
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
